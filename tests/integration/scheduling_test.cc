// Placement through the real daemons (DESIGN §4): resource requests, interruptible workers,
// preemption handed back as system errors, and the reason a node waits in `fanout status`.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;

bool WaitPhase(Cluster& c, const std::string& exec, const std::string& phase,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) {
  return WaitFor([&] {
    nlohmann::json s = c.Status(exec);
    return s.is_object() && s.value("phase", "") == phase;
  }, timeout, std::chrono::milliseconds(100));
}

bool WaitWaiting(Cluster& c, const std::string& exec, const std::string& needle) {
  return WaitFor([&] {
    nlohmann::json s = c.Status(exec);
    return s.is_object() &&
           s["nodes"][0].value("waiting", "").find(needle) != std::string::npos;
  }, std::chrono::milliseconds(30000), std::chrono::milliseconds(100));
}

ClusterOptions NoWorkers() {
  ClusterOptions o;
  o.workers = 0;
  return o;
}

TEST(SchedulingTest, RequestNoWorkerCanFitIsShownAsTheReasonTheNodeWaits) {
  Cluster cluster(NoWorkers());
  cluster.AddWorker({"--mem", "1Gi"});
  ASSERT_TRUE(cluster.WaitForWorkers(1, std::chrono::milliseconds(20000)));
  std::string spec = cluster.dir().WriteFile("mem.yaml", R"(version: 1
tasks:
  big: {function: builtin.noop, inputs: {x: int}, outputs: {o0: int}, requests: {mem: 4Gi}}
workflows:
  w:
    nodes: [{id: n, map: big, inputs: {x: [1, 2, 3]}}]
    outputs: {o0: $n.o0}
)");
  std::string exec = cluster.Submit({spec});
  ASSERT_TRUE(WaitWaiting(cluster, exec, "mem=4Gi fit no connected worker"));
  RunResult human = cluster.Fanout("status", exec);
  EXPECT_NE(human.out.find("waiting: requests"), std::string::npos) << human;
  // A worker large enough arrives: the node runs there.
  cluster.AddWorker({"--mem", "8Gi"});
  ASSERT_TRUE(WaitPhase(cluster, exec, "SUCCEEDED"));
}

TEST(SchedulingTest, NonInterruptibleTaskNeverRunsOnInterruptibleWorkers) {
  Cluster cluster(NoWorkers());
  cluster.AddWorker({"--interruptible"});
  ASSERT_TRUE(cluster.WaitForWorkers(1, std::chrono::milliseconds(20000)));
  std::string spec = cluster.dir().WriteFile("steady.yaml", R"(version: 1
tasks:
  t: {command: [/bin/sh, -c, 'cut -d" " -f4 /proc/$PPID/stat'], inputs: {x: int}, outputs: {o0: int}}
workflows:
  w:
    nodes: [{id: n, map: t, inputs: {x: [1, 2]}}]
    outputs: {o0: $n.o0}
)");
  std::string exec = cluster.Submit({spec});
  ASSERT_TRUE(WaitWaiting(cluster, exec, "interruptible"));
  size_t steady = cluster.AddWorker();
  ASSERT_TRUE(WaitPhase(cluster, exec, "SUCCEEDED"));
  RunResult out = cluster.Fanout("outputs", exec, "-o", "json");
  auto pids = nlohmann::json::parse(out.out)["outputs"]["o0"];
  for (const auto& pid : pids) EXPECT_EQ(pid, cluster.worker(steady).Pid()) << out;
}

TEST(SchedulingTest, PreemptedSubtasksAreRetriedAndTheLastSystemRetryAvoidsInterruptibleWorkers) {
  ClusterOptions o = NoWorkers();
  o.coordinator_args = {"--system-retries", "1"};
  Cluster cluster(o);
  size_t spot = cluster.AddWorker({"--interruptible"});
  ASSERT_TRUE(cluster.WaitForWorkers(1, std::chrono::milliseconds(20000)));
  std::string markers = cluster.dir().Path("markers");
  fs::create_directories(markers);
  // Each attempt records the worker that ran it (the command's parent), then sleeps on the
  // first attempt so that it is still running when the spot worker is preempted.
  std::string spec = cluster.dir().WriteFile("spot.yaml", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'cut -d" " -f4 /proc/$PPID/stat > {{inputs.dir}}/$FANOUT_INDEX.$FANOUT_ATTEMPT; if [ $FANOUT_ATTEMPT = 0 ]; then sleep 30; fi; echo $FANOUT_ATTEMPT']
    inputs: {x: int, dir: str}
    outputs: {o0: int}
    interruptible: true
workflows:
  w:
    nodes: [{id: n, map: t, inputs: {x: [1]}, bind: {dir: ")" + markers + R"("}}]
    outputs: {o0: $n.o0}
)");
  std::string exec = cluster.Submit({spec});
  ASSERT_TRUE(WaitFor([&] { return fs::exists(markers + "/0.0"); }, std::chrono::milliseconds(30000)));
  // A second spot worker joins, then the first is preempted (SIGTERM on an interruptible worker).
  size_t spot2 = cluster.AddWorker({"--interruptible"});
  ASSERT_TRUE(cluster.WaitForWorkers(2, std::chrono::milliseconds(20000)));
  cluster.KillWorker(spot, SIGTERM);
  EXPECT_EQ(cluster.worker(spot).Wait(std::chrono::milliseconds(1)).value_or(-1), 1);
  // Its one system retry is the last: it waits for a non-interruptible worker, although a spot
  // worker is free.
  ASSERT_TRUE(WaitWaiting(cluster, exec, "interruptible"));
  EXPECT_FALSE(fs::exists(markers + "/0.1"));
  size_t steady = cluster.AddWorker();
  ASSERT_TRUE(WaitPhase(cluster, exec, "SUCCEEDED"));
  EXPECT_EQ(std::stoi(ReadFile(markers + "/0.1")), cluster.worker(steady).Pid());
  EXPECT_NE(std::stoi(ReadFile(markers + "/0.0")), cluster.worker(spot2).Pid());
  RunResult out = cluster.Fanout("outputs", exec, "-o", "json");
  EXPECT_EQ(nlohmann::json::parse(out.out)["outputs"]["o0"], nlohmann::json::array({1})) << out;
}

TEST(SchedulingTest, IndependentNodesRunSideBySide) {
  // Issue 8, defect 1: `first` (concurrency 3) and `second` (unbounded) over the same list, two
  // workers of two slots. `first` used to sit at running 0 until `second` was done. Both must
  // be seen running at once (no timing is asserted: the check is what runs together).
  ClusterOptions o;
  o.workers = 2;
  o.slots = 2;
  Cluster cluster(o);
  std::string spec = cluster.dir().WriteFile("two.yaml", R"(version: 1
tasks:
  sleep: {function: builtin.sleep_ms, inputs: {ms: int}, outputs: {o0: int}}
workflows:
  w:
    inputs:
      ms: {type: "list<int>", default: [300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300]}
    nodes:
      - {id: first, map: sleep, inputs: {ms: $inputs.ms}, concurrency: 3}
      - {id: second, map: sleep, inputs: {ms: $inputs.ms}}
    outputs: {a: $first.o0, b: $second.o0}
)");
  std::string exec = cluster.Submit({spec});
  ASSERT_FALSE(exec.empty());
  bool together = WaitFor([&] {
    nlohmann::json s = cluster.Status(exec);
    if (!s.is_object()) return false;
    return s["nodes"][0]["counts"]["running"].get<int>() > 0 && s["nodes"][1]["counts"]["running"].get<int>() > 0;
  }, std::chrono::milliseconds(60000), std::chrono::milliseconds(20));
  EXPECT_TRUE(together) << "the two nodes were never seen running at the same time";
  ASSERT_TRUE(WaitPhase(cluster, exec, "SUCCEEDED", std::chrono::milliseconds(120000)));
}

}  // namespace
}  // namespace fanout::testing
