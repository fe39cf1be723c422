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
  std::string cmdline;  // argv joined with spaces
};

// The whole of /proc/PID/FILE ("" when unreadable or gone).
inline std::string ReadProcFile(pid_t pid, const char* file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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
    found.push_back({pid, cmdline});
  }
  closedir(d);
  return found;
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
