// Chaos 2: every second a random worker (of 4) is killed with SIGKILL (its whole process
// group, as a host loss would) and started again. Proves: a lost worker costs only the
// subtasks it had in flight; they are retried as system errors (budget 15 here) and every
// index is committed exactly once with the reference output.
#include <gtest/gtest.h>

#include <random>

#include "tests/chaos/chaos_util.h"

namespace fanout::testing::chaos {
namespace {

using std::chrono::milliseconds;

void WorkerKill(bool long_form) {
  const int n = long_form ? 20000 : 1000;
  const int max_kills = long_form ? 100000 : 4;
  const int sleep_ms = long_form ? 5 : 20;
  Report report("worker-kill", long_form, n);
  ClusterOptions o;
  o.workers = 4;
  o.slots = 4;
  o.coordinator_args = {"--system-retries", "15"};
  Cluster cluster(o);
  ASSERT_FALSE(::testing::Test::HasFailure()) << "the cluster did not start";
  std::string markers = cluster.dir().Path("markers");
  std::string exec = Submit(cluster, markers, n, sleep_ms, 1000);
  ASSERT_FALSE(exec.empty());

  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  report.extra["seed"] = seed;
  std::uniform_int_distribution<size_t> pick(0, cluster.worker_count() - 1);
  while (report.kills < max_kills) {
    bool ended = WaitFor(
        [&] {
          std::string p = PhaseInRedis(cluster.redis(), exec);
          return !p.empty() && p != "RUNNING";
        },
        milliseconds(1000), milliseconds(50));
    if (ended) break;
    size_t i = pick(rng);
    cluster.worker(i).KillGroup(SIGKILL);
    cluster.RestartWorker(i);  // reaps the killed one, starts a new one on the same scratch
    ++report.kills;
  }
  ExpectSucceededOnce(cluster, exec, markers, n, report);
  EXPECT_GE(report.kills, long_form ? 10 : 2) << "the map ended before the planned kills";
  EXPECT_FALSE(::testing::Test::HasFailure()) << "seed " << seed;
}

FANOUT_CHAOS_SCENARIO(TEST, ChaosWorkerKill, WorkerKill)

}  // namespace
}  // namespace fanout::testing::chaos
