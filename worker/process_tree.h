// The process tree below a process, read from /proc: what the task shim (task_shim.h) signals
// so that nothing a command started outlives its attempt, whatever it backgrounded, double-forked
// or setsid()ed away. Reads /proc/[pid]/stat only (readable for every process, any user), so it
// works as root and as non-root alike. Any thread; no allocation beyond the result.
#pragma once

#include <sys/types.h>

#include <vector>

namespace fanout::worker {

// Every live (non-reaped) descendant of `root`, parents before their children; `root` itself is
// not included. A snapshot: processes forked after the scan are not in it, so callers that must
// end a whole tree signal, reap and scan again until nothing is left.
std::vector<pid_t> Descendants(pid_t root);

// Sends `sig` to every descendant of `root` (not to root); returns how many were signalled.
// Processes that vanish between the scan and the signal are skipped; EPERM (a descendant that
// changed its user) is counted as not signalled.
int SignalDescendants(pid_t root, int sig);

}  // namespace fanout::worker
