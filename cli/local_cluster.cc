#include "cli/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/child_process.h"
#include "cli/client.h"
#include "cli/exit_code.h"
#include "common/home.h"

namespace fanout::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// One supervised process.
struct Daemon {
  std::string name;  // redis, coordinator, worker-K
  ChildSpec spec;
  pid_t pid = -1;
  int64_t started_ms = 0;
  int64_t restart_at_ms = -1;  // when pid < 0: when to start it again
  int64_t backoff_ms = 0;
  int restarts = 0;
};

constexpr int64_t kMinBackoffMs = 200;
constexpr int64_t kMaxBackoffMs = 5'000;
constexpr int64_t kStableMs = 10'000;  // a daemon that lived this long restarts at once
constexpr auto kStopGrace = std::chrono::seconds(10);
// After a worker's second SIGTERM: its commands' grace period (5 s by default) and a margin.
constexpr auto kWorkerStopGrace = std::chrono::seconds(10);

class Supervisor {
 public:
  explicit Supervisor(sigset_t mask) : mask_(mask) {}

  // Starts d now; a failure to exec is fatal at first start (reported), retried later.
  Status Start(Daemon& d) {
    Result<pid_t> pid = SpawnChild(d.spec);
    if (!pid) {
      d.pid = -1;
      return pid.error();
    }
    d.pid = *pid;
    d.started_ms = NowMs();
    d.restart_at_ms = -1;
    return Status::Ok();
  }

  Daemon& Add(Daemon d) {
    daemons_.push_back(std::move(d));
    return daemons_.back();
  }
  std::vector<Daemon>& daemons() { return daemons_; }
  bool stop_requested() const { return stop_requested_; }

  // Waits up to wait_ms for a signal; reaps dead daemons and restarts the ones that are due.
  void Tick(int64_t wait_ms) {
    siginfo_t info;
    timespec ts{static_cast<time_t>(wait_ms / 1000), static_cast<long>((wait_ms % 1000) * 1'000'000)};
    int sig = sigtimedwait(&mask_, &info, &ts);
    if (sig == SIGINT || sig == SIGTERM) stop_requested_ = true;
    // Drain any other pending signals without waiting.
    timespec zero{0, 0};
    while ((sig = sigtimedwait(&mask_, &info, &zero)) > 0) {
      if (sig == SIGINT || sig == SIGTERM) stop_requested_ = true;
    }
    ReapAndRestart();
  }

  // Stops the daemons in order: workers, then the coordinator, then redis. Workers drain
  // (SIGTERM: they finish what runs) for up to kStopGrace; one still running then gets a second
  // SIGTERM, which stops its commands (SIGTERM to each command's tree, SIGKILL after the
  // worker's grace period) and reports them as shut down; SIGKILL after kWorkerStopGrace more.
  // Whatever way a worker ends, its task shims end the commands it ran.
  void StopAll() {
    stopping_ = true;
    // Signals `group` and waits until each has exited or the deadline passes; returns the ones
    // still running.
    auto signal_and_wait = [](const std::vector<Daemon*>& group, int sig,
                              std::chrono::milliseconds grace) {
      for (Daemon* d : group) kill(d->pid, sig);
      auto deadline = SteadyClock::now() + grace;
      std::vector<Daemon*> left;
      for (Daemon* d : group) {
        while (SteadyClock::now() < deadline && !TryReap(d->pid)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (TryReap(d->pid)) {
          d->pid = -1;
        } else {
          left.push_back(d);
        }
      }
      return left;
    };
    auto stop_group = [&](auto pred, bool second_signal) {
      std::vector<Daemon*> group;
      for (Daemon& d : daemons_) {
        if (pred(d) && d.pid > 0) group.push_back(&d);
      }
      std::vector<Daemon*> left = signal_and_wait(group, SIGTERM, kStopGrace);
      if (second_signal && !left.empty()) {
        for (Daemon* d : left) {
          std::fprintf(stderr, "fanout local: %s (pid %d) still runs work after %llds; stopping it\n",
                       d->name.c_str(), d->pid, static_cast<long long>(kStopGrace.count()));
        }
        left = signal_and_wait(left, SIGTERM, kWorkerStopGrace);
      }
      for (Daemon* d : left) {
        std::fprintf(stderr, "fanout local: %s (pid %d) did not stop; killing it\n",
                     d->name.c_str(), d->pid);
        StopChild(d->pid, SIGKILL, std::chrono::seconds(5));
        d->pid = -1;
      }
    };
    stop_group([](const Daemon& d) { return d.name.starts_with("worker"); }, true);
    stop_group([](const Daemon& d) { return d.name == "coordinator"; }, false);
    stop_group([](const Daemon& d) { return d.name == "redis"; }, false);
  }

 private:
  void ReapAndRestart() {
    int64_t now = NowMs();
    for (Daemon& d : daemons_) {
      if (d.pid > 0) {
        std::optional<int> st = TryReap(d.pid);
        if (!st) continue;
        if (stopping_) {
          d.pid = -1;
          continue;
        }
        int64_t lived = now - d.started_ms;
        d.backoff_ms = lived >= kStableMs ? 0
                       : d.backoff_ms == 0 ? kMinBackoffMs
                                           : std::min(d.backoff_ms * 2, kMaxBackoffMs);
        std::fprintf(stderr, "fanout local: %s (pid %d) exited (%s) after %s; restarting it in %s\n",
                     d.name.c_str(), d.pid, DescribeWaitStatus(*st).c_str(),
                     FormatDurationMs(lived).c_str(), FormatDurationMs(d.backoff_ms).c_str());
        d.pid = -1;
        d.restart_at_ms = now + d.backoff_ms;
      }
      if (d.pid < 0 && d.restart_at_ms >= 0 && d.restart_at_ms <= now && !stopping_ &&
          !stop_requested_) {
        Status s = Start(d);
        ++d.restarts;
        if (s.ok()) {
          std::fprintf(stderr, "fanout local: restarted %s (pid %d)\n", d.name.c_str(), d.pid);
        } else {
          std::fprintf(stderr, "fanout local: cannot restart %s: %s\n", d.name.c_str(),
                       s.message().c_str());
          d.backoff_ms = std::min(std::max(d.backoff_ms * 2, kMinBackoffMs), kMaxBackoffMs);
          d.restart_at_ms = now + d.backoff_ms;
        }
      }
    }
  }

  sigset_t mask_;
  std::vector<Daemon> daemons_;
  bool stop_requested_ = false;
  bool stopping_ = false;
};

// Writes a 0600 file through a temporary one and a rename.
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Unavailable(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    ssize_t n = write(fd, text.data(), text.size());
    bool ok = n == static_cast<ssize_t>(text.size());
    if (close(fd) != 0 || !ok) return Unavailable("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Unavailable(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(errno)));
  }
  return Status::Ok();
}

// Makes `dir` and everything below it private to this user (0700 directories, 0600 files):
// data and logs written by older versions were 0755/0644. Symlinks are left alone.
void MakePrivate(const std::string& dir) {
  std::error_code ec;
  chmod(dir.c_str(), 0700);
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec)) continue;
    chmod(it->path().c_str(), it->is_directory(ec) ? 0700 : 0600);
  }
}

std::string AbsolutePath(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return ec ? p : abs.string();
}

}  // namespace

int WorkerCommandSlots(int cores, int workers, int k) {
  cores = std::max(cores, 1);
  workers = std::max(workers, 1);
  int share = cores / workers + (k < cores % workers ? 1 : 0);
  return std::max(share, 1);
}

std::string FanoutHomePath() {
  std::string home = FanoutHomeFromEnv();
  return home.empty() ? home : AbsolutePath(home);
}

std::optional<CurvePeerKeys> LocalClientKeys(const std::string& home) {
  Result<std::string> server = LoadPublicKey(home + "/keys/server.pub");
  Result<CurveKeyPair> own = LoadSecretKey(home + "/keys/client.key");
  if (!server || !own) return std::nullopt;
  return CurvePeerKeys{*server, *own};
}

Result<std::string> FanoutHome() {
  std::string home = FanoutHomePath();
  if (home.empty()) return Err(InvalidArgument("neither FANOUT_HOME nor HOME is set"));
  std::error_code ec;
  // Private: the home holds the cluster's data (AOF), logs and, with keys, secrets. A home
  // this creates is 0700, and so are logs/ and redis/ always; an existing FANOUT_HOME the user
  // chose keeps its mode (it may be a directory shared for other things), the default
  // ~/.fanout is made 0700.
  bool is_default = std::getenv("FANOUT_HOME") == nullptr || *std::getenv("FANOUT_HOME") == '\0';
  bool existed = fs::exists(home, ec);
  if (fs::path(home).has_parent_path()) fs::create_directories(fs::path(home).parent_path(), ec);
  if (mkdir(home.c_str(), 0700) != 0 && errno != EEXIST) {
    return Err(Unavailable(fmt::format("cannot create {}: {}", home, std::strerror(errno))));
  }
  if (!existed || is_default) chmod(home.c_str(), 0700);
  for (const std::string& dir : {home + "/logs", home + "/redis"}) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Err(Unavailable(fmt::format("cannot create {}: {}", dir, std::strerror(errno))));
    }
    MakePrivate(dir);
  }
  return home;
}

std::optional<LocalInfo> ReadLocalInfo(const std::string& home) {
  std::ifstream in(home + "/local.json");
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("coordinator") ||
      !j["coordinator"].is_string() || !j.contains("pid") || !j["pid"].is_number_integer()) {
    return std::nullopt;
  }
  return LocalInfo{j["coordinator"].get<std::string>(), j["pid"].get<int64_t>()};
}

std::optional<std::string> FindRunningLocalCluster(const std::string& home,
                                                   std::chrono::milliseconds timeout) {
  std::optional<LocalInfo> info = ReadLocalInfo(home);
  if (!info || !ProcessAlive(static_cast<pid_t>(info->pid))) return std::nullopt;
  Client client(info->coordinator, timeout, LocalClientKeys(home));
  Result<Json> h = client.Query(wire::Kind::kHealth);
  if (!h || !h->is_object() || !h->value("ok", false)) return std::nullopt;
  return info->coordinator;
}

Result<std::string> LocalRedisPassword(const std::string& home) {
  const std::string path = home + "/redis.pass";
  std::ifstream in(path);
  std::string pw;
  if (in && std::getline(in, pw) && pw.size() >= 32) return pw;
  unsigned char raw[32];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool ok = fd >= 0 && read(fd, raw, sizeof raw) == static_cast<ssize_t>(sizeof raw);
  if (fd >= 0) close(fd);
  if (!ok) return Err(Unavailable("cannot read /dev/urandom"));
  pw.clear();
  for (unsigned char b : raw) pw += fmt::format("{:02x}", b);
  RETURN_IF_ERROR(WriteFileAtomically(path, pw + "\n"));
  return pw;
}

bool RedisPing(int port, std::chrono::milliseconds timeout, const std::string& password) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  auto deadline = SteadyClock::now() + timeout;
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
               .count()));
  };
  bool ok = false;
  do {
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
      break;
    }
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, left_ms()) != 1) break;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) break;
    // RESP arrays, so the password is never parsed as inline syntax.
    std::string req = password.empty()
                          ? std::string("PING\r\n")
                          : fmt::format("*2\r\n$4\r\nAUTH\r\n${}\r\n{}\r\n*1\r\n$4\r\nPING\r\n", password.size(), password);
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) break;
    std::string got;
    const std::string want = password.empty() ? "+PONG" : "+OK\r\n+PONG";
    while (got.size() < want.size() && got.find("-") == std::string::npos) {
      p = pollfd{fd, POLLIN, 0};
      if (poll(&p, 1, left_ms()) != 1) break;
      char buf[64];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    ok = got.starts_with(want);
  } while (false);
  close(fd);
  return ok;
}

int RunLocalCluster(const LocalOptions& opts) {
  Result<std::string> home_or = FanoutHome();
  if (!home_or) {
    std::fprintf(stderr, "fanout local: %s\n", home_or.error().message().c_str());
    return kExitFailed;
  }
  const std::string home = *home_or;

  // One cluster per home. The lock fd is close-on-exec, so only this process holds it: it is
  // released when we exit, even by kill -9, and children never keep it.
  std::string lock_path = home + "/local.lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    std::fprintf(stderr, "fanout local: cannot open %s: %s\n", lock_path.c_str(), std::strerror(errno));
    return kExitFailed;
  }
  fchmod(lock_fd, 0600);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::optional<LocalInfo> info = ReadLocalInfo(home);
    std::fprintf(stderr, "fanout: a local cluster is already running at %s (FANOUT_HOME=%s)\n",
                 info ? info->coordinator.c_str() : "(starting)", home.c_str());
    return kExitUsage;
  }

  // Signals are taken synchronously (sigtimedwait). Block them before any thread exists (the
  // ZeroMQ context below starts I/O threads, which inherit the mask).
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string bin = SelfDir();
  for (const char* exe : {"fanout-coordinator", "fanout-worker"}) {
    if (access((bin + "/" + exe).c_str(), X_OK) != 0) {
      std::fprintf(stderr, "fanout local: cannot find %s beside fanout (in %s)\n", exe, bin.c_str());
      return kExitFailed;
    }
  }
  Result<int> rport = FreeLoopbackPort();
  Result<int> cport = opts.port > 0 ? Result<int>(opts.port) : FreeLoopbackPort();
  if (!rport || !cport) {
    std::fprintf(stderr, "fanout local: %s\n",
                 (!rport ? rport.error() : cport.error()).message().c_str());
    return kExitFailed;
  }
  const std::string address = fmt::format("tcp://127.0.0.1:{}", *cport);
  // Keys on first use: only this user's CLI and these workers get in, even on loopback (other
  // users of the machine can reach 127.0.0.1).
  Result<std::string> redis_password = LocalRedisPassword(home);
  if (!redis_password) {
    std::fprintf(stderr, "fanout local: %s\n", redis_password.error().message().c_str());
    return kExitFailed;
  }
  // The password reaches redis-server through a 0600 config file, never its argv (ps).
  const std::string redis_conf = home + "/redis.conf";
  if (Status s = WriteFileAtomically(redis_conf, "requirepass " + *redis_password + "\n"); !s.ok()) {
    std::fprintf(stderr, "fanout local: %s\n", s.message().c_str());
    return kExitFailed;
  }
  const std::string keys = home + "/keys";
  if (Status s = EnsureLocalKeys(keys); !s.ok()) {
    std::fprintf(stderr, "fanout local: cannot make the keys in %s: %s\n", keys.c_str(), s.message().c_str());
    return kExitFailed;
  }
  const std::string logs = home + "/logs";
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int workers = opts.workers > 0 ? opts.workers : cores;

  Supervisor sup(mask);
  Daemon redis{.name = "redis",
               .spec = {.argv = {"redis-server", redis_conf, "--port", std::to_string(*rport), "--bind",
                                 "127.0.0.1", "--dir", home + "/redis", "--appendonly", "yes",
                                 "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
                                 "--logfile", logs + "/redis.log"},
                        .log_path = logs + "/redis.log",
                        .umask = 077}};  // its AOF files are 0600
  Daemon coord{.name = "coordinator",
               .spec = {.argv = {bin + "/fanout-coordinator", "--redis",
                                 fmt::format("127.0.0.1:{}", *rport), "--bind", address,
                                 "--keys-dir", keys, "--redis-password-file", home + "/redis.pass"},
                        .log_path = logs + "/coordinator.log"}};
  std::vector<std::string> plugin_args;
  for (const std::string& p : opts.plugins) {
    plugin_args.push_back("--plugin");
    plugin_args.push_back(AbsolutePath(p));
  }

  auto fail = [&](const std::string& msg) {
    std::fprintf(stderr, "fanout local: %s\n", msg.c_str());
    sup.StopAll();
    return kExitUnreachable;
  };
  auto stopped = [&] {
    std::fprintf(stderr, "fanout local: stopping\n");
    sup.StopAll();
    return kExitOk;
  };

  // 1. Redis, until it answers PING.
  if (Status s = sup.Start(sup.Add(std::move(redis))); !s.ok()) return fail(s.message());
  auto deadline = SteadyClock::now() + opts.redis_timeout;
  while (!RedisPing(*rport, std::chrono::milliseconds(500), *redis_password)) {
    sup.Tick(50);
    if (sup.stop_requested()) return stopped();
    if (SteadyClock::now() > deadline) {
      return fail(fmt::format("redis-server did not answer PING on port {} within {}; see {}/redis.log",
                              *rport, FormatDurationMs(opts.redis_timeout.count()), logs));
    }
  }

  // 2. The coordinator and the workers, until HEALTH says ok with every worker registered.
  if (Status s = sup.Start(sup.Add(std::move(coord))); !s.ok()) return fail(s.message());
  for (int k = 0; k < workers; ++k) {
    Daemon w{.name = fmt::format("worker-{}", k),
             .spec = {.argv = {bin + "/fanout-worker", "--coordinator", address,
                               "--server-key", keys + "/server.pub", "--key", keys + "/worker.key",
                               "--command-slots",
                               std::to_string(WorkerCommandSlots(cores, workers, k))},
                      .log_path = fmt::format("{}/worker-{}.log", logs, k),
                      .death_signal = SIGKILL}};
    w.spec.argv.insert(w.spec.argv.end(), plugin_args.begin(), plugin_args.end());
    if (Status s = sup.Start(sup.Add(std::move(w))); !s.ok()) return fail(s.message());
  }
  {
    Client client(address, std::chrono::milliseconds(1000), LocalClientKeys(home));
    deadline = SteadyClock::now() + opts.ready_timeout;
    bool healthy = false;
    while (true) {
      Result<Json> h = client.Query(wire::Kind::kHealth);
      if (h && h->is_object() && h->value("ok", false)) {
        healthy = true;
        if (h->value("workers", 0) >= workers) break;
      }
      sup.Tick(100);
      if (sup.stop_requested()) return stopped();
      if (SteadyClock::now() > deadline) {
        if (healthy) {
          std::fprintf(stderr, "fanout local: not every worker registered within %s; see %s\n",
                       FormatDurationMs(opts.ready_timeout.count()).c_str(), logs.c_str());
          break;
        }
        return fail(fmt::format("the coordinator did not become healthy within {}; see {}/coordinator.log",
                                FormatDurationMs(opts.ready_timeout.count()), logs));
      }
    }
  }

  nlohmann::json info = {{"coordinator", address}, {"pid", static_cast<int64_t>(getpid())}};
  if (Status s = WriteFileAtomically(home + "/local.json", info.dump() + "\n"); !s.ok()) {
    return fail(s.message());
  }
  std::fprintf(stderr,
               "fanout local: redis 127.0.0.1:%d, coordinator %s, %d worker(s); data and logs in %s. "
               "Ctrl-C stops it.\n",
               *rport, address.c_str(), workers, home.c_str());
  std::printf("FANOUT_COORDINATOR=%s\n", address.c_str());
  std::fflush(stdout);

  while (!sup.stop_requested()) sup.Tick(200);

  int rc = stopped();
  // Remove local.json only if it is still ours.
  if (std::optional<LocalInfo> now = ReadLocalInfo(home); now && now->pid == getpid()) {
    std::remove((home + "/local.json").c_str());
  }
  close(lock_fd);
  return rc;
}

}  // namespace fanout::cli
