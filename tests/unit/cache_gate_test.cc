// CacheGate (coordinator/cache_gate.h) on a FakeStore and a FakeClock.
#include "coordinator/cache_gate.h"

#include <gtest/gtest.h>

#include "coordinator/fake_store.h"

namespace fanout {
namespace {

class CacheGateTest : public ::testing::Test {
 protected:
  bool Reserve(CacheGate& gate, const std::string& key, SubtaskId id) {
    std::optional<bool> mine;
    gate.Reserve(key, id, [&](bool m) { mine = m; });
    store_.RunPending();
    EXPECT_TRUE(mine.has_value());
    return mine.value_or(false);
  }
  CacheGate::Handlers Handlers() {
    CacheGate::Handlers h;
    h.live = [this](SubtaskId id) { return !ended_.contains(id.packed()); };
    h.on_hit = [this](const std::vector<SubtaskId>& ids, const std::string& out) {
      for (SubtaskId id : ids) hits_.emplace_back(id, out);
    };
    h.on_take_over = [this](SubtaskId id) { taken_over_.push_back(id); };
    return h;
  }

  FakeClock clock_;
  FakeStore store_{clock_};
  CacheGate gate_{store_, clock_, 3000};
  std::set<uint64_t> ended_;
  std::vector<std::pair<SubtaskId, std::string>> hits_;
  std::vector<SubtaskId> taken_over_;
};

TEST_F(CacheGateTest, TheFirstReservationIsMineTheSecondIsNot) {
  EXPECT_TRUE(Reserve(gate_, "k", {1, 0}));
  EXPECT_FALSE(Reserve(gate_, "k", {1, 1}));
  EXPECT_EQ(gate_.held(), 1u);
}

TEST_F(CacheGateTest, AWaiterTakesTheResultOnceItIsCached) {
  ASSERT_TRUE(Reserve(gate_, "k", {1, 0}));
  ASSERT_FALSE(Reserve(gate_, "k", {1, 1}));
  gate_.Wait("k", {1, 1});
  gate_.Tick(Handlers());
  store_.RunPending();
  EXPECT_TRUE(hits_.empty());
  store_.CachePut("k", "OUT", 0);
  gate_.Tick(Handlers());
  store_.RunPending();
  ASSERT_EQ(hits_.size(), 1u);
  EXPECT_EQ(hits_[0].first, (SubtaskId{1, 1}));
  EXPECT_EQ(hits_[0].second, "OUT");
  EXPECT_EQ(gate_.waiting(), 0u);
}

TEST_F(CacheGateTest, AWaiterTakesOverWhenTheOwnerReleases) {
  ASSERT_TRUE(Reserve(gate_, "k", {1, 0}));
  ASSERT_FALSE(Reserve(gate_, "k", {1, 1}));
  gate_.Wait("k", {1, 1});
  gate_.Release({1, 0});  // its subtask failed
  gate_.Tick(Handlers());
  store_.RunPending();
  ASSERT_EQ(taken_over_.size(), 1u);
  EXPECT_EQ(taken_over_[0], (SubtaskId{1, 1}));
}

TEST_F(CacheGateTest, AnotherCoordinatorsReservationRunsOutWithoutRenewal) {
  FakeStore other_store(clock_, std::shared_ptr<FakeStoreState>(&store_.state(), [](FakeStoreState*) {}));
  CacheGate other(other_store, clock_, 3000);
  std::optional<bool> theirs;
  other.Reserve("k", {9, 0}, [&](bool m) { theirs = m; });
  other_store.RunPending();
  ASSERT_TRUE(theirs.value_or(false));
  // The other coordinator dies: nobody renews. Ours waits, then takes over after the TTL.
  ASSERT_FALSE(Reserve(gate_, "k", {1, 0}));
  gate_.Wait("k", {1, 0});
  clock_.Advance(2000);
  gate_.Tick(Handlers());
  store_.RunPending();
  EXPECT_TRUE(taken_over_.empty());
  clock_.Advance(1001);
  gate_.Tick(Handlers());
  store_.RunPending();
  ASSERT_EQ(taken_over_.size(), 1u);
}

TEST_F(CacheGateTest, HeldReservationsAreRenewedWhileTheirSubtaskLives) {
  ASSERT_TRUE(Reserve(gate_, "k", {1, 0}));
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(1000);
    gate_.Tick(Handlers());
    store_.RunPending();
  }
  // 10 s later, still ours: a second subtask cannot take it.
  EXPECT_FALSE(Reserve(gate_, "k", {1, 1}));
}

TEST_F(CacheGateTest, AReservationOfAnEndedSubtaskIsReleasedOnTick) {
  ASSERT_TRUE(Reserve(gate_, "k", {1, 0}));
  ended_.insert(SubtaskId{1, 0}.packed());
  gate_.Tick(Handlers());
  store_.RunPending();
  EXPECT_EQ(gate_.held(), 0u);
  EXPECT_TRUE(Reserve(gate_, "k", {1, 1}));
}

}  // namespace
}  // namespace fanout
