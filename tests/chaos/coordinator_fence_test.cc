// Chaos 5: split brain. Coordinator A is frozen with SIGSTOP mid-map; a second coordinator B
// starts on the same Redis (another port), takes a newer epoch, resumes the execution and runs
// it with workers of its own. Then B is frozen too, and A, after 4.5 s frozen (past its
// workers' liveness), gets SIGCONT: it finds its workers silent, they reconnect and re-send
// held results, and A tries to write. Proves fencing: A exits with code 3 at its first write,
// Redis's AOF does not grow by a single byte between A's SIGCONT and its exit (A wrote nothing
// after B took over), and the execution completes through B with exactly one commit per index,
// equal to the reference.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "tests/chaos/chaos_util.h"

namespace fanout::testing::chaos {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

void CoordinatorFence(bool long_form) {
  const int n = long_form ? 20000 : 1000;
  const int sleep_ms = long_form ? 5 : 20;
  Report report("coordinator-fence", long_form, n);
  ClusterOptions o;
  o.workers = 2;
  o.slots = 4;
  o.coordinator_args = {"--system-retries", "15"};
  Cluster cluster(o);
  ASSERT_FALSE(::testing::Test::HasFailure()) << "the cluster did not start";
  ASSERT_TRUE(cluster.WaitForWorkers(2, milliseconds(30000)));
  std::string markers = cluster.dir().Path("markers");
  std::string exec = Submit(cluster, markers, n, sleep_ms, 1000);
  ASSERT_FALSE(exec.empty());
  ASSERT_TRUE(WaitFor([&] { return CommittedInRedis(cluster.redis(), exec) >= n / 4; },
                      milliseconds(120000)));

  // Freeze A.
  Process& a = *cluster.coordinator();
  a.Kill(SIGSTOP);
  const auto a_frozen_at = SteadyClock::now();
  ++report.kills;
  long committed_by_a = CommittedInRedis(cluster.redis(), exec);

  // B on another port, same Redis, with two workers of its own.
  std::string b_addr;
  std::unique_ptr<Process> b;
  for (int attempt = 0; attempt < 5 && !b; ++attempt) {
    b_addr = "tcp://127.0.0.1:" + std::to_string(FreePort());
    b = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/fanout-coordinator", "--redis",
                                 cluster.redis().Address(), "--bind", b_addr, "--system-retries", "15"},
        cluster.dir().path(), Env{}, cluster.dir().path(), "coordinator-b");
    bool up = WaitFor(
        [&] {
          if (!b->Running()) return true;
          Env env = cluster.CliEnv();  // FANOUT_COORDINATOR overrides --coordinator (CLI bug)
          for (auto& [k, v] : env)
            if (k == "FANOUT_COORDINATOR") v = b_addr;
          return Run({BinDir() + "/fanout", "health", "--coordinator", b_addr}, env, SourceDir(),
                     milliseconds(5000))
                     .exit_code == 0;
        },
        milliseconds(30000), milliseconds(100));
    if (!up || !b->Running()) {
      bool clash = b->Stderr().find("in use") != std::string::npos;
      ADD_FAILURE_AT(__FILE__, __LINE__) << "coordinator B did not start:\n" << TailFile(b->StderrPath(), 30);
      if (!clash) return;
      b.reset();
    }
  }
  ASSERT_TRUE(b && b->Running());
  std::vector<std::unique_ptr<Process>> b_workers;
  for (int i = 0; i < 2; ++i) {
    std::string scratch = cluster.dir().Path("b-worker-" + std::to_string(i));
    fs::create_directories(scratch);
    b_workers.push_back(std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/fanout-worker", "--coordinator", b_addr, "--slots", "4",
                                 "--scratch", scratch},
        cluster.dir().path(), Env{}, SourceDir(), "b-worker-" + std::to_string(i)));
  }
  // B makes progress of its own.
  ASSERT_TRUE(WaitFor(
      [&] { return CommittedInRedis(cluster.redis(), exec) >= committed_by_a + std::min(100, n / 20); },
      milliseconds(60000)))
      << "B committed nothing";

  // Freeze B, let Redis settle (B's last EVAL may still be in flight), then wake A: anything
  // Redis writes from now on comes from A.
  b->Kill(SIGSTOP);
  uintmax_t aof = AofBytes(cluster.redis().Dir());
  int same = 0;  // consecutive polls, 200 ms apart, that saw the same AOF size
  ASSERT_TRUE(WaitFor(
      [&] {
        uintmax_t now = AofBytes(cluster.redis().Dir());
        same = now == aof ? same + 1 : 0;
        aof = now;
        return same >= 3;
      },
      milliseconds(10000), milliseconds(200)));
  // The chaos interval: A stays frozen past its workers' liveness (3 x 1 s), so on waking it
  // finds every worker silent, and its workers have reconnected and re-send held results.
  std::this_thread::sleep_until(a_frozen_at + milliseconds(4500));
  ASSERT_EQ(AofBytes(cluster.redis().Dir()), aof) << "Redis was written while A and B were frozen";
  long committed_before_a_wakes = CommittedInRedis(cluster.redis(), exec);
  std::string epoch = cluster.redis().Command({"GET", "fo:epoch"});
  a.Kill(SIGCONT);
  std::optional<int> a_exit = a.Wait(milliseconds(30000));
  ASSERT_TRUE(a_exit.has_value()) << "A, fenced, did not exit within 30 s of SIGCONT";
  EXPECT_EQ(*a_exit, 3) << "A's exit code; stderr:\n" << TailFile(a.StderrPath(), 30);
  EXPECT_EQ(AofBytes(cluster.redis().Dir()), aof) << "Redis wrote something on behalf of fenced A";
  EXPECT_EQ(CommittedInRedis(cluster.redis(), exec), committed_before_a_wakes);
  EXPECT_EQ(cluster.redis().Command({"GET", "fo:epoch"}), epoch);
  report.extra["a_exit"] = *a_exit;

  // A's workers have nobody to talk to: stop them. B carries on.
  for (size_t i = 0; i < cluster.worker_count(); ++i) cluster.KillWorker(i, SIGKILL);
  b->Kill(SIGCONT);
  std::string phase = WaitTerminal(cluster.redis(), exec, TerminalDeadline(long_form));
  ASSERT_EQ(phase, "SUCCEEDED") << TailFile(b->StderrPath(), 30);
  CheckOutcome(cluster, exec, markers, n, report, b_addr);
  EXPECT_TRUE(b->Running()) << "B should still serve";
  for (const auto& w : b_workers) EXPECT_TRUE(w->Running()) << w->Name() << " died";
  if (::testing::Test::HasFailure()) {
    for (const auto& p : {b.get(), b_workers[0].get(), b_workers[1].get()})
      std::cerr << "===== " << p->StderrPath() << " =====\n" << TailFile(p->StderrPath(), 40);
  }
}

FANOUT_CHAOS_SCENARIO(TEST, ChaosCoordinatorFence, CoordinatorFence)

}  // namespace
}  // namespace fanout::testing::chaos
