// The process harness of the integration tests (DESIGN §10): temp dirs, child processes, a real
// redis-server on a free port, and a whole cluster (redis + coordinator + workers + the CLI).
//
// Contracts every test relies on:
// - Every child is started by fork+exec in its own process group, with stdin from /dev/null,
//   stdout/stderr appended to files, and PR_SET_PDEATHSIG(SIGKILL): it dies with the thread
//   that started it, so even a crashing test leaves nothing behind.
// - Destructors SIGKILL and reap exactly the PIDs they started; nothing is killed by name.
// - Waits are condition polls with deadlines (WaitFor), never fixed sleeps.
// - When the current test has failed, a Cluster prints the last 50 lines of every daemon's
//   logs on destruction; TempDirs are kept when FANOUT_KEEP_TEST_DIRS is set.
// Single-threaded use: none of these classes is thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fanout::testing {

using std::chrono::milliseconds;
using Env = std::vector<std::pair<std::string, std::string>>;

// Where the built binaries are (FANOUT_BIN_DIR env, else the build's bin/ dir) and the source
// tree (FANOUT_SOURCE_DIR env, else the configured source dir).
std::string BinDir();
std::string SourceDir();

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
// Another process may take it before use: starters retry with a new port when a bind fails.
int FreePort();

// Polls `cond` every `poll` until it returns true (→ true) or `timeout` has passed (→ the
// result of one last call).
bool WaitFor(const std::function<bool()>& cond, milliseconds timeout,
             milliseconds poll = milliseconds(20));

// "[0,1,...,n-1]".
std::string Range(int n);

// A one-node map workflow `w` over the input `xs` (default 0..n-1) of a command task `t` that
// runs `script` with /bin/sh -c, with input x: int and output o0: int. `task_extra` and
// `node_extra` are extra YAML lines (already indented for their place) for the task and the map
// node. The script goes between single quotes: it must not contain any.
std::string MapSpec(const std::string& script, int n, const std::string& task_extra = "",
                    const std::string& node_extra = "", const std::string& node_id = "m");

// A one-node workflow `w` mapping task `double` over input `xs` (no default) with `concurrency`:
// each run writes a marker MARKERS/INDEX.ATTEMPT.PID (count them with CountMarkers), sleeps
// `sleep_ms`, then prints 2x. The restart test and the chaos suite use it.
std::string DoubleSpec(const std::string& markers, int sleep_ms, int concurrency);

// `text` parsed as JSON; null when it is not JSON (a CLI that failed, an error page).
nlohmann::json ParseJsonOrNull(std::string_view text);

// The whole contents of a file ("" when it cannot be read).
std::string ReadFile(const std::string& path);
// The last `lines` lines of a file.
std::string TailFile(const std::string& path, size_t lines);
// Marker files named "INDEX.…" (one per task execution, written by test tasks): index → how
// many. Files whose name does not start with a digit are ignored. `retry_runs`, when given,
// gets the number of markers of a later attempt ("INDEX.ATTEMPT.…" with ATTEMPT >= 1): runs
// that were retries. One pass over the directory for both.
std::map<int, int> CountMarkers(const std::string& dir, int* retry_runs = nullptr);

// A fresh directory (mkdtemp under $TMPDIR or /tmp), removed recursively on destruction unless
// the environment has FANOUT_KEEP_TEST_DIRS (then its path is printed). Move-only.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "fanout-test");
  ~TempDir();
  TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  TempDir& operator=(TempDir&& o) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string Path(std::string_view name) const;
  // Writes `contents` to path()/name (creating parent dirs) and returns that path.
  std::string WriteFile(std::string_view name, std::string_view contents) const;

 private:
  std::string path_;
};

// A child process. Move-only; the destructor SIGKILLs and reaps it if it is still ours.
class Process {
 public:
  // Starts argv (argv[0] searched in PATH when it has no '/') with this process's environment
  // plus `env` (overriding), in `cwd` (empty: inherited), stdout and stderr appended to
  // LOG_DIR/NAME.out and LOG_DIR/NAME.err (NAME: basename of argv[0] when empty).
  // A failure to start is reported by SpawnError() and an exit code of 127.
  // FANOUT_HOME is LOG_DIR/fanout-home unless `env` or the test set one: a test never sees
  // the home (nor any other FANOUT_* setting) of the user who runs the suite.
  Process(std::vector<std::string> argv, const std::string& log_dir, const Env& env = {},
          const std::string& cwd = {}, std::string name = {});
  ~Process();
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int Pid() const { return pid_; }
  const std::string& Name() const { return name_; }
  const std::string& SpawnError() const { return spawn_error_; }
  const std::string& StdoutPath() const { return out_path_; }
  const std::string& StderrPath() const { return err_path_; }
  std::string Stdout() const { return ReadFile(out_path_); }
  std::string Stderr() const { return ReadFile(err_path_); }

  // Sends `sig` to the process (not its group). A no-op once it has been reaped.
  void Kill(int sig = SIGKILL);
  // Sends `sig` to its whole process group (the child and what it spawned and did not move).
  void KillGroup(int sig = SIGKILL);
  // Waits up to `timeout` for it to exit; returns its exit code (128 + signal number when a
  // signal ended it), or nullopt if it still runs. Once reaped, returns the code at once.
  std::optional<int> Wait(milliseconds timeout);
  // Kills it with `sig`, waits up to `timeout`, then SIGKILLs and waits for good.
  int Stop(int sig = SIGTERM, milliseconds timeout = milliseconds(10000));
  bool Running();
  // The signal that ended it (0 if it exited, or has not ended yet).
  int TermSignal() const { return term_signal_; }

 private:
  void Reap(int status);
  void Release();  // SIGKILL + reap, if still ours

  int pid_ = -1;
  bool reaped_ = true;
  int exit_code_ = -1;
  int term_signal_ = 0;
  std::string name_, out_path_, err_path_, spawn_error_;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed; -1 when it timed out (then it was killed)
  std::string out, err;
  bool timed_out = false;
};
inline std::ostream& operator<<(std::ostream& os, const RunResult& r) {
  return os << "exit " << r.exit_code << (r.timed_out ? " (timed out)" : "") << "\n--- stdout ---\n"
            << r.out << "--- stderr ---\n" << r.err;
}

// Runs a command to completion (stdin /dev/null) and collects its output. On timeout the
// process is SIGKILLed and the result has timed_out set.
RunResult Run(const std::vector<std::string>& argv, const Env& env = {},
              const std::string& cwd = {}, milliseconds timeout = milliseconds(60000));

// A redis-server on a free loopback port, in a temp dir (or `dir`), with AOF on:
//   --save "" --appendonly yes --appendfsync everysec --dir DIR
// The constructor waits (deadline 20 s) until it answers PING; failures are gtest failures.
class RedisServer {
 public:
  explicit RedisServer(std::string dir = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int Port() const { return port_; }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& Dir() const { return dir_; }
  bool Running() { return process_ && process_->Running(); }
  Process* process() { return process_.get(); }
  const Process* process() const { return process_.get(); }

  // SIGTERM (Redis fsyncs the AOF and exits) and wait.
  void Stop();
  // SIGKILL, as a crash would: up to one second of writes may be lost (appendfsync everysec).
  void Kill();
  // Starts again on the same port and dir (stopping it first if it runs); waits for PING.
  void Restart();
  // The same, but returns once the process runs: Redis may still refuse connections, or
  // answer -LOADING while it reads its AOF.
  void RestartNoWait();
  // True when a raw-socket PING gets +PONG (not -LOADING) within `timeout`.
  bool Ping(milliseconds timeout = milliseconds(1000)) const;

  // One command through hiredis (connect per call, 5 s timeout). The reply as text: strings
  // and status replies as they are, integers in decimal, nil as "(nil)", errors as
  // "(error) MESSAGE", arrays as their elements joined with '\n'.
  std::string Command(const std::vector<std::string>& argv) const;

 private:
  bool StartOnce();
  std::vector<std::string> RedisArgv() const;

  std::unique_ptr<TempDir> own_dir_;
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

struct ClusterOptions {
  int workers = 1;
  int slots = 4;
  // Extra flags for the daemons, and extra environment for every process (daemons and CLI).
  std::vector<std::string> coordinator_args;
  std::vector<std::string> worker_args;
  // Every worker's --plugin; empty: BIN/libfanout_examples.so.
  std::string plugin;
  Env env;
  // Start everything in the constructor and wait until `fanout health` exits 0.
  bool start = true;
  milliseconds ready_timeout = milliseconds(30000);
};

// redis + `fanout-coordinator --redis 127.0.0.1:P --bind tcp://127.0.0.1:CP` + N ×
// `fanout-worker --coordinator tcp://127.0.0.1:CP --slots S --plugin BIN/libfanout_examples.so`.
// Everything lives in one TempDir: redis/ (data), NAME.out/.err (logs; appended across
// restarts), worker-I/ (scratch), home/ (FANOUT_HOME of the CLI).
class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // The coordinator's endpoint, tcp://127.0.0.1:CP (the same across coordinator restarts).
  std::string Address() const { return "tcp://127.0.0.1:" + std::to_string(coordinator_port_); }
  RedisServer& redis() { return *redis_; }
  const TempDir& dir() const { return dir_; }
  Process* coordinator() { return coordinator_.get(); }
  Process& worker(size_t i) { return *workers_.at(i); }
  size_t worker_count() const { return workers_.size(); }

  // Starts the coordinator (again, on the same port, if it was killed) and waits until
  // `fanout health` answers. Returns false (with a gtest failure) when it does not.
  bool StartCoordinator();
  // Sends `sig` to the coordinator and reaps it (waiting up to 10 s, then SIGKILL).
  void KillCoordinator(int sig = SIGKILL);
  // Starts one more worker; returns its index.
  size_t AddWorker(std::vector<std::string> extra_args = {});
  // Sends `sig` to worker i and reaps it (waiting up to 10 s, then SIGKILL).
  void KillWorker(size_t i, int sig = SIGKILL);
  // Starts worker i again (same scratch dir and log files) after it was killed.
  void RestartWorker(size_t i);

  // Runs BIN/fanout with FANOUT_COORDINATOR=Address(), FANOUT_HOME=home/, cwd = SourceDir()
  // (so example command paths resolve) and the options' env.
  RunResult Fanout(std::vector<std::string> args, milliseconds timeout = milliseconds(120000));
  template <typename... A>
    requires(sizeof...(A) > 0 && (std::is_convertible_v<A, std::string> && ...))
  RunResult Fanout(A&&... args) {
    return Fanout(std::vector<std::string>{std::string(std::forward<A>(args))...});
  }
  // `fanout run RUN_ARGS... --no-wait`: the execution id, or "" (and a gtest failure showing
  // the CLI's output) when the submission failed.
  std::string Submit(std::vector<std::string> run_args);
  // `fanout status EXEC -o json`, parsed; null when the CLI failed or printed no JSON.
  nlohmann::json Status(const std::string& exec);

  // The environment Fanout() gives the CLI (for tests that start it with Process).
  Env CliEnv() const;

  // Polls `fanout health` until it exits 0 or the timeout passes.
  bool WaitHealthy(milliseconds timeout);
  // Polls `fanout workers -o json` until it lists at least n workers (a JSON array, or an
  // object with a "workers" array).
  bool WaitForWorkers(size_t n, milliseconds timeout);

  // The last `lines` lines of every daemon's stdout and stderr.
  void DumpLogs(std::ostream& os, size_t lines = 50) const;

 private:
  std::vector<std::string> WorkerArgv(size_t i) const;
  Env DaemonEnv() const;

  ClusterOptions options_;
  TempDir dir_;
  std::unique_ptr<RedisServer> redis_;
  int coordinator_port_ = 0;
  bool coordinator_started_once_ = false;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::vector<std::vector<std::string>> worker_extra_args_;
};

// Writes Range(n) to DIR/xs.json and returns the `-i` argument that gives it as input `xs`
// ("xs=@DIR/xs.json"): large inputs go by file, as a user would give them.
std::string RangeInputArg(const TempDir& dir, int n);

// A test suite whose tests share one cluster (2 workers × 4 slots), started before its first
// test and stopped after its last. CRTP, so that every suite has a cluster of its own:
//   class MyTest : public SharedClusterTest<MyTest> { ... cluster_->Fanout(...) ... };
template <typename Suite>
class SharedClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.workers = 2;
    o.slots = 4;
    cluster_ = new Cluster(o);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static inline Cluster* cluster_ = nullptr;
};

}  // namespace fanout::testing
