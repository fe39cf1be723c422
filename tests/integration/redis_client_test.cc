// The RedisClient (coordinator/redis_client.h) against a real redis-server: a Redis restarted from
// a large AOF accepts connections and answers -LOADING until it has read it; the client must
// not report itself connected (and let commands fail) before Redis can serve them.
#include "coordinator/redis_client.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <optional>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace fanout {
namespace {

using testing::RedisServer;

// Appends `n` SETs (k1..kN = value) to the incremental AOF file of a stopped Redis 7, so that
// its next start has a long load to do. Written straight to the file: no command races a
// reply timeout while the machine is busy.
void AppendSetsToAof(const std::string& dir, int n, const std::string& value) {
  std::string manifest = testing::ReadFile(dir + "/appendonlydir/appendonly.aof.manifest");
  std::string incr;
  std::istringstream lines(manifest);
  for (std::string line; std::getline(lines, line);) {
    // "file appendonly.aof.1.incr.aof seq 1 type i"
    if (line.find(" type i") == std::string::npos) continue;
    std::istringstream words(line);
    std::string file;
    words >> file >> incr;
  }
  ASSERT_FALSE(incr.empty()) << "no incremental AOF in the manifest:\n" << manifest;
  std::ofstream out(dir + "/appendonlydir/" + incr, std::ios::app | std::ios::binary);
  std::string v = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  for (int i = 1; i <= n; ++i) {
    std::string key = "k" + std::to_string(i);
    out << "*3\r\n$3\r\nSET\r\n$" << key.size() << "\r\n" << key << "\r\n" << v;
  }
  ASSERT_TRUE(out.good());
}

TEST(RedisClientTest, ConnectedOnlyOnceARestartedRedisHasLoadedItsData) {
  RedisServer redis;
  // About a million SETs in the AOF: loading them takes a noticeable moment.
  std::string value(48, 'v');
  redis.Stop();
  AppendSetsToAof(redis.Dir(), 1000000, value);
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
