#include "tests/integration/harness.h"

#include <cctype>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

extern char** environ;

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// argv[0] as an executable path: as is when it has a '/', else the first match in PATH.
std::string ResolveExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::stringstream path(EnvOr("PATH", "/usr/local/bin:/usr/bin:/bin"));
  std::string dir;
  while (std::getline(path, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;  // execve fails with ENOENT and the error is reported
}

// FANOUT_HOME of the test process itself: a path that does not exist, so that what is
// started without a home of its own finds no keys and no local cluster.
constexpr char kNoHome[] = "/nonexistent/fanout-test-home";

// The FANOUT_* variables a test run takes from the shell that started it: the run's own
// markers and the harness's knobs. Every other one is the user's configuration of fanout
// (FANOUT_HOME, FANOUT_COORDINATOR, FANOUT_REDIS, ...): a test must not depend on it, and a
// daemon that inherited it would, say, load the CURVE keys of the user's ~/.fanout.
bool IsHarnessVariable(std::string_view name) {
  static constexpr std::string_view kKept[] = {
      "FANOUT_TEST_RUN", "FANOUT_TASK_ENV",       "FANOUT_BIN_DIR",
      "FANOUT_SOURCE_DIR", "FANOUT_KEEP_TEST_DIRS", "FANOUT_PAGE_TEST_N"};
  return std::find(std::begin(kKept), std::end(kKept), name) != std::end(kKept) ||
         name.rfind("FANOUT_CHAOS_", 0) == 0;
}

// Unsets the user's FANOUT_* configuration in this test process before any test runs, so
// that neither the tests nor what they start see it, and points FANOUT_HOME at kNoHome: a
// process forked without Process (which gives each its own home) must not fall back to
// ~/.fanout either. A test may still set such a variable itself (setenv) and have its
// processes inherit it.
[[maybe_unused]] const bool kUserConfigScrubbed = [] {
  std::vector<std::string> names;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string_view name = kv.substr(0, kv.find('='));
    if (name.rfind("FANOUT_", 0) == 0 && !IsHarnessVariable(name)) names.emplace_back(name);
  }
  for (const std::string& name : names) unsetenv(name.c_str());
  setenv("FANOUT_HOME", kNoHome, 1);
  return true;
}();

// environ with `extra` set (overriding existing names). FANOUT_HOME is `default_home` unless
// `extra` or the test itself set one, so that no process of a test reads or writes the home
// of the user who runs the suite (~/.fanout, the default).
std::vector<std::string> MergedEnv(const Env& extra, const std::string& default_home) {
  std::vector<std::string> out;
  bool has_home = false;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string_view name = kv.substr(0, kv.find('='));
    bool overridden = std::any_of(extra.begin(), extra.end(),
                                  [&](const auto& p) { return p.first == name; });
    if (name == "FANOUT_HOME" && kv.substr(name.size() + 1) == kNoHome) continue;
    if (!overridden) out.emplace_back(kv);
    has_home = has_home || (!overridden && name == "FANOUT_HOME");
  }
  for (const auto& [k, v] : extra) {
    out.push_back(k + "=" + v);
    has_home = has_home || k == "FANOUT_HOME";
  }
  if (!has_home) out.push_back("FANOUT_HOME=" + default_home);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Writes all of buf to fd from a forked child (async-signal-safe).
void WriteAll(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w <= 0) return;
    buf += w;
    n -= static_cast<size_t>(w);
  }
}

// True when something accepts TCP connections on 127.0.0.1:port.
bool TcpAccepting(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::string BinDir() {
#ifdef FANOUT_BIN_DIR
  return EnvOr("FANOUT_BIN_DIR", FANOUT_BIN_DIR);
#else
  return EnvOr("FANOUT_BIN_DIR", "build/bin");
#endif
}

std::string SourceDir() {
#ifdef FANOUT_SOURCE_DIR
  return EnvOr("FANOUT_SOURCE_DIR", FANOUT_SOURCE_DIR);
#else
  return EnvOr("FANOUT_SOURCE_DIR", ".");
#endif
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string Range(int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += (i > 0 ? "," : "") + std::to_string(i);
  return out + "]";
}

std::string MapSpec(const std::string& script, int n, const std::string& task_extra,
                    const std::string& node_extra, const std::string& node_id) {
  return "version: 1\n"
         "tasks:\n"
         "  t:\n"
         "    command: [/bin/sh, -c, '" + script + "']\n"
         "    inputs: {x: int}\n"
         "    outputs: {o0: int}\n" +
         task_extra +
         "workflows:\n"
         "  w:\n"
         "    inputs:\n"
         "      xs: {type: \"list<int>\", default: " + Range(n) + "}\n"
         "    nodes:\n"
         "      - id: " + node_id + "\n"
         "        map: t\n"
         "        inputs: {x: $inputs.xs}\n" +
         node_extra +
         "    outputs: {o0: $" + node_id + ".o0}\n";
}

std::string DoubleSpec(const std::string& markers, int sleep_ms, int concurrency) {
  char sleep_s[32];
  std::snprintf(sleep_s, sizeof sleep_s, "%d.%03d", sleep_ms / 1000, sleep_ms % 1000);
  return std::string(R"(version: 1
tasks:
  double:
    # Each run leaves a marker INDEX.ATTEMPT.PID (shell builtins only), then prints 2x.
    command: [/bin/sh, -c, ': > "{{inputs.dir}}/$FANOUT_INDEX.$FANOUT_ATTEMPT.$$"; sleep )") +
         sleep_s + R"(; echo $(( {{inputs.x}} * 2 ))']
    inputs: {x: int, dir: str}
    outputs: {o0: int}
workflows:
  w:
    inputs:
      xs: "list<int>"
    nodes:
      - id: double
        map: double
        inputs: {x: $inputs.xs}
        bind: {dir: ")" + markers + R"("}
        concurrency: )" + std::to_string(concurrency) + R"(
    outputs: {o0: $double.o0}
)";
}

std::string RangeInputArg(const TempDir& dir, int n) { return "xs=@" + dir.WriteFile("xs.json", Range(n)); }

nlohmann::json ParseJsonOrNull(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

bool WaitFor(const std::function<bool()>& cond, milliseconds timeout, milliseconds poll) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(poll);
  }
  return cond();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<int, int> CountMarkers(const std::string& dir, int* retry_runs) {
  std::map<int, int> counts;
  if (retry_runs != nullptr) *retry_runs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    size_t dot = name.find('.');
    counts[std::stoi(name.substr(0, dot))]++;
    if (retry_runs != nullptr && dot != std::string::npos && name.compare(dot + 1, 2, "0.") != 0)
      ++*retry_runs;
  }
  return counts;
}

std::string TailFile(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------
// TempDir

TempDir::TempDir(std::string_view prefix) {
  std::string base = EnvOr("TMPDIR", "/tmp");
  std::string templ = base + "/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << templ << ": " << std::strerror(errno);
    return;
  }
  path_ = templ;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (std::getenv("FANOUT_KEEP_TEST_DIRS") != nullptr) {
    std::cerr << "[harness] keeping " << path_ << "\n";
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
  if (this != &o) {
    TempDir old(std::move(*this));  // removes the current dir
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

std::string TempDir::Path(std::string_view name) const { return path_ + "/" + std::string(name); }

std::string TempDir::WriteFile(std::string_view name, std::string_view contents) const {
  std::string p = Path(name);
  std::error_code ec;
  fs::create_directories(fs::path(p).parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) ADD_FAILURE() << "cannot write " << p;
  return p;
}

// ---------------------------------------------------------------------------------------
// Process

Process::Process(std::vector<std::string> argv, const std::string& log_dir, const Env& env,
                 const std::string& cwd, std::string name) {
  if (argv.empty()) {
    spawn_error_ = "empty argv";
    return;
  }
  name_ = name.empty() ? fs::path(argv[0]).filename().string() : std::move(name);
  out_path_ = log_dir + "/" + name_ + ".out";
  err_path_ = log_dir + "/" + name_ + ".err";

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::string exe = ResolveExecutable(argv[0]);
  std::vector<std::string> envs = MergedEnv(env, log_dir + "/fanout-home");
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(envs);
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  int out_fd = open(out_path_.c_str(), flags, 0644);
  int err_fd = open(err_path_.c_str(), flags, 0644);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int status_pipe[2] = {-1, -1};  // the child reports an exec failure through it
  if (out_fd < 0 || err_fd < 0 || null_fd < 0 || pipe2(status_pipe, O_CLOEXEC) != 0) {
    spawn_error_ = "cannot open log files in " + log_dir + ": " + std::strerror(errno);
    for (int fd : {out_fd, err_fd, null_fd, status_pipe[0], status_pipe[1]})
      if (fd >= 0) close(fd);
    exit_code_ = 127;
    return;
  }

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    dup2(null_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    // Nothing else of the test process leaks into the child.
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    const char* what = "exec";
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) {
      what = "chdir";
    } else {
      execve(exe.c_str(), c_argv.data(), c_env.data());
    }
    int err = errno;
    const char* msg = std::strerror(err);
    WriteAll(STDERR_FILENO, "[harness] ", 10);
    WriteAll(STDERR_FILENO, what, std::strlen(what));
    WriteAll(STDERR_FILENO, " failed: ", 9);
    WriteAll(STDERR_FILENO, msg, std::strlen(msg));
    WriteAll(STDERR_FILENO, "\n", 1);
    WriteAll(status_pipe[1], reinterpret_cast<const char*>(&err), sizeof err);
    _exit(127);
  }
  int fork_errno = errno;
  close(out_fd);
  close(err_fd);
  close(null_fd);
  close(status_pipe[1]);
  if (pid < 0) {
    close(status_pipe[0]);
    spawn_error_ = std::string("fork: ") + std::strerror(fork_errno);
    exit_code_ = 127;
    return;
  }
  pid_ = pid;
  reaped_ = false;
  // Also set the group from here, so it holds before anyone signals the group.
  setpgid(pid_, pid_);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(status_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(status_pipe[0]);
  if (n == sizeof child_errno) {
    spawn_error_ = "cannot start " + exe + ": " + std::strerror(child_errno);
    Wait(milliseconds(5000));
  }
}

Process::~Process() { Release(); }

Process::Process(Process&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      reaped_(std::exchange(o.reaped_, true)),
      exit_code_(o.exit_code_),
      term_signal_(o.term_signal_),
      name_(std::move(o.name_)),
      out_path_(std::move(o.out_path_)),
      err_path_(std::move(o.err_path_)),
      spawn_error_(std::move(o.spawn_error_)) {}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    Release();
    pid_ = std::exchange(o.pid_, -1);
    reaped_ = std::exchange(o.reaped_, true);
    exit_code_ = o.exit_code_;
    term_signal_ = o.term_signal_;
    name_ = std::move(o.name_);
    out_path_ = std::move(o.out_path_);
    err_path_ = std::move(o.err_path_);
    spawn_error_ = std::move(o.spawn_error_);
  }
  return *this;
}

void Process::Release() {
  if (pid_ <= 0 || reaped_) return;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Reap(status);
}

void Process::Reap(int status) {
  reaped_ = true;
  if (WIFSIGNALED(status)) {
    term_signal_ = WTERMSIG(status);
    exit_code_ = 128 + term_signal_;
  } else {
    exit_code_ = WEXITSTATUS(status);
  }
}

void Process::Kill(int sig) {
  // A zombie (exited, not reaped) still holds its PID, so this never hits a recycled one.
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

void Process::KillGroup(int sig) {
  if (pid_ > 0 && !reaped_) kill(-pid_, sig);
}

bool Process::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Reap(status);
    return false;
  }
  return true;
}

std::optional<int> Process::Wait(milliseconds timeout) {
  if (pid_ <= 0 || reaped_) return exit_code_;
  auto deadline = SteadyClock::now() + timeout;
  auto poll = milliseconds(1);
  while (true) {
    if (!Running()) return exit_code_;
    if (SteadyClock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(poll);
    poll = std::min(poll * 2, milliseconds(20));
  }
}

int Process::Stop(int sig, milliseconds timeout) {
  Kill(sig);
  if (auto code = Wait(timeout)) return *code;
  Release();
  return exit_code_;
}

// ---------------------------------------------------------------------------------------
// Run

RunResult Run(const std::vector<std::string>& argv, const Env& env, const std::string& cwd,
              milliseconds timeout) {
  TempDir logs("fanout-run");
  RunResult r;
  Process p(argv, logs.path(), env, cwd, "run");
  auto code = p.Wait(timeout);
  if (!code) {
    p.Kill(SIGKILL);
    p.Wait(milliseconds(10000));
    r.timed_out = true;
    r.exit_code = -1;
  } else {
    r.exit_code = *code;
  }
  r.out = p.Stdout();
  r.err = p.Stderr();
  if (!p.SpawnError().empty()) r.err += "[harness] " + p.SpawnError() + "\n";
  return r;
}

// ---------------------------------------------------------------------------------------
// RedisServer

RedisServer::RedisServer(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty()) {
    own_dir_ = std::make_unique<TempDir>("fanout-redis");
    dir_ = own_dir_->path();
  } else {
    std::error_code ec;
    fs::create_directories(dir_, ec);
  }
  // The free port may be taken before redis binds it: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = FreePort();
    if (StartOnce()) return;
  }
  ADD_FAILURE() << "redis-server did not start; log:\n"
                << (process_ ? TailFile(process_->StdoutPath(), 50) : std::string());
}

RedisServer::~RedisServer() {
  // A Cluster prints the logs of the Redis it owns; a standalone server prints its own.
  if (own_dir_ && process_ && ::testing::Test::HasFailure())
    std::cerr << "===== " << process_->StdoutPath() << " (last 50 lines) =====\n"
              << TailFile(process_->StdoutPath(), 50);
  process_.reset();  // SIGKILL + reap
}

std::vector<std::string> RedisServer::RedisArgv() const {
  return {"redis-server", "--port",  std::to_string(port_), "--bind",      "127.0.0.1",
          "--save",       "",        "--appendonly",        "yes",         "--appendfsync",
          "everysec",     "--dir",   dir_,                  "--daemonize", "no"};
}

bool RedisServer::StartOnce() {
  process_.reset();
  process_ = std::make_unique<Process>(RedisArgv(), dir_, Env{}, dir_, "redis");
  if (!process_->SpawnError().empty()) return false;
  return WaitFor([&] { return !process_->Running() || Ping(milliseconds(200)); },
                 milliseconds(20000), milliseconds(10)) &&
         process_->Running();
}

void RedisServer::Stop() {
  if (process_) process_->Stop(SIGTERM, milliseconds(15000));
}

void RedisServer::Kill() {
  if (process_) process_->Stop(SIGKILL, milliseconds(15000));
}

void RedisServer::Restart() {
  Stop();
  // The same port: redis sets SO_REUSEADDR, so a TIME_WAIT does not block it; another process
  // may still have taken the port meanwhile, in which case this fails loudly.
  if (!WaitFor([&] { return StartOnce(); }, milliseconds(10000), milliseconds(100)))
    ADD_FAILURE() << "redis-server did not restart on port " << port_ << "; log:\n"
                  << TailFile(process_->StdoutPath(), 50);
}

void RedisServer::RestartNoWait() {
  Stop();
  process_ = std::make_unique<Process>(RedisArgv(), dir_, Env{}, dir_, "redis");
  if (!process_->SpawnError().empty()) ADD_FAILURE() << process_->SpawnError();
}

bool RedisServer::Ping(milliseconds timeout) const {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    static constexpr char kPing[] = "*1\r\n$4\r\nPING\r\n";
    if (send(fd, kPing, sizeof kPing - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof kPing - 1)) {
      std::string reply;
      char buf[64];
      while (reply.find("\r\n") == std::string::npos) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        reply.append(buf, static_cast<size_t>(n));
      }
      ok = reply.rfind("+PONG\r\n", 0) == 0;
    }
  }
  close(fd);
  return ok;
}

namespace {

std::string ReplyText(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR: return "(error) " + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        if (i > 0) out += "\n";
        out += ReplyText(r->element[i]);
      }
      return out;
    }
  }
  return "(unknown reply)";
}

}  // namespace

std::string RedisServer::Command(const std::vector<std::string>& argv) const {
  timeval tv{5, 0};
  std::unique_ptr<redisContext, void (*)(redisContext*)> c(
      redisConnectWithTimeout("127.0.0.1", port_, tv), redisFree);
  if (!c || c->err) return "(error) connect: " + std::string(c ? c->errstr : "out of memory");
  redisSetTimeout(c.get(), tv);
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  std::unique_ptr<redisReply, void (*)(void*)> reply(
      static_cast<redisReply*>(
          redisCommandArgv(c.get(), static_cast<int>(args.size()), args.data(), lens.data())),
      freeReplyObject);
  if (!reply) return "(error) " + std::string(c->errstr);
  return ReplyText(reply.get());
}

// ---------------------------------------------------------------------------------------
// Cluster

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)), dir_("fanout-cluster") {
  redis_ = std::make_unique<RedisServer>(dir_.Path("redis"));
  std::error_code ec;
  fs::create_directories(dir_.Path("home"), ec);
  if (!options_.start) return;
  if (!StartCoordinator()) return;
  for (int i = 0; i < options_.workers; ++i) AddWorker();
}

Cluster::~Cluster() {
  if (::testing::Test::HasFailure()) DumpLogs(std::cerr);
  // Workers first (they would reconnect-loop), then the coordinator, then Redis.
  workers_.clear();
  coordinator_.reset();
  redis_.reset();
}

Env Cluster::DaemonEnv() const {
  Env env = options_.env;
  env.emplace_back("FANOUT_HOME", dir_.Path("home"));
  return env;
}

Env Cluster::CliEnv() const {
  Env env = DaemonEnv();
  env.emplace_back("FANOUT_COORDINATOR", Address());
  return env;
}

bool Cluster::StartCoordinator() {
  const std::string bin = BinDir() + "/fanout-coordinator";
  for (const std::string& needed : {bin, BinDir() + "/fanout"}) {
    if (access(needed.c_str(), X_OK) != 0) {
      ADD_FAILURE() << needed << " is not built";
      return false;
    }
  }
  if (coordinator_ && coordinator_->Running()) return WaitHealthy(options_.ready_timeout);
  // On the first start the port may have been taken since FreePort: try a few. A restart
  // keeps the port (workers and clients know it).
  int attempts = coordinator_started_once_ ? 1 : 5;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (!coordinator_started_once_) coordinator_port_ = FreePort();
    std::vector<std::string> argv = {bin, "--redis", redis_->Address(), "--bind", Address()};
    argv.insert(argv.end(), options_.coordinator_args.begin(), options_.coordinator_args.end());
    coordinator_ = std::make_unique<Process>(argv, dir_.path(), DaemonEnv(), dir_.path(),
                                             "coordinator");
    // First the cheap part (its port accepts TCP, or it died), then `fanout health`.
    bool healthy =
        WaitFor([&] { return !coordinator_->Running() || TcpAccepting(coordinator_port_); },
                options_.ready_timeout, milliseconds(10)) &&
        WaitFor(
            [&] {
              if (!coordinator_->Running()) return true;  // stop waiting: it died
              RunResult r = Run({BinDir() + "/fanout", "health", "--coordinator", Address()},
                                CliEnv(), SourceDir(), milliseconds(10000));
              return r.exit_code == 0;
            },
            options_.ready_timeout, milliseconds(100));
    if (healthy && coordinator_->Running()) {
      coordinator_started_once_ = true;
      return true;
    }
    // Only a port clash is worth another port.
    if (coordinator_->Running() || coordinator_->Stderr().find("in use") == std::string::npos)
      break;
  }
  ADD_FAILURE() << "the coordinator did not become healthy at " << Address() << "; stderr:\n"
                << (coordinator_ ? TailFile(coordinator_->StderrPath(), 50) : std::string());
  return false;
}

void Cluster::KillCoordinator(int sig) {
  if (coordinator_) coordinator_->Stop(sig, milliseconds(10000));
}

std::vector<std::string> Cluster::WorkerArgv(size_t i) const {
  std::vector<std::string> argv = {BinDir() + "/fanout-worker",
                                   "--coordinator", Address(),
                                   "--slots", std::to_string(options_.slots),
                                   // The suites were written for one command per slot.
                                   "--command-slots", std::to_string(options_.slots),
                                   "--plugin",
                                   options_.plugin.empty() ? BinDir() + "/libfanout_examples.so" : options_.plugin,
                                   "--scratch", dir_.Path("worker-" + std::to_string(i))};
  argv.insert(argv.end(), options_.worker_args.begin(), options_.worker_args.end());
  argv.insert(argv.end(), worker_extra_args_[i].begin(), worker_extra_args_[i].end());
  return argv;
}

size_t Cluster::AddWorker(std::vector<std::string> extra_args) {
  size_t i = workers_.size();
  worker_extra_args_.push_back(std::move(extra_args));
  std::error_code ec;
  fs::create_directories(dir_.Path("worker-" + std::to_string(i)), ec);
  workers_.push_back(std::make_unique<Process>(WorkerArgv(i), dir_.path(), DaemonEnv(),
                                               SourceDir(), "worker-" + std::to_string(i)));
  if (!workers_.back()->SpawnError().empty())
    ADD_FAILURE() << "worker " << i << ": " << workers_.back()->SpawnError();
  return i;
}

void Cluster::KillWorker(size_t i, int sig) { workers_.at(i)->Stop(sig, milliseconds(10000)); }

void Cluster::RestartWorker(size_t i) {
  workers_.at(i)->Stop(SIGKILL, milliseconds(10000));
  workers_[i] = std::make_unique<Process>(WorkerArgv(i), dir_.path(), DaemonEnv(), SourceDir(),
                                          "worker-" + std::to_string(i));
}

RunResult Cluster::Fanout(std::vector<std::string> args, milliseconds timeout) {
  args.insert(args.begin(), BinDir() + "/fanout");
  return Run(args, CliEnv(), SourceDir(), timeout);
}

std::string Cluster::Submit(std::vector<std::string> run_args) {
  run_args.insert(run_args.begin(), "run");
  run_args.push_back("--no-wait");
  RunResult r = Fanout(run_args);
  std::string exec = r.exit_code == 0 ? r.out.substr(0, r.out.find_first_of(" \n")) : "";
  if (exec.empty()) ADD_FAILURE() << "submission failed: " << r;
  return exec;
}

nlohmann::json Cluster::Status(const std::string& exec) {
  RunResult s = Fanout("status", exec, "-o", "json");
  if (s.exit_code != 0) return nullptr;
  return ParseJsonOrNull(s.out);
}

bool Cluster::WaitHealthy(milliseconds timeout) {
  return WaitFor([&] { return Fanout({"health"}, milliseconds(10000)).exit_code == 0; }, timeout,
                 milliseconds(100));
}

bool Cluster::WaitForWorkers(size_t n, milliseconds timeout) {
  return WaitFor(
      [&] {
        RunResult r = Fanout({"workers", "-o", "json"}, milliseconds(10000));
        if (r.exit_code != 0) return false;
        auto j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains("workers")) j = j["workers"];
        return j.is_array() && j.size() >= n;
      },
      timeout, milliseconds(100));
}

void Cluster::DumpLogs(std::ostream& os, size_t lines) const {
  std::vector<const Process*> procs;
  if (redis_ && redis_->process() != nullptr) procs.push_back(redis_->process());
  if (coordinator_) procs.push_back(coordinator_.get());
  for (const auto& w : workers_) procs.push_back(w.get());
  os << "[harness] cluster dir " << dir_.path() << " (set FANOUT_KEEP_TEST_DIRS=1 to keep it)\n";
  for (const Process* p : procs) {
    for (const std::string& path : {p->StdoutPath(), p->StderrPath()}) {
      std::string tail = TailFile(path, lines);
      if (tail.empty()) continue;
      os << "===== " << path << " (last " << lines << " lines) =====\n" << tail;
    }
  }
}

}  // namespace fanout::testing
