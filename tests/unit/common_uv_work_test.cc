// UvWorkQueue (common/uv_work.h) on a real libuv loop.
#include "common/uv_work.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <thread>

namespace fanout {
namespace {

class UvWorkQueueTest : public ::testing::Test {
 protected:
  UvWorkQueueTest() { uv_loop_init(&loop_); }
  ~UvWorkQueueTest() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  uv_loop_t loop_;
};

TEST_F(UvWorkQueueTest, WorkRunsOnAnotherThreadAndDoneOnTheLoopThread) {
  UvWorkQueue queue(&loop_);
  std::thread::id loop_thread = std::this_thread::get_id();
  std::thread::id work_thread, done_thread;
  int result = 0;  // written by the work; read here only once `done` ran (libuv orders them)
  bool done = false;
  queue.Run([&] { work_thread = std::this_thread::get_id(), result = 42; },
            [&] { done_thread = std::this_thread::get_id(), done = true; });
  EXPECT_FALSE(done);  // `done` waits for the loop; the work may already run meanwhile
  uv_run(&loop_, UV_RUN_DEFAULT);
  ASSERT_TRUE(done);
  EXPECT_EQ(result, 42);
  EXPECT_NE(work_thread, loop_thread);
  EXPECT_EQ(done_thread, loop_thread);
}

TEST_F(UvWorkQueueTest, ADoneThatComesAfterTheQueueIsGoneIsDropped) {
  std::atomic<bool> worked{false};
  bool done = false;
  {
    UvWorkQueue queue(&loop_);
    queue.Run([&] { worked = true; }, [&] { done = true; });
  }
  uv_run(&loop_, UV_RUN_DEFAULT);  // the work still runs to its end
  EXPECT_TRUE(worked);
  EXPECT_FALSE(done);
}

}  // namespace
}  // namespace fanout
