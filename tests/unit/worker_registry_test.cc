// WorkerRegistry (coordinator/worker_registry.h): credit, liveness, incarnations, deadlines,
// on a FakeClock.
#include "coordinator/worker_registry.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

wire::Hello Hello(const std::string& id, uint32_t slots, uint32_t command_slots = 0) {
  wire::Hello h;
  h.worker_id = id;
  h.slots = slots;
  h.command_slots = command_slots;
  h.cpu = 4;
  h.mem_bytes = int64_t{8} << 30;
  return h;
}

class WorkerRegistryTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  WorkerRegistry reg_{clock_, {1000, 3, 64}};
};

TEST_F(WorkerRegistryTest, HelloSlotsAreCapped) {
  auto j = reg_.Join("a", Hello("w1", 100000), {});
  EXPECT_EQ(reg_.Get(j.no)->hello.slots, 64u);
  EXPECT_EQ(reg_.Get(j.no)->free_slots, 64u);
}

TEST_F(WorkerRegistryTest, CommandSlotsDefaultToSlotsAndNeverExceedThem) {
  auto a = reg_.Join("a", Hello("w1", 8), {});
  auto b = reg_.Join("b", Hello("w2", 8, 2), {});
  auto c = reg_.Join("c", Hello("w3", 8, 50), {});
  EXPECT_EQ(reg_.Get(a.no)->command_slots, 8u);
  EXPECT_EQ(reg_.Get(b.no)->command_slots, 2u);
  EXPECT_EQ(reg_.Get(c.no)->command_slots, 8u);
}

TEST_F(WorkerRegistryTest, AnAttemptTakesItsCostAndReleaseGivesItBack) {
  auto j = reg_.Join("a", Hello("w1", 4, 2), {});
  SubtaskId id{7, 3};
  reg_.Assign(j.no, id, 0, {1.5, 1 << 20, true}, 0);
  const Worker& w = *reg_.Get(j.no);
  EXPECT_EQ(w.free_slots, 3u);
  EXPECT_EQ(w.free_command_slots, 1u);
  EXPECT_DOUBLE_EQ(w.free_cpu, 2.5);
  EXPECT_EQ(w.running, 1u);
  EXPECT_EQ(reg_.InflightOf(7), 1u);
  EXPECT_FALSE(reg_.Release(id, 1));  // another attempt: nothing happens
  EXPECT_TRUE(reg_.Release(id, 0));
  EXPECT_EQ(w.free_slots, 4u);
  EXPECT_EQ(w.free_command_slots, 2u);
  EXPECT_DOUBLE_EQ(w.free_cpu, 4);
  EXPECT_EQ(w.running, 0u);
  EXPECT_EQ(reg_.InflightOf(7), 0u);
  EXPECT_EQ(reg_.Holder(id), nullptr);
}

TEST_F(WorkerRegistryTest, ANewIncarnationKeepsWhatItClaimsAndLosesTheRest) {
  auto old = reg_.Join("a", Hello("w1", 4), {});
  reg_.Assign(old.no, {1, 0}, 2, {}, 0);
  reg_.Assign(old.no, {1, 1}, 0, {}, 0);
  reg_.Assign(old.no, {1, 2}, 5, {}, 0);
  // It reconnects (new identity), claiming index 0 at attempt 2 and index 2 at a wrong attempt.
  auto j = reg_.Join("b", Hello("w1", 4), {{SubtaskId{1, 0}.packed(), 2}, {SubtaskId{1, 2}.packed(), 4}});
  EXPECT_EQ(j.kept, 1u);
  ASSERT_EQ(j.lost.size(), 2u);
  EXPECT_EQ(reg_.size(), 1u);
  EXPECT_EQ(reg_.Find("a"), nullptr);
  ASSERT_NE(reg_.Holder({1, 0}), nullptr);
  EXPECT_EQ(reg_.Holder({1, 0})->worker, j.no);
  EXPECT_EQ(reg_.Get(j.no)->free_slots, 3u);
  EXPECT_EQ(reg_.Holder({1, 1}), nullptr);
}

TEST_F(WorkerRegistryTest, RemoveReturnsEverythingTheWorkerHeld) {
  auto a = reg_.Join("a", Hello("w1", 4), {});
  auto b = reg_.Join("b", Hello("w2", 4), {});
  reg_.Assign(a.no, {1, 0}, 0, {}, 0);
  reg_.Assign(b.no, {1, 1}, 0, {}, 0);
  auto lost = reg_.Remove(a.no);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].id, (SubtaskId{1, 0}));
  EXPECT_NE(reg_.Holder({1, 1}), nullptr);
  EXPECT_EQ(reg_.InflightOf(1), 1u);
}

TEST_F(WorkerRegistryTest, AWorkerIsSilentAfterTheLivenessWindow) {
  auto a = reg_.Join("a", Hello("w1", 1), {});
  clock_.Advance(3000);
  EXPECT_TRUE(reg_.Silent().empty());
  clock_.Advance(1);
  ASSERT_EQ(reg_.Silent().size(), 1u);
  reg_.Heard(*reg_.Get(a.no));
  EXPECT_TRUE(reg_.Silent().empty());
}

TEST_F(WorkerRegistryTest, AnAttemptIsOverdueAtItsDeadline) {
  auto a = reg_.Join("a", Hello("w1", 2), {});
  reg_.Assign(a.no, {1, 0}, 0, {}, clock_.NowMs() + 500);
  reg_.Assign(a.no, {1, 1}, 0, {}, 0);  // no deadline
  EXPECT_TRUE(reg_.Overdue().empty());
  clock_.Advance(500);
  auto overdue = reg_.Overdue();
  ASSERT_EQ(overdue.size(), 1u);
  EXPECT_EQ(overdue[0].id, (SubtaskId{1, 0}));
}

TEST_F(WorkerRegistryTest, ReassigningASubtaskMovesItsCost) {
  auto a = reg_.Join("a", Hello("w1", 2), {});
  auto b = reg_.Join("b", Hello("w2", 2), {});
  reg_.Assign(a.no, {1, 0}, 0, {}, 0);
  reg_.Assign(b.no, {1, 0}, 1, {}, 0);
  EXPECT_EQ(reg_.Get(a.no)->free_slots, 2u);
  EXPECT_EQ(reg_.Get(b.no)->free_slots, 1u);
  EXPECT_EQ(reg_.InflightOf(1), 1u);
}

TEST_F(WorkerRegistryTest, TheWorkersDocumentShowsCommandSlots) {
  reg_.Join("a", Hello("w1", 8, 1), {});
  auto j = reg_.ToJson();
  ASSERT_EQ(j["workers"].size(), 1u);
  EXPECT_EQ(j["workers"][0]["slots"], 8);
  EXPECT_EQ(j["workers"][0]["command_slots"], 1);
}

TEST_F(WorkerRegistryTest, AWorkerReportingStartsGetsOneSlotsWorthOfPrefetchBeforeAnyResult) {
  wire::Hello h = Hello("w1", 4);
  h.reports_started = true;
  auto j = reg_.Join("a", h, {});
  EXPECT_EQ(reg_.Get(j.no)->prefetch, 4u);
  EXPECT_EQ(reg_.Get(j.no)->free_slots, 8u);
  auto old = reg_.Join("b", Hello("w2", 4), {});
  EXPECT_EQ(reg_.Get(old.no)->free_slots, 4u);
}

TEST_F(WorkerRegistryTest, SlotsInUseNeverCountWorkQueuedBeyondTheSlots) {
  wire::Hello h = Hello("w1", 2);
  h.reports_started = true;  // credit 4: 2 slots + 2 of prefetch
  auto j = reg_.Join("a", h, {});
  for (uint32_t i = 0; i < 3; ++i) reg_.Assign(j.no, SubtaskId{1, i}, 0, {}, 0);
  WorkerRegistry::SlotUse slots = reg_.Slots();
  EXPECT_EQ(slots.used, 2u);
  EXPECT_EQ(slots.free, 0u);
  EXPECT_EQ(reg_.Get(j.no)->free_slots, 1u);  // credit left for prefetch
}

TEST_F(WorkerRegistryTest, PrefetchIsDeepForShortTasksAndNoneForLongOnes) {
  wire::Hello h = Hello("w1", 4);
  h.reports_started = true;
  auto fast = reg_.Join("a", h, {});
  for (int i = 0; i < 50; ++i) reg_.ObserveDuration(*reg_.Get(fast.no), 0);
  EXPECT_EQ(reg_.Get(fast.no)->prefetch, 1024u);
  h.worker_id = "w2";
  auto slow = reg_.Join("b", h, {});
  reg_.ObserveDuration(*reg_.Get(slow.no), 1000);
  EXPECT_EQ(reg_.Get(slow.no)->prefetch, 0u);
  EXPECT_EQ(reg_.Get(slow.no)->free_slots, 4u);
}

TEST_F(WorkerRegistryTest, RemovingAWorkerSeparatesTheAttemptsItNeverReportedStarted) {
  wire::Hello h = Hello("w1", 2);
  h.reports_started = true;
  auto j = reg_.Join("a", h, {});
  reg_.Assign(j.no, SubtaskId{1, 0}, 0, {}, 0);
  reg_.Assign(j.no, SubtaskId{1, 1}, 0, {}, 0);
  EXPECT_FALSE(reg_.MarkStarted(SubtaskId{1, 0}, 1, j.no));  // another attempt
  EXPECT_TRUE(reg_.MarkStarted(SubtaskId{1, 0}, 0, j.no));
  std::vector<AttemptRef> unstarted;
  auto lost = reg_.Remove(j.no, &unstarted);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].id.index, 0u);
  ASSERT_EQ(unstarted.size(), 1u);
  EXPECT_EQ(unstarted[0].id.index, 1u);
}

TEST_F(WorkerRegistryTest, AttemptsOfAWorkerThatDoesNotReportStartsCountAsStarted) {
  auto j = reg_.Join("a", Hello("w1", 2), {});
  reg_.Assign(j.no, SubtaskId{1, 0}, 0, {}, 0);
  std::vector<AttemptRef> unstarted;
  EXPECT_EQ(reg_.Remove(j.no, &unstarted).size(), 1u);
  EXPECT_TRUE(unstarted.empty());
}

}  // namespace
}  // namespace fanout
