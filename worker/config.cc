#include "worker/config.h"

#include <fmt/format.h>
#include <unistd.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <random>

#include "common/home.h"
#include "worker/task_env.h"

namespace fanout::worker {
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front())))
      part.remove_prefix(1);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back())))
      part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

std::string DefaultId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "worker");
  std::random_device rd;
  return fmt::format("{}-{}-{:04x}", host, getpid(), rd() & 0xffff);
}

}  // namespace

Result<int64_t> ParseBytes(std::string_view text) {
  std::string_view t = text;
  size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  if (i == 0) return Err(InvalidArgument("'" + std::string(text) + "' is not a size (e.g. 2Gi)"));
  std::string_view digits = t.substr(0, i), unit = t.substr(i);
  int64_t mult = 1;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "k" || unit == "K" || unit == "KB")
    mult = 1000;
  else if (unit == "Ki" || unit == "KiB")
    mult = 1LL << 10;
  else if (unit == "M" || unit == "MB")
    mult = 1000LL * 1000;
  else if (unit == "Mi" || unit == "MiB")
    mult = 1LL << 20;
  else if (unit == "G" || unit == "GB")
    mult = 1000LL * 1000 * 1000;
  else if (unit == "Gi" || unit == "GiB")
    mult = 1LL << 30;
  else if (unit == "T" || unit == "TB")
    mult = 1000LL * 1000 * 1000 * 1000;
  else if (unit == "Ti" || unit == "TiB")
    mult = 1LL << 40;
  else {
    return Err(InvalidArgument("'" + std::string(text) +
                               "' has an unknown unit (use k, Ki, M, Mi, G, Gi, T, Ti)"));
  }
  if (digits.size() > 18) return Err(InvalidArgument("'" + std::string(text) + "' is too large"));
  int64_t n = std::stoll(std::string(digits));
  if (n > INT64_MAX / mult) return Err(InvalidArgument("'" + std::string(text) + "' is too large"));
  return n * mult;
}

std::expected<WorkerConfig, int> ParseWorkerFlags(int argc, char** argv) {
  WorkerConfig c;
  unsigned cores = uv_available_parallelism();
  c.slots = cores;
  c.command_slots = cores;
  c.cpu = cores;
  std::string mem, labels, max_checkpoint, task_env, max_message;

  CLI::App app{
      "fanout-worker: runs map subtasks (C++ plugin functions, commands, built-ins) "
      "for a fanout coordinator.\nEvery flag can also be set with FANOUT_<NAME>, e.g. "
      "FANOUT_SLOTS=4; flags win."};
  app.add_option("--coordinator", c.coordinator, "Coordinator worker endpoint (ZeroMQ address)")
      ->envname("FANOUT_COORDINATOR")
      ->capture_default_str();
  app.add_option("--slots", c.slots, "Subtasks run at once (default: number of cores)")
      ->envname("FANOUT_SLOTS")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  app.add_option("--command-slots", c.command_slots,
                 "Command tasks run at once, within --slots (C++ functions and built-ins may "
                 "use the other slots; default: number of cores)")
      ->envname("FANOUT_COMMAND_SLOTS")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  app.add_option("--plugin", c.plugins,
                 "Task plugin .so to load (repeatable; FANOUT_PLUGINS is a colon-separated list, "
                 "added to these)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--id", c.id, "Worker id (default: hostname-pid-random4)")->envname("FANOUT_ID");
  app.add_option("--heartbeat-ms", c.heartbeat_ms,
                 "Heartbeat interval in ms until the coordinator's WELCOME sets it")
      ->envname("FANOUT_HEARTBEAT_MS")
      ->check(CLI::Range(int64_t{10}, int64_t{3600000}))
      ->capture_default_str();
  app.add_option("--liveness", c.liveness,
                 "Heartbeat intervals without any message before the coordinator is considered "
                 "lost and the worker reconnects")
      ->envname("FANOUT_LIVENESS")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  app.add_option("--labels", labels, "Comma-separated labels advertised to the scheduler")
      ->envname("FANOUT_LABELS");
  app.add_option("--cpu", c.cpu, "CPU capacity advertised (default: number of cores)")
      ->envname("FANOUT_CPU")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--mem", mem,
                 "Memory capacity advertised, bytes or with a unit such as 2Gi "
                 "(default: physical memory)")
      ->envname("FANOUT_MEM");
  app.add_flag("--interruptible", c.interruptible,
               "This worker may be preempted (e.g. a spot instance)")
      ->envname("FANOUT_INTERRUPTIBLE");
  app.add_option("--scratch", c.scratch,
                 "Directory (0700) below which each attempt gets a fresh private scratch "
                 "directory (default: a new $TMPDIR/fanout-worker-ID-XXXXXX)")
      ->envname("FANOUT_SCRATCH");
  app.add_option("--task-env", task_env,
                 "Comma-separated names of worker environment variables that command tasks get "
                 "besides PATH, HOME, LANG, LC_*, TZ and TMPDIR; names that look like secrets "
                 "(KEY, SECRET, PASSWORD, TOKEN, ...) are refused")
      ->envname("FANOUT_TASK_ENV");
  app.add_option("--max-message-bytes", max_message,
                 "Largest message accepted from the coordinator (ZMQ_MAXMSGSIZE), bytes or with "
                 "a unit such as 64Mi (default: 256Mi); a larger one drops the connection")
      ->envname("FANOUT_MAX_MESSAGE_BYTES");
  app.add_option("--kill-grace-ms", c.kill_grace_ms,
                 "Time between SIGTERM and SIGKILL when stopping a command")
      ->envname("FANOUT_KILL_GRACE_MS")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
      ->capture_default_str();
  app.add_option("--max-checkpoint-bytes", max_checkpoint,
                 "Largest checkpoint an attempt may save when its task sets no "
                 "max_checkpoint_bytes, bytes or with a unit such as 16Mi (default: 16Mi); a "
                 "larger one fails the attempt")
      ->envname("FANOUT_MAX_CHECKPOINT_BYTES");
  std::string server_key, own_key;
  app.add_option("--server-key", server_key,
                 "The coordinator's CurveZMQ public key, Z85 or a file holding it (env "
                 "FANOUT_SERVER_KEY; default: $FANOUT_HOME/keys/server.pub if it exists)");
  app.add_option("--key", own_key,
                 "This worker's CurveZMQ secret key file (0600; env FANOUT_KEY; default: "
                 "$FANOUT_HOME/keys/worker.key). The coordinator lists its public key in workers/");
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error or off")
      ->envname("FANOUT_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return std::unexpected(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return std::unexpected(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::cerr << "fanout-worker: " << e.what() << "\nRun with --help for the flags.\n";
    return std::unexpected(2);
  }
  auto fail = [](const std::string& msg) {
    std::cerr << "fanout-worker: " << msg << "\nRun with --help for the flags.\n";
    return std::unexpected(2);
  };

  if (const char* env = std::getenv("FANOUT_PLUGINS")) {
    for (auto& p : Split(env, ':')) c.plugins.push_back(std::move(p));
  }
  c.labels = Split(labels, ',');
  if (mem.empty()) {
    c.mem_bytes = static_cast<int64_t>(uv_get_total_memory());
  } else {
    auto m = ParseBytes(mem);
    if (!m) return fail("--mem: " + m.error().message());
    if (*m <= 0) return fail("--mem must be positive");
    c.mem_bytes = *m;
  }
  if (!max_checkpoint.empty()) {
    auto m = ParseBytes(max_checkpoint);
    if (!m) return fail("--max-checkpoint-bytes: " + m.error().message());
    if (*m <= 0) return fail("--max-checkpoint-bytes must be positive");
    c.max_checkpoint_bytes = *m;
  }
  if (!max_message.empty()) {
    auto m = ParseBytes(max_message);
    if (!m) return fail("--max-message-bytes: " + m.error().message());
    if (*m <= 0) return fail("--max-message-bytes must be positive");
    c.max_message_bytes = *m;
  }
  c.task_env = Split(task_env, ',');
  if (Status st = CheckDeclaredTaskEnv(c.task_env); !st.ok()) {
    return fail("--task-env: " + st.message());
  }
  if (c.id.empty()) c.id = DefaultId();
  Result<std::optional<CurvePeerKeys>> curve =
      ResolvePeerKeys(server_key, own_key, "worker", FanoutHomeFromEnv());
  if (!curve) return fail(curve.error().message());
  c.curve = std::move(*curve);
  return c;
}

}  // namespace fanout::worker
