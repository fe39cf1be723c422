#include "cli/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace fanout::cli {

Result<pid_t> SpawnChild(const ChildSpec& spec) {
  if (spec.argv.empty()) return Err(InvalidArgument("empty command"));
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int log_fd = -1;
  if (!spec.log_path.empty()) {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (spec.truncate_log ? O_TRUNC : O_APPEND);
    log_fd = open(spec.log_path.c_str(), flags, 0600);
    if (log_fd < 0) {
      return Err(Unavailable(fmt::format("cannot open {}: {}", spec.log_path, std::strerror(errno))));
    }
    fchmod(log_fd, 0600);  // a log written by an older version may be 0644
  } else {
    log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(log_fd);
    close(null_fd);
    return Err(Unavailable(fmt::format("pipe: {}", std::strerror(errno))));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(log_fd);
    close(null_fd);
    close(err_pipe[0]);
    close(err_pipe[1]);
    return Err(Unavailable(fmt::format("fork: {}", std::strerror(e))));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, spec.death_signal);
    if (spec.umask >= 0) umask(static_cast<mode_t>(spec.umask));
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP}) signal(s, SIG_DFL);
    dup2(null_fd, 0);
    dup2(spec.stdout_fd >= 0 ? spec.stdout_fd : log_fd, 1);
    dup2(log_fd, 2);
    execvp(argv[0], argv.data());
    int e = errno;
    ssize_t n = write(err_pipe[1], &e, sizeof e);
    (void)n;
    _exit(127);
  }
  close(err_pipe[1]);
  close(log_fd);
  close(null_fd);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n == sizeof child_errno) {
    int status;
    waitpid(pid, &status, 0);
    return Err(Unavailable(fmt::format("cannot run {}: {}", spec.argv[0], std::strerror(child_errno))));
  }
  return pid;
}

bool ProcessAlive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

std::optional<int> TryReap(pid_t pid) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) return status;
  if (r < 0 && errno == ECHILD) return 0;  // already reaped elsewhere
  return std::nullopt;
}

void StopChild(pid_t pid, int sig, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  if (TryReap(pid)) return;
  kill(pid, sig);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (TryReap(pid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
}

std::string DescribeWaitStatus(int wstatus) {
  if (WIFEXITED(wstatus)) return fmt::format("exit code {}", WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
  }
  return fmt::format("wait status {}", wstatus);
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "fanout";
  return std::string(buf, static_cast<size_t>(n));
}

std::string SelfDir() {
  std::string exe = SelfExe();
  size_t slash = exe.rfind('/');
  return slash == std::string::npos ? "." : exe.substr(0, slash);
}

std::string TailFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                             ? size - static_cast<std::streamoff>(max_bytes)
                             : 0;
  in.seekg(start);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Err(Unavailable(fmt::format("socket: {}", std::strerror(errno))));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    close(fd);
    return Err(Unavailable(fmt::format("cannot find a free port: {}", std::strerror(e))));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace fanout::cli
