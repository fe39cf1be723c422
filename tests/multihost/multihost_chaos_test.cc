// The multi-host chaos scenarios (tests/multihost/README.md): Redis + coordinator on one
// network-namespace host, a worker on each of three others, a map of the chaos suite's `double`
// task, and a fault of the network or of a whole host while it runs:
//   a. MultiHostWorkerCutOff       a worker host's link down past liveness, then healed
//   b. MultiHostCoordinatorCutOff  the coordinator host's link down past liveness, then healed
//   c. MultiHostWorkerPowerOff     a worker host's link down and every process on it SIGKILLed
//                                  at once; later "powered on" (link up, the unit starts again)
//   d. MultiHostCoordinatorRestart the coordinator SIGKILLed and started again every 2 s while
//                                  the workers keep running
// Each ends with the chaos suite's checks (chaos_util.h CheckOutcome: one HSETNX per index in
// the AOF, equal to 2x; every index ran; SUCCEEDED with the reference outputs) and prints its
// figures as a [chaos] line (run_chaos.sh tabulates them). Short forms run in `make test`,
// long forms with FANOUT_CHAOS_LONG=1 (`make chaos`).
#include <gtest/gtest.h>

#include <iostream>
#include <thread>

#include "tests/chaos/chaos_util.h"
#include "tests/multihost/multihost_cluster.h"

namespace fanout::testing::multihost {
namespace {

using chaos::Report;
using chaos::SteadyClock;
using std::chrono::milliseconds;
using Listing = std::map<std::string, long>;

long MsSince(SteadyClock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - t0).count();
}

// Skips (with the reason) where the machine does not allow network namespaces, and removes
// namespaces a crashed earlier run left behind.
class NetnsScenario : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = NetnsUnavailable()) GTEST_SKIP() << "network namespaces unavailable: " << *why;
    RemoveStaleNamespaces();
  }
};

// How long faults are injected at most (then the map is left to finish): every fault loop is
// bounded in count (max_*) and in time, within ctest's TIMEOUT (300 s short, 1800 s long).
SteadyClock::time_point FaultDeadline(bool long_form) {
  return SteadyClock::now() + (long_form ? std::chrono::minutes(12) : std::chrono::minutes(2));
}

// A map of `n` × `double` submitted through the coordinator host's CLI.
struct Workload {
  MultiHostCluster& c;
  int n;
  std::string markers;
  std::string exec;

  Workload(MultiHostCluster& cluster, int n_, int sleep_ms) : c(cluster), n(n_) {
    markers = c.base().dir().Path("markers");
    exec = chaos::Submit(c.base(), markers, n, sleep_ms, 1000, c.CoordinatorAddress());
  }
  bool Running() const {
    std::string p = chaos::PhaseInRedis(c.base().redis(), exec);
    return p.empty() || p == "RUNNING" || p == "PENDING";
  }
  long Committed() const { return chaos::CommittedInRedis(c.base().redis(), exec); }
  // Waits until work flows (a tenth of the map, at most 200 commits) before the first fault.
  bool WaitFlowing() const {
    return WaitFor([&] { return Committed() >= std::min(n / 10, 200); }, milliseconds(300000));
  }
  // The chaos interval between faults: `ms`, cut short when the execution ends.
  void Pause(long ms) const {
    WaitFor([&] { return !Running(); }, milliseconds(ms), milliseconds(50));
  }
};

MultiHostOptions ScenarioOptions() {
  MultiHostOptions o;
  o.worker_hosts = 3;
  o.slots = 4;
  // A partition or power-off costs every attempt in flight one system retry; several faults in
  // a row must not exhaust the budget (the chaos suite uses the same).
  o.coordinator_args = {"--system-retries", "15"};
  return o;
}

// The end shared by every scenario: SUCCEEDED, then the chaos suite's checks through the
// coordinator host, and every worker alive (powered-off hosts were powered on again).
void ExpectSucceededOnce(MultiHostCluster& c, const Workload& w, Report& report) {
  std::string phase = chaos::WaitTerminal(
      c.base().redis(), w.exec, chaos::TerminalDeadline(report.form == "long"));
  ASSERT_EQ(phase, "SUCCEEDED");
  chaos::CheckOutcome(c.base(), w.exec, w.markers, w.n, report, c.CoordinatorAddress());
  for (size_t i = 0; i < c.worker_count(); ++i)
    EXPECT_TRUE(c.worker(i).Running()) << "worker " << c.WorkerId(i) << " died; its log:\n"
                                       << TailFile(c.worker(i).StderrPath(), 10);
}

bool Listed(const Listing& l, const std::string& id) { return l.contains(id); }

// Keeps a fault on until `window` has passed since `t0` (a chaos interval, not a wait for a
// condition): a cut lasts at least the liveness window even when both sides gave up sooner
// (silence is counted from the last message, which may precede the cut by a heartbeat).
void HoldAtLeast(SteadyClock::time_point t0, milliseconds window) {
  std::this_thread::sleep_until(t0 + window);
}

// Waits (bounded) until worker w has attempts in flight, so that a fault costs something.
void WaitBusy(MultiHostCluster& c, size_t w) {
  const std::string id = c.WorkerId(w);
  c.WaitWorkers([&](const Listing& l) { return l.contains(id) && l.at(id) > 0; },
                milliseconds(10000));
}

// ---------------------------------------------------------------------------------------
// a. A worker host cut off past the liveness window, then healed.

void WorkerCutOff(bool long_form) {
  const int n = long_form ? 10000 : 400;
  Report report("mh-worker-cut", long_form, n);
  MultiHostCluster c(ScenarioOptions());
  ASSERT_TRUE(c.ok()) << "the cluster did not start";
  Workload w(c, n, long_form ? 5 : 20);
  ASSERT_FALSE(w.exec.empty());
  ASSERT_TRUE(w.WaitFlowing());

  nlohmann::json cut_ms = nlohmann::json::array(), lost_ms = nlohmann::json::array(),
                 rejoin_ms = nlohmann::json::array();
  const int max_cuts = long_form ? 1000 : 1;
  const auto deadline = FaultDeadline(long_form);
  for (size_t i = 0; report.kills < max_cuts && w.Running() && SteadyClock::now() < deadline;
       i = (i + 1) % c.worker_count()) {
    const std::string id = c.WorkerId(i);
    const size_t host = c.HostOfWorker(i);
    WaitBusy(c, i);
    const int seen = c.CoordinatorLossesSeenBy(i);
    auto t0 = SteadyClock::now();
    ASSERT_TRUE(c.CutOff(host));
    ++report.kills;
    // Down until both sides gave up on each other: the coordinator drops it from its list, the
    // worker drops its connection (each after one liveness window of silence).
    bool lost = c.WaitWorkers([&](const Listing& l) { return !Listed(l, id); }, milliseconds(30000));
    lost_ms.push_back(MsSince(t0));
    bool noticed = WaitFor([&] { return c.CoordinatorLossesSeenBy(i) > seen; }, milliseconds(30000),
                           milliseconds(100));
    HoldAtLeast(t0, c.Liveness());
    cut_ms.push_back(MsSince(t0));
    ASSERT_TRUE(c.Heal(host));
    ASSERT_TRUE(lost) << id << " cut off for 30 s was never declared lost";
    ASSERT_TRUE(noticed) << id << " cut off for 30 s never gave up on the coordinator";
    auto t1 = SteadyClock::now();
    ASSERT_TRUE(c.WaitWorkers([&](const Listing& l) { return Listed(l, id); }, milliseconds(60000)))
        << id << " never rejoined after the heal";
    rejoin_ms.push_back(MsSince(t1));
    if (long_form) w.Pause(1000);
  }
  report.extra["cut_ms"] = cut_ms;
  report.extra["lost_ms"] = lost_ms;
  report.extra["rejoin_ms"] = rejoin_ms;
  ExpectSucceededOnce(c, w, report);
  // The cut worker's attempts ran again elsewhere: the fault did cost something.
  EXPECT_TRUE(report.RanAgain()) << "nothing was re-run: the cut tested nothing";
}

class MultiHostWorkerCutOff : public NetnsScenario {};

FANOUT_CHAOS_SCENARIO(TEST_F, MultiHostWorkerCutOff, WorkerCutOff)

// ---------------------------------------------------------------------------------------
// b. The coordinator host cut off from every worker, then healed.

void CoordinatorCutOff(bool long_form) {
  const int n = long_form ? 10000 : 400;
  Report report("mh-coordinator-cut", long_form, n);
  MultiHostCluster c(ScenarioOptions());
  ASSERT_TRUE(c.ok()) << "the cluster did not start";
  Workload w(c, n, long_form ? 5 : 20);
  ASSERT_FALSE(w.exec.empty());
  ASSERT_TRUE(w.WaitFlowing());

  nlohmann::json cut_ms = nlohmann::json::array(), lost_ms = nlohmann::json::array(),
                 rejoin_ms = nlohmann::json::array();
  nlohmann::json committed_during_cut = nlohmann::json::array();
  const int max_cuts = long_form ? 1000 : 1;
  const auto deadline = FaultDeadline(long_form);
  while (report.kills < max_cuts && w.Running() && SteadyClock::now() < deadline) {
    std::vector<int> seen;
    for (size_t i = 0; i < c.worker_count(); ++i) seen.push_back(c.CoordinatorLossesSeenBy(i));
    auto t0 = SteadyClock::now();
    ASSERT_TRUE(c.CutOff(MultiHostCluster::kCoordinatorHost));
    ++report.kills;
    // The CLI and Redis share the coordinator's host, so they still answer during the cut.
    bool lost = c.WaitWorkers([](const Listing& l) { return l.empty(); }, milliseconds(30000));
    lost_ms.push_back(MsSince(t0));
    long committed_at_lost = w.Committed();
    bool noticed = WaitFor(
        [&] {
          for (size_t i = 0; i < c.worker_count(); ++i)
            if (c.CoordinatorLossesSeenBy(i) <= seen[i]) return false;
          return true;
        },
        milliseconds(30000), milliseconds(100));
    HoldAtLeast(t0, c.Liveness());
    // Nothing can be committed while no worker reaches the coordinator.
    committed_during_cut.push_back(w.Committed() - committed_at_lost);
    cut_ms.push_back(MsSince(t0));
    ASSERT_TRUE(c.Heal(MultiHostCluster::kCoordinatorHost));
    ASSERT_TRUE(lost) << "the coordinator cut off for 30 s still lists workers";
    ASSERT_TRUE(noticed) << "a worker never gave up on the cut-off coordinator";
    EXPECT_EQ(committed_during_cut.back().get<long>(), 0) << "commits while every worker was cut off";
    auto t1 = SteadyClock::now();
    ASSERT_TRUE(c.WaitWorkers([&](const Listing& l) { return l.size() == c.worker_count(); },
                              milliseconds(60000)))
        << "the workers did not all rejoin after the heal";
    rejoin_ms.push_back(MsSince(t1));
    if (long_form) w.Pause(3000);
  }
  report.extra["cut_ms"] = cut_ms;
  report.extra["lost_ms"] = lost_ms;
  report.extra["rejoin_ms"] = rejoin_ms;
  ExpectSucceededOnce(c, w, report);
  EXPECT_TRUE(report.RanAgain()) << "nothing was re-run: the cut tested nothing";
}

class MultiHostCoordinatorCutOff : public NetnsScenario {};

FANOUT_CHAOS_SCENARIO(TEST_F, MultiHostCoordinatorCutOff, CoordinatorCutOff)

// ---------------------------------------------------------------------------------------
// c. A worker host powered off: link down, every process on it SIGKILLed at once.

void WorkerPowerOff(bool long_form) {
  const int n = long_form ? 10000 : 400;
  Report report("mh-worker-poweroff", long_form, n);
  MultiHostCluster c(ScenarioOptions());
  ASSERT_TRUE(c.ok()) << "the cluster did not start";
  Workload w(c, n, long_form ? 5 : 20);
  ASSERT_FALSE(w.exec.empty());
  ASSERT_TRUE(w.WaitFlowing());

  nlohmann::json killed = nlohmann::json::array(), lost_ms = nlohmann::json::array(),
                 rejoin_ms = nlohmann::json::array();
  const int max_offs = long_form ? 1000 : 1;
  const auto deadline = FaultDeadline(long_form);
  for (size_t i = 0; report.kills < max_offs && w.Running() && SteadyClock::now() < deadline;
       i = (i + 1) % c.worker_count()) {
    const std::string id = c.WorkerId(i);
    WaitBusy(c, i);
    auto t0 = SteadyClock::now();
    bool empty = false;
    killed.push_back(c.PowerOff(i, &empty));
    ++report.kills;
    ASSERT_TRUE(empty) << "processes on " << id << "'s host survived the power-off";
    ASSERT_GE(killed.back().get<int>(), 1) << "nothing was running on " << id << "'s host";
    ASSERT_TRUE(c.WaitWorkers([&](const Listing& l) { return !Listed(l, id); }, milliseconds(30000)))
        << id << " powered off was never declared lost";
    lost_ms.push_back(MsSince(t0));
    auto t1 = SteadyClock::now();
    ASSERT_TRUE(c.PowerOn(i));
    ASSERT_TRUE(c.WaitWorkers([&](const Listing& l) { return Listed(l, id); }, milliseconds(60000)))
        << id << " never rejoined after power-on";
    rejoin_ms.push_back(MsSince(t1));
    if (long_form) w.Pause(1000);
  }
  report.extra["processes_killed"] = killed;
  report.extra["lost_ms"] = lost_ms;
  report.extra["rejoin_ms"] = rejoin_ms;
  ExpectSucceededOnce(c, w, report);
  EXPECT_TRUE(report.RanAgain()) << "nothing was re-run: the power-off tested nothing";
}

class MultiHostWorkerPowerOff : public NetnsScenario {};

FANOUT_CHAOS_SCENARIO(TEST_F, MultiHostWorkerPowerOff, WorkerPowerOff)

// ---------------------------------------------------------------------------------------
// d. The coordinator restarted on its host while the workers on the others keep running.

void CoordinatorRestart(bool long_form) {
  const int n = long_form ? 10000 : 600;
  Report report("mh-coordinator-restart", long_form, n);
  MultiHostCluster c(ScenarioOptions());
  ASSERT_TRUE(c.ok()) << "the cluster did not start";
  Workload w(c, n, long_form ? 5 : 20);
  ASSERT_FALSE(w.exec.empty());

  nlohmann::json committed_at = nlohmann::json::array();
  const int max_kills = long_form ? 1000 : 2;
  long last = -1;
  const auto deadline = FaultDeadline(long_form);
  while (report.kills < max_kills && SteadyClock::now() < deadline) {
    w.Pause(2000);
    if (!w.Running()) break;
    // Only the test may end a coordinator.
    if (!c.coordinator()->Running()) {
      Process& dead = *c.coordinator();
      ADD_FAILURE() << "the coordinator started after restart " << report.kills
                    << " ended on its own: exit " << dead.Wait(milliseconds(0)).value_or(-1)
                    << (dead.TermSignal() != 0 ? " (signal " + std::to_string(dead.TermSignal()) + ")"
                                               : std::string());
      break;
    }
    // No commit since the last restart: stop, so that attempts nobody claimed can outlive the
    // restart grace window (one liveness window, longer than this interval) and run again. Not
    // a failure by itself: a coordinator that never resumes fails the wait for SUCCEEDED.
    long now = w.Committed();
    if (now == last) {
      report.extra["stalled_at"] = now;
      std::cerr << "[multihost] no commit in the 2 s after restart " << report.kills << " (" << now
                << " committed): the restarts stop here\n";
      break;
    }
    last = now;
    c.KillCoordinator(SIGKILL);
    ++report.kills;
    committed_at.push_back(w.Committed());
    ASSERT_TRUE(c.StartCoordinator()) << "restart " << report.kills;
  }
  report.extra["committed_at_kills"] = committed_at;
  ExpectSucceededOnce(c, w, report);
  EXPECT_GE(report.kills, long_form ? 5 : 2) << "the map ended before the planned restarts";
  // The workers kept running through every restart: the same processes are still there.
  EXPECT_TRUE(c.WaitWorkers([&](const Listing& l) { return l.size() == c.worker_count(); },
                            milliseconds(30000)));
}

class MultiHostCoordinatorRestart : public NetnsScenario {};

FANOUT_CHAOS_SCENARIO(TEST_F, MultiHostCoordinatorRestart, CoordinatorRestart)

}  // namespace
}  // namespace fanout::testing::multihost
