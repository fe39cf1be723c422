#include "worker/task_shim.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "worker/process_tree.h"

namespace fanout::worker {

// ---- the worker's side ------------------------------------------------------------------------

Result<Lifeline> Lifeline::Create() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return Err(Internal(std::string("cannot create the lifeline pipe: ") + std::strerror(errno)));
  }
  return Lifeline(fds[0], fds[1]);
}

Lifeline::Lifeline(Lifeline&& o) noexcept
    : read_fd_(std::exchange(o.read_fd_, -1)), write_fd_(std::exchange(o.write_fd_, -1)) {}

Lifeline& Lifeline::operator=(Lifeline&& o) noexcept {
  if (this != &o) {
    Close();
    read_fd_ = std::exchange(o.read_fd_, -1);
    write_fd_ = std::exchange(o.write_fd_, -1);
  }
  return *this;
}

Lifeline::~Lifeline() { Close(); }

void Lifeline::Close() {
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
  read_fd_ = write_fd_ = -1;
}

std::string TaskShimExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string exe(buf, static_cast<size_t>(n));
    size_t slash = exe.rfind('/');
    if (slash != std::string::npos) {
      std::string shim = exe.substr(0, slash + 1) + "fanout-task-shim";
      if (access(shim.c_str(), X_OK) == 0) return shim;
    }
  }
  return "/proc/self/exe";
}

std::vector<std::string> TaskShimArgv(int64_t grace_ms, int lifeline_fd, pid_t worker_pid,
                                      const std::vector<std::string>& command) {
  std::vector<std::string> argv = {"fanout-shim", kTaskShimFlag, std::to_string(grace_ms),
                                   std::to_string(lifeline_fd), std::to_string(worker_pid), "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

// ---- the shim ---------------------------------------------------------------------------------

namespace {

int64_t MonotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fanout-shim: %s: %s\n", what, std::strerror(errno));
  _exit(127);
}

// Exits the way the command did: same exit code, or killed by the same signal (without a core
// file of the shim).
[[noreturn]] void ExitLike(int wstatus) {
  if (WIFEXITED(wstatus)) _exit(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) {
    int sig = WTERMSIG(wstatus);
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    raise(sig);
    _exit(128 + sig);  // a signal whose default action is not to terminate
  }
  _exit(1);
}

class Shim {
 public:
  Shim(int64_t grace_ms, int lifeline_fd) : grace_ms_(grace_ms), lifeline_(lifeline_fd) {}

  [[noreturn]] void Run(pid_t worker_pid, char** command) {
    prctl(PR_SET_NAME, "fanout-shim");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) Die("PR_SET_CHILD_SUBREAPER");
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, kShimParentDeathSignal}) {
      sigaddset(&handled, s);
    }
    if (sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) Die("sigprocmask");
    sigfd_ = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd_ < 0) Die("signalfd");
    prctl(PR_SET_PDEATHSIG, kShimParentDeathSignal);
    if (lifeline_ >= 0) fcntl(lifeline_, F_SETFD, FD_CLOEXEC);  // not for the command
    // The worker may have died before PR_SET_PDEATHSIG took effect: then start nothing.
    if (worker_pid > 0 && getppid() != worker_pid) _exit(1);
    if (lifeline_ >= 0) {
      pollfd p{lifeline_, POLLIN, 0};
      if (poll(&p, 1, 0) == 1) _exit(1);  // EOF (the worker writes nothing on it)
    }

    Spawn(command);
    // The command holds stdin and stdout; the shim keeps stderr for its own diagnostics.
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
      dup2(null_fd, STDIN_FILENO);
      dup2(null_fd, STDOUT_FILENO);
      close(null_fd);
    }
    Loop();
  }

 private:
  enum class Phase { kRunning, kTerminating, kKilling };

  // vfork, not fork: the child borrows the shim's memory until it execs, so nothing is copied.
  // On a virtual machine where page faults trap to the hypervisor, a fork's page-table copy and
  // its copy-on-write faults cost about as much as exec'ing the command. The child makes system
  // calls only, and writes its one possible message with write(2).
  void Spawn(char** command) {
    pid_t shim = getpid();
    child_ = vfork();
    if (child_ < 0) Die("vfork");
    if (child_ == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      setsid();  // its own session and process group: killed as a group
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // should the shim itself be killed
      if (getppid() != shim) _exit(127);
      execvp(command[0], command);
      const char* why = std::strerror(errno);
      for (const char* part : {"cannot run '", static_cast<const char*>(command[0]), "': ", why, "\n"}) {
        if (write(STDERR_FILENO, part, std::strlen(part)) < 0) break;
      }
      _exit(127);
    }
  }

  // Signals the command's process group (while its leader is not reaped, so the id cannot
  // have been reused) and every process below the shim.
  void SignalAll(int sig) {
    if (!child_reaped_) kill(-child_, sig);
    SignalDescendants(getpid(), sig);
  }

  void Terminate() {
    if (phase_ != Phase::kRunning) return;
    if (grace_ms_ <= 0) return Kill();
    phase_ = Phase::kTerminating;
    kill_at_ms_ = MonotonicMs() + grace_ms_;
    SignalAll(SIGTERM);
  }

  void Kill() {
    if (phase_ == Phase::kKilling) return;
    phase_ = Phase::kKilling;
    give_up_at_ms_ = MonotonicMs() + kShimGiveUpMs;
  }

  void WorkerGone() {
    worker_gone_ = true;
    if (lifeline_ >= 0) {
      close(lifeline_);
      lifeline_ = -1;
    }
    Kill();
  }

  // Reaps every exited child; true when the shim has no child left at all.
  bool Reap() {
    while (true) {
      int wstatus = 0;
      pid_t p = waitpid(-1, &wstatus, WNOHANG);
      if (p > 0) {
        if (p == child_) {
          child_reaped_ = true;
          child_status_ = wstatus;
        }
        continue;
      }
      if (p < 0 && errno == EINTR) continue;
      return p < 0 && errno == ECHILD;
    }
  }

  void OnSignals() {
    signalfd_siginfo info;
    while (read(sigfd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      int sig = static_cast<int>(info.ssi_signo);
      if (sig == kShimParentDeathSignal) {
        WorkerGone();
      } else if (sig != SIGCHLD) {
        Terminate();
      }
    }
  }

  void OnLifeline() {
    char buf[64];
    ssize_t n = read(lifeline_, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) WorkerGone();
  }

  [[noreturn]] void Loop() {
    while (true) {
      bool no_children = Reap();
      if (child_reaped_ && no_children) break;  // a subreaper with no child: nothing is left
      int64_t now = MonotonicMs();
      // The command ended, but something it started runs on: the attempt is over.
      if (child_reaped_ && phase_ == Phase::kRunning) Kill();
      if (phase_ == Phase::kTerminating && now >= kill_at_ms_) Kill();
      int timeout = -1;
      if (phase_ == Phase::kKilling) {
        SignalAll(SIGKILL);
        if (now >= give_up_at_ms_) {
          std::fprintf(stderr,
                       "fanout-shim: processes of the command survived SIGKILL for %lld ms "
                       "(another user's?); leaving them\n",
                       static_cast<long long>(kShimGiveUpMs));
          break;
        }
        timeout = 20;  // descendants that are not our children do not wake us when they die
      } else if (phase_ == Phase::kTerminating) {
        timeout = static_cast<int>(kill_at_ms_ - now);
      }
      pollfd fds[2] = {{sigfd_, POLLIN, 0}, {lifeline_, POLLIN, 0}};
      int n = poll(fds, lifeline_ >= 0 ? 2 : 1, timeout);
      if (n < 0 && errno != EINTR) Die("poll");
      if (n <= 0) continue;
      if (fds[0].revents != 0) OnSignals();
      if (lifeline_ >= 0 && fds[1].revents != 0) OnLifeline();
    }
    if (worker_gone_) _exit(1);
    if (!child_reaped_) _exit(128 + SIGKILL);
    ExitLike(child_status_);
  }

  const int64_t grace_ms_;
  int lifeline_;
  int sigfd_ = -1;
  pid_t child_ = -1;
  bool child_reaped_ = false;
  int child_status_ = 0;
  bool worker_gone_ = false;
  Phase phase_ = Phase::kRunning;
  int64_t kill_at_ms_ = 0;
  int64_t give_up_at_ms_ = 0;
};

}  // namespace

void RunTaskShim(int argc, char** argv) {
  // fanout-shim --task-shim GRACE_MS LIFELINE_FD WORKER_PID -- ARGV...
  if (argc < 7 || std::strcmp(argv[1], kTaskShimFlag) != 0 || std::strcmp(argv[5], "--") != 0) {
    std::fprintf(stderr,
                 "fanout-shim: usage: %s GRACE_MS LIFELINE_FD WORKER_PID -- COMMAND...\n"
                 "(run by fanout-worker, not by hand)\n",
                 kTaskShimFlag);
    _exit(2);
  }
  int64_t grace_ms = std::strtoll(argv[2], nullptr, 10);
  int lifeline_fd = static_cast<int>(std::strtol(argv[3], nullptr, 10));
  auto worker_pid = static_cast<pid_t>(std::strtol(argv[4], nullptr, 10));
  Shim(grace_ms, lifeline_fd).Run(worker_pid, argv + 6);
}

}  // namespace fanout::worker
