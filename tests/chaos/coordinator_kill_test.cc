// Chaos 1: the coordinator is killed with SIGKILL every 2 s during a map of a 5 ms command task
// on 4 workers, and started again each time on the same port and Redis. Proves: a restarted
// coordinator resumes from Redis, work in flight is either claimed by its worker or re-run, and
// every index is committed exactly once with the reference output.
#include <gtest/gtest.h>

#include "tests/chaos/chaos_util.h"

namespace fanout::testing::chaos {
namespace {

using std::chrono::milliseconds;

void CoordinatorKill(bool long_form) {
  const int n = long_form ? 20000 : 3000;
  const int max_kills = long_form ? 1000 : 3;
  Report report("coordinator-kill", long_form, n);
  ClusterOptions o;
  o.workers = 4;
  o.slots = 4;
  o.coordinator_args = {"--system-retries", "15"};
  Cluster cluster(o);
  ASSERT_FALSE(::testing::Test::HasFailure()) << "the cluster did not start";
  std::string markers = cluster.dir().Path("markers");
  std::string exec = Submit(cluster, markers, n, 5, 1000);
  ASSERT_FALSE(exec.empty());

  nlohmann::json kill_at = nlohmann::json::array();  // commits in Redis at each kill
  // Progress is commits: with none since the last kill the kills stop.
  ASSERT_TRUE(KillCoordinatorRepeatedly(
      cluster, exec, max_kills, report, [&] { return CommittedInRedis(cluster.redis(), exec); },
      [&](long) { kill_at.push_back(CommittedInRedis(cluster.redis(), exec)); }));
  report.extra["committed_at_kills"] = kill_at;
  ExpectSucceededOnce(cluster, exec, markers, n, report);
  EXPECT_GE(report.kills, long_form ? 5 : 2) << "the map ended before the planned kills";
}

FANOUT_CHAOS_SCENARIO(TEST, ChaosCoordinatorKill, CoordinatorKill)

}  // namespace
}  // namespace fanout::testing::chaos
