// The hold-until-ACK store of finished results (worker/result_store.h).
#include <gtest/gtest.h>

#include "worker/result_store.h"
#include "worker/subtask_key.h"

namespace fanout::worker {
namespace {

wire::SubtaskKey Key(uint32_t index, uint32_t attempt = 0) {
  return wire::SubtaskKey{"e1", "n1", index, attempt};
}

wire::ResultItem Result(wire::SubtaskKey key, std::string error = "") {
  wire::ResultItem r;
  r.key = std::move(key);
  r.error = std::move(error);
  return r;
}

std::vector<uint32_t> Indexes(const std::vector<wire::ResultItem>& batch) {
  std::vector<uint32_t> out;
  for (const auto& r : batch) out.push_back(r.key.index);
  return out;
}

TEST(KeyLogTest, FormatsTheKeyAsTheLogPrefix) {
  wire::SubtaskKey key{"e1", "map", 7, 2};
  EXPECT_EQ(fmt::format("{} started", KeyLog(key)), "exec=e1 node=map index=7 attempt=2 started");
}

TEST(ResultStoreTest, SendsEachNewResultOnceAndHoldsItUntilItsAck) {
  ResultStore store;
  store.Add(Result(Key(0)));
  store.Add(Result(Key(1)));
  EXPECT_EQ(Indexes(store.TakeBatch(100)), (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(store.TakeBatch(100).empty());
  EXPECT_EQ(store.held(), 2u);
  EXPECT_TRUE(store.Ack(Key(0)));
  EXPECT_EQ(store.held(), 1u);
  EXPECT_FALSE(store.is_held(Key(0)));
  EXPECT_TRUE(store.is_held(Key(1)));
}

TEST(ResultStoreTest, AnAckOfAnotherAttemptReleasesNothing) {
  ResultStore store;
  store.Add(Result(Key(5, /*attempt=*/1)));
  EXPECT_FALSE(store.Ack(Key(5, /*attempt=*/0)));
  EXPECT_FALSE(store.Ack(wire::SubtaskKey{"e1", "other", 5, 1}));
  EXPECT_FALSE(store.Ack(wire::SubtaskKey{"e2", "n1", 5, 1}));
  EXPECT_EQ(store.held(), 1u);
  EXPECT_TRUE(store.Ack(Key(5, 1)));
  EXPECT_EQ(store.held(), 0u);
}

TEST(ResultStoreTest, ResendAllQueuesEveryUnackedResultInFinishOrder) {
  ResultStore store;
  store.Add(Result(Key(2)));
  store.Add(Result(Key(0)));
  store.Add(Result(Key(1)));
  store.TakeBatch(100);
  store.Ack(Key(0));
  store.ResendAll();  // e.g. after a reconnect's WELCOME
  EXPECT_EQ(Indexes(store.TakeBatch(100)), (std::vector<uint32_t>{2, 1}));
  // Until acked they keep coming back after every reconnect.
  store.ResendAll();
  EXPECT_EQ(Indexes(store.TakeBatch(100)), (std::vector<uint32_t>{2, 1}));
}

TEST(ResultStoreTest, ResendAllDoesNotDuplicateUnsentResults) {
  ResultStore store;
  store.Add(Result(Key(0)));
  store.ResendAll();
  EXPECT_EQ(Indexes(store.TakeBatch(100)), (std::vector<uint32_t>{0}));
}

TEST(ResultStoreTest, SkipsResultsAckedBeforeTheyWereSent) {
  ResultStore store;
  store.Add(Result(Key(0)));
  store.Add(Result(Key(1)));
  store.Ack(Key(0));
  EXPECT_EQ(Indexes(store.TakeBatch(100)), (std::vector<uint32_t>{1}));
}

TEST(ResultStoreTest, SplitsBatchesAtTheLimit) {
  ResultStore store;
  for (uint32_t i = 0; i < 5; ++i) store.Add(Result(Key(i)));
  EXPECT_EQ(store.TakeBatch(2).size(), 2u);
  EXPECT_TRUE(store.has_unsent());
  EXPECT_EQ(store.TakeBatch(2).size(), 2u);
  EXPECT_EQ(store.TakeBatch(2).size(), 1u);
  EXPECT_FALSE(store.has_unsent());
}

TEST(ResultStoreTest, SplitsBatchesAtAByteBudgetButAlwaysTakesOne) {
  ResultStore store;
  for (uint32_t i = 0; i < 4; ++i) {
    wire::ResultItem r = Result(Key(i));
    r.has_checkpoint = true;
    r.checkpoint.assign(i == 0 ? 5000 : 1000, 'c');  // checkpoints count towards the budget
    store.Add(std::move(r));
  }
  // The first alone is over the budget: taken anyway, on its own.
  EXPECT_EQ(Indexes(store.TakeBatch(100, 2500)), (std::vector<uint32_t>{0}));
  EXPECT_EQ(Indexes(store.TakeBatch(100, 2500)), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(Indexes(store.TakeBatch(100, 2500)), (std::vector<uint32_t>{3}));
  EXPECT_FALSE(store.has_unsent());
}

TEST(ResultStoreTest, ResendOfOneKeyQueuesOnlyAHeldResult) {
  ResultStore store;
  store.Add(Result(Key(0)));
  store.TakeBatch(100);
  EXPECT_TRUE(store.Resend(Key(0)));
  EXPECT_FALSE(store.Resend(Key(9)));
  EXPECT_EQ(Indexes(store.TakeBatch(100)), (std::vector<uint32_t>{0}));
}

TEST(ResultStoreTest, ANewResultForAHeldKeyReplacesIt) {
  ResultStore store;
  store.Add(Result(Key(0), "first"));
  store.TakeBatch(100);
  store.Add(Result(Key(0), "second"));
  auto batch = store.TakeBatch(100);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].error, "second");
  EXPECT_EQ(store.held(), 1u);
}

}  // namespace
}  // namespace fanout::worker
