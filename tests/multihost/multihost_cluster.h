// A fanout cluster spread over network-namespace hosts (tests/multihost/README.md):
//
//   host 0 "coord"  redis-server (127.0.0.1 of that host) + fanout-coordinator bound to
//                   SUBNET.1:7800 (events :7801), and the test thread itself (CLI, Redis reads)
//   host i "wI"     one fanout-worker each, connecting to tcp://SUBNET.1:7800
//
// The daemons are started the way deploy/systemd starts them: ExecStart=, Environment= and
// WorkingDirectory= of fanout-coordinator.service / fanout-worker@.service, plus the variables
// of fanout.env.example, with only the install paths (/opt/fanout/...) mapped to the build and
// the addresses and Redis port substituted. Flags given here come after and win, as they do
// over FANOUT_* variables.
//
// Contracts:
// - While a MultiHostCluster exists, the calling thread is inside host 0's namespace, so the
//   harness's Redis helpers (127.0.0.1) and the CLI reach the cluster; it returns on
//   destruction. Use it from the test thread only.
// - Every process is started by the harness (PID, own process group, dies with the test) and
//   killed by PID; on destruction whatever is left inside the hosts (e.g. commands of a killed
//   worker) is SIGKILLed too, then the namespaces are deleted. A failed test dumps the logs.
#pragma once

#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/multihost/deploy_files.h"
#include "tests/multihost/netns.h"

namespace fanout::testing::multihost {

// What each kind of process gets beyond the deploy files to be allowed to talk across hosts,
// in ONE place. Today a coordinator bound to a non-loopback address needs nothing (or
// --insecure, once the coordinator has that flag: MakeHostSecurity adds it when
// `fanout-coordinator --help` lists it). When CurveZMQ keys land (DESIGN §7), generate them in
// `keys_dir` here and hand each side its key files through these fields.
struct HostSecurity {
  std::vector<std::string> coordinator_args;
  Env coordinator_env;
  std::vector<std::string> worker_args;
  Env worker_env;
  Env client_env;  // the CLI on the coordinator host (fanout run/status/workers/...)
};
HostSecurity MakeHostSecurity(const std::string& keys_dir);

struct MultiHostOptions {
  int worker_hosts = 3;
  int slots = 4;  // per worker
  // Scenario flags (win over the env file), e.g. {"--system-retries", "15"}.
  std::vector<std::string> coordinator_args;
  std::vector<std::string> worker_args;
  std::string subnet = "10.213.1";  // first three octets of the hosts' /24
};

class MultiHostCluster {
 public:
  // Builds the hosts, starts Redis and the coordinator and one worker per worker host, and
  // waits until the coordinator lists them all. ok() tells whether all of it worked.
  explicit MultiHostCluster(MultiHostOptions options);
  ~MultiHostCluster();
  MultiHostCluster(const MultiHostCluster&) = delete;
  MultiHostCluster& operator=(const MultiHostCluster&) = delete;

  bool ok() const { return ok_; }
  // Redis and the cluster directory (no daemons of its own): for chaos_util's helpers.
  Cluster& base() { return *base_; }
  Topology& topology() { return *topology_; }
  // tcp://SUBNET.1:PORT, PORT from the env file's FANOUT_BIND.
  std::string CoordinatorAddress() const;
  // FANOUT_HEARTBEAT_MS × FANOUT_LIVENESS of the env file: silence before a peer is lost.
  std::chrono::milliseconds Liveness() const { return liveness_; }

  static constexpr size_t kCoordinatorHost = 0;
  size_t worker_count() const { return workers_.size(); }
  size_t HostOfWorker(size_t w) const { return w + 1; }
  // FANOUT_ID of worker w, from the unit's Environment= (%H-worker-%i).
  const std::string& WorkerId(size_t w) const { return worker_ids_.at(w); }
  Process& worker(size_t w) { return *workers_.at(w); }
  Process* coordinator() { return coordinator_.get(); }

  // Starts the coordinator on host 0 (again, same address, after a kill) and waits until
  // `fanout health` answers; false (+ gtest failure) when it does not.
  bool StartCoordinator();
  // Sends `sig` to the coordinator and reaps it (10 s, then SIGKILL).
  void KillCoordinator(int sig = SIGKILL);
  // Starts worker w on its host (again, same id and scratch, after it died).
  bool StartWorker(size_t w);

  // Partition and heal a host's link (see Topology::SetLink).
  bool CutOff(size_t host) { return topology_->SetLink(host, false); }
  bool Heal(size_t host) { return topology_->SetLink(host, true); }
  // "Power off" worker w's host: its link down (a dead machine sends nothing, not even a
  // FIN), then SIGKILL to every process inside it at once. Returns how many were killed;
  // `empty` tells whether none was left.
  int PowerOff(size_t w, bool* empty);
  // Link up, then the worker starts as its unit would at boot.
  bool PowerOn(size_t w);

  // `fanout workers -o json` through the coordinator: id → running subtasks; nullopt when the
  // coordinator does not answer.
  std::optional<std::map<std::string, long>> Workers();
  // Polls Workers() until `pred` holds on the listing (deadline `timeout`).
  bool WaitWorkers(const std::function<bool(const std::map<std::string, long>&)>& pred,
                   std::chrono::milliseconds timeout);
  // Times worker w's log says it gave up on a silent coordinator (and reconnects).
  int CoordinatorLossesSeenBy(size_t w);

  // BIN/fanout ARGS --coordinator ADDR from the coordinator host.
  RunResult Fanout(std::vector<std::string> args,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

  void DumpLogs(std::ostream& os, size_t lines = 50) const;

 private:
  // The daemon's argv and environment from its unit and the env file.
  bool Launch(const std::string& unit_file, const std::string& instance, const std::string& host,
              std::vector<std::string>* argv, Env* env, std::string* cwd);

  MultiHostOptions options_;
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<NetnsScope> in_coordinator_host_;
  TempDir keys_dir_{"fanout-mh-keys"};
  std::unique_ptr<Cluster> base_;
  HostSecurity security_;
  EnvList env_file_;  // fanout.env.example with addresses, ports and paths substituted
  std::chrono::milliseconds liveness_{3000};
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::vector<std::string> worker_ids_;
  bool ok_ = false;
};

}  // namespace fanout::testing::multihost
