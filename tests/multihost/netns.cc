#include "tests/multihost/netns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "tests/integration/harness.h"

namespace fanout::testing::multihost {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* kPrefix = "fo-mh-";
constexpr const char* kNetnsDir = "/run/netns/";

RunResult Ip(std::vector<std::string> args) {
  args.insert(args.begin(), IpBinary());
  return Run(args, {}, {}, milliseconds(20000));
}

// Runs `ip ARGS`; on failure adds a gtest failure naming the command and returns false.
bool IpOrFail(std::vector<std::string> args) {
  RunResult r = Ip(args);
  if (r.exit_code == 0) return true;
  std::string cmd = "ip";
  for (const auto& a : args) cmd += " " + a;
  ADD_FAILURE() << cmd << ": " << r;
  return false;
}

bool ProcessExists(int pid) { return kill(pid, 0) == 0 || errno == EPERM; }

// The PID encoded in a name fo-mh-PID-..., or 0 when it is not one of ours.
int OwnerPid(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return 0;
  return std::atoi(name.c_str() + std::strlen(kPrefix));
}

bool DeleteNamespace(const std::string& ns) {
  bool empty = false;
  KillAllInNamespace(ns, &empty);
  if (!empty) ADD_FAILURE() << "processes are left in namespace " << ns;
  RunResult r = Ip({"netns", "del", ns});
  if (r.exit_code != 0 && fs::exists(kNetnsDir + ns)) {
    ADD_FAILURE() << "ip netns del " << ns << ": " << r;
    return false;
  }
  return true;
}

}  // namespace

std::string IpBinary() {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/ip";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::optional<std::string> NetnsUnavailable() {
  if (geteuid() != 0) return "not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)";
  if (IpBinary().empty()) return "no `ip` binary (iproute2) in PATH, /usr/sbin or /sbin";
  std::string probe = kPrefix + std::to_string(getpid()) + "-probe";
  RunResult r = Ip({"netns", "add", probe});
  if (r.exit_code != 0) return "`ip netns add` failed: " + r.err;
  // The link kinds a Topology needs, tried inside the probe (kernels without bridge or veth).
  std::optional<std::string> why;
  r = Ip({"-n", probe, "link", "add", "br0", "type", "bridge"});
  if (r.exit_code != 0) why = "cannot create a bridge in a namespace: " + r.err;
  r = Ip({"-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"});
  if (!why && r.exit_code != 0) why = "cannot create a veth pair in a namespace: " + r.err;
  r = Ip({"netns", "del", probe});
  if (!why && r.exit_code != 0) why = "`ip netns del` failed: " + r.err;
  return why;
}

std::vector<int> PidsInNamespace(const std::string& ns) {
  std::vector<int> pids;
  struct stat target {};
  if (stat((kNetnsDir + ns).c_str(), &target) != 0) return pids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    int pid = std::atoi(name.c_str());
    if (pid == getpid()) continue;
    struct stat st {};
    // Fails for zombies (no namespaces any more) and for processes that just exited.
    if (stat(("/proc/" + name + "/ns/net").c_str(), &st) != 0) continue;
    if (st.st_dev == target.st_dev && st.st_ino == target.st_ino) pids.push_back(pid);
  }
  return pids;
}

int KillAllInNamespace(const std::string& ns, bool* empty, milliseconds timeout) {
  int killed = 0;
  std::set<int> seen;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool done = false;
  for (int round = 0; round < 20 && !done; ++round) {
    std::vector<int> pids = PidsInNamespace(ns);
    if (pids.empty()) {
      done = true;
      break;
    }
    for (int pid : pids) {
      if (kill(pid, SIGKILL) == 0 && seen.insert(pid).second) ++killed;
    }
    // SIGKILL takes effect asynchronously: wait (bounded) until they are gone or zombies.
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= milliseconds(0)) break;
    done = WaitFor([&] { return PidsInNamespace(ns).empty(); },
                   std::min(std::chrono::duration_cast<milliseconds>(left), milliseconds(2000)),
                   milliseconds(5));
  }
  if (empty != nullptr) *empty = done || PidsInNamespace(ns).empty();
  return killed;
}

int RemoveStaleNamespaces() {
  int removed = 0;
  std::error_code ec;
  if (!fs::exists(kNetnsDir, ec)) return 0;
  std::vector<std::string> stale;
  for (const auto& e : fs::directory_iterator(kNetnsDir, ec)) {
    std::string name = e.path().filename().string();
    int owner = OwnerPid(name);
    if (owner > 0 && owner != getpid() && !ProcessExists(owner)) stale.push_back(name);
  }
  for (const auto& ns : stale) {
    std::cerr << "[multihost] removing stale namespace " << ns << " (its test is gone)\n";
    if (DeleteNamespace(ns)) ++removed;
  }
  return removed;
}

// ---------------------------------------------------------------------------------------
// Topology

Topology::Topology(std::vector<std::string> hosts, std::string subnet)
    : hosts_(std::move(hosts)), subnet_(std::move(subnet)) {
  static std::atomic<int> seq{0};
  prefix_ = kPrefix + std::to_string(getpid()) + "-" + std::to_string(seq++);
  auto add_ns = [&](const std::string& ns) {
    if (!IpOrFail({"netns", "add", ns})) return false;
    created_.push_back(ns);
    return IpOrFail({"-n", ns, "link", "set", "lo", "up"});
  };
  if (!add_ns(SwitchNs())) return;
  if (!IpOrFail({"-n", SwitchNs(), "link", "add", "br0", "type", "bridge"}) ||
      !IpOrFail({"-n", SwitchNs(), "link", "set", "br0", "up"}))
    return;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    const std::string ns = Namespace(i);
    const std::string port = "p" + std::to_string(i);
    if (!add_ns(ns)) return;
    // Both ends are created where they belong: nothing appears in the test's own namespace.
    if (!IpOrFail({"-n", SwitchNs(), "link", "add", port, "type", "veth", "peer", "name", "eth0",
                   "netns", ns}) ||
        !IpOrFail({"-n", SwitchNs(), "link", "set", port, "master", "br0"}) ||
        !IpOrFail({"-n", SwitchNs(), "link", "set", port, "up"}) ||
        !IpOrFail({"-n", ns, "addr", "add", Address(i) + "/24", "dev", "eth0"}) ||
        !IpOrFail({"-n", ns, "link", "set", "eth0", "up"}))
      return;
  }
  ok_ = true;
}

Topology::~Topology() {
  // Hosts first (their processes hold links to the switch), then the switch.
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) DeleteNamespace(*it);
}

std::string Topology::Namespace(size_t host) const { return prefix_ + "-" + hosts_.at(host); }

std::string Topology::Address(size_t host) const {
  return subnet_ + "." + std::to_string(host + 1);
}

bool Topology::SetLink(size_t host, bool up) {
  return IpOrFail({"-n", SwitchNs(), "link", "set", "p" + std::to_string(host), up ? "up" : "down"});
}

bool Topology::LinkUp(size_t host) {
  RunResult r = Ip({"-n", SwitchNs(), "-o", "link", "show", "p" + std::to_string(host)});
  // "<BROADCAST,MULTICAST,UP,LOWER_UP>": the UP flag is the administrative state we set.
  size_t open = r.out.find('<'), close = r.out.find('>');
  if (r.exit_code != 0 || open == std::string::npos || close == std::string::npos) return false;
  std::string flags = "," + r.out.substr(open + 1, close - open - 1) + ",";
  return flags.find(",UP,") != std::string::npos;
}

// ---------------------------------------------------------------------------------------
// NetnsScope

NetnsScope::NetnsScope(const std::string& ns) {
  saved_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = open((kNetnsDir + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (saved_fd_ < 0 || fd < 0) {
    ADD_FAILURE() << "cannot open the namespaces to switch to " << ns << ": " << std::strerror(errno);
    if (fd >= 0) close(fd);
    return;
  }
  if (setns(fd, CLONE_NEWNET) != 0) {
    ADD_FAILURE() << "setns " << ns << ": " << std::strerror(errno);
  } else {
    ok_ = true;
  }
  close(fd);
}

NetnsScope::~NetnsScope() {
  if (saved_fd_ < 0) return;
  if (ok_ && setns(saved_fd_, CLONE_NEWNET) != 0) {
    // Staying in a test namespace would send later tests' traffic there: stop here.
    std::cerr << "[multihost] cannot return to the original network namespace: "
              << std::strerror(errno) << "\n";
    std::abort();
  }
  close(saved_fd_);
}

}  // namespace fanout::testing::multihost
