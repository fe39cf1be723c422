// Recovery (coordinator/recovery.h): restart claims and their grace, on a FakeClock.
#include "coordinator/recovery.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

class RecoveryTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  Recovery rec_{clock_, 3000};
};

TEST_F(RecoveryTest, AClaimHeldBeforeTheRestoreGoesToItsWorker) {
  rec_.HoldClaim("e", "n", 4, 2, /*worker=*/7);
  auto w = rec_.Restored({1, 4}, "e", "n", 2);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(*w, 7u);
  EXPECT_EQ(rec_.waiting(), 0u);
  EXPECT_EQ(rec_.held_claims(), 0u);
}

TEST_F(RecoveryTest, AHeldClaimOfAnotherAttemptIsNotAClaim) {
  rec_.HoldClaim("e", "n", 4, 1, 7);
  EXPECT_FALSE(rec_.Restored({1, 4}, "e", "n", 2).has_value());
  EXPECT_EQ(rec_.waiting(), 1u);
}

TEST_F(RecoveryTest, AnUnclaimedAttemptExpiresAfterTheGrace) {
  EXPECT_FALSE(rec_.Restored({1, 0}, "e", "n", 3).has_value());
  clock_.Advance(2999);
  EXPECT_TRUE(rec_.Expire().empty());
  clock_.Advance(1);
  auto expired = rec_.Expire();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, (SubtaskId{1, 0}));
  EXPECT_EQ(expired[0].attempt, 3u);
  EXPECT_EQ(rec_.waiting(), 0u);
}

TEST_F(RecoveryTest, AClaimAfterTheRestoreStopsTheClock) {
  rec_.Restored({1, 0}, "e", "n", 3);
  EXPECT_FALSE(rec_.Claim({1, 0}, 2));  // wrong attempt
  EXPECT_TRUE(rec_.Claim({1, 0}, 3));
  clock_.Advance(10000);
  EXPECT_TRUE(rec_.Expire().empty());
}

TEST_F(RecoveryTest, GraceRunsFromWhenAnEarlierCoordinatorFirstSawIt) {
  rec_.Restored({1, 0}, "e", "n", 0);
  rec_.Restored({1, 1}, "e", "n", 0);
  // Index 0 was first seen unclaimed 2.5 s ago by a coordinator that died since; index 1 is new.
  auto fresh = rec_.CarryGrace(1, {{0, clock_.WallMs() - 2500}});
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].first, 1u);
  EXPECT_EQ(fresh[0].second, clock_.WallMs());
  clock_.Advance(500);
  auto expired = rec_.Expire();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id.index, 0u);
}

TEST_F(RecoveryTest, HeldClaimsAreDroppedAfterTheGrace) {
  rec_.HoldClaim("e", "n", 1, 0, 7);
  clock_.Advance(3001);
  rec_.Expire();
  EXPECT_EQ(rec_.held_claims(), 0u);
  EXPECT_FALSE(rec_.Restored({1, 1}, "e", "n", 0).has_value());
}

TEST_F(RecoveryTest, ForgetRemovesAWaitingAttempt) {
  rec_.Restored({1, 0}, "e", "n", 0);
  EXPECT_TRUE(rec_.Forget({1, 0}));
  EXPECT_FALSE(rec_.Forget({1, 0}));
  clock_.Advance(10000);
  EXPECT_TRUE(rec_.Expire().empty());
}

}  // namespace
}  // namespace fanout
