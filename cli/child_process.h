// Starting and stopping the local cluster's child processes (fork/exec).
//
// Children run in their own process group (a Ctrl-C on the terminal reaches only the CLI,
// which stops them in order) and get PR_SET_PDEATHSIG (ChildSpec::death_signal, SIGTERM unless
// set), so they never outlive it.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace fanout::cli {

struct ChildSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::string log_path;           // stdout and stderr appended here, a 0600 file ("" → /dev/null)
  int stdout_fd = -1;             // when >= 0, stdout goes here instead of the log
  bool truncate_log = false;
  // Sent to the child when this process dies (PR_SET_PDEATHSIG). Workers get SIGKILL: a worker
  // that outlives its cluster would only drain into a coordinator that is gone, while its
  // commands run on; killed, its task shims end the commands at once.
  int death_signal = SIGTERM;
  // The child's umask (redis-server: 077, so the AOF it writes is 0600); -1: inherited.
  int umask = -1;
};

// Forks and execs. Fails (kUnavailable) when the program cannot be executed; the exec error
// is reported back through a close-on-exec pipe, so "not found" is an error here, not an
// exit status later. Async-signal-safe between fork and exec.
Result<pid_t> SpawnChild(const ChildSpec& spec);

// True while pid exists (it may be a zombie not yet reaped).
bool ProcessAlive(pid_t pid);

// Reaps pid without blocking; returns the wait status when it has exited.
std::optional<int> TryReap(pid_t pid);

// Sends sig to pid, waits for it up to grace, then SIGKILLs and reaps it. For our own children.
void StopChild(pid_t pid, int sig, std::chrono::milliseconds grace);

// "exit code 1", "killed by signal 9".
std::string DescribeWaitStatus(int wstatus);

// /proc/self/exe and its directory, where fanout-coordinator and fanout-worker live.
std::string SelfExe();
std::string SelfDir();

// The last max_bytes of a file ("" when unreadable), for showing a child's log on failure.
std::string TailFile(const std::string& path, size_t max_bytes);

// A free TCP port on 127.0.0.1 (bind to port 0 and read it back). Racy by nature: another
// process may take it before the caller binds it.
Result<int> FreeLoopbackPort();

}  // namespace fanout::cli
