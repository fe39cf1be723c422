// The RedisClient (common/redis_client.h) against a real redis-server: a Redis restarted from
// a large AOF accepts connections and answers -LOADING until it has read it; the client must
// not report itself connected (and let commands fail) before Redis can serve them.
#include "common/redis_client.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace fanout {
namespace {

using testing::RedisServer;

TEST(RedisClientTest, ConnectedOnlyOnceARestartedRedisHasLoadedItsData) {
  RedisServer redis;
  // About a million SETs in the AOF: loading them takes a noticeable moment. In chunks, so
  // that no single call nears the harness's 5 s reply timeout on a busy machine.
  std::string value(48, 'v');
  for (int chunk = 0; chunk < 10; ++chunk) {
    ASSERT_EQ(redis.Command({"EVAL",
                             "for i = tonumber(ARGV[1]), tonumber(ARGV[1]) + 99999 do "
                             "redis.call('SET', 'k' .. i, ARGV[2]) end return 1",
                             "0", std::to_string(chunk * 100000 + 1), value}),
              "1");
  }
  redis.RestartNoWait();
  // Start the client inside the loading window, or the test would prove nothing.
  ASSERT_TRUE(testing::WaitFor([&] { return redis.Command({"PING"}).starts_with("(error) LOADING"); },
                               std::chrono::milliseconds(20000), std::chrono::milliseconds(1)))
      << "redis was never seen loading: " << redis.Command({"PING"});

  uv_loop_t loop;
  uv_loop_init(&loop);
  std::optional<std::string> first;  // the reply to the first command sent once connected
  int ups = 0;
  {
    RedisClient client(&loop, "127.0.0.1", redis.Port());
    client.Start([&](bool up) {
      if (!up || ups++ > 0) return;
      client.Command({"GET", "k1000000"}, [&](Result<RedisReply> r) {
        first = r ? r->str : "error: " + r.error().message();
      });
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!first && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
  ASSERT_TRUE(first.has_value()) << "never connected";
  EXPECT_EQ(*first, value);
  EXPECT_EQ(ups, 1);
}

}  // namespace
}  // namespace fanout
