// Coordinator restart (DESIGN §6): a 2,000-element map of a 20 ms command task with
// concurrency 50; the coordinator is killed with SIGKILL when about half have succeeded and
// started again on the same Redis. The execution completes with every output correct, and no
// subtask that had succeeded before the kill runs again (marker files count executions).
// And a running attempt's timeout keeps counting from the attempt's start across a restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kN = 2000;

TEST(RestartTest, KilledCoordinatorResumesWithoutRerunningSucceededSubtasks) {
  ClusterOptions o;
  o.workers = 2;
  o.slots = 32;
  Cluster cluster(o);
  std::string markers = cluster.dir().Path("markers");
  fs::create_directories(markers);
  std::string spec = cluster.dir().WriteFile("restart.yaml", DoubleSpec(markers, 20, 50));

  std::string exec = cluster.Submit({spec, "-i", RangeInputArg(cluster.dir(), kN)});
  ASSERT_FALSE(exec.empty());

  // Wait until about half have succeeded, then kill -9 the coordinator.
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json s = cluster.Status(exec);
        return s.is_object() && s["nodes"][0]["counts"]["succeeded"].get<int>() >= kN / 2;
      },
      std::chrono::milliseconds(120000), std::chrono::milliseconds(50)))
      << "the map never reached half";
  cluster.KillCoordinator(SIGKILL);

  // What Redis holds as committed is what "had succeeded before the kill".
  std::string out_key = "fo:{" + exec + "}:n:double:out";
  std::string hlen = cluster.redis().Command({"HLEN", out_key});
  int committed_before = std::stoi(hlen);
  ASSERT_GE(committed_before, kN / 2);
  ASSERT_LT(committed_before, kN) << "the map finished before the kill; nothing to resume";
  std::set<int> succeeded_before;
  {
    std::string keys = cluster.redis().Command({"HKEYS", out_key});
    // Command returns the elements separated by newlines.
    size_t pos = 0;
    while (pos < keys.size()) {
      size_t nl = keys.find('\n', pos);
      std::string k = keys.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (!k.empty()) succeeded_before.insert(std::stoi(k));
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  ASSERT_EQ(static_cast<int>(succeeded_before.size()), committed_before);
  std::map<int, int> runs_before = CountMarkers(markers);

  ASSERT_TRUE(cluster.StartCoordinator());
  nlohmann::json final_status;
  ASSERT_TRUE(WaitFor(
      [&] {
        final_status = cluster.Status(exec);
        return final_status.is_object() && final_status.value("phase", "") != "RUNNING";
      },
      std::chrono::milliseconds(180000), std::chrono::milliseconds(100)));
  ASSERT_EQ(final_status["phase"], "SUCCEEDED") << final_status.dump();

  RunResult outputs = cluster.Fanout("outputs", exec, "-o", "json");
  ASSERT_EQ(outputs.exit_code, 0) << outputs;
  auto doc = nlohmann::json::parse(outputs.out);
  const auto& o0 = doc["outputs"]["o0"];
  ASSERT_EQ(o0.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(o0[i], 2 * i) << "index " << i;

  std::map<int, int> runs = CountMarkers(markers);
  for (int i = 0; i < kN; ++i) ASSERT_GE(runs[i], 1) << "index " << i << " never ran";
  for (int i : succeeded_before) {
    // Not `runs[i] == 1`: on a loaded machine a worker may miss heartbeats before the kill and
    // have its attempts re-run (system retries); what the restart must not do is run again
    // what had committed.
    EXPECT_EQ(runs[i], runs_before[i]) << "index " << i << " had succeeded before the kill and ran again";
  }
  // The execution's output hash holds exactly one output per index.
  EXPECT_EQ(std::stoi(cluster.redis().Command({"HLEN", out_key})), kN);
}

// The clock of an attempt's timeout is the worker's, started when the attempt started: a
// coordinator that dies and comes back neither restarts it nor re-runs the attempt. Here the
// attempt times out while the coordinator is down; the worker holds that result, hands it to the
// restarted coordinator, and the subtask fails with "timed out" after exactly one attempt.
TEST(RestartTest, TimeoutKeepsCountingFromTheAttemptsStartAcrossARestart) {
  ClusterOptions o;
  o.workers = 1;
  o.slots = 2;
  Cluster cluster(o);
  std::string markers = cluster.dir().Path("markers");
  fs::create_directories(markers);
  std::string spec = cluster.dir().WriteFile(
      "timeout.yaml", MapSpec("touch " + markers + "/$FANOUT_INDEX.$FANOUT_ATTEMPT; echo $$ > " + markers +
                                  "/pid.tmp; mv " + markers + "/pid.tmp " + markers + "/pid; exec sleep 60",
                              1, "    timeout: 2s\n    retries: 0\n"));
  std::string exec = cluster.Submit({spec});
  ASSERT_FALSE(exec.empty());

  std::string pid_file = markers + "/pid";
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(pid_file).empty(); }, milliseconds(30000)))
      << "the attempt never started";
  int pid = std::stoi(ReadFile(pid_file));
  cluster.KillCoordinator(SIGKILL);
  // The attempt ends while no coordinator runs: its worker's timer killed it.
  ASSERT_TRUE(WaitFor([&] { return kill(pid, 0) != 0; }, milliseconds(30000)))
      << "the timed-out task process " << pid << " still runs";

  ASSERT_TRUE(cluster.StartCoordinator());
  nlohmann::json st;
  ASSERT_TRUE(WaitFor(
      [&] {
        st = cluster.Status(exec);
        return st.is_object() && st.value("phase", "") != "RUNNING";
      },
      milliseconds(60000), milliseconds(100)));
  EXPECT_EQ(st["phase"], "FAILED") << st.dump(2);
  EXPECT_NE(st.value("error", "").find("timed out after 2s"), std::string::npos) << st.dump(2);
  std::map<int, int> runs = CountMarkers(markers);
  EXPECT_EQ(runs, (std::map<int, int>{{0, 1}})) << "the attempt ran again after the restart";
  EXPECT_TRUE(fs::exists(markers + "/0.0"));
}

}  // namespace
}  // namespace fanout::testing
