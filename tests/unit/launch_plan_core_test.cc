// Maps over launch plans, max_parallelism and `fanout update` on the sans-IO core: children
// are executions of their own, their ends become their elements' results, failures and aborts
// travel up and down, and a restarted coordinator finds every child again.
#include <gtest/gtest.h>

#include "common/json.h"
#include "coordinator/keys.h"
#include "tests/unit/core_fixture.h"

namespace fanout::testing {
namespace {

using wire::Kind;
using wire::Outcome;

const std::string kLaunchPlanSpec = R"(version: 1
tasks:
  t: {function: f, inputs: {x: int, y: int}, outputs: {o0: int}}
launch_plans:
  lp: {workflow: inner, default_inputs: {y: 1}}
workflows:
  inner:
    inputs: {xs: "list<int>", y: int}
    nodes:
      - {id: m, map: t, inputs: {x: $inputs.xs}, bind: {y: $inputs.y}}
    outputs: {o0: $m.o0}
  w:
    inputs:
      data: {type: "list<list<int>>", default: [[1, 2], [3], [4, 5, 6]]}
    nodes:
      - {id: each, map: lp, inputs: {xs: $inputs.data}, concurrency: 2NODE_EXTRA}
    outputs: {o0: $each.o0}
)";

std::string LpSpec(const std::string& node_extra = "") {
  std::string s = kLaunchPlanSpec;
  s.replace(s.find("NODE_EXTRA"), 10, node_extra);
  return s;
}

class LaunchPlanCoreTest : public ::testing::Test {
 protected:
  // Succeeds every work item sent to w1 with 10 × its index + 100 × the child's element.
  int RunAll(CoreHarness& h, int rounds = 20) {
    int ran = 0;
    for (int r = 0; r < rounds; ++r) {
      auto work = h.Work("w1");
      if (work.empty()) break;
      for (const auto& k : work) {
        h.Succeed("w1", k, ValueFor(k));
        ++ran;
      }
    }
    return ran;
  }
  static int64_t ValueFor(const wire::SubtaskKey& k) {
    // exec ids of children end in ".INDEX": the element.
    int64_t element = std::stoll(k.exec.substr(k.exec.rfind('.') + 1));
    return element * 100 + k.index;
  }
  FakeClock clock_;
};

TEST_F(LaunchPlanCoreTest, EachElementRunsAsAChildExecutionAndTheOutputsAreTheirLists) {
  CoreHarness h(clock_);
  std::string exec = h.Submit(LpSpec());
  ASSERT_FALSE(exec.empty());
  h.Hello("w1", 16);
  // concurrency 2: two children run at first.
  auto work = h.Work("w1");
  std::set<std::string> children;
  for (const auto& k : work) children.insert(k.exec);
  EXPECT_EQ(children, (std::set<std::string>{exec + ".each.0", exec + ".each.1"}));
  for (const auto& k : work) h.Succeed("w1", k, ValueFor(k));
  RunAll(h);
  auto& f = h.store().state().execs[exec];
  ASSERT_EQ(f[keys::kFieldPhase], "SUCCEEDED") << f[keys::kFieldError];
  auto out = DecodeMsgpack(f[keys::kFieldOutputs]);
  ASSERT_TRUE(out);
  EXPECT_EQ(ToJson(out->as_map().at("o0")), nlohmann::json::parse("[[0, 1], [100], [200, 201, 202]]"));
  // Children are executions of their own, with their parent recorded.
  auto& child = h.store().state().execs[exec + ".each.2"];
  EXPECT_EQ(child[keys::kFieldPhase], "SUCCEEDED");
  EXPECT_EQ(child[keys::kFieldParent], exec);
  EXPECT_EQ(child[keys::kFieldLaunchPlan], "lp");
  EXPECT_EQ(h.store().state().children.size(), 3u);
}

TEST_F(LaunchPlanCoreTest, AFailedChildLeavesANullAndItsErrorTravelsUp) {
  CoreHarness h(clock_);
  std::string exec = h.Submit(LpSpec(", min_success_ratio: 0.5"));
  h.Hello("w1", 16);
  for (int round = 0; round < 10; ++round) {
    auto work = h.Work("w1");
    if (work.empty()) break;
    for (const auto& k : work) {
      if (k.exec == exec + ".each.1") h.SendResult("w1", k, Outcome::kNonRetryable, 0, "bad three");
      else h.SendResult("w1", k, Outcome::kSucceeded, ValueFor(k));
      h.Settle();
    }
  }
  auto& f = h.store().state().execs[exec];
  ASSERT_EQ(f[keys::kFieldPhase], "SUCCEEDED") << f[keys::kFieldError];
  EXPECT_EQ(ToJson(DecodeMsgpack(f[keys::kFieldOutputs])->as_map().at("o0")),
            nlohmann::json::parse("[[0, 1], null, [200, 201, 202]]"));
  std::string status = f[keys::kFieldStatus];
  EXPECT_NE(status.find("child execution " + exec + ".each.1 FAILED"), std::string::npos) << status;
  EXPECT_NE(status.find("node 'm' failed"), std::string::npos) << status;
  EXPECT_NE(status.find("bad three"), std::string::npos) << status;
}

TEST_F(LaunchPlanCoreTest, FailFastAbortsTheRunningChildren) {
  CoreHarness h(clock_);
  std::string exec = h.Submit(LpSpec());
  h.Hello("w1", 16);
  auto work = h.Work("w1");
  for (const auto& k : work)
    if (k.exec == exec + ".each.1") h.SendResult("w1", k, Outcome::kNonRetryable, 0, "no");
  h.Settle();
  auto& state = h.store().state();
  EXPECT_EQ(state.execs[exec][keys::kFieldPhase], "FAILED");
  EXPECT_EQ(state.execs[exec + ".each.0"][keys::kFieldPhase], "ABORTED");
  EXPECT_EQ(state.execs[exec + ".each.1"][keys::kFieldPhase], "FAILED");
  EXPECT_FALSE(state.execs.contains(exec + ".each.2"));  // never started
  EXPECT_GE(h.out().Count("w1", Kind::kAbort), 1u);     // child 0's running subtasks stopped
}

TEST_F(LaunchPlanCoreTest, AUserAbortCascadesToChildren) {
  CoreHarness h(clock_);
  std::string exec = h.Submit(LpSpec());
  h.Hello("w1", 16);
  ASSERT_FALSE(h.Work("w1").empty());
  h.Request(Kind::kAbortExec, wire::EncodeBody(wire::QueryRequest{9, exec}));
  auto& state = h.store().state();
  EXPECT_EQ(state.execs[exec][keys::kFieldPhase], "ABORTED");
  EXPECT_EQ(state.execs[exec + ".each.0"][keys::kFieldPhase], "ABORTED");
  EXPECT_EQ(state.execs[exec + ".each.1"][keys::kFieldPhase], "ABORTED");
}

TEST_F(LaunchPlanCoreTest, ARestartedCoordinatorFindsEveryChildAgainAndStartsNoneTwice) {
  auto state = std::make_shared<FakeStoreState>();
  std::string exec;
  std::vector<wire::SubtaskKey> running;
  {
    CoreHarness a(clock_, state);
    exec = a.Submit(LpSpec());
    a.Hello("w1", 16);
    auto work = a.Work("w1");
    // Child 0 finishes; child 1 has one subtask done and one running when the coordinator dies.
    for (const auto& k : work) {
      if (k.exec == exec + ".each.1" && k.index == 0) {
        running.push_back(k);
        continue;
      }
      a.Succeed("w1", k, ValueFor(k));
    }
    EXPECT_EQ(state->execs[exec + ".each.0"][keys::kFieldPhase], "SUCCEEDED");
    // Child 2 started when child 0 ended.
    for (const auto& k : a.Work("w1")) running.push_back(k);
  }
  CoreHarness b(clock_, state);
  b.Hello("w1", 16, running);  // the worker still runs these
  b.Restore();
  EXPECT_TRUE(b.Work("w1").empty()) << "nothing may run twice";
  for (const auto& k : running) b.Succeed("w1", k, ValueFor(k));
  RunAll(b);
  ASSERT_EQ(state->execs[exec][keys::kFieldPhase], "SUCCEEDED") << state->execs[exec][keys::kFieldError];
  EXPECT_EQ(ToJson(DecodeMsgpack(state->execs[exec][keys::kFieldOutputs])->as_map().at("o0")),
            nlohmann::json::parse("[[0, 1], [100], [200, 201, 202]]"));
  EXPECT_EQ(state->children.size(), 3u);
}

TEST_F(LaunchPlanCoreTest, MaxParallelismBoundsWhatRunsAcrossTheNodes) {
  CoreHarness h(clock_);
  std::string spec =
      "version: 1\ntasks:\n  t: {function: f, inputs: {x: int}, outputs: {o0: int}}\n"
      "workflows:\n  w:\n    max_parallelism: 3\n    nodes:\n"
      "      - {id: a, map: t, inputs: {x: [1, 2, 3, 4, 5]}}\n"
      "      - {id: b, map: t, inputs: {x: [1, 2, 3, 4, 5]}, concurrency: 5}\n"
      "    outputs: {a: $a.o0, b: $b.o0}\n";
  std::string exec = h.Submit(spec);
  h.Hello("w1", 64);
  auto work = h.Work("w1");
  EXPECT_EQ(work.size(), 3u);
  ExecutionStatus s = h.Status(exec);
  EXPECT_EQ(s.max_parallelism, 3u);
  h.Succeed("w1", work[0], 1);
  EXPECT_EQ(h.Work("w1").size(), 1u);  // one finished, one more starts
}

TEST_F(LaunchPlanCoreTest, UpdateChangesARunningMapsConcurrencyAndSurvivesARestart) {
  auto state = std::make_shared<FakeStoreState>();
  std::string exec;
  {
    CoreHarness a(clock_, state);
    exec = a.Submit(FunctionMapSpec(10, "", "        concurrency: 1\n"));
    a.Hello("w1", 64);
    EXPECT_EQ(a.Work("w1").size(), 1u);
    wire::UpdateRequest req;
    req.exec = exec;
    req.node = "m";
    req.concurrency = 4;
    nlohmann::json r = a.Request(Kind::kUpdate, wire::EncodeBody(req));
    EXPECT_EQ(r["concurrency"], 4);
    EXPECT_EQ(a.Work("w1").size(), 3u);
  }
  EXPECT_EQ(state->execs[exec]["node:m:concurrency"], "4");
  CoreHarness b(clock_, state);
  b.Restore();
  b.Hello("w1", 64);  // a new worker: the old attempts were never claimed
  b.HeartbeatSeconds("w1", 4);
  // The attempts that died with the first coordinator run again; then the restored
  // concurrency (4, not the spec's 1) lets four more start.
  auto rerun = b.Work("w1");
  ASSERT_EQ(rerun.size(), 4u);
  for (const auto& k : rerun) b.Succeed("w1", k, 1);
  EXPECT_EQ(b.Work("w1").size(), 4u);
}

TEST_F(LaunchPlanCoreTest, AnUpdateIsAnsweredOnlyOnceItIsStored) {
  CoreHarness h(clock_);
  std::string exec = h.Submit(FunctionMapSpec(10, "", "        concurrency: 1\n"));
  h.Hello("w1", 64);
  ASSERT_EQ(h.Work("w1").size(), 1u);
  wire::UpdateRequest req;
  req.rid = 7;
  req.exec = exec;
  req.node = "m";
  req.concurrency = 4;
  // Redis is away: the change is in effect, but the client is told it was not stored.
  h.store().set_connected(false);
  h.core().OnMessage("client", Kind::kUpdate, wire::EncodeBody(req));
  h.core().EndOfTurn();
  EXPECT_TRUE(h.out().Take<wire::Reply>("client", Kind::kReply).empty());  // not before the store answers
  h.store().RunPending();
  auto replies = h.out().Take<wire::Reply>("client", Kind::kReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, static_cast<uint8_t>(Code::kUnavailable));
  EXPECT_NE(replies[0].error.find("not stored"), std::string::npos) << replies[0].error;
  EXPECT_NE(h.store().state().execs[exec]["node:m:concurrency"], "4");
  // Given again with Redis back: stored, then answered.
  h.store().set_connected(true);
  nlohmann::json r = h.Request(Kind::kUpdate, wire::EncodeBody(req));
  EXPECT_EQ(r["concurrency"], 4);
  EXPECT_EQ(h.store().state().execs[exec]["node:m:concurrency"], "4");
}

TEST_F(LaunchPlanCoreTest, LoweringMinSuccessesLetsAWaitingNodeEnd) {
  CoreHarness h(clock_);
  std::string exec = h.Submit(FunctionMapSpec(3, "", "        min_successes: 3\n"));
  h.Hello("w1", 3);
  auto work = h.Work("w1");
  ASSERT_EQ(work.size(), 3u);
  h.Succeed("w1", work[0], 1);
  h.Succeed("w1", work[1], 1);
  wire::UpdateRequest req;
  req.exec = exec;
  req.node = "m";
  req.min_successes = 2;
  h.Request(Kind::kUpdate, wire::EncodeBody(req));
  // The last one fails: two successes are enough now.
  h.SendResult("w1", work[2], Outcome::kNonRetryable, 0, "no");
  h.Settle();
  EXPECT_EQ(h.store().state().execs[exec][keys::kFieldPhase], "SUCCEEDED");
}

}  // namespace
}  // namespace fanout::testing
