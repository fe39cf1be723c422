// What `fanout run`, `status`, `outputs` and `abort` say about an execution's end, and the
// submit-time check of functions (the CLI findings of issue 13), against a real cluster.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

using Json = nlohmann::json;

// builtin.fail_if over xs, failing the elements in `fail`, tolerating failures.
std::string FailIfSpec(const std::string& xs, const std::string& fail, const std::string& function = "builtin.fail_if") {
  return "version: 1\ntasks:\n  t:\n    function: " + function +
         "\n    inputs: {x: int, fail: \"list<int>\"}\n    outputs: {o0: int}\n"
         "workflows:\n  w:\n    inputs:\n      xs: {type: \"list<int>\", default: " + xs +
         "}\n    nodes:\n      - id: m\n        map: t\n        inputs: {x: $inputs.xs}\n        bind: {fail: " + fail +
         "}\n        min_success_ratio: 0.1\n    outputs: {o0: $m.o0}\n";
}

class CliRunTest : public SharedClusterTest<CliRunTest> {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_->WaitForWorkers(2, milliseconds(30000))); }
  std::string Write(const std::string& name, const std::string& text) { return cluster_->dir().WriteFile(name, text); }
};

TEST_F(CliRunTest, ASuccessWithToleratedFailuresListsThemInHumanOutput) {
  RunResult r = cluster_->Fanout("run", Write("tol.yaml", FailIfSpec("[0, 1, 2, 3]", "[3, 1]")));
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.err.find("SUCCEEDED"), std::string::npos) << r;
  EXPECT_NE(r.err.find("tolerated 2 failed subtasks (their outputs are null):\n"
                       "  m[1]: x=1 is in the fail list\n"
                       "  m[3]: x=3 is in the fail list\n"),
            std::string::npos)
      << r;
  EXPECT_EQ(r.out, "o0: [0, null, 2, null]\n");
}

TEST_F(CliRunTest, ASuccessWithToleratedFailuresListsThemInJsonOutput) {
  RunResult r = cluster_->Fanout("run", Write("tol.yaml", FailIfSpec("[0, 1, 2, 3]", "[3, 1]")), "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  Json doc = ParseJsonOrNull(r.out);
  EXPECT_EQ(doc["phase"], "SUCCEEDED") << r;
  EXPECT_EQ(doc["failed_total"], 2);
  EXPECT_EQ(doc["failed"], Json::parse(R"([{"node": "m", "index": 1, "error": "x=1 is in the fail list"},
                                           {"node": "m", "index": 3, "error": "x=3 is in the fail list"}])"));
  // `fanout outputs -o json` has the phase and the same failures.
  Json out = ParseJsonOrNull(cluster_->Fanout("outputs", doc["execution"].get<std::string>(), "-o", "json").out);
  EXPECT_EQ(out["phase"], "SUCCEEDED");
  EXPECT_EQ(out["failed"], doc["failed"]);
}

TEST_F(CliRunTest, StatusListsFailedSubtasksInIndexOrder) {
  std::string xs = Range(130);
  RunResult r = cluster_->Fanout("run", Write("order.yaml", FailIfSpec(xs, "[127, 107, 7, 87, 3]")), "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  RunResult st = cluster_->Fanout("status", ParseJsonOrNull(r.out)["execution"].get<std::string>());
  ASSERT_EQ(st.exit_code, 0) << st;
  size_t last = 0;
  for (const char* index : {"[3]", "[7]", "[87]", "[107]", "[127]"}) {
    size_t at = st.out.find(std::string("    ") + index + " attempts");
    ASSERT_NE(at, std::string::npos) << index << "\n" << st;
    EXPECT_GT(at, last) << index << " out of order\n" << st;
    last = at;
  }
}

TEST_F(CliRunTest, AbortOfAnEndedExecutionExitsFourAndSaysSo) {
  RunResult r = cluster_->Fanout("run", Write("ok.yaml", FailIfSpec("[0, 1]", "[]")), "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  std::string exec = ParseJsonOrNull(r.out)["execution"];
  RunResult abort = cluster_->Fanout("abort", exec);
  EXPECT_EQ(abort.exit_code, 4) << abort;
  EXPECT_NE(abort.err.find("execution " + exec + " had already ended (SUCCEEDED): nothing to abort"),
            std::string::npos)
      << abort;
  EXPECT_EQ(cluster_->Fanout("abort", "no-such-execution").exit_code, 2);
}

TEST_F(CliRunTest, AFunctionNoConnectedWorkerOffersIsRefusedAtSubmitWithExitTwo) {
  RunResult r = cluster_->Fanout("run", Write("typo.yaml", FailIfSpec("[0]", "[]", "builtin.fail_iff")));
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("task 't' (node 'm'): no connected worker offers function 'builtin.fail_iff' "
                       "(did you mean 'builtin.fail_if'?)"),
            std::string::npos)
      << r;
  EXPECT_NE(r.err.find("--wait-for-workers"), std::string::npos) << r;
  EXPECT_EQ(r.err.find("submitted"), std::string::npos) << r;  // nothing was submitted
}

// The example plugin's detect_anomalies takes an int and returns a bool; its SDK says so in
// the worker's HELLO, and a spec that declares other types is refused before anything runs.
TEST_F(CliRunTest, ASpecThatDoesNotFitAFunctionsSignatureIsRefusedAtSubmitWithExitTwo) {
  auto spec = [&](const std::string& name, const std::string& in, const std::string& out,
                  const std::string& xs = "[3, 30]") {
    return Write(name, "version: 1\ntasks:\n  d: {function: detect_anomalies, inputs: {x: " + in +
                           "}, outputs: {o0: " + out + "}}\nworkflows:\n  w:\n    nodes:\n      - {id: m, map: d, inputs: {x: " +
                           xs + "}}\n    outputs: {o0: $m.o0}\n");
  };
  RunResult r = cluster_->Fanout("run", spec("sig-str.yaml", "str", "bool", R"(["3", "30"])"), "--wait-for-workers");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("task 'd' (node 'm'): function 'detect_anomalies' of worker "), std::string::npos) << r;
  EXPECT_NE(r.err.find("takes (int) -> (bool), but the spec declares (str) -> (bool)"), std::string::npos) << r;
  EXPECT_EQ(r.err.find("submitted"), std::string::npos) << r;

  // A float argument would not convert to the function's int either.
  EXPECT_EQ(cluster_->Fanout("run", spec("sig-float.yaml", "float", "bool")).exit_code, 2);
  // What fits runs: the declared types, or a bool result declared optional.
  RunResult ok = cluster_->Fanout("run", spec("sig-ok.yaml", "int", "\"optional<bool>\""), "-o", "json");
  ASSERT_EQ(ok.exit_code, 0) << ok;
  EXPECT_EQ(ParseJsonOrNull(ok.out)["outputs"]["o0"], Json({false, true}));
}

TEST_F(CliRunTest, WaitForWorkersSubmitsAFunctionNoWorkerOffersYetAndItWaits) {
  RunResult r = cluster_->Fanout("run", Write("later.yaml", FailIfSpec("[0]", "[]", "not_deployed_yet")),
                                 "--wait-for-workers", "--no-wait");
  ASSERT_EQ(r.exit_code, 0) << r;
  std::string exec = r.out.substr(0, r.out.find('\n'));
  Json st;
  ASSERT_TRUE(WaitFor(
      [&] {
        st = cluster_->Status(exec);
        return st.is_object() && st["nodes"][0].value("waiting_reason", "") == "function_not_offered";
      },
      milliseconds(30000)))
      << st.dump();
  EXPECT_EQ(cluster_->Fanout("abort", exec).exit_code, 0);
}

// A command's relative paths, with `workdir: .`, name files beside the spec wherever the CLI
// and the workers run; a workdir missing on the worker fails the subtask, saying so.
TEST_F(CliRunTest, ACommandWithAWorkdirRunsInTheSpecsDirectory) {
  std::string spec = Write("proj/wd.yaml", R"(version: 1
tasks:
  here: {command: [sh, scripts/print.sh], workdir: ., outputs: {o0: int}}
  gone: {command: [sh, print.sh], workdir: ./missing, outputs: {o0: int}}
workflows:
  ok: {nodes: [{id: a, task: here}], outputs: {o0: $a.o0}}
  bad: {nodes: [{id: a, task: gone}], outputs: {o0: $a.o0}}
)");
  Write("proj/scripts/print.sh", "printf '{\"o0\": 41}' > \"$FANOUT_OUTPUTS\"\n");
  RunResult r = cluster_->Fanout("run", spec, "ok", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(Json::parse(r.out)["outputs"]["o0"], 41) << r.out;
  RunResult bad = cluster_->Fanout("run", spec, "bad", "-o", "json");
  EXPECT_EQ(bad.exit_code, 1) << bad;
  EXPECT_NE(bad.out.find(cluster_->dir().Path("proj/missing") + " is not a directory on this worker"),
            std::string::npos)
      << bad;
}

TEST_F(CliRunTest, AWorkerStoppedWithSigtermIsLoggedAsLeftAfterDrainingNotLost) {
  size_t i = cluster_->AddWorker();
  ASSERT_TRUE(cluster_->WaitForWorkers(3, milliseconds(30000)));
  cluster_->KillWorker(i, SIGTERM);
  std::string log;
  ASSERT_TRUE(WaitFor(
      [&] {
        log = ReadFile(cluster_->coordinator()->StderrPath()) + ReadFile(cluster_->coordinator()->StdoutPath());
        return log.find("left after draining") != std::string::npos;
      },
      milliseconds(30000)))
      << log;
  EXPECT_EQ(log.find(" lost ("), std::string::npos) << log;
}

}  // namespace
}  // namespace fanout::testing
