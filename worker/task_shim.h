// The task shim: a small supervisor process between the worker and every command it runs, so
// that whatever a command started ends with its attempt and with its worker, however the worker
// ends (SIGKILL and crashes included). DESIGN §3.3, §7; issue 12.
//
// Shape: worker → shim → command (→ whatever the command starts). The shim is the small
// fanout-task-shim binary installed beside fanout-worker, or, when that is missing, the worker
// binary itself re-executed through /proc/self/exe with kTaskShimFlag as argv[1] (see
// TaskShimExe). The shim
//   - makes itself a child subreaper (PR_SET_CHILD_SUBREAPER): every descendant whose parent
//     dies, including double-forked and setsid() daemons, is re-parented to the shim, not to
//     init, so the shim's children are the whole remaining tree;
//   - runs the command in its own session and process group (as the worker did before);
//   - watches the worker: the read end of the worker's Lifeline pipe reaches EOF when the worker
//     is gone (only the worker holds the write end; it is close-on-exec), and PR_SET_PDEATHSIG
//     (SIGUSR2) is a second line;
//   - ends the tree: SIGTERM (from the worker: abort, timeout, shutdown) → SIGTERM to the
//     command's group and to every descendant (process_tree.h), SIGKILL to all of them after the
//     grace period; worker gone → SIGKILL to all at once; the command's main process exited →
//     whatever it left running is SIGKILLed at once (as a container runtime does when its init
//     process exits). It signals, reaps and re-scans until it has no child left (with a subreaper
//     that means no descendant left), giving up after kShimGiveUpMs of SIGKILLs (a descendant
//     that changed its user cannot be killed by a non-root worker);
//   - then exits as the command did: its exit code, or killed by the same signal, so the worker
//     reads the shim's status as the command's. A command that cannot be executed makes the
//     shim print "cannot run 'PROG': REASON" on stderr and exit 127.
// The shim closes its own stdin/stdout once the command runs (the command keeps them), so the
// worker's pipes see EOF when the command and its tree are done.
//
// Why not cgroups (v2 freeze + kill): they need a writable, delegated cgroup tree, which a
// non-root worker in a VM or container usually does not have (this machine has cgroup v1, not
// writable). Why not PR_SET_PDEATHSIG on the command alone: it covers one process, not what it
// forks. The shim needs only prctl and /proc, as root and as non-root.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace fanout::worker {

// argv[1] of a shim: "fanout-worker --task-shim GRACE_MS LIFELINE_FD WORKER_PID -- ARGV...".
inline constexpr char kTaskShimFlag[] = "--task-shim";
// How long the shim keeps SIGKILLing a tree that does not die before it gives up.
inline constexpr int64_t kShimGiveUpMs = 5000;
// The signal the kernel sends the shim when its parent (the worker's loop thread) dies.
inline constexpr int kShimParentDeathSignal = SIGUSR2;

// The worker's half of the shim protocol: a pipe whose write end only the worker holds
// (close-on-exec). Every shim inherits the read end (LIFELINE_FD); when the worker exits or is
// killed, the kernel closes the write end and every shim reads EOF. Move-only.
class Lifeline {
 public:
  static Result<Lifeline> Create();
  Lifeline(Lifeline&& o) noexcept;
  Lifeline& operator=(Lifeline&& o) noexcept;
  Lifeline(const Lifeline&) = delete;
  Lifeline& operator=(const Lifeline&) = delete;
  ~Lifeline();

  int read_fd() const { return read_fd_; }

 private:
  Lifeline(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  void Close();
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// The file a worker executes as the shim: fanout-task-shim in the directory of the running
// worker binary when it is executable there, else /proc/self/exe (the worker itself).
std::string TaskShimExe();

// The argv that runs `command` under a shim (TaskShimExe() is the file to execute). argv[0] is
// "fanout-shim" (what `ps` shows). lifeline_fd is the fd number the shim finds the lifeline at
// (-1: none).
std::vector<std::string> TaskShimArgv(int64_t grace_ms, int lifeline_fd, pid_t worker_pid,
                                      const std::vector<std::string>& command);

// The shim's main (argv as built by TaskShimArgv). Never returns: exits as the command did.
[[noreturn]] void RunTaskShim(int argc, char** argv);

}  // namespace fanout::worker
