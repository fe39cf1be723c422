// The commit and fencing rules of the store (DESIGN §6) against a real redis-server: the
// apply script checks the coordinator's epoch and the subtask's current attempt, and an index
// never holds two outputs.
#include "coordinator/store.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <thread>

#include "common/keys.h"
#include "coordinator/phases.h"
#include "tests/integration/harness.h"

namespace fanout {
namespace {

using testing::RedisServer;

uint16_t Rec(SubtaskPhase p, uint8_t attempt) {
  return keys::PackRecord({static_cast<uint8_t>(p), attempt, 0, false});
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    redis_ = std::make_unique<RedisClient>(&loop_, "127.0.0.1", server_.Port());
    bool up = false;
    redis_->Start([&](bool c) { up = c; });
    Spin([&] { return up; });
    ASSERT_TRUE(up);
    store_ = std::make_unique<Store>(*redis_);
    store_->TakeEpoch([&](Result<int64_t>) {});
    Spin([&] { return store_->epoch() != 0; });
  }
  void TearDown() override {
    store_.reset();
    redis_.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
  }

  // Runs the loop until `done` or ten seconds pass. Bounded by time, not by iterations: a
  // fast machine spins through any iteration count before Redis has answered.
  template <typename F>
  void Spin(F done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (uv_run(&loop_, UV_RUN_NOWAIT) == 0) break;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  Result<std::vector<int>> Apply(Store& store, std::vector<Store::Op> ops) {
    // Shared, so that a reply arriving after a failed assertion writes nowhere dangerous.
    auto out = std::make_shared<std::optional<Result<std::vector<int>>>>();
    store.Apply("e1", "n", ops, [out](Result<std::vector<int>> r) { *out = std::move(r); });
    Spin([&] { return out->has_value(); });
    if (!out->has_value()) return Err(Internal("no reply within 10 s"));
    return **out;
  }

  Store::Op Dispatch(uint32_t i, uint8_t attempt) {
    return {Store::Op::kRecord, i, attempt, Rec(SubtaskPhase::kRunning, attempt), ""};
  }
  Store::Op Output(uint32_t i, uint8_t attempt, std::string out) {
    return {Store::Op::kOutput, i, attempt, Rec(SubtaskPhase::kSucceeded, attempt), std::move(out)};
  }

  RedisServer server_;
  uv_loop_t loop_;
  std::unique_ptr<RedisClient> redis_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, OutputOfTheCurrentAttemptIsCommittedWithItsRecord) {
  auto r = Apply(*store_, {Dispatch(3, 0), Output(3, 0, "A")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (std::vector<int>{1, 1}));
  EXPECT_EQ(server_.Command({"HGET", keys::Outputs("e1", "n"), "3"}), "A");
  EXPECT_EQ(server_.Command({"BITFIELD", keys::Phases("e1", "n"), "GET", "u16", "#3"}),
            std::to_string(Rec(SubtaskPhase::kSucceeded, 0)));
}

TEST_F(StoreTest, DuplicateResultIsRefusedAndTheFirstOutputStays) {
  ASSERT_TRUE(Apply(*store_, {Dispatch(1, 0), Output(1, 0, "first")}));
  auto r = Apply(*store_, {Output(1, 0, "second")});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<int>{0}));
  EXPECT_EQ(server_.Command({"HGET", keys::Outputs("e1", "n"), "1"}), "first");
}

TEST_F(StoreTest, ResultOfAStaleAttemptIsRefused) {
  ASSERT_TRUE(Apply(*store_, {Dispatch(2, 0), Dispatch(2, 1)}));  // attempt 0 superseded
  auto r = Apply(*store_, {Output(2, 0, "late")});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<int>{0}));
  EXPECT_EQ(server_.Command({"HEXISTS", keys::Outputs("e1", "n"), "2"}), "0");
  EXPECT_EQ(*Apply(*store_, {Output(2, 1, "current")}), (std::vector<int>{1}));
}

TEST_F(StoreTest, ResultForATerminalSubtaskIsRefusedAndItsRecordKept) {
  Store::Op fail{Store::Op::kError, 5, 0, Rec(SubtaskPhase::kFailed, 0), "exit code 1"};
  ASSERT_TRUE(Apply(*store_, {Dispatch(5, 0), fail}));
  EXPECT_EQ(*Apply(*store_, {Output(5, 0, "x")}), (std::vector<int>{0}));
  // A dispatch record does not overwrite a terminal one either.
  EXPECT_EQ(*Apply(*store_, {Dispatch(5, 1)}), (std::vector<int>{0}));
  EXPECT_EQ(server_.Command({"BITFIELD", keys::Phases("e1", "n"), "GET", "u16", "#5"}),
            std::to_string(Rec(SubtaskPhase::kFailed, 0)));
  EXPECT_EQ(server_.Command({"HGET", keys::Errors("e1", "n"), "5"}), "exit code 1");
}

TEST_F(StoreTest, CoordinatorWithAStaleEpochCannotWrite) {
  // A second coordinator takes a newer epoch; the first is fenced off.
  RedisClient other_redis(&loop_, "127.0.0.1", server_.Port());
  bool up = false;
  other_redis.Start([&](bool c) { up = c; });
  Spin([&] { return up; });
  Store newer(other_redis);
  newer.TakeEpoch([](Result<int64_t>) {});
  Spin([&] { return newer.epoch() != 0; });
  ASSERT_GT(newer.epoch(), store_->epoch());

  auto r = Apply(*store_, {Dispatch(7, 0), Output(7, 0, "stale")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(server_.Command({"HEXISTS", keys::Outputs("e1", "n"), "7"}), "0");
  EXPECT_EQ(*Apply(newer, {Dispatch(7, 0), Output(7, 0, "fresh")}), (std::vector<int>{1, 1}));
}

}  // namespace
}  // namespace fanout
