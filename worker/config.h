// WorkerConfig: every knob of fanout-worker, declared once with its default and doc. Each flag
// is also read from FANOUT_<NAME> (flags win); FANOUT_PLUGINS (colon-separated) adds to --plugin.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/wire.h"

namespace fanout::worker {

// The largest message the worker accepts from the coordinator (ZMQ_MAXMSGSIZE, per frame): a
// larger frame makes libzmq drop the connection before it is buffered whole (the socket then
// reconnects). A body over wire::kMaxBodyBytes could not be decoded anyway; legitimate WORK
// batches are far smaller (checkpoints are capped by --max-checkpoint-bytes).
inline constexpr int64_t kDefaultMaxMessageBytes = static_cast<int64_t>(wire::kMaxBodyBytes);

struct WorkerConfig {
  std::string coordinator = "tcp://127.0.0.1:7800";
  uint32_t slots = 1;  // default: number of cores
  // Command tasks at once, within slots (C++ functions and built-ins may use the rest);
  // default: number of cores.
  uint32_t command_slots = 1;
  std::vector<std::string> plugins;
  std::string id;  // default: hostname-pid-random4
  int64_t heartbeat_ms = 1000;
  int64_t liveness = 3;  // missed intervals before the coordinator is declared lost
  std::vector<std::string> labels;
  double cpu = 1;         // default: number of cores
  int64_t mem_bytes = 0;  // default: physical memory
  bool interruptible = false;
  std::string scratch;  // default (empty): a new private directory $TMPDIR/fanout-worker-ID-XXXXXX
  std::vector<std::string> task_env;  // more variables tasks get (task_env.h)
  int64_t max_message_bytes = kDefaultMaxMessageBytes;
  int64_t kill_grace_ms = 5000;
  int64_t max_checkpoint_bytes = int64_t{16} << 20;  // when a task sets no max_checkpoint_bytes
  std::string log_level = "info";
};

// Parses argv and the environment. On --help returns unexpected(0) after printing the help;
// on a bad flag prints a message to stderr and returns unexpected(2).
std::expected<WorkerConfig, int> ParseWorkerFlags(int argc, char** argv);

// "1073741824", "512Mi", "2Gi", "1G", "100k"... → bytes.
Result<int64_t> ParseBytes(std::string_view text);

}  // namespace fanout::worker
