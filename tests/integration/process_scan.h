// Finding the processes a test started by a marker it put in their argv or environment, from
// /proc: for tests of "nothing a command started outlives its attempt or its worker". Only
// processes whose /proc files the test can read are seen (all of them when run as root, the
// test user's otherwise); zombies have neither argv nor environment and are not reported.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fanout::testing {

struct MarkedProcess {
  pid_t pid = 0;
  std::string start;    // start time (field 22 of /proc/PID/stat): tells a reused pid apart
  std::string cmdline;  // argv joined with spaces
};

// The whole of /proc/PID/FILE ("" when unreadable or gone).
inline std::string ReadProcFile(pid_t pid, const char* file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Field `n` (1-based; n >= 3) of /proc/PID/stat, "" when the process is gone. Fields start
// after the last ')' (the command name may hold spaces and parentheses).
inline std::string StatField(pid_t pid, int n) {
  std::string stat = ReadProcFile(pid, "stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return "";
  std::istringstream fields(stat.substr(paren + 1));
  std::string f;
  for (int i = 3; i <= n && fields >> f; ++i) {
  }
  return f;
}

// The start time of a process (field 22 of /proc/PID/stat), "" when it is gone.
inline std::string StartTime(pid_t pid) { return StatField(pid, 22); }

// Every live process other than this one whose argv or environment contains `marker`.
inline std::vector<MarkedProcess> ProcessesWithMarker(const std::string& marker) {
  std::vector<MarkedProcess> found;
  DIR* d = opendir("/proc");
  if (d == nullptr) return found;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid == getpid()) continue;
    std::string cmdline = ReadProcFile(pid, "cmdline");
    std::string environ = ReadProcFile(pid, "environ");
    if (cmdline.find(marker) == std::string::npos && environ.find(marker) == std::string::npos) {
      continue;
    }
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    found.push_back({pid, StartTime(pid), cmdline});
  }
  closedir(d);
  return found;
}

// Those of `ps` that still run (the same pid with the same start time, not a zombie).
inline std::vector<MarkedProcess> StillRunning(const std::vector<MarkedProcess>& ps) {
  std::vector<MarkedProcess> alive;
  for (const auto& p : ps) {
    bool same = !p.start.empty() && StartTime(p.pid) == p.start;
    if (same && StatField(p.pid, 3) != "Z") alive.push_back(p);
  }
  return alive;
}

inline std::string Describe(const std::vector<MarkedProcess>& ps) {
  std::string out;
  for (const auto& p : ps) out += "  pid " + std::to_string(p.pid) + ": " + p.cmdline + "\n";
  return out;
}

// Cleanup after a failed assertion: the test kills what it started (by pid), so nothing leaks.
inline void KillMarked(const std::string& marker) {
  for (const auto& p : ProcessesWithMarker(marker)) kill(p.pid, SIGKILL);
}

}  // namespace fanout::testing
