// Array node semantics (DESIGN §4, issue 3) through the real CLI on a real cluster
// (redis-server, fanout-coordinator, two fanout-worker processes of 4 slots each): tolerated
// failures, fail-fast, concurrency, retries, exit 42, timeouts, abort, length mismatch of
// upstream lists, status counts, N = 0, all-bound nodes, several outputs, downstream nodes of a
// failed node, error grouping and the exact min_success_ratio arithmetic.
//
// Command tasks leave marker files (DIR/INDEX.ATTEMPT) so that each test can count which
// subtasks ran and with which attempt numbers.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// The shared cluster has 8 slots in all: more than any concurrency limit used below.
class SemanticsTest : public SharedClusterTest<SemanticsTest> {
 protected:
  // A fresh, empty directory for this test's marker files.
  static std::string MarkerDir(const std::string& name) {
    std::string dir = cluster_->dir().Path("markers-" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
  }

  static std::string WriteSpec(const std::string& name, const std::string& text) {
    return cluster_->dir().WriteFile(name + ".yaml", text);
  }

  // `fanout run SPEC [args] -o json`: the result and its parsed document (null if unparsable).
  static nlohmann::json RunJson(const std::string& spec, std::vector<std::string> extra,
                                RunResult* result) {
    std::vector<std::string> args = {"run", spec, "-o", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    *result = cluster_->Fanout(args);
    auto doc = nlohmann::json::parse(result->out, nullptr, false);
    return doc.is_discarded() ? nlohmann::json() : doc;
  }

  static std::string Submit(const std::string& spec, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), spec);
    return cluster_->Submit(std::move(extra));
  }
  static nlohmann::json Status(const std::string& exec) { return cluster_->Status(exec); }

  // Polls status until the execution is terminal; returns the last status document.
  static nlohmann::json WaitTerminal(const std::string& exec, milliseconds timeout = milliseconds(60000)) {
    nlohmann::json st;
    WaitFor(
        [&] {
          st = Status(exec);
          if (!st.is_object()) return false;
          std::string p = st.value("phase", "");
          return p == "SUCCEEDED" || p == "FAILED" || p == "ABORTED";
        },
        timeout, milliseconds(100));
    return st;
  }

};

// The file names in dir.
std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// "{0, 1, ..., n-1}" as a YAML/JSON list.
// The marker command prefix: DIR/INDEX.ATTEMPT.
std::string Touch(const std::string& dir) {
  return "touch " + dir + "/$FANOUT_INDEX.$FANOUT_ATTEMPT; ";
}

// The names in dir ending with suffix.
std::set<std::string> FilesEndingWith(const std::string& dir, const std::string& suffix) {
  std::set<std::string> out;
  for (const std::string& f : Files(dir))
    if (f.ends_with(suffix)) out.insert(f);
  return out;
}

bool Alive(int pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// 1. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, ToleratedFailuresSucceedWithNullsInTheirSlots) {
  std::string spec = WriteSpec(
      "tolerated",
      MapSpec("if [ {{inputs.x}} -eq 3 ] || [ {{inputs.x}} -eq 7 ]; then exit 1; fi; echo {{inputs.x}}",
              10, "", "        min_success_ratio: 0.7\n"));
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(doc["phase"], "SUCCEEDED") << r;
  nlohmann::json want = nlohmann::json::parse("[0, 1, 2, null, 4, 5, 6, null, 8, 9]");
  EXPECT_EQ(doc["outputs"]["o0"], want) << r;

  nlohmann::json st = Status(doc.value("execution", ""));
  ASSERT_TRUE(st.is_object()) << r;
  const auto& node = st["nodes"][0];
  EXPECT_EQ(node["phase"], "SUCCEEDED") << st.dump(2);
  EXPECT_EQ(node["size"], 10) << st.dump(2);
  EXPECT_EQ(node["min_successes"], 7) << st.dump(2);
  EXPECT_EQ(node["counts"]["failed"], 2) << st.dump(2);
  EXPECT_EQ(node["counts"]["succeeded"], 8) << st.dump(2);
  std::set<int> failed;
  for (const auto& f : node["failed"]) {
    failed.insert(f["index"].get<int>());
    EXPECT_EQ(f["attempts"], 1) << st.dump(2);
    EXPECT_NE(f["error"].get<std::string>().find("exit code 1"), std::string::npos) << st.dump(2);
  }
  EXPECT_EQ(failed, (std::set<int>{3, 7})) << st.dump(2);
}

// Deliberate difference from Flyte: ceil(0.8 × 10) is 8 here, not 9 (float32 in Flyte).
TEST_F(SemanticsTest, MinSuccessRatioIsExactSoEightOfTenMeetsPointEight) {
  std::string spec = WriteSpec(
      "exact_ratio",
      MapSpec("if [ {{inputs.x}} -eq 3 ] || [ {{inputs.x}} -eq 7 ]; then exit 1; fi; echo {{inputs.x}}",
              10, "", "        min_success_ratio: 0.8\n"));
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(doc["phase"], "SUCCEEDED") << r;
  EXPECT_EQ(doc["outputs"]["o0"], nlohmann::json::parse("[0, 1, 2, null, 4, 5, 6, null, 8, 9]")) << r;
  nlohmann::json st = Status(doc.value("execution", ""));
  ASSERT_TRUE(st.is_object()) << r;
  EXPECT_EQ(st["nodes"][0]["min_successes"], 8) << st.dump(2);
}

// DESIGN §4: "Invalid values (r outside [0,1], min_successes > N) are refused at submission."
TEST_F(SemanticsTest, MinSuccessesAboveAKnownSizeIsRefusedAtSubmission) {
  std::string dir = MarkerDir("too_many");
  std::string spec = WriteSpec("too_many", MapSpec(Touch(dir) + "echo {{inputs.x}}", 3, "",
                                                   "        min_successes: 5\n"));
  RunResult r = cluster_->Fanout("run", spec);
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("min_successes"), std::string::npos) << r;
  EXPECT_TRUE(Files(dir).empty()) << r;
}

// 2. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, FailFastNeverStartsLaterIndicesUnderConcurrencyOne) {
  std::string dir = MarkerDir("failfast");
  std::string spec = WriteSpec(
      "failfast", MapSpec(Touch(dir) + "if [ $FANOUT_INDEX -eq 2 ]; then exit 1; fi; echo {{inputs.x}}",
                          10, "", "        concurrency: 1\n", "fragile"));
  RunResult r = cluster_->Fanout("run", spec);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_NE(r.err.find("FAILED"), std::string::npos) << r;
  EXPECT_NE(r.err.find("'fragile'"), std::string::npos) << r;
  EXPECT_NE(r.err.find("[2]: exit code 1"), std::string::npos) << r;
  EXPECT_EQ(Files(dir), (std::set<std::string>{"0.0", "1.0", "2.0"})) << r;
}

// 3. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, PeakConcurrencyMeasuredFromTaskIntervalsStaysWithinTheLimit) {
  std::string dir = MarkerDir("concurrency");
  std::string script = "f=" + dir +
                       "/$FANOUT_INDEX; echo \"start $(date +%s%N)\" >> $f; sleep 0.1; "
                       "echo \"end $(date +%s%N)\" >> $f; echo {{inputs.x}}";
  std::string spec = WriteSpec("concurrency", MapSpec(script, 30, "", "        concurrency: 3\n"));
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_EQ(doc["outputs"]["o0"], nlohmann::json::parse(Range(30))) << r;

  // (time, +1 start / -1 end); ends sort before starts at the same instant.
  std::vector<std::pair<long long, int>> events;
  ASSERT_EQ(Files(dir).size(), 30u);
  for (int i = 0; i < 30; ++i) {
    std::istringstream in(ReadFile(dir + "/" + std::to_string(i)));
    std::string word;
    long long t = 0;
    int starts = 0, ends = 0;
    while (in >> word >> t) {
      if (word == "start") {
        events.emplace_back(t, +1);
        ++starts;
      } else if (word == "end") {
        events.emplace_back(t, -1);
        ++ends;
      }
    }
    ASSERT_EQ(starts, 1) << "index " << i;
    ASSERT_EQ(ends, 1) << "index " << i;
  }
  std::sort(events.begin(), events.end());
  int running = 0, peak = 0;
  for (const auto& [t, d] : events) {
    running += d;
    peak = std::max(peak, running);
  }
  EXPECT_LE(peak, 3);
  EXPECT_GE(peak, 2);
}

// 4. ------------------------------------------------------------------------------------------

std::string RetrySpec(const std::string& dir, const std::string& node_extra) {
  return MapSpec(Touch(dir) + "if [ $FANOUT_ATTEMPT -lt 2 ]; then exit 1; fi; echo $FANOUT_ATTEMPT", 4,
                 "    retries: 2\n", node_extra);
}

TEST_F(SemanticsTest, RetriesGiveEachSubtaskNewAttemptsItCanSee) {
  std::string dir = MarkerDir("retries");
  std::string spec = WriteSpec("retries", RetrySpec(dir, ""));
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(doc["outputs"]["o0"], nlohmann::json::parse("[2, 2, 2, 2]")) << r;
  std::set<std::string> want;
  for (int i = 0; i < 4; ++i)
    for (int a = 0; a < 3; ++a) want.insert(std::to_string(i) + "." + std::to_string(a));
  EXPECT_EQ(Files(dir), want) << r;
}

TEST_F(SemanticsTest, TooFewRetriesFailTheNode) {
  std::string dir = MarkerDir("retries1");
  std::string spec = WriteSpec("retries1", RetrySpec(dir, "        retries: 1\n"));  // node override
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(doc["phase"], "FAILED") << r;
  EXPECT_NE(doc.value("error", "").find("exit code 1"), std::string::npos) << r;
  for (const std::string& f : Files(dir)) EXPECT_NE(f.substr(f.find('.')), ".2") << f << " ran a third attempt";
}

// 5. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, ExitFortyTwoFailsAtOnceRegardlessOfRetries) {
  std::string dir = MarkerDir("exit42");
  // Every subtask waits (bounded) until all four have started, so that each gets exactly one
  // chance to run before fail-fast stops the node; then it exits 42.
  std::string script = Touch(dir) + "n=0; while [ $(ls " + dir +
                       " | wc -l) -lt 4 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; exit 42";
  std::string spec = WriteSpec("exit42", MapSpec(script, 4, "    retries: 3\n"));
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(doc["phase"], "FAILED") << r;
  EXPECT_NE(doc.value("error", "").find("exit code 42"), std::string::npos) << r;
  EXPECT_EQ(Files(dir), (std::set<std::string>{"0.0", "1.0", "2.0", "3.0"})) << r;
  nlohmann::json st = Status(doc.value("execution", ""));
  ASSERT_TRUE(st.is_object());
  for (const auto& f : st["nodes"][0]["failed"]) EXPECT_EQ(f["attempts"], 1) << st.dump(2);
}

// 6. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, TimeoutEndsAnAttemptAndCountsAsAUserError) {
  for (int retries : {0, 1}) {
    SCOPED_TRACE("retries " + std::to_string(retries));
    std::string dir = MarkerDir("timeout" + std::to_string(retries));
    std::string spec = WriteSpec(
        "timeout" + std::to_string(retries),
        MapSpec(Touch(dir) + "sleep 30; echo 1", 1,
                "    timeout: 1s\n    retries: " + std::to_string(retries) + "\n"));
    auto t0 = std::chrono::steady_clock::now();
    RunResult r;
    nlohmann::json doc = RunJson(spec, {}, &r);
    auto wall = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(wall, std::chrono::seconds(20)) << r;  // a deadline, not a timing assertion
    EXPECT_EQ(r.exit_code, 1) << r;
    EXPECT_EQ(doc["phase"], "FAILED") << r;
    EXPECT_NE(doc.value("error", "").find("timed out"), std::string::npos) << r;
    std::set<std::string> want = {"0.0"};
    if (retries == 1) want.insert("0.1");
    EXPECT_EQ(Files(dir), want) << r;
  }
}

// 7. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, AbortStopsRunningSubtasksAndLeavesQueuedOnesUnstarted) {
  std::string dir = MarkerDir("abort");
  std::string spec = WriteSpec(
      "abort", MapSpec("echo $$ > " + dir + "/$FANOUT_INDEX.pid.tmp; mv " + dir +
                           "/$FANOUT_INDEX.pid.tmp " + dir + "/$FANOUT_INDEX.pid; exec sleep 30",
                       20));
  std::string exec = Submit(spec);
  ASSERT_FALSE(exec.empty());
  Process watch({BinDir() + "/fanout", "watch", exec}, cluster_->dir().path(), cluster_->CliEnv(),
                SourceDir(), "watch-abort");

  // Every running subtask has written its PID (8 slots: 8 run, 12 wait).
  nlohmann::json st;
  ASSERT_TRUE(WaitFor(
      [&] {
        st = Status(exec);
        if (!st.is_object() || st["nodes"][0]["phase"] != "RUNNING") return false;
        auto running = st["nodes"][0]["counts"]["running"].get<size_t>();
        return running == 8 && FilesEndingWith(dir, ".pid").size() == running;
      },
      milliseconds(30000), milliseconds(100)))
      << st.dump(2);
  std::vector<int> pids;
  for (const std::string& f : FilesEndingWith(dir, ".pid")) pids.push_back(std::stoi(ReadFile(dir + "/" + f)));
  for (int pid : pids) ASSERT_TRUE(Alive(pid)) << pid;

  RunResult ab = cluster_->Fanout("abort", exec);
  ASSERT_EQ(ab.exit_code, 0) << ab;

  st = WaitTerminal(exec);
  EXPECT_EQ(st["phase"], "ABORTED") << st.dump(2);
  EXPECT_EQ(st["nodes"][0]["phase"], "ABORTED") << st.dump(2);
  EXPECT_EQ(st["nodes"][0]["counts"]["aborted"], pids.size()) << st.dump(2);
  EXPECT_EQ(st["nodes"][0]["counts"]["succeeded"], 0) << st.dump(2);
  EXPECT_EQ(st["nodes"][0]["counts"]["queued"], 20 - pids.size()) << st.dump(2);

  EXPECT_TRUE(WaitFor(
      [&] { return std::none_of(pids.begin(), pids.end(), [](int p) { return Alive(p); }); },
      milliseconds(15000)))
      << "a subtask process outlived the abort";
  EXPECT_EQ(FilesEndingWith(dir, ".pid").size(), pids.size()) << "a queued subtask started after the abort";
  std::optional<int> rc = watch.Wait(milliseconds(15000));
  ASSERT_TRUE(rc.has_value()) << "fanout watch did not end";
  EXPECT_EQ(*rc, 1) << watch.Stderr();
  EXPECT_NE(watch.Stderr().find("ABORTED"), std::string::npos) << watch.Stderr();
}

// 8. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, UpstreamListsOfDifferentLengthsFailTheNodeNamingBothLengths) {
  std::string spec = WriteSpec("mismatch", R"(version: 1
tasks:
  three:
    command: [/bin/sh, -c, 'echo "[1, 2, 3]"']
    inputs: {}
    outputs: {o0: "list<int>"}
  add:
    command: [/bin/sh, -c, 'echo $(( {{inputs.a}} + {{inputs.b}} ))']
    inputs: {a: int, b: int}
    outputs: {o0: int}
workflows:
  w:
    inputs:
      bs: {type: "list<int>", default: [10, 20]}
    nodes:
      - id: three
        task: three
      - id: pairs
        map: add
        inputs: {a: $three.o0, b: $inputs.bs}
    outputs: {o0: $pairs.o0}
)");
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(doc["phase"], "FAILED") << r;
  std::string error = doc.value("error", "");
  EXPECT_NE(error.find("'pairs'"), std::string::npos) << r;
  EXPECT_TRUE(std::regex_search(error, std::regex(R"(\b3\b)"))) << error;
  EXPECT_TRUE(std::regex_search(error, std::regex(R"(\b2\b)"))) << error;
  nlohmann::json st = Status(doc.value("execution", ""));
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["nodes"][0]["phase"], "SUCCEEDED") << st.dump(2);
  EXPECT_EQ(st["nodes"][1]["phase"], "FAILED") << st.dump(2);
}

// 9. ------------------------------------------------------------------------------------------

TEST_F(SemanticsTest, StatusCountsAddUpWhileRunningAndAtTheEnd) {
  std::string dir = MarkerDir("counts");
  std::string release = dir + "/release";
  // Indices 0-9 finish at once; 10-19 wait (bounded) for the release file.
  std::string spec = WriteSpec(
      "counts", MapSpec("if [ $FANOUT_INDEX -ge 10 ]; then n=0; while [ ! -f " + release +
                            " ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done; fi; echo {{inputs.x}}",
                        20));
  std::string exec = Submit(spec);
  ASSERT_FALSE(exec.empty());
  int samples = 0;
  nlohmann::json st;
  ASSERT_TRUE(WaitFor(
      [&] {
        st = Status(exec);
        if (!st.is_object() || st["phase"] != "RUNNING" || st["nodes"][0]["phase"] != "RUNNING") return false;
        const auto& c = st["nodes"][0]["counts"];
        int succeeded = c["succeeded"], running = c["running"], queued = c["queued"];
        ++samples;
        EXPECT_EQ(succeeded + running + queued, 20) << st.dump(2);
        EXPECT_EQ(c["failed"], 0) << st.dump(2);
        return succeeded == 10 && running > 0;
      },
      milliseconds(30000), milliseconds(50)))
      << st.dump(2);
  EXPECT_GT(samples, 0);
  std::ofstream(release).put('\n');
  st = WaitTerminal(exec);
  EXPECT_EQ(st["phase"], "SUCCEEDED") << st.dump(2);
  EXPECT_EQ(st["nodes"][0]["counts"]["succeeded"], 20) << st.dump(2);
  EXPECT_EQ(st["nodes"][0]["counts"]["running"], 0) << st.dump(2);
  EXPECT_EQ(st["nodes"][0]["counts"]["queued"], 0) << st.dump(2);
}

// 10. -----------------------------------------------------------------------------------------

TEST_F(SemanticsTest, EmptyListSucceedsWithAnEmptyList) {
  std::string dir = MarkerDir("empty");
  std::string spec = WriteSpec("empty", MapSpec(Touch(dir) + "echo {{inputs.x}}", 3));
  // An empty map finishes in the coordinator's first turn, so `run` asks for the outputs while
  // the execution is terminal in memory but its end is still being written to Redis: several
  // runs make sure the outputs are given in that window too.
  for (int k = 0; k < 10; ++k) {
    SCOPED_TRACE("run " + std::to_string(k));
    RunResult r;
    nlohmann::json doc = RunJson(spec, {"-i", "xs=[]"}, &r);
    ASSERT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(doc["phase"], "SUCCEEDED") << r;
    ASSERT_EQ(doc["outputs"]["o0"], nlohmann::json::array()) << r;
  }
  EXPECT_TRUE(Files(dir).empty());
}

TEST_F(SemanticsTest, EveryInputBoundAndNoneMappedRunsExactlyOneSubtask) {
  std::string dir = MarkerDir("allbound");
  std::string spec = WriteSpec("allbound", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, ')" + Touch(dir) + R"(echo $(( {{inputs.x}} * 10 + $FANOUT_INDEX ))']
    inputs: {x: int}
    outputs: {o0: int}
workflows:
  w:
    nodes:
      - id: one
        map: t
        bind: {x: 5}
    outputs: {o0: $one.o0}
)");
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(doc["outputs"]["o0"], nlohmann::json::parse("[50]")) << r;
  EXPECT_EQ(Files(dir), (std::set<std::string>{"0.0"})) << r;
}

TEST_F(SemanticsTest, SeveralOutputsGiveOneListPerOutput) {
  std::string spec = WriteSpec("twooutputs", R"(version: 1
tasks:
  t:
    command: [/bin/sh, -c, 'printf "{\"a\": %d, \"b\": \"s%d\"}" {{inputs.x}} {{inputs.x}} > $FANOUT_OUTPUTS']
    inputs: {x: int}
    outputs: {a: int, b: str}
workflows:
  w:
    inputs:
      xs: {type: "list<int>", default: [1, 2, 3]}
    nodes:
      - id: m
        map: t
        inputs: {x: $inputs.xs}
    outputs: {a: $m.a, b: $m.b}
)");
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(doc["outputs"], nlohmann::json::parse(R"({"a": [1, 2, 3], "b": ["s1", "s2", "s3"]})")) << r;
}

// 11. -----------------------------------------------------------------------------------------

TEST_F(SemanticsTest, FailedNodeFailsTheWorkflowAndTheDownstreamNodeNeverStarts) {
  std::string dir = MarkerDir("downstream");
  std::string spec = WriteSpec("downstream", R"(version: 1
tasks:
  flaky:
    command: [/bin/sh, -c, 'if [ {{inputs.x}} -eq 1 ]; then exit 1; fi; echo {{inputs.x}}']
    inputs: {x: int}
    outputs: {o0: int}
  after:
    command: [/bin/sh, -c, ')" + Touch(dir) + R"(echo {{inputs.x}}']
    inputs: {x: int}
    outputs: {o0: int}
workflows:
  w:
    inputs:
      xs: {type: "list<int>", default: [0, 1, 2]}
    nodes:
      - id: upstream
        map: flaky
        inputs: {x: $inputs.xs}
      - id: downstream
        map: after
        inputs: {x: $upstream.o0}
    outputs: {o0: $downstream.o0}
)");
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(doc["phase"], "FAILED") << r;
  EXPECT_NE(doc.value("error", "").find("'upstream'"), std::string::npos) << r;
  EXPECT_NE(doc.value("error", "").find("[1]: exit code 1"), std::string::npos) << r;
  nlohmann::json st = Status(doc.value("execution", ""));
  ASSERT_TRUE(st.is_object());
  ASSERT_EQ(st["nodes"].size(), 2u) << st.dump(2);
  for (const auto& node : st["nodes"]) {
    if (node["id"] == "upstream") {
      EXPECT_EQ(node["phase"], "FAILED") << st.dump(2);
    }
    if (node["id"] == "downstream") {
      std::string p = node["phase"];
      EXPECT_TRUE(p == "PENDING" || p == "SKIPPED") << st.dump(2);
      EXPECT_EQ(node["counts"]["running"], 0) << st.dump(2);
      EXPECT_EQ(node["counts"]["succeeded"], 0) << st.dump(2);
    }
  }
  EXPECT_TRUE(Files(dir).empty()) << "the downstream node ran";
}

// Error grouping (DESIGN §4) ------------------------------------------------------------------

TEST_F(SemanticsTest, NodeErrorGroupsFailedIndicesAsRanges) {
  // min_successes 3 of 5: the third failure (of 0, 1, 3) fails the node.
  std::string spec = WriteSpec(
      "grouping",
      MapSpec("case {{inputs.x}} in 0|1|3) exit 1;; esac; echo {{inputs.x}}", 5, "",
              "        min_successes: 3\n"));
  RunResult r;
  nlohmann::json doc = RunJson(spec, {}, &r);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(doc["phase"], "FAILED") << r;
  EXPECT_NE(doc.value("error", "").find("[0-1][3]: exit code 1"), std::string::npos) << r;
}

}  // namespace
}  // namespace fanout::testing
