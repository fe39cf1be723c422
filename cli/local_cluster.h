// `fanout local`: redis-server + fanout-coordinator + N fanout-worker on this machine, kept
// running (a daemon that dies is restarted with the same arguments and ports) until
// SIGINT/SIGTERM. N defaults to one per core; together the workers run one command per core
// (WorkerCommandSlots). State lives in $FANOUT_HOME (default ~/.fanout):
//   local.lock   flock held while the cluster runs (one cluster per home)
//   local.json   {"coordinator": ADDR, "pid": PID} once the cluster is ready
//   redis/       the Redis data (AOF), so history and cache persist between runs
//   logs/        redis.log, coordinator.log, worker-K.log
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace fanout::cli {

struct LocalOptions {
  int workers = 0;  // 0: one per core
  std::vector<std::string> plugins;
  int port = 0;  // the coordinator's port; 0: a free one
  std::chrono::milliseconds redis_timeout{10'000};
  std::chrono::milliseconds ready_timeout{30'000};
};

// $FANOUT_HOME, else ~/.fanout; created (with logs/ and redis/) when missing.
Result<std::string> FanoutHome();

struct LocalInfo {
  std::string coordinator;
  int64_t pid = 0;
};

// Reads $home/local.json; nullopt when absent or malformed.
std::optional<LocalInfo> ReadLocalInfo(const std::string& home);

// The address of the local cluster of this home when local.json exists, its pid is alive and
// the coordinator answers HEALTH with ok within timeout.
std::optional<std::string> FindRunningLocalCluster(const std::string& home,
                                                   std::chrono::milliseconds timeout);

// Sends "PING\r\n" to 127.0.0.1:port and expects "+PONG" within timeout.
bool RedisPing(int port, std::chrono::milliseconds timeout);

// The --command-slots of worker k (0-based) of `workers` on a machine with `cores` cores: the
// cores split as evenly as possible, so that the cluster runs one command per core in total
// (each worker still gets at least one when there are more workers than cores). Their --slots
// stay at one per core: C++ functions and built-ins may be pipelined deeper.
int WorkerCommandSlots(int cores, int workers, int k);

// Runs the cluster in the foreground; returns the process exit code (0 after a clean stop,
// 2 when another cluster holds the lock, 1 or 3 when it cannot start).
int RunLocalCluster(const LocalOptions& opts);

}  // namespace fanout::cli
