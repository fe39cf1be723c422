// Placement rules (DESIGN §4): resources, interruptible workers, waiting reasons.
#include "coordinator/placement.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

const std::vector<std::string> kFunctions = {"builtin.noop", "detect_anomalies"};

WorkerView Worker(double cpu, int64_t mem, uint32_t slots, bool interruptible = false) {
  WorkerView w;
  w.cpu = w.free_cpu = cpu;
  w.mem_bytes = w.free_mem = mem;
  w.free_slots = w.free_command_slots = slots;
  w.interruptible = interruptible;
  w.functions = &kFunctions;
  return w;
}

NodeNeeds Command(double cpu = 0, int64_t mem = 0, bool interruptible = false) {
  NodeNeeds n;
  n.command = true;
  n.requests = {cpu, mem};
  n.interruptible = interruptible;
  return n;
}

constexpr int64_t kGi = int64_t{1} << 30;

TEST(PlacementTest, WithoutRequestsSlotsAloneLimitTheBatch) {
  EXPECT_EQ(Fits(Worker(2, 8 * kGi, 5), Command()), 5u);
}

TEST(PlacementTest, FreeCpuAndMemoryLimitHowManySubtasksAWorkerTakes) {
  EXPECT_EQ(Fits(Worker(4, 64 * kGi, 16), Command(1)), 4u);
  EXPECT_EQ(Fits(Worker(16, 8 * kGi, 16), Command(0, 2 * kGi)), 4u);
  WorkerView busy = Worker(4, 64 * kGi, 16);
  busy.free_cpu = 0.5;
  EXPECT_EQ(Fits(busy, Command(1)), 0u);
  EXPECT_TRUE(Eligible(busy, Command(1)));  // it will fit once capacity frees up
}

TEST(PlacementTest, RequestLargerThanTheWorkerMakesItIneligible) {
  EXPECT_FALSE(Eligible(Worker(2, 8 * kGi, 4), Command(0, 16 * kGi)));
  EXPECT_FALSE(Eligible(Worker(2, 8 * kGi, 4), Command(3)));
}

TEST(PlacementTest, FunctionTasksGoOnlyToWorkersThatOfferTheFunction) {
  NodeNeeds n;
  n.function = "detect_anomalies";
  EXPECT_TRUE(Eligible(Worker(1, kGi, 1), n));
  n.function = "other";
  EXPECT_FALSE(Eligible(Worker(1, kGi, 1), n));
}

TEST(PlacementTest, NonInterruptibleTasksNeverGoToInterruptibleWorkers) {
  EXPECT_FALSE(Eligible(Worker(2, kGi, 4, /*interruptible=*/true), Command(0, 0, false)));
  EXPECT_TRUE(Eligible(Worker(2, kGi, 4, true), Command(0, 0, true)));
  EXPECT_TRUE(Eligible(Worker(2, kGi, 4, false), Command(0, 0, true)));
}

TEST(PlacementTest, LastSystemRetryIsKeptForNonInterruptibleWorkers) {
  EXPECT_EQ(MaxSystemFailures(Worker(1, kGi, 1, true), 3), 2);
  EXPECT_GT(MaxSystemFailures(Worker(1, kGi, 1, false), 3), 3);
}

TEST(PlacementTest, DrainingWorkersTakeNothing) {
  WorkerView w = Worker(2, kGi, 4);
  w.draining = true;
  EXPECT_EQ(Fits(w, Command()), 0u);
}

TEST(PlacementTest, WaitingForNamesARequestNoWorkerCanFit) {
  Waiting why = WaitingFor({Worker(2, 8 * kGi, 4), Worker(4, 4 * kGi, 4)}, Command(0, 16 * kGi));
  EXPECT_EQ(why.reason, WaitReason::kRequestsFitNoWorker);
  EXPECT_EQ(why.message, "requests cpu=0 mem=16Gi fit no connected worker (largest: cpu=4 mem=8Gi)");
}

TEST(PlacementTest, WaitingForShowsOddMemorySizesReadably) {
  Waiting why = WaitingFor({Worker(2, 25276026880, 4)}, Command(0, 32 * kGi));
  EXPECT_EQ(why.message, "requests cpu=0 mem=32Gi fit no connected worker (largest: cpu=2 mem=23.5Gi)");
  // Below a mebibyte: Ki when whole, else bytes (a spec's number without a unit).
  EXPECT_NE(WaitingFor({Worker(2, 512 * 1024, 4)}, Command(0, kGi)).message.find("largest: cpu=2 mem=512Ki)"),
            std::string::npos);
  EXPECT_NE(WaitingFor({Worker(2, 1000, 4)}, Command(0, kGi)).message.find("largest: cpu=2 mem=1000)"),
            std::string::npos);
}

TEST(PlacementTest, WaitingForIsNoneWhenSomeWorkerCouldTakeIt) {
  WorkerView full = Worker(2, 8 * kGi, 0);
  EXPECT_EQ(WaitingFor({full}, Command(1)).reason, WaitReason::kNone);
}

TEST(PlacementTest, WaitingForExplainsMissingWorkersAndFunctions) {
  EXPECT_EQ(WaitingFor({}, Command()).reason, WaitReason::kNoWorkers);
  EXPECT_EQ(WaitingFor({}, Command()).message, "no workers connected");
  NodeNeeds n;
  n.function = "nope";
  Waiting w = WaitingFor({Worker(1, kGi, 1)}, n);
  EXPECT_EQ(w.reason, WaitReason::kFunctionNotOffered);
  EXPECT_EQ(w.function, "nope");
  EXPECT_EQ(w.message, "no connected worker offers function 'nope'");
  EXPECT_EQ(WaitingFor({Worker(1, kGi, 1, true)}, Command()).reason, WaitReason::kOnlyInterruptibleWorkers);
}

TEST(PlacementTest, CommandsFitOnlyIntoFreeCommandSlots) {
  WorkerView w = Worker(8, 8 * kGi, 16);
  w.free_command_slots = 2;
  EXPECT_EQ(Fits(w, Command()), 2u);
  NodeNeeds f;
  f.function = "builtin.noop";
  EXPECT_EQ(Fits(w, f), 16u);
  Take(w, Command(), 2);
  EXPECT_EQ(Fits(w, Command()), 0u);
  EXPECT_EQ(Fits(w, f), 14u);
}

}  // namespace
}  // namespace fanout
