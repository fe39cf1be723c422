// Chaos 3: Redis is killed with SIGKILL once mid-map and started again on the same port and
// data dir (AOF, appendfsync everysec). Proves: the coordinator reconnects, holds dispatch
// while Redis is away, has the workers re-send the results it could not commit, and ends with
// every index committed exactly once (what Redis lost, at most ~1 s, runs again) and no index
// holding two different results.
#include <gtest/gtest.h>

#include "tests/chaos/chaos_util.h"

namespace fanout::testing::chaos {
namespace {

using std::chrono::milliseconds;

void RedisKill(bool long_form) {
  const int n = long_form ? 20000 : 2000;
  // The long form kills Redis at 1/4, 1/2 and 3/4 of the map.
  const std::vector<int> kill_at_commits =
      long_form ? std::vector<int>{n / 4, n / 2, 3 * n / 4} : std::vector<int>{n / 3};
  Report report("redis-kill", long_form, n);
  ClusterOptions o;
  o.workers = 4;
  o.slots = 4;
  Cluster cluster(o);
  ASSERT_FALSE(::testing::Test::HasFailure()) << "the cluster did not start";
  std::string markers = cluster.dir().Path("markers");
  std::string exec = Submit(cluster, markers, n, 5, 1000);
  ASSERT_FALSE(exec.empty());

  nlohmann::json lost = nlohmann::json::array();  // commits before the kill minus after restart
  for (int target : kill_at_commits) {
    ASSERT_TRUE(WaitFor([&] { return CommittedInRedis(cluster.redis(), exec) >= target; },
                        milliseconds(180000), milliseconds(20)))
        << "the map never reached " << target << " commits";
    long before = CommittedInRedis(cluster.redis(), exec);
    ASSERT_LT(before, n) << "the map finished before the kill";
    cluster.redis().Kill();
    ++report.kills;
    cluster.redis().Restart();
    ASSERT_TRUE(cluster.redis().Running()) << "redis did not restart";
    DisableAofRewrite(cluster.redis());
    lost.push_back(std::max(0L, before - CommittedInRedis(cluster.redis(), exec)));
  }
  report.extra["lost_commits"] = lost;
  ExpectSucceededOnce(cluster, exec, markers, n, report);
}

FANOUT_CHAOS_SCENARIO(TEST, ChaosRedisKill, RedisKill)

}  // namespace
}  // namespace fanout::testing::chaos
