// `fanout local` leaves no command behind (issue 12): whatever its workers' commands started
// ends when a worker is killed, when the cluster is stopped with SIGINT or SIGTERM, and when
// `fanout local` itself is killed. The commands background a `sleep` and setsid() another; the
// test finds them in /proc by the execution id in their environment (FANOUT_EXECUTION), and the
// cluster's daemons by its FANOUT_HOME.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/integration/process_scan.h"

namespace fanout::testing {
namespace {

class ProcessLocalClusterTest : public ::testing::Test {
 protected:
  ~ProcessLocalClusterTest() override {
    // Whatever a failed test left: its commands, then the cluster's daemons (by pid).
    if (!exec_.empty()) KillMarked(exec_);
    local_.reset();
    KillMarked("FANOUT_HOME=" + home_.path());
  }

  Env CliEnv() const {
    return {{"FANOUT_HOME", home_.path()}, {"FANOUT_COORDINATOR", ""}, {"FANOUT_TIMEOUT", "5s"}};
  }
  RunResult Cli(std::vector<std::string> args, milliseconds timeout = milliseconds(60000)) {
    args.insert(args.begin(), BinDir() + "/fanout");
    return fanout::testing::Run(args, CliEnv(), SourceDir(), timeout);
  }

  // Starts `fanout local --workers 1` and submits two subtasks whose commands each start a
  // background sleep and a setsid() sleep, touch READY.INDEX and wait; returns once both are
  // ready, with every process of the execution in running_.
  void StartClusterAndCommands() {
    local_ = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/fanout", "local", "--workers", "1"}, logs_.path(),
        CliEnv(), SourceDir(), "local");
    ASSERT_TRUE(WaitFor(
        [&] { return local_->Stdout().find("FANOUT_COORDINATOR=") != std::string::npos; },
        milliseconds(60000)))
        << local_->Stderr();
    std::string ready = logs_.Path("ready");
    std::string spec = logs_.WriteFile(
        "tree.yaml",
        MapSpec("setsid sleep 1000 & sleep 1000 & touch " + ready + ".$FANOUT_INDEX; wait", 2));
    RunResult run = Cli({"run", spec, "--no-wait"});
    ASSERT_EQ(run.exit_code, 0) << run;
    exec_ = run.out.substr(0, run.out.find('\n'));
    ASSERT_FALSE(exec_.empty()) << run;
    ASSERT_TRUE(WaitFor(
        [&] {
          return std::filesystem::exists(ready + ".0") && std::filesystem::exists(ready + ".1");
        },
        milliseconds(60000)))
        << "the commands did not start\n"
        << local_->Stderr() << TailFile(home_.Path("logs/worker-0.log"), 30);
    running_ = ProcessesWithMarker(exec_);
    // Per subtask: sh and two sleeps (the test would prove nothing without them), and the shim.
    ASSERT_GE(running_.size(), 6u) << Describe(running_);
  }

  // Waits (deadline 5 s) until none of `ps` runs any more; true when none does.
  static bool Gone(const std::vector<MarkedProcess>& ps) {
    return WaitFor([&] { return StillRunning(ps).empty(); }, milliseconds(5000));
  }

  void StopAndExpectNothingLeft(int sig) {
    ASSERT_NO_FATAL_FAILURE(StartClusterAndCommands());
    local_->Kill(sig);
    // Workers drain for up to 10 s, then stop their commands; then the coordinator and redis.
    std::optional<int> code = local_->Wait(milliseconds(120000));
    ASSERT_TRUE(code.has_value()) << "fanout local did not stop\n" << local_->Stderr();
    EXPECT_EQ(*code, 0) << local_->Stderr();
    EXPECT_TRUE(Gone(running_)) << "still running after fanout local stopped:\n"
                                << Describe(StillRunning(running_));
    EXPECT_TRUE(Gone(ProcessesWithMarker(exec_))) << Describe(ProcessesWithMarker(exec_));
  }

  TempDir home_{"fanout-proc-home"};
  TempDir logs_{"fanout-proc-logs"};
  std::unique_ptr<Process> local_;
  std::string exec_;
  std::vector<MarkedProcess> running_;
};

// The default cluster (one worker per core, each with one slot per core) runs one command per
// core in total: the workers' --command-slots add up to the cores.
TEST_F(ProcessLocalClusterTest, DefaultClusterRunsOneCommandPerCoreInTotal) {
  local_ = std::make_unique<Process>(std::vector<std::string>{BinDir() + "/fanout", "local"},
                                     logs_.path(), CliEnv(), SourceDir(), "local");
  ASSERT_TRUE(WaitFor(
      [&] { return local_->Stdout().find("FANOUT_COORDINATOR=") != std::string::npos; },
      milliseconds(60000)))
      << local_->Stderr();
  int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int workers = 0, command_slots = 0;
  for (const auto& p : ProcessesWithMarker("FANOUT_HOME=" + home_.path())) {
    std::string argv = ReadProcFile(p.pid, "cmdline");  // NUL-separated
    if (argv.find("fanout-worker") == std::string::npos) continue;
    ++workers;
    size_t at = argv.find(std::string("--command-slots") + '\0');
    ASSERT_NE(at, std::string::npos) << p.cmdline;
    command_slots += std::atoi(argv.c_str() + at + sizeof("--command-slots"));
  }
  EXPECT_EQ(workers, cores);
  EXPECT_EQ(command_slots, cores);
}

// $FANOUT_HOME holds the cluster's data and logs: private to the user (issue 10).
TEST_F(ProcessLocalClusterTest, LocalKeepsItsHomeDataAndLogsPrivate) {
  // A home the user chose that exists already, with a log an older version left 0644.
  std::string home = home_.Path("old-home");
  std::filesystem::create_directories(home + "/logs");
  std::string old_log = home + "/logs/worker-0.log";
  { std::ofstream(old_log) << "old\n"; }
  ASSERT_EQ(chmod(home.c_str(), 0755), 0);
  ASSERT_EQ(chmod(old_log.c_str(), 0644), 0);
  std::string fresh = home_.Path("fresh-home");
  for (const std::string& h : {home, fresh}) {
    Env env = {{"FANOUT_HOME", h}, {"FANOUT_COORDINATOR", ""}};
    Process local({BinDir() + "/fanout", "local", "--workers", "1"}, logs_.path(), env, SourceDir(),
                  "local-private");
    ASSERT_TRUE(WaitFor([&] { return ReadFile(h + "/local.json").find("coordinator") != std::string::npos; },
                        milliseconds(60000)))
        << local.Stderr();
    auto mode = [](const std::string& path) {
      struct stat st{};
      return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
    };
    if (h == fresh) {
      EXPECT_EQ(mode(h), 0700) << h;
    }
    EXPECT_EQ(mode(h + "/logs"), 0700);
    EXPECT_EQ(mode(h + "/redis"), 0700);
    EXPECT_EQ(mode(h + "/local.json"), 0600);
    EXPECT_EQ(mode(h + "/local.lock"), 0600);
    EXPECT_EQ(mode(h + "/logs/worker-0.log"), 0600);
    EXPECT_EQ(mode(h + "/logs/coordinator.log"), 0600);
    // Redis writes its AOF after it started: wait for a file, then check every one.
    ASSERT_TRUE(WaitFor([&] { return !std::filesystem::is_empty(h + "/redis"); }, milliseconds(20000)));
    for (const auto& e : std::filesystem::recursive_directory_iterator(h + "/redis")) {
      EXPECT_EQ(mode(e.path().string()), e.is_directory() ? 0700 : 0600) << e.path();
    }
    local.Kill(SIGTERM);
    EXPECT_TRUE(local.Wait(milliseconds(60000)).has_value());
  }
}

TEST_F(ProcessLocalClusterTest, KilledWorkerTakesTheProcessesOfItsAttemptsWithIt) {
  ASSERT_NO_FATAL_FAILURE(StartClusterAndCommands());
  RunResult workers = Cli({"workers", "-o", "json"});
  nlohmann::json j = nlohmann::json::parse(workers.out, nullptr, false);
  ASSERT_TRUE(!j.is_discarded() && j.contains("workers") && j["workers"].size() == 1) << workers;
  ASSERT_EQ(kill(static_cast<pid_t>(j["workers"][0].value("pid", int64_t{0})), SIGKILL), 0);
  // fanout local restarts the worker and the subtasks run again: the old processes must not.
  EXPECT_TRUE(Gone(running_)) << "still running after their worker was killed:\n"
                              << Describe(StillRunning(running_));
}

TEST_F(ProcessLocalClusterTest, SigintStopsTheClusterAndEveryCommandItRan) {
  StopAndExpectNothingLeft(SIGINT);
}

TEST_F(ProcessLocalClusterTest, SigtermStopsTheClusterAndEveryCommandItRan) {
  StopAndExpectNothingLeft(SIGTERM);
}

TEST_F(ProcessLocalClusterTest, KilledLocalTakesItsWorkersAndTheirCommandsWithIt) {
  ASSERT_NO_FATAL_FAILURE(StartClusterAndCommands());
  local_->Kill(SIGKILL);
  ASSERT_TRUE(local_->Wait(milliseconds(10000)).has_value());
  EXPECT_TRUE(Gone(running_)) << "still running after fanout local was killed:\n"
                              << Describe(StillRunning(running_));
  // Its redis and coordinator stop on their own (SIGTERM on their parent's death).
  EXPECT_TRUE(WaitFor([&] { return ProcessesWithMarker("FANOUT_HOME=" + home_.path()).empty(); },
                      milliseconds(30000)))
      << Describe(ProcessesWithMarker("FANOUT_HOME=" + home_.path()));
}

}  // namespace
}  // namespace fanout::testing
