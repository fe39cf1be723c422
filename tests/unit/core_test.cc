// Whole-coordinator scenarios on the sans-IO core (coordinator/core.h): a FakeStore, a
// FakeClock, and workers and clients played by hand.
#include "coordinator/core.h"

#include <gtest/gtest.h>

#include "coordinator/keys.h"
#include "tests/unit/core_fixture.h"

namespace fanout::testing {
namespace {

using wire::Kind;
using wire::Outcome;

uint16_t StoredRecord(FakeStore& store, const std::string& exec, const std::string& node, uint32_t i) {
  auto& recs = store.state().records[{exec, node}];
  return recs.contains(i) ? recs[i] : 0;
}

std::map<uint32_t, std::string>& Outs(FakeStore& store, const std::string& exec) {
  return store.state().outputs[std::make_pair(exec, std::string("m"))];
}

class CoreTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  CoreHarness h_{clock_};
};

TEST_F(CoreTest, AResultIsAcknowledgedOnlyOnceItIsDurable) {
  std::string exec = h_.Submit(FunctionMapSpec(3));
  ASSERT_FALSE(exec.empty());
  h_.Hello("w1", 2);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 2u);
  h_.SendResult("w1", work[0], Outcome::kSucceeded, 10);
  h_.core().EndOfTurn();
  EXPECT_TRUE(h_.Acks("w1").empty());  // the commit has not been answered yet
  h_.Settle();
  auto acks = h_.Acks("w1");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0], work[0]);
  EXPECT_EQ(Outs(h_.store(), exec)[work[0].index], EncodeMsgpack(Value(List{Value(10)})));
}

TEST_F(CoreTest, AMapRunsToItsOutputs) {
  std::string exec = h_.Submit(FunctionMapSpec(3));
  h_.Hello("w1", 8);
  for (const auto& k : h_.Work("w1")) h_.Succeed("w1", k, 100 + k.index);
  EXPECT_EQ(h_.ended(), std::vector<std::string>{exec});
  auto& f = h_.store().state().execs[exec];
  EXPECT_EQ(f[keys::kFieldPhase], "SUCCEEDED");
  auto outputs = DecodeMsgpack(f[keys::kFieldOutputs]);
  ASSERT_TRUE(outputs.has_value());
  EXPECT_EQ(outputs->as_map().at("o0"), Value(List{Value(100), Value(101), Value(102)}));
}

// The submission's parse is handed to the offload (a thread-pool thread in the reactor):
// nothing of it is in the core until its `done` runs, and the core serves others meanwhile.
// Submissions whose offloaded parse waits in `jobs` (work, then done) until the test runs it.
class CoreOffloadTest : public CoreTest {
 protected:
  CoreOffloadTest() {
    h_.offload = [this](std::function<void()> work, std::function<void()> done) {
      jobs.emplace_back(std::move(work), std::move(done));
    };
  }
  // Sends a SUBMIT of FunctionMapSpec(3) with these inputs (JSON; empty: the defaults).
  void SendSubmit(uint64_t rid, const std::string& inputs_json = "") {
    wire::SubmitRequest req;
    req.rid = rid;
    req.spec_name = "test.yaml";
    req.spec_text = FunctionMapSpec(3);
    req.workflow = "w";
    req.inputs_json = inputs_json;
    h_.core().OnMessage("client", Kind::kSubmit, wire::EncodeBody(req));
  }
  std::vector<std::pair<std::function<void()>, std::function<void()>>> jobs;
};

TEST_F(CoreOffloadTest, ASubmissionIsParsedOffTheLoopAndAdmittedWhenItsParseIsDone) {
  SendSubmit(7);
  h_.Settle();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(h_.out().Count("client", Kind::kReply), 0u);
  EXPECT_EQ(h_.core().executions().size(), 0u);
  EXPECT_TRUE(h_.store().state().execs.empty());
  h_.Hello("w1", 2);  // the loop goes on while the parse runs
  EXPECT_TRUE(h_.Work("w1").empty());

  jobs[0].first();   // on the thread
  jobs[0].second();  // back on the loop
  h_.Settle();
  auto replies = h_.out().Take<wire::Reply>("client", Kind::kReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].rid, 7u);
  ASSERT_EQ(replies[0].code, 0) << replies[0].error;
  std::string exec = nlohmann::json::parse(replies[0].json).value("execution", "");
  ASSERT_TRUE(h_.store().state().execs.contains(exec));
  // The stored inputs: a map put together from the encoded values, decoded as what was given.
  auto inputs = DecodeMsgpack(h_.store().state().execs[exec][keys::kFieldInputs]);
  ASSERT_TRUE(inputs.has_value());
  EXPECT_EQ(*inputs, Value(Map{{"xs", Value(List{Value(0), Value(1), Value(2)})}}));
  EXPECT_EQ(h_.Work("w1").size(), 2u);
}

// An error of the spec or of the inputs found by the parse is the submission's answer.
TEST_F(CoreOffloadTest, AnErrorFoundOffTheLoopIsTheSubmissionsAnswer) {
  SendSubmit(8, R"({"xs": ["not", "ints"]})");
  ASSERT_EQ(jobs.size(), 1u);
  jobs[0].first();
  jobs[0].second();
  auto replies = h_.out().Take<wire::Reply>("client", Kind::kReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(static_cast<Code>(replies[0].code), Code::kInvalidArgument);
  EXPECT_NE(replies[0].error.find("xs"), std::string::npos) << replies[0].error;
  EXPECT_EQ(h_.core().executions().size(), 0u);
}

TEST_F(CoreTest, ALostCommitReplyIsNotARefusal) {
  // The commit script ran but its reply was lost with the connection (issue 12, defect 2):
  // the worker re-sends its result, the store says it is already applied, and the subtask
  // succeeds instead of burning system retries.
  std::string exec = h_.Submit(FunctionMapSpec(1));
  h_.Hello("w1", 1);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 1u);
  h_.store().LoseNextReplies(1);
  h_.Succeed("w1", work[0], 7);
  EXPECT_TRUE(h_.Acks("w1").empty());
  h_.core().Tick();  // asks the worker to say HELLO again, which makes it re-send
  h_.Settle();
  EXPECT_EQ(h_.out().Count("w1", Kind::kReconnect), 1u);
  h_.Hello("w1", 1, {work[0]});
  h_.Succeed("w1", work[0], 7);
  EXPECT_EQ(h_.Acks("w1").size(), 1u);
  EXPECT_EQ(h_.store().state().execs[exec][keys::kFieldPhase], "SUCCEEDED");
  EXPECT_TRUE(h_.Work("w1").empty());  // it never ran again
}

TEST_F(CoreTest, AnEndTheStoreDidNotTakeIsWrittenAgain) {
  // The connection died with the execution's end in flight: the end is not in the store. The
  // execution stays known (status answers from memory) and its end is written on the next
  // tick; only then is the end published and the execution forgotten.
  std::string exec = h_.Submit(FunctionMapSpec(1));
  h_.Hello("w1", 1);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 1u);
  h_.store().DropNextFinishes(1);
  h_.Succeed("w1", work[0], 7);
  EXPECT_TRUE(h_.ended().empty());
  EXPECT_TRUE(h_.store().state().active.contains(exec));
  EXPECT_NE(h_.store().state().execs[exec][keys::kFieldPhase], "SUCCEEDED");
  EXPECT_EQ(h_.Status(exec).phase, ExecPhase::kSucceeded);
  h_.core().Tick();
  h_.Settle();
  EXPECT_EQ(h_.ended(), std::vector<std::string>{exec});
  EXPECT_FALSE(h_.store().state().active.contains(exec));
  EXPECT_EQ(h_.store().state().execs[exec][keys::kFieldPhase], "SUCCEEDED");
}

TEST_F(CoreTest, AResultFromAPeerThatDoesNotHoldTheAttemptIsNotCommitted) {
  std::string exec = h_.Submit(FunctionMapSpec(1));
  h_.Hello("w1", 1);
  h_.Hello("intruder", 1);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 1u);
  h_.Succeed("intruder", work[0], 666);
  EXPECT_TRUE(Outs(h_.store(), exec).empty());
  h_.Succeed("w1", work[0], 1);
  EXPECT_EQ(Outs(h_.store(), exec)[0], EncodeMsgpack(Value(List{Value(1)})));
}

TEST_F(CoreTest, AUserAbortStoresTheAbortOfASubtaskWaitingToRetry) {
  std::string exec = h_.Submit(FunctionMapSpec(1, "    retries: 3\n"));
  h_.Hello("w1", 1);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 1u);
  // In one loop turn: the attempt fails (→ RETRYING), then the user aborts.
  h_.SendResult("w1", work[0], Outcome::kUserError, 0, "boom");
  h_.Request(Kind::kAbortExec, wire::EncodeBody(wire::QueryRequest{3, exec}));
  EXPECT_EQ(h_.store().state().execs[exec][keys::kFieldPhase], "ABORTED");
  SubtaskRecord r = UnpackRecord(StoredRecord(h_.store(), exec, "m", 0));
  EXPECT_EQ(static_cast<SubtaskPhase>(r.phase), SubtaskPhase::kAborted);
  EXPECT_TRUE(h_.Work("w1").empty());
}

TEST_F(CoreTest, FailFastAbortsARetryingSubtaskInTheStore) {
  // min_successes 2 of 3: after one subtask fails for good, another failure fails the node while
  // a third subtask waits to retry.
  std::string exec = h_.Submit(FunctionMapSpec(3, "    retries: 2\n", "        min_successes: 2\n"));
  h_.Hello("w1", 3);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 3u);
  h_.SendResult("w1", work[0], Outcome::kUserError, 0, "retry me");  // → RETRYING
  h_.SendResult("w1", work[1], Outcome::kNonRetryable, 0, "no");     // 1 failure: still possible
  h_.SendResult("w1", work[2], Outcome::kNonRetryable, 0, "no");     // 2 failures > 3 - 2: fail fast
  h_.Settle();
  EXPECT_EQ(h_.store().state().execs[exec][keys::kFieldPhase], "FAILED");
  SubtaskRecord r0 = UnpackRecord(StoredRecord(h_.store(), exec, "m", 0));
  EXPECT_EQ(static_cast<SubtaskPhase>(r0.phase), SubtaskPhase::kAborted);
}

TEST_F(CoreTest, IndependentNodesShareTheWorkersFromTheStart) {
  // Issue 8, defect 1: `first` (concurrency 3) and `second` over the same list, 2 workers of 2.
  std::string yaml =
      "version: 1\ntasks:\n  t:\n    function: f\n    inputs: {x: int}\n    outputs: {o0: int}\n"
      "workflows:\n  w:\n    inputs:\n      xs: {type: \"list<int>\", default: [0,1,2,3,4,5,6,7,8,9]}\n"
      "    nodes:\n      - id: first\n        map: t\n        inputs: {x: $inputs.xs}\n        concurrency: 3\n"
      "      - id: second\n        map: t\n        inputs: {x: $inputs.xs}\n"
      "    outputs: {a: $first.o0, b: $second.o0}\n";
  h_.Submit(yaml);
  h_.Hello("w1", 2);
  h_.Hello("w2", 2);
  std::map<std::string, int> per_node;
  for (const auto& k : h_.Work("w1")) per_node[k.node]++;
  for (const auto& k : h_.Work("w2")) per_node[k.node]++;
  EXPECT_EQ(per_node["first"], 2);
  EXPECT_EQ(per_node["second"], 2);
}

TEST_F(CoreTest, AnAttemptPastItsTimeoutAndGraceIsGivenUpAndRunAgain) {
  // Issue 12, defect 3: the worker stays connected but never reports.
  std::string exec = h_.Submit(FunctionMapSpec(1, "    timeout: 2s\n"));
  h_.Hello("w1", 1);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 1u);
  h_.HeartbeatSeconds("w1", 6);  // 6 s: timeout 2 s + grace 5 s not yet over
  EXPECT_EQ(h_.out().Count("w1", Kind::kAbort), 0u);
  h_.HeartbeatSeconds("w1", 1);
  EXPECT_EQ(h_.out().Count("w1", Kind::kAbort), 1u);
  auto again = h_.Work("w1");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt, 1u);
  // The late result of the given-up attempt changes nothing.
  h_.Succeed("w1", work[0], 5);
  EXPECT_TRUE(Outs(h_.store(), exec).empty());
}

TEST_F(CoreTest, ALostWorkersAttemptsRunAgainElsewhere) {
  std::string exec = h_.Submit(FunctionMapSpec(2));
  h_.Hello("w1", 2);
  ASSERT_EQ(h_.Work("w1").size(), 2u);
  h_.Hello("w2", 2);
  h_.HeartbeatSeconds("w2", 4);
  auto moved = h_.Work("w2");
  ASSERT_EQ(moved.size(), 2u);
  for (const auto& k : moved) {
    EXPECT_EQ(k.attempt, 1u);
    h_.Succeed("w2", k, 1);
  }
  EXPECT_EQ(h_.store().state().execs[exec][keys::kFieldPhase], "SUCCEEDED");
}

TEST_F(CoreTest, AWorkerThatReportsStartsGetsWorkBeyondItsSlots) {
  h_.Submit(FunctionMapSpec(10));
  h_.Hello("old", 2);
  EXPECT_EQ(h_.Work("old").size(), 2u);  // no reports: no more than its slots
  h_.HelloReportingStarts("new", 2);
  EXPECT_EQ(h_.Work("new").size(), 4u);  // slots, and as much again queued before any result
}

// Plays the loss of `lost` by heartbeats while `alive` keeps talking.
void LoseByHeartbeats(CoreHarness& h, FakeClock& clock, const std::string& alive) {
  for (int i = 0; i < 4; ++i) {
    clock.Advance(1000);
    h.Heartbeat(alive);
    h.core().Tick();
    h.Settle();
  }
}

TEST_F(CoreTest, ALostWorkerChargesOnlyTheAttemptsItReportedStarted) {
  std::string exec = h_.Submit(FunctionMapSpec(4));
  h_.HelloReportingStarts("w1", 2);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 4u);
  h_.Started("w1", {work[0], work[1]});
  h_.Hello("w2", 4);
  LoseByHeartbeats(h_, clock_, "w2");
  std::map<uint32_t, uint32_t> attempt_of;
  for (const auto& k : h_.Work("w2")) attempt_of[k.index] = k.attempt;
  ASSERT_EQ(attempt_of.size(), 4u);
  EXPECT_EQ(attempt_of[work[0].index], 1u);  // it ran on w1: a system retry
  EXPECT_EQ(attempt_of[work[1].index], 1u);
  EXPECT_EQ(attempt_of[work[2].index], 0u);  // it waited in w1's queue: same attempt, no charge
  EXPECT_EQ(attempt_of[work[3].index], 0u);
  SubtaskRecord queued = UnpackRecord(StoredRecord(h_.store(), exec, "m", work[2].index));
  EXPECT_EQ(queued.attempt, 0u);
  EXPECT_EQ(queued.system_failures, 0u);
  for (const auto& [index, attempt] : attempt_of) h_.Succeed("w2", {exec, "m", index, attempt}, 1);
  EXPECT_EQ(h_.store().state().execs[exec][keys::kFieldPhase], "SUCCEEDED");
}

TEST_F(CoreTest, AnAttemptHandedBackTwiceWithoutStartingIsChargedTheSecondTime) {
  std::string exec = h_.Submit(FunctionMapSpec(1));
  h_.HelloReportingStarts("w1", 1);
  ASSERT_EQ(h_.Work("w1").size(), 1u);
  h_.HelloReportingStarts("w2", 1);
  LoseByHeartbeats(h_, clock_, "w2");
  auto again = h_.Work("w2");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempt, 0u);
  h_.Hello("w3", 1);
  LoseByHeartbeats(h_, clock_, "w3");  // w2 goes silent too, its STARTED never came
  auto third = h_.Work("w3");
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].attempt, 1u);
  EXPECT_EQ(UnpackRecord(StoredRecord(h_.store(), exec, "m", 0)).system_failures, 1u);
}

TEST_F(CoreTest, QueuedWorkHandedBackByADrainingWorkerRunsElsewhereUncharged) {
  std::string exec = h_.Submit(FunctionMapSpec(2));
  h_.HelloReportingStarts("w1", 1);
  auto work = h_.Work("w1");
  ASSERT_EQ(work.size(), 2u);
  h_.Started("w1", {work[0]});
  h_.core().OnMessage("w1", Kind::kHeartbeat, wire::EncodeBody(wire::Heartbeat{"w1", 2, 0, true}));
  h_.SendResult("w1", work[1], Outcome::kSystemError, 0, "worker draining");
  h_.Settle();
  h_.Hello("w2", 1);
  auto moved = h_.Work("w2");
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].index, work[1].index);
  EXPECT_EQ(moved[0].attempt, 0u);
  h_.Succeed("w2", moved[0], 7);
  h_.Succeed("w1", work[0], 3);
  EXPECT_EQ(h_.store().state().execs[exec][keys::kFieldPhase], "SUCCEEDED");
}

TEST_F(CoreTest, ARestartedCoordinatorKeepsClaimedAttemptsAndRerunsUnclaimedOnes) {
  auto state = std::make_shared<FakeStoreState>();
  std::string exec;
  std::vector<wire::SubtaskKey> work;
  {
    CoreHarness a(clock_, state);
    exec = a.Submit(FunctionMapSpec(2));
    a.Hello("w1", 2);
    work = a.Work("w1");
    ASSERT_EQ(work.size(), 2u);
  }  // the coordinator dies with both attempts running
  CoreHarness b(clock_, state);
  // The worker reconnects before the node is restored: it still runs subtask 0 only.
  b.Hello("w1", 2, {work[0]});
  b.Restore();
  EXPECT_TRUE(b.Work("w1").empty());
  b.HeartbeatSeconds("w1", 4);  // past the grace window (3 s)
  auto rerun = b.Work("w1");
  ASSERT_EQ(rerun.size(), 1u);
  EXPECT_EQ(rerun[0].index, work[1].index);
  EXPECT_EQ(rerun[0].attempt, 1u);
  b.Succeed("w1", work[0], 1);  // the claimed attempt reports
  b.Succeed("w1", rerun[0], 2);
  EXPECT_EQ(state->execs[exec][keys::kFieldPhase], "SUCCEEDED");
}

TEST_F(CoreTest, AnOlderCoordinatorIsFencedOnItsNextCommit) {
  auto state = std::make_shared<FakeStoreState>();
  CoreHarness a(clock_, state);
  std::string exec = a.Submit(FunctionMapSpec(1));
  a.Hello("w1", 1);
  auto work = a.Work("w1");
  CoreHarness b(clock_, state);  // takes a newer epoch
  a.Succeed("w1", work[0], 1);
  EXPECT_TRUE(a.fenced());
  EXPECT_TRUE((state->outputs[std::make_pair(exec, std::string("m"))]).empty());
}

TEST_F(CoreTest, CommandsStayWithinTheWorkersCommandSlots) {
  std::string yaml =
      "version: 1\ntasks:\n  t:\n    command: [\"true\"]\n    inputs: {x: int}\n    outputs: {o0: int}\n"
      "workflows:\n  w:\n    inputs:\n      xs: {type: \"list<int>\", default: [0,1,2,3,4,5]}\n"
      "    nodes:\n      - id: m\n        map: t\n        inputs: {x: $inputs.xs}\n    outputs: {o0: $m.o0}\n";
  h_.Submit(yaml);
  h_.Hello("w1", 64, {}, /*command_slots=*/1);
  EXPECT_EQ(h_.Work("w1").size(), 1u);
}

TEST_F(CoreTest, StatusSaysWhyANodeWaitsInATypedReason) {
  std::string exec = h_.Submit(FunctionMapSpec(1));
  wire::Hello hello;
  hello.worker_id = "w1";
  hello.slots = 1;
  hello.functions = {"other"};
  h_.core().OnMessage("w1", Kind::kHello, wire::EncodeBody(hello));
  h_.Settle();
  ExecutionStatus s = h_.Status(exec);
  ASSERT_EQ(s.nodes.size(), 1u);
  EXPECT_EQ(s.nodes[0].waiting.reason, WaitReason::kFunctionNotOffered);
  EXPECT_EQ(s.nodes[0].waiting.function, "f");
}

TEST_F(CoreTest, ARestartReadsTheStoredBinarySpecNotTheYaml) {
  auto state = std::make_shared<FakeStoreState>();
  std::string exec;
  {
    CoreHarness a(clock_, state);
    exec = a.Submit(FunctionMapSpec(1));
  }
  state->execs[exec][keys::kFieldSpecText] = "this is: [not, a valid spec";
  CoreHarness b(clock_, state);
  b.Restore();
  b.Hello("w1", 1);
  auto work = b.Work("w1");
  ASSERT_EQ(work.size(), 1u);
  b.Succeed("w1", work[0], 3);
  EXPECT_EQ(state->execs[exec][keys::kFieldPhase], "SUCCEEDED");
}

// The coordinator's limits (ExecutionManager::Limits, fanout-coordinator --max-*).
class CoreLimitsTest : public ::testing::Test {
 protected:
  static CoreOptions WithLimits(uint64_t node, uint64_t execution, uint64_t executions) {
    CoreOptions o;
    o.limits.max_node_elements = node;
    o.limits.max_execution_elements = execution;
    o.limits.max_executions = executions;
    return o;
  }
  // A SUBMIT whose reply may be a refusal: the reply.
  wire::Reply Submit(CoreHarness& h, const std::string& yaml) {
    wire::SubmitRequest req;
    req.rid = 9;
    req.spec_name = "test.yaml";
    req.spec_text = yaml;
    req.workflow = "w";
    h.core().OnMessage("client", Kind::kSubmit, wire::EncodeBody(req));
    h.Settle();
    auto replies = h.out().Take<wire::Reply>("client", Kind::kReply);
    EXPECT_EQ(replies.size(), 1u);
    return replies.empty() ? wire::Reply{} : replies[0];
  }
  FakeClock clock_;
};

TEST_F(CoreLimitsTest, ASubmissionBeyondTheExecutionsInFlightIsRefusedUntilOneEnds) {
  CoreHarness h(clock_, nullptr, WithLimits(100, 1000, 1));
  wire::Reply first = Submit(h, FunctionMapSpec(1));
  ASSERT_EQ(first.code, 0) << first.error;
  wire::Reply second = Submit(h, FunctionMapSpec(1));
  EXPECT_EQ(second.code, static_cast<uint8_t>(Code::kFailedPrecondition));
  EXPECT_NE(second.error.find("runs 1 executions"), std::string::npos) << second.error;
  EXPECT_NE(second.error.find("--max-executions 1"), std::string::npos) << second.error;
  EXPECT_EQ(h.store().state().created.size(), 1u);  // nothing of the refused one was stored
  h.Hello("w1", 1);
  for (const auto& k : h.Work("w1")) h.Succeed("w1", k, 1);
  ASSERT_EQ(h.ended().size(), 1u);
  EXPECT_EQ(Submit(h, FunctionMapSpec(1)).code, 0);
}

TEST_F(CoreLimitsTest, AListInputLongerThanANodeMayBeIsRefusedAtSubmission) {
  CoreHarness h(clock_, nullptr, WithLimits(3, 1000, 10));
  EXPECT_EQ(Submit(h, FunctionMapSpec(3)).code, 0);
  wire::Reply r = Submit(h, FunctionMapSpec(4));
  EXPECT_EQ(r.code, static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_NE(r.error.find("input 'xs'"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("4 elements, more than the limit of 3"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("--max-node-elements"), std::string::npos) << r.error;
}

TEST_F(CoreLimitsTest, ANodeThatWouldTakeTheExecutionBeyondItsElementsFailsIt) {
  // Two maps of 3 over the same input, 5 subtasks allowed per execution: the second fails the
  // execution, naming the limit, and never dispatches.
  CoreHarness h(clock_, nullptr, WithLimits(100, 5, 10));
  std::string spec = FunctionMapSpec(3);
  spec.replace(spec.find("    outputs: {o0: $m.o0}"), std::string::npos,
               "      - id: m2\n        map: t\n        inputs: {x: $m.o0}\n    outputs: {o0: $m2.o0}\n");
  wire::Reply r = Submit(h, spec);
  ASSERT_EQ(r.code, 0) << r.error;
  std::string exec = nlohmann::json::parse(r.json).value("execution", "");
  h.Hello("w1", 8);
  auto work = h.Work("w1");
  ASSERT_EQ(work.size(), 3u);
  for (const auto& k : work) h.Succeed("w1", k, 1);
  EXPECT_TRUE(h.Work("w1").empty());
  auto& f = h.store().state().execs[exec];
  EXPECT_EQ(f[keys::kFieldPhase], "FAILED");
  EXPECT_NE(f[keys::kFieldError].find("node 'm2' failed: 3 subtasks, which with the execution's 3 earlier ones"),
            std::string::npos)
      << f[keys::kFieldError];
  EXPECT_NE(f[keys::kFieldError].find("--max-execution-elements"), std::string::npos) << f[keys::kFieldError];
}

}  // namespace
}  // namespace fanout::testing
