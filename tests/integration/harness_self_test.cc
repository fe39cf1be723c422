// Tests of the integration harness itself (tests/integration/harness.h). They need only
// redis-server; the cluster test runs once the daemons are built.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// True when `pid` no longer exists as a live process (gone, or a zombie nobody reaped yet:
// PID 1 of a container may never reap orphans).
bool Dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() &&
         (line[close_paren + 2] == 'Z' || line[close_paren + 2] == 'X');
}

TEST(HarnessTest, BinAndSourceDirsPointAtTheBuildAndTheTree) {
  EXPECT_TRUE(fs::exists(SourceDir() + "/examples/map_tasks.yaml")) << SourceDir();
  EXPECT_TRUE(fs::is_directory(BinDir())) << BinDir();
}

TEST(HarnessTest, FreePortIsBindable) {
  int port = FreePort();
  ASSERT_GT(port, 0);
  ASSERT_LT(port, 65536);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  close(fd);
}

TEST(HarnessTest, WaitForReturnsTrueOnceTheConditionHolds) {
  int calls = 0;
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitFor([&] { return ++calls >= 3; }, 5s, 1ms));
  EXPECT_EQ(calls, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(HarnessTest, WaitForGivesUpAtTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(WaitFor([] { return false; }, 100ms, 10ms));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(TempDirTest, CreatesAFreshDirectory) {
  TempDir a, b;
  EXPECT_TRUE(fs::is_directory(a.path()));
  EXPECT_NE(a.path(), b.path());
  std::string file = a.WriteFile("sub/x.txt", "hello");
  EXPECT_EQ(file, a.Path("sub/x.txt"));
  EXPECT_EQ(ReadFile(file), "hello");
}

TEST(TempDirTest, IsRemovedRecursivelyOnDestruction) {
  ASSERT_EQ(std::getenv("FANOUT_KEEP_TEST_DIRS"), nullptr) << "unset FANOUT_KEEP_TEST_DIRS";
  std::string path;
  {
    TempDir d;
    path = d.path();
    d.WriteFile("a/b/c.txt", "x");
    fs::create_directories(d.Path("empty/dir"));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(TempDirTest, MovedFromDirRemovesNothing) {
  std::string path;
  {
    TempDir a;
    path = a.path();
    TempDir b(std::move(a));
    EXPECT_EQ(b.path(), path);
    EXPECT_TRUE(a.path().empty());
    {
      TempDir dead(std::move(a));  // owns nothing
    }
    EXPECT_TRUE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(TempDirTest, IsKeptWhenFanoutKeepTestDirsIsSet) {
  std::string path;
  setenv("FANOUT_KEEP_TEST_DIRS", "1", 1);
  {
    TempDir d;
    path = d.path();
  }
  unsetenv("FANOUT_KEEP_TEST_DIRS");
  EXPECT_TRUE(fs::exists(path));
  fs::remove_all(path);
}

TEST(ProcessTest, ReportsTheExitCode) {
  TempDir logs;
  Process p({"sh", "-c", "exit 3"}, logs.path());
  EXPECT_TRUE(p.SpawnError().empty()) << p.SpawnError();
  auto code = p.Wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 3);
  EXPECT_FALSE(p.Running());
  EXPECT_EQ(p.Wait(0ms), 3);  // cached once reaped
}

TEST(ProcessTest, RedirectsStdoutAndStderrToFilesInTheLogDir) {
  TempDir logs;
  Process p({"sh", "-c", "echo to-out; echo to-err >&2"}, logs.path(), {}, {}, "named");
  ASSERT_EQ(p.Wait(10s), 0);
  EXPECT_EQ(p.StdoutPath(), logs.Path("named.out"));
  EXPECT_EQ(p.StderrPath(), logs.Path("named.err"));
  EXPECT_EQ(p.Stdout(), "to-out\n");
  EXPECT_EQ(p.Stderr(), "to-err\n");
}

TEST(ProcessTest, PassesExtraEnvironmentAndWorkingDirectory) {
  TempDir logs, cwd;
  setenv("FANOUT_HARNESS_INHERITED", "inherited", 1);
  setenv("FANOUT_HARNESS_OVERRIDDEN", "old", 1);
  Process p({"sh", "-c", "echo $FANOUT_HARNESS_INHERITED $FANOUT_HARNESS_OVERRIDDEN $EXTRA; pwd"},
            logs.path(), {{"EXTRA", "extra"}, {"FANOUT_HARNESS_OVERRIDDEN", "new"}}, cwd.path());
  unsetenv("FANOUT_HARNESS_INHERITED");
  unsetenv("FANOUT_HARNESS_OVERRIDDEN");
  ASSERT_EQ(p.Wait(10s), 0);
  EXPECT_EQ(p.Stdout(), "inherited new extra\n" + fs::canonical(cwd.path()).string() + "\n");
}

// Runs in a child of UsersFanoutConfigurationDoesNotReachTheTestsOrTheirProcesses (skipped
// otherwise): that test starts this binary with the user's FANOUT_* variables set.
TEST(ProcessTest, ProbeOfTheUsersConfiguration) {
  if (std::getenv("HARNESS_SELF_PROBE") == nullptr) GTEST_SKIP() << "run by its parent test";
  EXPECT_EQ(std::getenv("FANOUT_REDIS"), nullptr);
  const char* home = std::getenv("FANOUT_HOME");  // not the user's, and nothing is there
  ASSERT_NE(home, nullptr);
  EXPECT_FALSE(fs::exists(home)) << home;
  EXPECT_STREQ(std::getenv("FANOUT_PAGE_TEST_N"), "7");  // a knob of the tests stays
  TempDir logs;
  Process p({"sh", "-c", "echo \"$FANOUT_HOME|$FANOUT_REDIS\""}, logs.path());
  ASSERT_EQ(p.Wait(10s), 0);
  EXPECT_EQ(p.Stdout(), logs.Path("fanout-home") + "|\n");
}

TEST(ProcessTest, UsersFanoutConfigurationDoesNotReachTheTestsOrTheirProcesses) {
  TempDir logs;
  Process child({"/proc/self/exe", "--gtest_filter=ProcessTest.ProbeOfTheUsersConfiguration"},
                logs.path(),
                {{"HARNESS_SELF_PROBE", "1"},
                 {"FANOUT_HOME", logs.Path("users-home")},
                 {"FANOUT_REDIS", "192.0.2.1:6379"},
                 {"FANOUT_PAGE_TEST_N", "7"}},
                {}, "probe");
  ASSERT_EQ(child.Wait(60s), 0) << child.Stdout() << child.Stderr();
  EXPECT_NE(child.Stdout().find("[  PASSED  ] 1 test"), std::string::npos) << child.Stdout();
}

TEST(ProcessTest, StdinIsDevNull) {
  TempDir logs;
  Process p({"cat"}, logs.path());
  EXPECT_EQ(p.Wait(10s), 0);
  EXPECT_EQ(p.Stdout(), "");
}

TEST(ProcessTest, ReportsAMissingExecutable) {
  TempDir logs;
  Process p({"/nonexistent/fanout-no-such-binary"}, logs.path());
  EXPECT_NE(p.SpawnError().find("No such file"), std::string::npos) << p.SpawnError();
  EXPECT_EQ(p.Wait(10s), 127);
}

TEST(ProcessTest, KillEndsItAndWaitReportsTheSignal) {
  TempDir logs;
  Process p({"sleep", "1000"}, logs.path());
  EXPECT_TRUE(p.Running());
  EXPECT_FALSE(p.Wait(50ms).has_value());
  p.Kill(SIGTERM);
  auto code = p.Wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 128 + SIGTERM);
  EXPECT_EQ(p.TermSignal(), SIGTERM);
  EXPECT_FALSE(p.Running());
  p.Kill(SIGKILL);  // a no-op once reaped
}

TEST(ProcessTest, StopEscalatesToSigkillAfterTheTimeout) {
  TempDir logs;
  // Ignores SIGTERM; says so once the trap is set, so the test never races it.
  Process p({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"}, logs.path());
  ASSERT_TRUE(WaitFor([&] { return p.Stdout() == "ready\n"; }, 10s));
  EXPECT_EQ(p.Stop(SIGTERM, 200ms), 128 + SIGKILL);
}

TEST(ProcessTest, RunsInItsOwnProcessGroup) {
  TempDir logs;
  Process p({"sleep", "1000"}, logs.path());
  EXPECT_EQ(getpgid(p.Pid()), p.Pid());
  EXPECT_NE(getpgid(p.Pid()), getpgrp());
}

TEST(ProcessTest, KillGroupReachesGrandchildren) {
  TempDir logs;
  Process p({"sh", "-c", "sleep 1000 & echo $!; wait"}, logs.path());
  ASSERT_TRUE(WaitFor([&] { return !p.Stdout().empty(); }, 10s));
  pid_t grandchild = std::stoi(p.Stdout());
  EXPECT_FALSE(Dead(grandchild));
  p.KillGroup(SIGKILL);
  EXPECT_TRUE(p.Wait(10s).has_value());
  EXPECT_TRUE(WaitFor([&] { return Dead(grandchild); }, 10s));
}

TEST(ProcessTest, DestructorKillsAndReapsTheChild) {
  TempDir logs;
  pid_t pid;
  {
    Process p({"sleep", "1000"}, logs.path());
    pid = p.Pid();
    ASSERT_GT(pid, 0);
  }
  // Reaped by us: waitpid no longer knows it.
  int r = waitpid(pid, nullptr, WNOHANG);
  int err = errno;
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, ECHILD);
  EXPECT_TRUE(Dead(pid));
}

TEST(ProcessTest, MovedProcessIsOwnedOnce) {
  TempDir logs;
  Process a({"sleep", "1000"}, logs.path());
  int pid = a.Pid();
  Process b(std::move(a));
  EXPECT_EQ(b.Pid(), pid);
  EXPECT_FALSE(a.Running());
  EXPECT_TRUE(b.Running());
}

TEST(ProcessTest, ChildDiesWhenTheParentDies) {
  TempDir logs;
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t helper = fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    // The "test process" that crashes: start a child, report its PID, die without cleanup.
    close(pipefd[0]);
    Process p({"sleep", "1000"}, logs.path());
    int pid = p.Pid();
    if (write(pipefd[1], &pid, sizeof pid) != sizeof pid) _exit(2);
    _exit(0);
  }
  close(pipefd[1]);
  int child = 0;
  ASSERT_EQ(read(pipefd[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  close(pipefd[0]);
  int status = 0;
  ASSERT_EQ(waitpid(helper, &status, 0), helper);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(WaitFor([&] { return Dead(child); }, 10s)) << "orphan " << child << " survived";
}

TEST(RunTest, CollectsExitCodeAndOutput) {
  RunResult r = fanout::testing::Run({"sh", "-c", "echo out; echo err >&2; exit 4"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.timed_out);
}

TEST(RunTest, KillsTheCommandAtTheTimeout) {
  auto start = std::chrono::steady_clock::now();
  RunResult r = fanout::testing::Run({"sleep", "1000"}, {}, {}, 200ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(RunTest, UsesTheGivenEnvAndCwd) {
  TempDir cwd;
  RunResult r = fanout::testing::Run({"sh", "-c", "echo $X; pwd"}, {{"X", "42"}}, cwd.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "42\n" + fs::canonical(cwd.path()).string() + "\n");
}

TEST(RedisServerTest, StartsAndAnswersPing) {
  RedisServer redis;
  EXPECT_GT(redis.Port(), 0);
  EXPECT_EQ(redis.Address(), "127.0.0.1:" + std::to_string(redis.Port()));
  EXPECT_TRUE(redis.Ping());
  EXPECT_EQ(redis.Command({"PING"}), "PONG");
}

TEST(RedisServerTest, RunsWithAofEverySecAndNoRdbSnapshots) {
  RedisServer redis;
  EXPECT_EQ(redis.Command({"CONFIG", "GET", "appendonly"}), "appendonly\nyes");
  EXPECT_EQ(redis.Command({"CONFIG", "GET", "appendfsync"}), "appendfsync\neverysec");
  EXPECT_EQ(redis.Command({"CONFIG", "GET", "save"}), "save\n");
  EXPECT_EQ(redis.Command({"CONFIG", "GET", "dir"}), "dir\n" + fs::canonical(redis.Dir()).string());
}

TEST(RedisServerTest, CommandRendersEveryReplyType) {
  RedisServer redis;
  EXPECT_EQ(redis.Command({"SET", "k", std::string("v\0w", 3)}), "OK");
  EXPECT_EQ(redis.Command({"GET", "k"}), std::string("v\0w", 3));
  EXPECT_EQ(redis.Command({"GET", "missing"}), "(nil)");
  EXPECT_EQ(redis.Command({"RPUSH", "l", "a", "b"}), "2");
  EXPECT_EQ(redis.Command({"LRANGE", "l", "0", "-1"}), "a\nb");
  EXPECT_EQ(redis.Command({"INCR", "l"}).rfind("(error) WRONGTYPE", 0), 0u);
}

TEST(RedisServerTest, TwoServersGetDifferentPortsAndDirs) {
  RedisServer a, b;
  EXPECT_NE(a.Port(), b.Port());
  EXPECT_NE(a.Dir(), b.Dir());
  a.Command({"SET", "k", "a"});
  EXPECT_EQ(b.Command({"GET", "k"}), "(nil)");
}

TEST(RedisServerTest, RestartKeepsThePortAndTheData) {
  RedisServer redis;
  int port = redis.Port();
  int old_pid = redis.process()->Pid();
  ASSERT_EQ(redis.Command({"SET", "durable", "yes"}), "OK");
  redis.Restart();
  EXPECT_EQ(redis.Port(), port);
  EXPECT_NE(redis.process()->Pid(), old_pid);
  EXPECT_TRUE(redis.Ping());
  EXPECT_EQ(redis.Command({"GET", "durable"}), "yes");
}

TEST(RedisServerTest, StopMakesItUnreachableAndRestartBringsItBack) {
  RedisServer redis;
  redis.Stop();
  EXPECT_FALSE(redis.Running());
  EXPECT_FALSE(redis.Ping(200ms));
  EXPECT_EQ(redis.Command({"PING"}).rfind("(error)", 0), 0u);
  redis.Restart();
  EXPECT_EQ(redis.Command({"PING"}), "PONG");
}

TEST(RedisServerTest, KillThenRestartRecoversFsyncedWrites) {
  RedisServer redis;
  ASSERT_EQ(redis.Command({"SET", "before", "1"}), "OK");
  // Wait until the write is in the AOF file: Redis write(2)s it before its next event-loop
  // turn, and a SIGKILL (unlike a host crash) does not lose what reached the kernel.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& e : fs::recursive_directory_iterator(redis.Dir()))
          if (e.path().string().find(".aof") != std::string::npos &&
              ReadFile(e.path().string()).find("before") != std::string::npos)
            return true;
        return false;
      },
      10s, 50ms));
  redis.Kill();
  EXPECT_FALSE(redis.Running());
  redis.Restart();
  EXPECT_EQ(redis.Command({"GET", "before"}), "1");
}

TEST(ClusterTest, StartsRedisCoordinatorAndWorkersAndAnswersHealth) {
  for (const char* bin : {"fanout-coordinator", "fanout-worker", "fanout"}) {
    if (!fs::exists(BinDir() + "/" + bin)) GTEST_SKIP() << bin << " is not built yet";
  }
  ClusterOptions options;
  options.workers = 2;
  options.slots = 2;
  Cluster cluster(options);
  EXPECT_TRUE(cluster.redis().Ping());
  ASSERT_NE(cluster.coordinator(), nullptr);
  EXPECT_TRUE(cluster.coordinator()->Running());
  EXPECT_EQ(cluster.worker_count(), 2u);
  EXPECT_TRUE(cluster.Address().rfind("tcp://127.0.0.1:", 0) == 0);
  RunResult health = cluster.Fanout("health");
  EXPECT_EQ(health.exit_code, 0) << health;
  EXPECT_TRUE(cluster.WaitForWorkers(2, 30s)) << cluster.Fanout("workers", "-o", "json");
  // The CLI runs from the source dir, so the example spec and its command tasks resolve.
  RunResult run = cluster.Fanout("run", "examples/map_tasks.yaml", "map_workflow", "-o", "json");
  EXPECT_EQ(run.exit_code, 0) << run;
  // A restarted coordinator comes back on the same address.
  std::string address = cluster.Address();
  cluster.KillCoordinator(SIGKILL);
  EXPECT_FALSE(cluster.coordinator()->Running());
  EXPECT_NE(cluster.Fanout("health").exit_code, 0);
  EXPECT_TRUE(cluster.StartCoordinator());
  EXPECT_EQ(cluster.Address(), address);
  EXPECT_EQ(cluster.Fanout("health").exit_code, 0);
}

}  // namespace
}  // namespace fanout::testing
