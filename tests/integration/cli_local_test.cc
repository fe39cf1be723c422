// `fanout local` and `fanout run` without a coordinator address (DESIGN §3.2): the embedded
// cluster in $FANOUT_HOME, its lock, its supervision of the daemons, and its clean stop.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

class CliLocalTest : public ::testing::Test {
 protected:
  // The CLI's environment: our home, and no coordinator address from the outer environment.
  Env CliEnv() const {
    return {{"FANOUT_HOME", home_.path()}, {"FANOUT_COORDINATOR", ""}, {"FANOUT_TIMEOUT", "5s"}};
  }
  std::string Fanout() const { return BinDir() + "/fanout"; }
  std::string Plugin() const { return BinDir() + "/libfanout_examples.so"; }

  RunResult Cli(std::vector<std::string> args, milliseconds timeout = milliseconds(120000)) {
    args.insert(args.begin(), Fanout());
    return fanout::testing::Run(args, CliEnv(), SourceDir(), timeout);
  }

  // Starts `fanout local` and waits for its FANOUT_COORDINATOR= line.
  std::unique_ptr<Process> StartLocal(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {Fanout(), "local", "--workers", "1", "--plugin", Plugin()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = std::make_unique<Process>(argv, logs_.path(), CliEnv(), SourceDir(), "local");
    bool ready = WaitFor([&] { return p->Stdout().find("FANOUT_COORDINATOR=") != std::string::npos; },
                         milliseconds(60000));
    EXPECT_TRUE(ready) << p->Stderr() << TailFile(home_.Path("logs/coordinator.log"), 30);
    return p;
  }

  std::vector<int64_t> WorkerPids() {
    RunResult r = Cli({"workers", "-o", "json"}, milliseconds(20000));
    std::vector<int64_t> pids;
    if (r.exit_code != 0) return pids;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("workers")) return pids;
    for (const auto& w : j["workers"]) pids.push_back(w.value("pid", int64_t{0}));
    return pids;
  }

  TempDir home_{"fanout-cli-home"};
  TempDir logs_{"fanout-cli-logs"};
};

TEST_F(CliLocalTest, LocalAnnouncesItselfAndStopsCleanlyOnSigterm) {
  auto local = StartLocal();
  std::string out = local->Stdout();
  std::string addr = out.substr(out.find('=') + 1);
  addr = addr.substr(0, addr.find('\n'));
  nlohmann::json info = nlohmann::json::parse(ReadFile(home_.Path("local.json")), nullptr, false);
  ASSERT_FALSE(info.is_discarded());
  EXPECT_EQ(info["coordinator"], addr);
  EXPECT_EQ(info["pid"], local->Pid());

  RunResult health = Cli({"health"});
  EXPECT_EQ(health.exit_code, 0) << health;

  local->Kill(SIGTERM);
  EXPECT_EQ(local->Wait(milliseconds(40000)), std::optional<int>(0)) << local->Stderr();
  EXPECT_EQ(ReadFile(home_.Path("local.json")), "");
  RunResult after = Cli({"health"});
  EXPECT_EQ(after.exit_code, 3) << after;
}

TEST_F(CliLocalTest, SecondLocalOnTheSameHomeExitsWithTwo) {
  auto local = StartLocal();
  RunResult second = Cli({"local", "--workers", "1"}, milliseconds(20000));
  EXPECT_EQ(second.exit_code, 2) << second;
  EXPECT_NE(second.err.find("a local cluster is already running at tcp://127.0.0.1:"),
            std::string::npos)
      << second;
}

TEST_F(CliLocalTest, KilledWorkerIsRestarted) {
  auto local = StartLocal();
  std::vector<int64_t> before;
  ASSERT_TRUE(WaitFor([&] { return (before = WorkerPids()).size() == 1; }, milliseconds(30000)));
  ASSERT_EQ(kill(static_cast<pid_t>(before[0]), SIGKILL), 0);
  std::vector<int64_t> after;
  EXPECT_TRUE(WaitFor(
      [&] {
        after = WorkerPids();
        return after.size() == 1 && after[0] != before[0];
      },
      milliseconds(60000)))
      << local->Stderr();
  EXPECT_NE(local->Stderr().find("restarted worker-0"), std::string::npos) << local->Stderr();
}

TEST_F(CliLocalTest, RunWithoutAddressUsesTheRunningLocalCluster) {
  auto local = StartLocal();
  RunResult r = Cli({"run", "examples/map_tasks.yaml", "map_workflow"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.out.find("o0: ["), std::string::npos) << r;
  EXPECT_EQ(r.err.find("starting a local cluster"), std::string::npos) << r;
  EXPECT_TRUE(local->Running());
}

TEST_F(CliLocalTest, RunWithoutAddressStartsAnEmbeddedClusterAndStopsIt) {
  RunResult r = Cli({"run", "examples/map_tasks.yaml", "map_workflow", "--plugin", Plugin(),
                     "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r;
  EXPECT_EQ(doc["phase"], "SUCCEEDED");
  EXPECT_EQ(doc["outputs"]["o0"].size(), 10u);
  EXPECT_EQ(ReadFile(home_.Path("local.json")), "");  // the embedded cluster is gone
  // Its history persists in $FANOUT_HOME: a new cluster lists the execution.
  auto local = StartLocal();
  RunResult list = Cli({"list", "-o", "json"});
  EXPECT_NE(list.out.find(doc["execution"].get<std::string>()), std::string::npos) << list;
}

TEST_F(CliLocalTest, RunOnItsOwnClusterWithoutThePluginSaysWhichFunctionIsMissing) {
  RunResult r = Cli({"run", "examples/map_tasks.yaml", "map_workflow"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("no connected worker offers function 'detect_anomalies'"), std::string::npos)
      << r;
  EXPECT_NE(r.err.find("--plugin"), std::string::npos) << r;

  // Exit 2 left nothing queued: the next cluster on this home runs nothing of it (the
  // submit-time check refuses it before it is stored; were it stored, it is aborted).
  auto local = StartLocal();
  RunResult list = Cli({"list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list;
  nlohmann::json doc = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << list;
  for (const auto& e : doc["executions"]) EXPECT_EQ(e["phase"], "ABORTED") << list;
}

TEST_F(CliLocalTest, CommandsWithoutAnyClusterExitWithThree) {
  RunResult r = Cli({"status", "someid"});
  EXPECT_EQ(r.exit_code, 3) << r;
  EXPECT_NE(r.err.find("fanout local"), std::string::npos) << r;
}

}  // namespace
}  // namespace fanout::testing
