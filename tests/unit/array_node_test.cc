// The array node state machine (DESIGN §4): pure events in, decisions out.
#include "coordinator/array_node.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/codec.h"
#include "coordinator/execution.h"

namespace fanout {
namespace {

std::vector<ArrayNode::Start> Take(ArrayNode& node, size_t max = 1000000) {
  std::vector<ArrayNode::Start> out;
  node.Next(max, &out);
  return out;
}

std::vector<uint32_t> Indices(const std::vector<ArrayNode::Start>& s) {
  std::vector<uint32_t> out;
  for (const auto& x : s) out.push_back(x.index);
  return out;
}

TEST(ArrayNodeTest, EmptyNodeSucceedsAtOnce) {
  ArrayNode node(0, {});
  EXPECT_EQ(node.phase(), NodePhase::kSucceeded);
  EXPECT_TRUE(Take(node).empty());
}

TEST(ArrayNodeTest, UnboundedConcurrencyStartsEverySubtaskInIndexOrder) {
  ArrayNode node(5, {});
  EXPECT_EQ(Indices(Take(node)), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(node.count(SubtaskPhase::kRunning), 5u);
}

TEST(ArrayNodeTest, ConcurrencyLimitsStartedSubtasksAndLowestIndicesGoFirst) {
  ArrayNodePolicy p;
  p.concurrency = 2;
  ArrayNode node(5, p);
  EXPECT_EQ(Indices(Take(node)), (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(Take(node).empty());
  ASSERT_TRUE(node.OnSucceeded(1, 0));
  EXPECT_EQ(Indices(Take(node)), (std::vector<uint32_t>{2}));
  EXPECT_EQ(node.active(), 2u);
}

TEST(ArrayNodeTest, SubtaskWaitingToRetryHoldsItsSlot) {
  ArrayNodePolicy p;
  p.concurrency = 1;
  p.retries = 1;
  ArrayNode node(3, p);
  auto s = Take(node);
  ASSERT_EQ(Indices(s), (std::vector<uint32_t>{0}));
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kUser, "boom"));
  EXPECT_EQ(node.count(SubtaskPhase::kRetrying), 1u);
  // The retry goes out before index 1, which must wait for the slot.
  auto again = Take(node);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].index, 0u);
  EXPECT_EQ(again[0].attempt, 1u);
  EXPECT_TRUE(Take(node).empty());
}

TEST(ArrayNodeTest, UserErrorsConsumeRetriesThenFail) {
  ArrayNodePolicy p;
  p.retries = 2;
  ArrayNode node(1, p);
  for (uint32_t attempt = 0; attempt < 3; ++attempt) {
    auto s = Take(node);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].attempt, attempt);
    ASSERT_TRUE(node.OnFailed(0, attempt, FailureKind::kUser, "exit code 1"));
  }
  EXPECT_EQ(node.phase(), NodePhase::kFailed);
  EXPECT_EQ(node.Record(0).attempt, 2);
}

TEST(ArrayNodeTest, NonRetryableErrorFailsAtOnceWhateverTheRetries) {
  ArrayNodePolicy p;
  p.retries = 5;
  ArrayNode node(1, p);
  Take(node);
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kNonRetryable, "exit code 42"));
  EXPECT_EQ(node.phase(), NodePhase::kFailed);
  EXPECT_EQ(node.ErrorSummary(), "[0]: exit code 42");
}

TEST(ArrayNodeTest, SystemErrorsUseTheirOwnBudgetAndNotUserRetries) {
  ArrayNodePolicy p;
  p.retries = 0;
  p.system_retries = 2;
  ArrayNode node(1, p);
  Take(node);
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kSystem, "worker lost"));
  Take(node);
  ASSERT_TRUE(node.OnFailed(0, 1, FailureKind::kSystem, "worker lost"));
  auto s = Take(node);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].attempt, 2u);
  EXPECT_EQ(node.Record(0).system_failures, 2);
  ASSERT_TRUE(node.OnSucceeded(0, 2));
  EXPECT_EQ(node.phase(), NodePhase::kSucceeded);
}

TEST(ArrayNodeTest, SystemErrorsBeyondTheBudgetFailTheSubtask) {
  ArrayNodePolicy p;
  p.system_retries = 1;
  ArrayNode node(1, p);
  Take(node);
  node.OnFailed(0, 0, FailureKind::kSystem, "worker lost");
  Take(node);
  node.OnFailed(0, 1, FailureKind::kSystem, "worker lost");
  EXPECT_EQ(node.phase(), NodePhase::kFailed);
  EXPECT_NE(node.ErrorSummary().find("system retries exhausted"), std::string::npos);
}

TEST(ArrayNodeTest, FailsFastWhenMinSuccessesUnreachableAndAbortsRunning) {
  ArrayNodePolicy p;
  p.min_successes = 3;
  p.concurrency = 3;
  ArrayNode node(4, p);
  Take(node);  // 0, 1, 2 running; 3 queued
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kUser, "bad"));
  EXPECT_EQ(node.phase(), NodePhase::kRunning);  // 1 failure tolerated (4 - 3)
  ASSERT_TRUE(node.OnFailed(1, 0, FailureKind::kUser, "bad"));
  EXPECT_EQ(node.phase(), NodePhase::kFailed);
  auto aborts = node.TakeAborts();
  ASSERT_EQ(aborts.size(), 1u);
  EXPECT_EQ(aborts[0].index, 2u);
  EXPECT_EQ(node.count(SubtaskPhase::kAborted), 1u);
  EXPECT_EQ(node.count(SubtaskPhase::kQueued), 1u);  // never started
  EXPECT_TRUE(Take(node).empty());
  EXPECT_FALSE(node.OnSucceeded(2, 0));  // a late result changes nothing
}

TEST(ArrayNodeTest, FailFastAbortsSubtasksWaitingToRetryAndSaysSo) {
  ArrayNodePolicy p;
  p.retries = 2;
  ArrayNode node(2, p);
  Take(node);
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kUser, "again"));  // → RETRYING
  ASSERT_TRUE(node.OnFailed(1, 0, FailureKind::kNonRetryable, "no"));  // fails the node
  EXPECT_EQ(node.phase(), NodePhase::kFailed);
  auto aborts = node.TakeAborts();
  ASSERT_EQ(aborts.size(), 1u);
  EXPECT_EQ(aborts[0].index, 0u);
  EXPECT_FALSE(aborts[0].was_running);  // nothing to stop, but its record changed
  EXPECT_EQ(static_cast<SubtaskPhase>(node.Record(0).phase), SubtaskPhase::kAborted);
}

TEST(ArrayNodeTest, StartableCountsRetriesAndWhatConcurrencyAllows) {
  ArrayNodePolicy p;
  p.concurrency = 2;
  p.retries = 1;
  ArrayNode node(5, p);
  EXPECT_EQ(node.Startable(), 2u);
  Take(node);
  EXPECT_EQ(node.Startable(), 0u);
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kUser, "x"));  // a retry holds its slot
  EXPECT_EQ(node.Startable(), 1u);
  ASSERT_TRUE(node.OnSucceeded(1, 0));
  EXPECT_EQ(node.Startable(), 2u);
}

TEST(ArrayNodeTest, DefaultCriteriaFailOnTheFirstPermanentFailure) {
  ArrayNode node(10, {});
  Take(node);
  ASSERT_TRUE(node.OnFailed(7, 0, FailureKind::kUser, "x"));
  EXPECT_EQ(node.phase(), NodePhase::kFailed);
  EXPECT_EQ(node.TakeAborts().size(), 9u);
}

TEST(ArrayNodeTest, SucceedsOnlyWhenEverySubtaskIsTerminal) {
  ArrayNodePolicy p;
  p.min_successes = 2;
  ArrayNode node(4, p);
  Take(node);
  node.OnSucceeded(0, 0);
  node.OnSucceeded(1, 0);
  EXPECT_EQ(node.phase(), NodePhase::kRunning);  // threshold reached, but 2 and 3 still run
  node.OnFailed(2, 0, FailureKind::kUser, "x");
  node.OnSucceeded(3, 0);
  EXPECT_EQ(node.phase(), NodePhase::kSucceeded);
}

TEST(ArrayNodeTest, ZeroMinSuccessesSucceedsEvenWhenEverySubtaskFails) {
  ArrayNodePolicy p;
  p.min_successes = 0;
  ArrayNode node(3, p);
  Take(node);
  for (uint32_t i = 0; i < 3; ++i) node.OnFailed(i, 0, FailureKind::kUser, "x");
  EXPECT_EQ(node.phase(), NodePhase::kSucceeded);
}

TEST(ArrayNodeTest, StaleAttemptResultsAreIgnored) {
  ArrayNodePolicy p;
  p.retries = 1;
  ArrayNode node(1, p);
  Take(node);
  node.OnFailed(0, 0, FailureKind::kUser, "x");
  Take(node);
  EXPECT_FALSE(node.OnSucceeded(0, 0));  // attempt 0 is over
  EXPECT_TRUE(node.OnSucceeded(0, 1));
}

TEST(ArrayNodeTest, ErrorSummaryGroupsIndicesByMessageAsRanges) {
  ArrayNodePolicy p;
  p.min_successes = 0;
  ArrayNode node(6, p);
  Take(node);
  for (uint32_t i : {0u, 1u, 3u}) node.OnFailed(i, 0, FailureKind::kUser, "exit code 1");
  node.OnFailed(5, 0, FailureKind::kUser, "timed out after 1s");
  EXPECT_EQ(node.ErrorSummary(), "[0-1][3]: exit code 1; [5]: timed out after 1s");
}

TEST(ArrayNodeTest, RestoreKeepsSucceededAndRunningAttemptsAndTheirCounters) {
  ArrayNode node(4, {});
  node.Restore(0, {static_cast<uint8_t>(SubtaskPhase::kSucceeded), 0, 0, false});
  node.Restore(2, {static_cast<uint8_t>(SubtaskPhase::kRunning), 3, 1, false});
  // 0 never runs again; 2 keeps running its attempt 3, whose result is still accepted.
  EXPECT_EQ(Indices(Take(node)), (std::vector<uint32_t>{1, 3}));
  EXPECT_TRUE(node.IsCurrent(2, 3));
  EXPECT_EQ(node.Record(2).system_failures, 1);
  EXPECT_EQ(node.count(SubtaskPhase::kSucceeded), 1u);
}

TEST(ArrayNodeTest, UnclaimedRestoredAttemptIsRetriedAsASystemErrorWithItsCountersKept) {
  ArrayNodePolicy p;
  p.system_retries = 3;
  ArrayNode node(1, p);
  node.Restore(0, {static_cast<uint8_t>(SubtaskPhase::kRunning), 3, 1, false});
  ASSERT_TRUE(node.OnFailed(0, 3, FailureKind::kSystem, "not claimed"));
  auto s = Take(node);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].attempt, 4u);
  EXPECT_EQ(node.Record(0).system_failures, 2);
}

TEST(ArrayNodeTest, RestoredRetryKeepsItsPersistedAttempt) {
  ArrayNode node(2, {});
  node.Restore(1, {static_cast<uint8_t>(SubtaskPhase::kRetrying), 2, 0, false});
  auto s = Take(node);
  ASSERT_EQ(Indices(s), (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(s[0].attempt, 2u);
}

TEST(ArrayNodeTest, AbortAllStopsRunningSubtasks) {
  ArrayNode node(3, {});
  Take(node, 2);
  node.AbortAll();
  EXPECT_EQ(node.phase(), NodePhase::kAborted);
  EXPECT_EQ(node.TakeAborts().size(), 2u);
  EXPECT_EQ(node.count(SubtaskPhase::kQueued), 1u);
}

TEST(ArrayNodeTest, StateIsAFewBytesPerSubtask) {
  ArrayNode node(1000000, {});
  EXPECT_LT(node.StateBytes(), 1000000u * 3);
}

TEST(FormatIndexRangesTest, MergesConsecutiveIndices) {
  EXPECT_EQ(FormatIndexRanges({0, 1, 2, 5, 7, 8}), "[0-2][5][7-8]");
  EXPECT_EQ(FormatIndexRanges({}), "");
}

TEST(NodeInputsTest, MappedInputsAreZippedAndBoundOnesSentWhole) {
  auto spec = ParseSpec(R"(
version: 1
tasks:
  t: {command: [true], inputs: {a: int, b: float, c: "list<int>"}, outputs: {o: int}}
workflows:
  w:
    inputs: {xs: "list<int>"}
    nodes:
      - {id: n, map: t, inputs: {a: $inputs.xs, b: [1.5, 2.5]}, bind: {c: [7, 8, 9]}}
)", "t.yaml");
  ASSERT_TRUE(spec) << spec.error().message();
  std::map<std::string, std::string> values{{"inputs.xs", EncodeMsgpack(Value(List{Value(1), Value(2)}))}};
  auto in = ResolveNodeInputs(*spec, spec->workflows.at("w").nodes[0], values);
  ASSERT_TRUE(in) << in.error().message();
  EXPECT_EQ(in->size, 2u);
  auto args = DecodeMsgpack(in->ArgsFor(1));
  ASSERT_TRUE(args);
  EXPECT_EQ(*args, Value(List{Value(2), Value(2.5), Value(List{Value(7), Value(8), Value(9)})}));
}

TEST(NodeInputsTest, MappedListsOfDifferentLengthsAreRefusedNamingBoth) {
  auto spec = ParseSpec(R"(
version: 1
tasks:
  t: {command: [true], inputs: {a: int, b: int}, outputs: {o: int}}
workflows:
  w:
    inputs: {xs: "list<int>", ys: "list<int>"}
    nodes:
      - {id: n, map: t, inputs: {a: $inputs.xs, b: $inputs.ys}}
)", "t.yaml");
  ASSERT_TRUE(spec) << spec.error().message();
  std::map<std::string, std::string> values{
      {"inputs.xs", EncodeMsgpack(Value(List{Value(1), Value(2), Value(3)}))},
      {"inputs.ys", EncodeMsgpack(Value(List{Value(1), Value(2)}))}};
  auto in = ResolveNodeInputs(*spec, spec->workflows.at("w").nodes[0], values);
  ASSERT_FALSE(in);
  EXPECT_NE(in.error().message().find("'a' has 3 elements, 'b' has 2"), std::string::npos)
      << in.error().message();
}

TEST(OutputAssemblerTest, FailedSubtasksBecomeNullInIndexOrder) {
  auto spec = ParseSpec(R"(
version: 1
tasks:
  t: {command: [true], inputs: {a: int}, outputs: {o: int, p: str}}
workflows:
  w:
    nodes:
      - {id: n, map: t, inputs: {a: [1, 2, 3]}, min_success_ratio: 0.5}
)", "t.yaml");
  ASSERT_TRUE(spec) << spec.error().message();
  const NodeDef& node = spec->workflows.at("w").nodes[0];
  OutputAssembler a(node, spec->TaskOf(node), 3);
  ASSERT_TRUE(a.Add(0, EncodeMsgpack(Value(List{Value(10), Value("x")}))).ok());
  ASSERT_TRUE(a.Add(1, std::nullopt).ok());
  ASSERT_TRUE(a.Add(2, EncodeMsgpack(Value(List{Value(30), Value("z")}))).ok());
  auto out = a.Finish();
  EXPECT_EQ(*DecodeMsgpack(out.at("n.o")), Value(List{Value(10), Value(), Value(30)}));
  EXPECT_EQ(*DecodeMsgpack(out.at("n.p")), Value(List{Value("x"), Value(), Value("z")}));
}

}  // namespace
}  // namespace fanout

namespace fanout {
namespace {

TEST(ArrayNodeTest, TimedOutAttemptIsARetryableUserError) {
  // Workers report a timeout as a user error ("timed out after 1s"): it consumes retries.
  ArrayNodePolicy p;
  p.retries = 1;
  ArrayNode node(1, p);
  Take(node);
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kUser, "timed out after 1s"));
  EXPECT_EQ(node.count(SubtaskPhase::kRetrying), 1u);
  Take(node);
  ASSERT_TRUE(node.OnFailed(0, 1, FailureKind::kUser, "timed out after 1s"));
  EXPECT_EQ(node.phase(), NodePhase::kFailed);
  EXPECT_EQ(node.ErrorSummary(), "[0]: timed out after 1s");
}

TEST(ArrayNodeTest, CommitHonouredAfterTheSubtaskWasRequeued) {
  ArrayNode node(1, {});
  Take(node);
  ASSERT_TRUE(node.OnFailed(0, 0, FailureKind::kSystem, "worker lost"));
  // The store had committed attempt 0's output: Redis is the truth.
  EXPECT_TRUE(node.OnCommitted(0));
  EXPECT_EQ(node.phase(), NodePhase::kSucceeded);
  EXPECT_TRUE(Take(node).empty());
}

TEST(ArrayNodeTest, ReopenedSubtaskRunsAgainWithTheNextAttempt) {
  ArrayNode node(2, {});
  Take(node);
  node.OnSucceeded(0, 0);
  node.OnSucceeded(1, 0);
  ASSERT_EQ(node.phase(), NodePhase::kSucceeded);
  ASSERT_TRUE(node.Reopen(1));  // Redis lost its output
  EXPECT_EQ(node.phase(), NodePhase::kRunning);
  auto s = Take(node);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].index, 1u);
  EXPECT_EQ(s[0].attempt, 1u);
}

TEST(ArrayNodeTest, CacheHitCompletesAQueuedSubtaskWithoutStartingIt) {
  ArrayNode node(2, {});
  ASSERT_TRUE(node.CompleteFromCache(1));
  EXPECT_EQ(node.cached(), 1u);
  EXPECT_EQ(Indices(Take(node)), (std::vector<uint32_t>{0}));
}

const char* kTwoNodeSpec = R"(
version: 1
tasks:
  p: {command: [true], outputs: {o0: float}}
  m: {command: [true], inputs: {q: int, price: float}, outputs: {o0: float}}
workflows:
  w:
    inputs: {qs: "list<int>"}
    nodes:
      - {id: price, task: p}
      - {id: totals, map: m, inputs: {q: $inputs.qs}, bind: {price: $price.o0}, min_success_ratio: 0.5}
    outputs: {o0: $totals.o0, first: $price.o0}
)";

TEST(WorkflowTest, DownstreamNodeReadsTheUpstreamOutputWhole) {
  auto spec = ParseSpec(kTwoNodeSpec, "w.yaml");
  ASSERT_TRUE(spec) << spec.error().message();
  const WorkflowDef& wf = spec->workflows.at("w");
  std::map<std::string, std::string> values{{"inputs.qs", EncodeMsgpack(Value(List{Value(1), Value(2)}))}};
  // Before the upstream node has produced $price.o0, the map node cannot resolve.
  EXPECT_FALSE(ResolveNodeInputs(*spec, wf.nodes[1], values));
  values["price.o0"] = EncodeMsgpack(Value(7.0));
  auto in = ResolveNodeInputs(*spec, wf.nodes[1], values);
  ASSERT_TRUE(in) << in.error().message();
  EXPECT_EQ(*DecodeMsgpack(in->ArgsFor(1)), Value(List{Value(2), Value(7.0)}));
}

TEST(WorkflowTest, WorkflowOutputsAreResolvedFromNodeOutputs) {
  auto spec = ParseSpec(kTwoNodeSpec, "w.yaml");
  ASSERT_TRUE(spec) << spec.error().message();
  Execution e;
  e.wf = &spec->workflows.at("w");
  e.values["price.o0"] = EncodeMsgpack(Value(7.0));
  e.values["totals.o0"] = EncodeMsgpack(Value(List{Value(7.0), Value()}));
  auto out = WorkflowOutputs(e);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*DecodeMsgpack(*out), Value(Map{{"o0", Value(List{Value(7.0), Value()})}, {"first", Value(7.0)}}));
}

TEST(StatusJsonTest, ReportsPhaseSizeCountsAndFailedIndices) {
  auto spec = ParseSpec(kTwoNodeSpec, "w.yaml");
  ASSERT_TRUE(spec) << spec.error().message();
  Execution e;
  e.id = "fx";
  e.wf = &spec->workflows.at("w");
  NodeRun run;
  run.def = &e.wf->nodes[1];
  run.task = &spec->TaskOf(*run.def);
  run.phase = NodePhase::kRunning;
  ArrayNodePolicy p;
  p.min_successes = 2;
  run.array = std::make_unique<ArrayNode>(4, p);
  std::vector<ArrayNode::Start> s;
  run.array->Next(3, &s);
  run.array->OnSucceeded(0, 0);
  run.array->OnFailed(2, 0, FailureKind::kUser, "exit code 1");
  e.nodes.push_back(std::move(run));
  nlohmann::json j = BuildStatus(e).ToJson();
  EXPECT_EQ(j["execution"], "fx");
  EXPECT_EQ(j["phase"], "RUNNING");
  const auto& n = j["nodes"][0];
  EXPECT_EQ(n["size"], 4);
  EXPECT_EQ(n["min_successes"], 2);
  EXPECT_EQ(n["counts"]["succeeded"], 1);
  EXPECT_EQ(n["counts"]["running"], 1);
  EXPECT_EQ(n["counts"]["failed"], 1);
  EXPECT_EQ(n["counts"]["queued"], 1);
  ASSERT_EQ(n["failed"].size(), 1u);
  EXPECT_EQ(n["failed"][0]["index"], 2);
  EXPECT_EQ(n["failed"][0]["attempts"], 1);
  EXPECT_EQ(n["failed"][0]["error"], "exit code 1");
}

}  // namespace
}  // namespace fanout
