// Metrics (coordinator/metrics.h): histogram buckets, the Prometheus text form, and the hooks
// the rooms call, driven through a whole CoordinatorCore.
#include "coordinator/metrics.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <sstream>

#include "tests/prometheus_text.h"
#include "tests/unit/core_fixture.h"

namespace fanout::testing {
namespace {

using Kind = wire::Kind;

TEST(HistogramTest, AnObservationCountsInTheFirstBucketWhoseBoundIsAtLeastIt) {
  Histogram h({0.1, 1, 10});
  h.Observe(0.1);   // le="0.1" holds values <= 0.1
  h.Observe(0.5);
  h.Observe(50);
  EXPECT_EQ(h.counts(), (std::vector<uint64_t>{1, 1, 0, 1}));
  EXPECT_EQ(h.count(), 3u);
  EXPECT_DOUBLE_EQ(h.sum(), 50.6);
}

TEST(MetricsTest, HistogramBucketsAreRenderedCumulativeWithInfSumAndCount) {
  int64_t now = 0;
  Metrics m([&] { return now; });
  m.StoreRoundTrip("commit", 300);    // 0.3 ms
  m.StoreRoundTrip("commit", 20000);  // 20 ms
  std::string text = m.Render(Gauges{});
  EXPECT_EQ(Sample(text, R"(fanout_commit_latency_seconds_bucket{le="0.00025"})"), 0);
  EXPECT_EQ(Sample(text, R"(fanout_commit_latency_seconds_bucket{le="0.0005"})"), 1);
  EXPECT_EQ(Sample(text, R"(fanout_commit_latency_seconds_bucket{le="0.025"})"), 2);
  EXPECT_EQ(Sample(text, R"(fanout_commit_latency_seconds_bucket{le="+Inf"})"), 2);
  EXPECT_EQ(Sample(text, "fanout_commit_latency_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(Sample(text, "fanout_commit_latency_seconds_sum"), 0.0203);
  EXPECT_EQ(Sample(text, R"(fanout_redis_request_seconds_count{op="commit"})"), 2);
}

TEST(MetricsTest, AttemptLatencyIsAHistogramInSeconds) {
  Metrics m([] { return int64_t{0}; });
  m.AttemptLatency(3);     // 3 ms
  m.AttemptLatency(2000);  // 2 s
  std::string text = m.Render(Gauges{});
  EXPECT_EQ(Sample(text, R"(fanout_attempt_latency_seconds_bucket{le="0.005"})"), 1);
  EXPECT_EQ(Sample(text, R"(fanout_attempt_latency_seconds_bucket{le="1"})"), 1);
  EXPECT_EQ(Sample(text, R"(fanout_attempt_latency_seconds_bucket{le="5"})"), 2);
  EXPECT_EQ(Sample(text, "fanout_attempt_latency_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(Sample(text, "fanout_attempt_latency_seconds_sum"), 2.003);
}

TEST(MetricsTest, LoopTurnsAreAHistogramInSeconds) {
  Metrics m;
  m.LoopTurn(300);     // 0.3 ms
  m.LoopTurn(40'000);  // 40 ms
  m.LoopTurn(-5);      // a clock step: counted as 0
  std::string text = m.Render(Gauges{});
  EXPECT_EQ(Sample(text, R"(fanout_loop_turn_seconds_bucket{le="0.0001"})"), 1);
  EXPECT_EQ(Sample(text, R"(fanout_loop_turn_seconds_bucket{le="0.0005"})"), 2);
  EXPECT_EQ(Sample(text, R"(fanout_loop_turn_seconds_bucket{le="0.025"})"), 2);
  EXPECT_EQ(Sample(text, R"(fanout_loop_turn_seconds_bucket{le="0.05"})"), 3);
  EXPECT_EQ(Sample(text, "fanout_loop_turn_seconds_count"), 3);
  EXPECT_DOUBLE_EQ(Sample(text, "fanout_loop_turn_seconds_sum"), 0.0403);
}

TEST(MetricsTest, EveryFamilyHasHelpAndTypeBeforeItsSamples) {
  Metrics m;
  Gauges g;
  g.nodes.push_back({"E1", "m", 10, 4, 2});
  std::string text = m.Render(g);
  std::istringstream in(text);
  std::string line, family;
  std::set<std::string> typed;
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ")) continue;
    if (line.starts_with("# TYPE ")) {
      std::istringstream w(line.substr(7));
      w >> family;
      EXPECT_TRUE(typed.insert(family).second) << "two TYPE lines for " << family;
      continue;
    }
    std::string name = line.substr(0, line.find_first_of("{ "));
    bool known = typed.contains(name);
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (name.ends_with(suffix)) known = known || typed.contains(name.substr(0, name.size() - std::strlen(suffix)));
    EXPECT_TRUE(known) << "sample before its TYPE: " << line;
  }
  EXPECT_EQ(Sample(text, R"(fanout_node_queue_depth{execution="E1",node="m"})"), 4);
  EXPECT_EQ(Sample(text, R"(fanout_node_running{execution="E1",node="m"})"), 2);
}

TEST(MetricsTest, TheProcessMemoryIsReadAndRendered) {
  // A block held across the read is counted as heap in use.
  auto held = std::make_unique<char[]>(1 << 20);
  std::memset(held.get(), 1, 1 << 20);
  Gauges g;
  ReadProcessMemory(g);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's allocator replaces malloc's: mallinfo2 reports nothing
  EXPECT_GE(g.heap_in_use_bytes, uint64_t{1} << 20);
#endif
  EXPECT_GE(g.resident_bytes, uint64_t{1} << 20);
  std::string text = Metrics().Render(g);
  EXPECT_EQ(Sample(text, "process_resident_memory_bytes"), static_cast<double>(g.resident_bytes));
  EXPECT_EQ(Sample(text, R"(fanout_heap_bytes{state="in_use"})"), static_cast<double>(g.heap_in_use_bytes));
  EXPECT_EQ(Sample(text, R"(fanout_heap_bytes{state="free"})"), static_cast<double>(g.heap_free_bytes));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(PromLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

class CoreMetricsTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  CoreHarness h_{clock_};
};

TEST_F(CoreMetricsTest, DispatchesAttemptOutcomesAndRetriesAreCounted) {
  std::string exec = h_.Submit(FunctionMapSpec(3, "    retries: 1\n"));
  h_.Hello("w1", 8);
  std::vector<wire::SubtaskKey> work = h_.Work("w1");
  ASSERT_EQ(work.size(), 3u);
  h_.SendResult("w1", work[0], wire::Outcome::kUserError, 0, "boom");  // retried once
  h_.Succeed("w1", work[1], 1);
  h_.Succeed("w1", work[2], 2);
  std::vector<wire::SubtaskKey> again = h_.Work("w1");
  ASSERT_EQ(again.size(), 1u);
  h_.Succeed("w1", again[0], 0);

  Metrics& m = h_.core().metrics();
  EXPECT_EQ(m.dispatched(), 4u);
  EXPECT_EQ(m.attempts(AttemptOutcome::kSucceeded), 3u);
  EXPECT_EQ(m.attempts(AttemptOutcome::kUserError), 1u);
  std::string text = m.Render(h_.core().ReadGauges());
  EXPECT_EQ(Sample(text, R"(fanout_retries_total{kind="user"})"), 1);
  EXPECT_EQ(Sample(text, R"(fanout_commits_total{outcome="applied"})"), 4);  // 3 outputs + 1 error
  EXPECT_EQ(Sample(text, "fanout_subtasks_dispatched_total"), 4);
  // Every commit went through the metered store.
  ASSERT_NE(m.store_round_trip("commit"), nullptr);
  EXPECT_GE(m.store_round_trip("commit")->count(), 2u);
}

TEST_F(CoreMetricsTest, GaugesShowSlotsQueueDepthAndSubtasksByPhase) {
  std::string exec = h_.Submit(FunctionMapSpec(10));
  h_.Hello("w1", 4);
  ASSERT_EQ(h_.Work("w1").size(), 4u);
  Gauges g = h_.core().ReadGauges();
  EXPECT_EQ(g.workers, 1u);
  EXPECT_EQ(g.slots_used, 4u);
  EXPECT_EQ(g.slots_free, 0u);
  EXPECT_EQ(g.subtasks[static_cast<int>(SubtaskPhase::kRunning)], 4u);
  EXPECT_EQ(g.subtasks[static_cast<int>(SubtaskPhase::kQueued)], 6u);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].execution, exec);
  EXPECT_EQ(g.nodes[0].queued, 6u);
  EXPECT_EQ(g.nodes[0].running, 4u);
  EXPECT_EQ(g.executions[static_cast<int>(ExecPhase::kRunning)], 1u);
}

TEST_F(CoreMetricsTest, ACleanDrainAndALostWorkerAreCountedApart) {
  h_.Hello("w1", 1);
  h_.Hello("w2", 1);
  h_.core().OnMessage("w1", Kind::kBye, wire::EncodeBody(wire::Heartbeat{"w1", 0, 0, true}));
  clock_.Advance(10'000);  // w2 misses its heartbeats
  h_.core().Tick();
  h_.Settle();
  std::string text = h_.core().metrics().Render(h_.core().ReadGauges());
  EXPECT_EQ(Sample(text, R"(fanout_workers_left_total{reason="drained"})"), 1);
  EXPECT_EQ(Sample(text, R"(fanout_workers_left_total{reason="lost"})"), 1);
  EXPECT_EQ(Sample(text, "fanout_workers_joined_total"), 2);
}

}  // namespace
}  // namespace fanout::testing
