// What a command task can reach on its worker (DESIGN §7; issue 10): its inputs only as data,
// an allow-listed environment without the worker's secrets, a private scratch directory of its
// own, and a worker that refuses oversized messages. A real fanout-worker against the fake
// coordinator.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/value.h"
#include "common/wire.h"
#include "tests/integration/harness_fake_coordinator.h"

namespace fanout::testing {
namespace {

constexpr char kInjection[] = "x'; id > f; echo '";

class WorkerTaskIsolationTest : public FakeCoordinatorTest {
 protected:
  WorkerTaskIsolationTest() : FakeCoordinatorTest("fanout-worker-isolation-test-") {}

  void TearDown() override {
    for (const char* name : kSetVars) unsetenv(name);
    FakeCoordinatorTest::TearDown();
  }

  // Runs `script` with `shell` -c, input name = kInjection; returns what it printed on stderr
  // (the attempt's log: the task declares no output).
  std::string RunShell(const std::string& shell, const std::string& script, uint32_t index) {
    auto t = Command({shell, "-c", script}, {{"name", "str"}}, {});
    auto r = RunOne(t, {Value(kInjection)}, index);
    EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
    return r.log;
  }

  static constexpr const char* kSetVars[] = {"FANOUT_REDIS_PASSWORD", "MY_API_KEY",
                                             "FANOUT_ISOLATION_VISIBLE", "UNDECLARED_VAR"};
};

TEST_F(WorkerTaskIsolationTest, AnInputInAShellScriptIsDataNeverCode) {
  Handshake();
  // The worker's working directory is ours: `id > f` would create ./f.
  std::filesystem::remove("f");
  std::string expected = std::string("hello ") + kInjection + "\n";
  EXPECT_EQ(RunShell("sh", "echo hello {{inputs.name}} >&2", 0), expected);
  EXPECT_EQ(RunShell("/bin/bash", "echo \"hello {{inputs.name}}\" >&2", 1), expected);
  EXPECT_EQ(RunShell("/bin/sh", "echo 'hello {{inputs.name}}' >&2", 2), expected);
  EXPECT_EQ(RunShell("bash", "x=$(echo {{inputs.name}}); echo \"hello $x\" >&2", 3), expected);
  EXPECT_FALSE(std::filesystem::exists("f")) << "the input ran as shell code";
  std::filesystem::remove("f");
}

TEST_F(WorkerTaskIsolationTest, TasksNeverSeeTheWorkersSecretsOrUndeclaredVariables) {
  setenv("FANOUT_REDIS_PASSWORD", "hunter2", 1);
  setenv("MY_API_KEY", "k-123", 1);
  setenv("UNDECLARED_VAR", "undeclared", 1);
  setenv("FANOUT_ISOLATION_VISIBLE", "declared", 1);
  Handshake({"--task-env", "FANOUT_ISOLATION_VISIBLE"});
  auto r = RunOne(Command({"sh", "-c", "env >&2"}, {}, {}), {}, 4, 1);
  ASSERT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
  EXPECT_EQ(r.log.find("hunter2"), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find("k-123"), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find("undeclared"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("FANOUT_ISOLATION_VISIBLE=declared\n"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("PATH="), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("FANOUT_INDEX=4\n"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("FANOUT_ATTEMPT=1\n"), std::string::npos) << r.log;
}

TEST_F(WorkerTaskIsolationTest, AWorkerRefusesToPassASecretLookingVariable) {
  StartWorker({"--task-env", "MY_API_KEY"});
  auto status = WaitExit(milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 2);
}

TEST_F(WorkerTaskIsolationTest, EachAttemptGetsAFreshPrivateScratchDirectory) {
  Handshake();
  // The scratch dir's mode, the inputs file's mode, and the dir's path.
  auto t = Command({"sh", "-c",
                    "d=$(dirname \"$FANOUT_INPUTS\"); "
                    "echo \"$(stat -c %a \"$d\") $(stat -c %a \"$FANOUT_INPUTS\") $d\" >&2"},
                   {}, {});
  auto first = RunOne(t, {}, 0, 0);
  ASSERT_EQ(first.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << first.error;
  Send(wire::Kind::kAck, wire::EncodeBody(wire::AckBatch{{first.key}}));
  ASSERT_TRUE(WaitHeartbeat(milliseconds(5000), [](const wire::Heartbeat& h) { return h.held == 0; }));
  auto again = RunOne(t, {}, 0, 0);  // the very same attempt key once more
  ASSERT_EQ(again.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << again.error;
  EXPECT_TRUE(first.log.starts_with("700 600 ")) << first.log;
  EXPECT_TRUE(again.log.starts_with("700 600 ")) << again.log;
  EXPECT_NE(first.log, again.log) << "a scratch directory was reused";
  struct stat st{};
  ASSERT_EQ(stat((scratch_ / "w").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(WorkerTaskIsolationTest, AnOversizedMessageIsRefusedAndTheWorkerCarriesOn) {
  Handshake({"--max-message-bytes", "1Mi"});
  // 2 MiB of input: libzmq drops the connection instead of buffering it.
  SendWork(Builtin("builtin.echo", {{"value", "json"}}, {{"o0", "json"}}),
           {Item(0, 0, Args({Value(std::string(2u << 20, 'x'))}))});
  // The connection comes back (libzmq reconnects, or the worker does after its liveness), and
  // the next message is served; the oversized one never ran.
  auto deadline = Clock::now() + milliseconds(20000);
  std::vector<wire::ResultItem> results;
  while (results.empty() && Clock::now() < deadline) {
    SendWork(Builtin("builtin.noop", {{"x", "int"}}), {Item(1, 0, Args({Value(int64_t{1})}))});
    results = CollectResults(1, milliseconds(1000));
  }
  ASSERT_FALSE(results.empty());
  for (const auto& r : results) EXPECT_EQ(r.key.index, 1u);
}

}  // namespace
}  // namespace fanout::testing
