// Test hosts as Linux network namespaces (tests/multihost/README.md).
//
// A Topology is one "switch" namespace holding a bridge, and one namespace per host, each
// joined to the bridge by a veth pair: eth0 in the host (SUBNET.(i+1)/24), pI on the switch.
// Nothing is created in, routed to or addressed from the namespace the test started in.
//
// Contracts:
// - Names are fo-mh-PID-SEQ-ROLE. The destructor SIGKILLs every process still inside the
//   namespaces (by PID, the test process itself excepted), then deletes them; the veth pairs
//   and the bridge go with them. RemoveStaleNamespaces() does the same for namespaces whose
//   creating process no longer exists (a crashed earlier run).
// - A partition is a link set down: the switch side of a host's veth, as a pulled cable.
//   Packets are dropped silently (no RST, no ICMP), so TCP peers only notice by silence.
// - NetnsScope moves the calling thread (not the process) into a namespace: sockets it opens
//   and processes it forks meanwhile live there. Only the test thread uses it.
// Every loop here is bounded in count and time. Failures are gtest failures.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace fanout::testing::multihost {

// Why this machine cannot run namespace tests (not root, no `ip`, `ip netns add` refused), or
// nullopt when it can. Probes by creating and deleting a namespace.
std::optional<std::string> NetnsUnavailable();

// Deletes the fo-mh-* namespaces whose creating process is gone, after SIGKILLing the
// processes left inside them. Returns how many namespaces it removed.
int RemoveStaleNamespaces();

// Path of the `ip` binary (PATH, then /usr/sbin and /sbin), or "" when there is none.
std::string IpBinary();

// PIDs of the processes whose network namespace is `ns` (zombies excluded: they have none),
// never this process.
std::vector<int> PidsInNamespace(const std::string& ns);

// SIGKILLs every process in `ns` at once, again for any that appeared meanwhile, until none is
// left (at most 20 rounds within `timeout`). Returns how many were killed; `empty` tells
// whether the namespace ended empty.
int KillAllInNamespace(const std::string& ns, bool* empty = nullptr,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

class Topology {
 public:
  // Hosts get SUBNET.1, SUBNET.2, ... in the order of `hosts` (short role names, e.g. "coord",
  // "w1"). `subnet` is the first three octets, e.g. "10.213.1". ok() tells whether it was built.
  Topology(std::vector<std::string> hosts, std::string subnet);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  bool ok() const { return ok_; }
  size_t size() const { return hosts_.size(); }
  const std::string& Role(size_t host) const { return hosts_.at(host); }
  // The namespace name of a host (for NetnsScope, PidsInNamespace, `ip -n`).
  std::string Namespace(size_t host) const;
  std::string Address(size_t host) const;

  // Sets the switch side of the host's link down (partition) or up (heal). False + a gtest
  // failure when `ip` refused.
  bool SetLink(size_t host, bool up);
  // True when the switch side of the host's link is up (as `ip` reports it).
  bool LinkUp(size_t host);

 private:
  std::string SwitchNs() const { return prefix_ + "-sw"; }
  std::vector<std::string> hosts_;
  std::string subnet_;
  std::string prefix_;
  std::vector<std::string> created_;  // namespaces to delete, in creation order
  bool ok_ = false;
};

// Moves the calling thread into network namespace `ns` until destruction, then back to the
// namespace it was in. Nests. ok() is false (with a gtest failure) when setns failed.
class NetnsScope {
 public:
  explicit NetnsScope(const std::string& ns);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  bool ok() const { return ok_; }

 private:
  int saved_fd_ = -1;
  bool ok_ = false;
};

}  // namespace fanout::testing::multihost
