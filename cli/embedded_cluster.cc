#include "cli/embedded_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "cli/child_process.h"
#include "cli/local_cluster.h"

namespace fanout::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::string_view kReadyPrefix = "FANOUT_COORDINATOR=";
// A local cluster stops its workers (up to 10 s of drain and 10 s of stopping), then its
// coordinator and redis (10 s grace each).
constexpr auto kStopWait = std::chrono::seconds(60);

bool Interrupted(const volatile std::sig_atomic_t* flag) { return flag != nullptr && *flag != 0; }

}  // namespace

Result<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::FindOrStart(
    const std::vector<std::string>& plugins, std::chrono::milliseconds start_timeout,
    const volatile std::sig_atomic_t* interrupt) {
  ASSIGN_OR_RETURN(std::string home, FanoutHome());
  if (std::optional<std::string> addr = FindRunningLocalCluster(home, std::chrono::seconds(2))) {
    if (!plugins.empty()) {
      std::fprintf(stderr,
                   "fanout: using the local cluster already running at %s; --plugin is ignored "
                   "(it loaded its own plugins)\n",
                   addr->c_str());
    }
    return std::unique_ptr<EmbeddedCluster>(new EmbeddedCluster(*addr, -1, -1));
  }

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return Err(Unavailable(fmt::format("pipe: {}", std::strerror(errno))));
  }
  ChildSpec spec;
  spec.argv = {SelfExe(), "local"};
  for (const std::string& p : plugins) {
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(p, ec);
    spec.argv.push_back("--plugin");
    spec.argv.push_back(ec ? p : abs.string());
  }
  spec.log_path = home + "/logs/local.log";
  spec.truncate_log = true;
  spec.stdout_fd = out[1];
  std::fprintf(stderr, "fanout: starting a local cluster in %s (logs in %s/logs)\n", home.c_str(),
               home.c_str());
  Result<pid_t> pid = SpawnChild(spec);
  close(out[1]);
  if (!pid) {
    close(out[0]);
    return Err(pid.error());
  }
  auto cluster = std::unique_ptr<EmbeddedCluster>(new EmbeddedCluster("", *pid, out[0]));

  auto deadline = SteadyClock::now() + start_timeout;
  std::string buf;
  while (true) {
    if (Interrupted(interrupt)) return Err(Status(Code::kAborted, "interrupted"));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) break;
    pollfd p{out[0], POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (rc < 0 && errno != EINTR) break;
    if (rc <= 0) continue;
    char chunk[512];
    ssize_t n = read(out[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child exited
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.starts_with(kReadyPrefix)) {
        cluster->address_ = line.substr(kReadyPrefix.size());
        return cluster;
      }
    }
  }

  // It did not come up. Another `fanout local` may have won the lock meanwhile: use it.
  int wstatus = 0;
  bool exited = false;
  for (int i = 0; i < 20 && !exited; ++i) {
    if (std::optional<int> st = TryReap(cluster->pid_)) {
      wstatus = *st;
      exited = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (exited) {
    cluster->pid_ = -1;
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 2) {
      while (SteadyClock::now() < deadline && !Interrupted(interrupt)) {
        if (std::optional<std::string> addr = FindRunningLocalCluster(home, std::chrono::seconds(1))) {
          cluster->address_ = *addr;
          return cluster;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }
  cluster->Stop();
  std::string log = TailFile(spec.log_path, 4000);
  std::string why = exited ? "the local cluster failed to start (" + DescribeWaitStatus(wstatus) + ")"
                           : fmt::format("the local cluster did not start within {}s",
                                         start_timeout.count() / 1000);
  return Err(Unavailable(fmt::format("{}. Its log, {}:\n{}", why, spec.log_path, log)));
}

EmbeddedCluster::~EmbeddedCluster() { Stop(); }

void EmbeddedCluster::Stop() {
  if (pid_ > 0) {
    StopChild(pid_, SIGTERM, kStopWait);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

}  // namespace fanout::cli
