// The Scheduler (coordinator/scheduler.h): fair shares, work conservation, spreading. Pure.
#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

#include <map>

namespace fanout {
namespace {

std::vector<std::string> kFunctions = {"f"};

WorkerView Worker(WorkerNo no, uint32_t slots, uint32_t command_slots = 0) {
  WorkerView w;
  w.no = no;
  w.free_slots = slots;
  w.free_command_slots = command_slots == 0 ? slots : command_slots;
  w.cpu = 8;
  w.free_cpu = 8;
  w.mem_bytes = w.free_mem = int64_t{16} << 30;
  w.functions = &kFunctions;
  return w;
}

Demand Node(NodeUid node, uint64_t startable, uint64_t running = 0, uint32_t group = 1, bool command = true) {
  Demand d;
  d.node = node;
  d.group = group;
  d.running = running;
  d.startable = startable;
  d.needs.command = command;
  d.needs.function = "f";
  return d;
}

// Total granted per node.
std::map<NodeUid, uint32_t> PerNode(const std::vector<Grant>& grants) {
  std::map<NodeUid, uint32_t> out;
  for (const Grant& g : grants) out[g.node] += g.count;
  return out;
}

std::map<WorkerNo, uint32_t> PerWorker(const std::vector<Grant>& grants) {
  std::map<WorkerNo, uint32_t> out;
  for (const Grant& g : grants) out[g.worker] += g.count;
  return out;
}

TEST(WaterFillTest, SharesEquallyWhenNothingRuns) {
  EXPECT_EQ(WaterFill({0, 0}, {100, 100}, 4), (std::vector<uint64_t>{2, 2}));
}

TEST(WaterFillTest, GivesMoreToWhatRunsLess) {
  EXPECT_EQ(WaterFill({3, 0}, {100, 100}, 3), (std::vector<uint64_t>{0, 3}));
  EXPECT_EQ(WaterFill({2, 0}, {100, 100}, 4), (std::vector<uint64_t>{1, 3}));
}

TEST(WaterFillTest, RespectsCapsAndHandsTheRestToOthers) {
  EXPECT_EQ(WaterFill({0, 0, 0}, {1, 100, 100}, 9), (std::vector<uint64_t>{1, 4, 4}));
}

TEST(WaterFillTest, GivesEveryCapWhenThereIsEnough) {
  EXPECT_EQ(WaterFill({5, 0}, {2, 3}, 100), (std::vector<uint64_t>{2, 3}));
}

TEST(WaterFillTest, NeverGivesMoreThanTheAmount) {
  auto s = WaterFill({0, 1, 2, 3}, {10, 10, 10, 10}, 7);
  EXPECT_EQ(s[0] + s[1] + s[2] + s[3], 7u);
  // Levels end within one of each other: 0+a, 1+b, 2+c, 3+d.
  EXPECT_LE(std::max({s[0], s[1] + 1, s[2] + 2, s[3] + 3}) - std::min({s[0], s[1] + 1, s[2] + 2, s[3] + 3}), 1u);
}

TEST(SchedulerTest, IndependentNodesOfOneExecutionShareTheSlots) {
  // The reported case: `first` (concurrency 3) and `second` (unbounded), 2 workers × 2 slots.
  auto grants = Schedule({Worker(1, 2), Worker(2, 2)}, {Node(1, 3), Node(2, 100)}, 256, 3);
  auto per = PerNode(grants);
  EXPECT_EQ(per[1], 2u);
  EXPECT_EQ(per[2], 2u);
}

TEST(SchedulerTest, AFreedSlotGoesToTheNodeThatRunsLess) {
  // `first` runs 2 (of its concurrency 3), `second` runs 1: the one free slot goes to second.
  auto grants = Schedule({Worker(1, 1)}, {Node(1, 1, 2), Node(2, 98, 1)}, 256, 3);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].node, 2u);
}

TEST(SchedulerTest, TwoUnboundedNodesOnOneWorkerBothRun) {
  auto per = PerNode(Schedule({Worker(1, 4)}, {Node(1, 100), Node(2, 100)}, 256, 3));
  EXPECT_EQ(per[1], 2u);
  EXPECT_EQ(per[2], 2u);
}

TEST(SchedulerTest, ExecutionsAreServedFairlyBeforeTheirNodes) {
  // Execution 1 has three nodes, execution 2 one: 6 slots are split 3 / 3 between executions.
  auto per = PerNode(Schedule({Worker(1, 6)}, {Node(1, 100, 0, 1), Node(2, 100, 0, 1), Node(3, 100, 0, 1),
                                                Node(4, 100, 0, 2)}, 256, 3));
  EXPECT_EQ(per[1] + per[2] + per[3], 3u);
  EXPECT_EQ(per[4], 3u);
}

TEST(SchedulerTest, NoSlotStaysIdleWhileANodeCouldUseIt) {
  // Node 1 runs a function only worker 1 offers; node 2 is a command. Worker 2's slots would
  // stay idle if node 1's fair share were held for it.
  std::vector<std::string> none;
  WorkerView w2 = Worker(2, 4);
  w2.functions = &none;
  auto grants = Schedule({Worker(1, 4), w2}, {Node(1, 100, 0, 1, false), Node(2, 100)}, 256, 3);
  auto per_worker = PerWorker(grants);
  EXPECT_EQ(per_worker[1], 4u);
  EXPECT_EQ(per_worker[2], 4u);
  for (const Grant& g : grants) {
    if (g.worker == 2) {
      EXPECT_EQ(g.node, 2u);
    }
  }
}

TEST(SchedulerTest, AConcurrencyLimitedNodeIsSpreadOverWorkers) {
  auto per_worker = PerWorker(Schedule({Worker(1, 8), Worker(2, 8)}, {Node(1, 4)}, 256, 3));
  EXPECT_EQ(per_worker[1], 2u);
  EXPECT_EQ(per_worker[2], 2u);
}

TEST(SchedulerTest, BatchesAreAtMostMaxBatch) {
  auto grants = Schedule({Worker(1, 1000)}, {Node(1, 1000)}, 256, 3);
  uint32_t total = 0;
  for (const Grant& g : grants) {
    EXPECT_LE(g.count, 256u);
    total += g.count;
  }
  EXPECT_EQ(total, 1000u);
}

TEST(SchedulerTest, CommandsStayWithinCommandSlots) {
  // 64 slots for functions, 2 for commands.
  auto per = PerNode(Schedule({Worker(1, 64, 2)}, {Node(1, 100, 0, 1, true), Node(2, 100, 0, 1, false)}, 256, 3));
  EXPECT_EQ(per[1], 2u);
  EXPECT_EQ(per[2], 62u);
}

TEST(SchedulerTest, DrainingWorkersGetNothing) {
  WorkerView w = Worker(1, 4);
  w.draining = true;
  EXPECT_TRUE(Schedule({w}, {Node(1, 10)}, 256, 3).empty());
}

TEST(SchedulerTest, RequestsLimitHowManyFit) {
  WorkerView w = Worker(1, 10);
  w.cpu = w.free_cpu = 4;
  Demand d = Node(1, 10);
  d.needs.requests.cpu = 2;
  EXPECT_EQ(PerNode(Schedule({w}, {d}, 256, 3))[1], 2u);
}

TEST(SchedulerTest, InterruptibleWorkersMayNotTakeALastSystemRetry) {
  WorkerView w = Worker(1, 4);
  w.interruptible = true;
  Demand d = Node(1, 4);
  d.needs.interruptible = true;
  auto grants = Schedule({w}, {d}, 256, 3);
  ASSERT_FALSE(grants.empty());
  EXPECT_EQ(grants[0].max_system_failures, 2);
}

TEST(SchedulerTest, ALastSystemRetryGoesToANonInterruptibleWorkerEvenWhenASpotWorkerIsFirst) {
  WorkerView spot = Worker(1, 4);
  spot.interruptible = true;
  Demand d = Node(1, 1);
  d.needs.interruptible = true;
  d.steady_only = 1;
  auto grants = Schedule({spot, Worker(2, 4)}, {d}, 256, 3);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(grants[0].worker, 2u);
}

}  // namespace
}  // namespace fanout
