// `fanout logs EXEC NODE [INDEX] [--attempt K]` (DESIGN §3.2): what an attempt of a command
// task printed, kept per attempt in Redis (fo:{E}:n:NODE:log:I:A), read through the coordinator
// while the execution runs (its records in memory) and after it ended (its records in Redis).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

// Attempt 0 prints on both streams and fails; attempt 1 waits for GATE, prints on stderr and
// succeeds with stdout as its output. Subtask i gets x = i.
std::string Spec(const std::string& gate, int n) {
  return MapSpec("if [ $FANOUT_ATTEMPT = 0 ]; then echo \"out {{inputs.x}}\"; "
                 "echo \"err {{inputs.x}} first\" >&2; exit 3; fi; "
                 "while [ ! -e " + gate + " ]; do sleep 0.02; done; "
                 "echo \"err {{inputs.x}} second\" >&2; echo {{inputs.x}}",
                 n, "    retries: 1\n", "", "noisy");
}

// Submits the noisy map (2 elements, its gate closed) and waits until element 1's attempt 0
// has failed and left its log; attempt 1 is then held at the gate. The execution id, or "".
std::string StartHeldAfterAFailedAttempt(Cluster& cluster) {
  std::string gate = cluster.dir().Path("gate");
  std::string spec = cluster.dir().WriteFile("noisy.yaml", Spec(gate, 2));
  std::string exec = cluster.Submit({spec});
  if (exec.empty()) return exec;
  bool failed_once = WaitFor(
      [&] { return cluster.Fanout("logs", exec, "noisy", "1", "--attempt", "0").exit_code == 0; },
      milliseconds(30000));
  return failed_once ? exec : std::string();
}

TEST(LogsTest, EachAttemptsOutputIsKeptAndTheLatestIsTheDefault) {
  Cluster cluster;
  // While it runs: attempt 0 has failed and left its log; attempt 1 is held at the gate.
  std::string exec = StartHeldAfterAFailedAttempt(cluster);
  ASSERT_FALSE(exec.empty()) << "not submitted, or attempt 0 never failed";
  RunResult first = cluster.Fanout("logs", exec, "noisy", "1", "--attempt", "0");
  EXPECT_EQ(first.out, "[stdout]\nout 1\n[stderr]\nerr 1 first\n") << first;
  EXPECT_NE(first.err.find(exec + " noisy[1] attempt 0"), std::string::npos) << first;
  ASSERT_TRUE(WaitFor(
      [&] { return ParseJsonOrNull(cluster.Fanout("logs", exec, "noisy", "1", "-o", "json").out)["attempt"] == 1; },
      milliseconds(30000)));
  RunResult pending = cluster.Fanout("logs", exec, "noisy", "1");
  EXPECT_EQ(pending.exit_code, 1) << pending;  // attempt 1 has not ended
  EXPECT_NE(pending.err.find("attempt 1"), std::string::npos) << pending;
  EXPECT_NE(pending.err.find("has not ended"), std::string::npos) << pending;

  cluster.dir().WriteFile("gate", "");
  RunResult watch = cluster.Fanout("watch", exec, "-o", "json");
  ASSERT_EQ(watch.exit_code, 0) << watch;

  // After the end the execution is no longer in the coordinator's memory: the latest attempt
  // comes from the records in Redis. Its stdout was the output, so the log is stderr alone.
  RunResult latest = cluster.Fanout("logs", exec, "noisy", "1");
  ASSERT_EQ(latest.exit_code, 0) << latest;
  EXPECT_EQ(latest.out, "err 1 second\n");
  nlohmann::json j = ParseJsonOrNull(cluster.Fanout("logs", exec, "noisy", "0", "-o", "json").out);
  EXPECT_EQ(j["attempt"], 1) << j.dump();
  EXPECT_EQ(j["found"], true) << j.dump();
  EXPECT_EQ(j["log"], "err 0 second\n") << j.dump();
  EXPECT_EQ(cluster.Fanout("logs", exec, "noisy", "0", "--attempt", "0").out,
            "[stdout]\nout 0\n[stderr]\nerr 0 first\n");
}

TEST(LogsTest, UnknownExecutionNodeAndIndexAreClearErrors) {
  Cluster cluster;
  std::string gate = cluster.dir().Path("gate");
  std::string spec = cluster.dir().WriteFile("noisy.yaml", Spec(gate, 1));
  std::string exec = cluster.Submit({spec});
  ASSERT_FALSE(exec.empty());

  RunResult no_exec = cluster.Fanout("logs", "nope", "noisy");
  EXPECT_EQ(no_exec.exit_code, 2) << no_exec;
  EXPECT_NE(no_exec.err.find("no execution 'nope'"), std::string::npos) << no_exec;
  RunResult no_node = cluster.Fanout("logs", exec, "other");
  EXPECT_EQ(no_node.exit_code, 2) << no_node;
  EXPECT_NE(no_node.err.find("no node 'other'"), std::string::npos) << no_node;
  RunResult bad_index = cluster.Fanout("logs", exec, "noisy", "7");
  EXPECT_EQ(bad_index.exit_code, 2) << bad_index;
  EXPECT_NE(bad_index.err.find("index 7 is out of range"), std::string::npos) << bad_index;
  cluster.dir().WriteFile("gate", "");
}

TEST(LogsTest, AnAttemptThatNeverRanAndANegativeIndexAreDistinctShortErrors) {
  Cluster cluster;
  std::string exec = StartHeldAfterAFailedAttempt(cluster);
  ASSERT_FALSE(exec.empty()) << "not submitted, or attempt 0 never failed";
  RunResult never = cluster.Fanout("logs", exec, "noisy", "1", "--attempt", "5");
  EXPECT_EQ(never.exit_code, 2) << never;
  EXPECT_NE(never.err.find("attempt 5 of noisy[1] never ran: its attempts are 0 to 1"), std::string::npos) << never;
  RunResult negative = cluster.Fanout("logs", exec, "noisy", "-1");
  EXPECT_EQ(negative.exit_code, 2) << negative;
  EXPECT_NE(negative.err.find("expected a whole number from 0 to 4294967295, got '-1'"), std::string::npos)
      << negative;
  EXPECT_LT(negative.err.size(), 400u) << negative;  // no 300-digit bound
  cluster.dir().WriteFile("gate", "");
}

// The index the failed-run hint names: "its output: fanout logs E NODE INDEX" → INDEX ("" if none).
std::string HintedIndex(const RunResult& run, std::string* exec = nullptr, std::string* node = nullptr) {
  std::string hint = "its output: fanout logs ";
  size_t at = run.err.find(hint);
  if (at == std::string::npos) return "";
  std::string line = run.err.substr(at + hint.size(), run.err.find('\n', at) - at - hint.size());
  std::istringstream words(line);
  std::string e, n, index;
  words >> e >> n >> index;
  if (exec != nullptr) *exec = e;
  if (node != nullptr) *node = n;
  return index;
}

TEST(LogsTest, AFailedRunPointsAtTheLogOfItsLowestFailedSubtask) {
  Cluster cluster;
  // Every subtask fails and the node fails at the third failure (min_successes 1 tolerates
  // two); subtask 0 fails last: the hint still names it, the lowest index, not the first to fail.
  std::string spec = cluster.dir().WriteFile(
      "bad.yaml", MapSpec("if [ {{inputs.x}} = 0 ]; then sleep 1; fi; echo \"bad {{inputs.x}}\" >&2; exit 1", 3, "",
                          "        min_successes: 1\n"));
  RunResult run = cluster.Fanout("run", spec);
  ASSERT_EQ(run.exit_code, 1) << run;
  std::string exec, node;
  std::string index = HintedIndex(run, &exec, &node);
  EXPECT_EQ(index, "0") << run;
  EXPECT_EQ(node, "m") << run;
  RunResult logs = cluster.Fanout("logs", exec, node, index);
  ASSERT_EQ(logs.exit_code, 0) << logs;
  EXPECT_EQ(logs.out, "bad 0\n");
}

TEST(LogsTest, AFailedRunOfAFunctionTaskGivesNoLogHint) {
  Cluster cluster;
  std::string spec = cluster.dir().WriteFile(
      "fn.yaml",
      "version: 1\ntasks:\n  t:\n    function: builtin.fail_if\n    inputs: {x: int, fail: \"list<int>\"}\n"
      "    outputs: {o0: int}\nworkflows:\n  w:\n    inputs:\n      xs: {type: \"list<int>\", default: [1, 2]}\n"
      "    nodes:\n      - id: m\n        map: t\n        inputs: {x: $inputs.xs}\n        bind: {fail: [1, 2]}\n"
      "    outputs: {o0: $m.o0}\n");
  RunResult run = cluster.Fanout("run", spec);
  ASSERT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(HintedIndex(run), "") << run;  // a C++/builtin function leaves no log to point at
  EXPECT_NE(run.err.find("is in the fail list"), std::string::npos) << run;
}

}  // namespace
}  // namespace fanout::testing
