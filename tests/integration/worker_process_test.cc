// The worker daemon as a process: a real fanout-worker talks to a ZeroMQ ROUTER played by the
// test (the coordinator's side of DESIGN §5): HELLO/WELCOME, WORK → RESULT, ACK, ABORT,
// reconnects, the command contract, the drain on SIGTERM. Self-contained: it spawns the
// worker itself and needs no Redis.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/value.h"
#include "common/wire.h"
#include "tests/integration/harness_fake_coordinator.h"

namespace fanout::testing {
namespace {

class WorkerProcessTest : public FakeCoordinatorTest {
 protected:
  WorkerProcessTest() : FakeCoordinatorTest("fanout-worker-test-") {}
};

TEST_F(WorkerProcessTest, HelloAnnouncesBuiltinsAndCapacity) {
  wire::Hello h = Handshake({"--labels", "gpu,ssd", "--mem", "2Gi", "--cpu", "3"});
  EXPECT_EQ(h.worker_id, "test-w");
  EXPECT_EQ(h.slots, 4u);
  EXPECT_EQ(h.pid, pid_);
  EXPECT_EQ(h.labels, (std::vector<std::string>{"gpu", "ssd"}));
  EXPECT_EQ(h.mem_bytes, int64_t{2} << 30);
  EXPECT_EQ(h.cpu, 3.0);
  EXPECT_TRUE(h.running.empty());
  for (const char* fn : {"builtin.noop", "builtin.sleep_ms", "builtin.fail_if", "builtin.echo"}) {
    EXPECT_NE(std::find(h.functions.begin(), h.functions.end(), fn), h.functions.end()) << fn;
  }
  EXPECT_EQ(identity_, "test-w-1");
}

TEST_F(WorkerProcessTest, RunsBuiltinNoopItemsAndReturnsTheirValues) {
  Handshake();
  std::vector<wire::WorkItem> items;
  for (uint32_t i = 0; i < 6; ++i) items.push_back(Item(i, 0, Args({Value(int64_t{i * 10})})));
  SendWork(Builtin("builtin.noop", {{"x", "int"}}), items);
  auto results = CollectResults(6, milliseconds(10000));
  ASSERT_EQ(results.size(), 6u);
  wire::AckBatch ack;
  for (const auto& r : results) {
    EXPECT_EQ(r.key.exec, "e1");
    EXPECT_EQ(r.key.node, "n1");
    EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
    EXPECT_EQ(Outputs(r), List{Value(int64_t{r.key.index * 10})});
    EXPECT_GT(r.started_ms, 0);
    EXPECT_GE(r.ended_ms, r.started_ms);
    ack.keys.push_back(r.key);
  }
  Send(wire::Kind::kAck, wire::EncodeBody(ack));
  // Once acknowledged, the worker holds nothing.
  EXPECT_TRUE(WaitHeartbeat(milliseconds(5000),
                            [](const wire::Heartbeat& h) { return h.held == 0 && h.running == 0; }));
}

TEST_F(WorkerProcessTest, QueuesItemsBeyondItsSlotsAndRunsThemAll) {
  Handshake();  // 4 slots
  std::vector<wire::WorkItem> items;
  for (uint32_t i = 0; i < 10; ++i) items.push_back(Item(i, 0, Args({Value(int64_t{20})})));
  SendWork(Builtin("builtin.sleep_ms", {{"ms", "int"}}), items);
  auto results = CollectResults(10, milliseconds(10000));
  ASSERT_EQ(results.size(), 10u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
    EXPECT_EQ(Outputs(r), List{Value(int64_t{20})});
  }
}

// A result made in a timer callback (builtin.sleep_ms) must leave before the loop blocks
// again, not with the next wake-up. Our WELCOME sets the heartbeat to a minute, so the only
// wake-ups are the WORK messages: without a flush before poll each round would wait a minute
// for its results.
TEST_F(WorkerProcessTest, SleepResultsLeaveWithoutWaitingForTheNextWakeUp) {
  auto_welcome_ = false;
  Handshake();  // 4 slots
  Send(wire::Kind::kWelcome, wire::EncodeBody(wire::Welcome{7, 60000}));
  wire::TaskDesc sleep = Builtin("builtin.sleep_ms", {{"ms", "int"}});
  for (uint32_t round = 0; round < 5; ++round) {
    // Like the coordinator: as many items as slots, the next ones once these are back.
    std::vector<wire::WorkItem> items;
    for (uint32_t i = 0; i < 4; ++i) items.push_back(Item(4 * round + i, 0, Args({Value(int64_t{0})})));
    SendWork(sleep, items);
    auto results = CollectResults(4, milliseconds(20000));  // far below the 60 s heartbeat
    ASSERT_EQ(results.size(), 4u) << "round " << round;
    wire::AckBatch ack;
    for (const auto& r : results) {
      EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
      EXPECT_EQ(Outputs(r), List{Value(int64_t{0})});
      ack.keys.push_back(r.key);
    }
    Send(wire::Kind::kAck, wire::EncodeBody(ack));
  }
}

TEST_F(WorkerProcessTest, HelloAdvertisesItsCommandSlotsWithinItsSlots) {
  wire::Hello h = Handshake({"--command-slots", "2"});
  EXPECT_EQ(h.slots, 4u);
  EXPECT_EQ(h.command_slots, 2u);
}

TEST_F(WorkerProcessTest, HelloNeverAdvertisesMoreCommandSlotsThanSlots) {
  wire::Hello h = Handshake({"--command-slots", "9"});
  EXPECT_EQ(h.command_slots, 4u);
}

// 4 slots, 1 for commands: three commands run one after the other (each holds a lock
// directory while it runs and records an overlap if it finds it taken), and built-ins queued
// behind them still run at once.
TEST_F(WorkerProcessTest, RunsNoMoreCommandsAtOnceThanItsCommandSlots) {
  Handshake({"--command-slots", "1"});
  std::string dir = scratch_.string();
  std::string go = dir + "/go";
  auto t = Command({"sh", "-c",
                    "mkdir \"$0/lock\" 2>/dev/null || touch \"$0/overlap\"; "
                    "touch \"$0/started.$FANOUT_INDEX\"; "
                    "while [ ! -e \"$0/go\" ]; do sleep 0.02; done; rmdir \"$0/lock\"",
                    dir},
                   {}, {});
  SendWork(t, {Item(0, 0, Args({})), Item(1, 0, Args({})), Item(2, 0, Args({}))});
  auto started = [&] {
    int n = 0;
    for (int i = 0; i < 3; ++i) n += std::filesystem::exists(dir + "/started." + std::to_string(i));
    return n;
  };
  ASSERT_TRUE(PumpUntil([&] { return started() >= 1; }, milliseconds(10000)));
  // Functions are not held back by the waiting commands.
  SendWork(Builtin("builtin.noop", {{"x", "int"}}), {Item(7, 0, Args({Value(int64_t{7})}))}, "e1",
           "n2");
  auto noop = CollectResults(1, milliseconds(10000));
  ASSERT_EQ(noop.size(), 1u);
  EXPECT_EQ(noop[0].key.index, 7u);
  EXPECT_EQ(started(), 1);  // the other two commands are still queued
  std::filesystem::create_directory(go);
  auto results = CollectResults(3, milliseconds(20000));
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
  }
  EXPECT_EQ(started(), 3);
  EXPECT_FALSE(std::filesystem::exists(dir + "/overlap"));
}

TEST_F(WorkerProcessTest, FailIfReportsAUserError) {
  Handshake();
  auto r = RunOne(Builtin("builtin.fail_if", {{"x", "int"}, {"fail", "list<int>"}}),
                  {Value(int64_t{3}), Value(List{Value(int64_t{3})})});
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r.error, "x=3 is in the fail list");
}

TEST_F(WorkerProcessTest, RunsAPluginFunctionOnTheThreadPool) {
  std::string plugin = BinDir() + "/libfanout_examples.so";
  if (!std::filesystem::exists(plugin)) GTEST_SKIP() << plugin << " is not built";
  wire::Hello h = Handshake({"--plugin", plugin});
  EXPECT_NE(std::find(h.functions.begin(), h.functions.end(), "detect_anomalies"),
            h.functions.end());
  wire::TaskDesc t = Builtin("detect_anomalies", {{"data_point", "int"}}, {{"o0", "bool"}});
  SendWork(t, {Item(0, 0, Args({Value(int64_t{11})})), Item(1, 0, Args({Value(int64_t{12})}))});
  auto results = CollectResults(2, milliseconds(10000));
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    ASSERT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
    EXPECT_EQ(Outputs(r), List{Value(r.key.index == 1)});
  }
}

TEST_F(WorkerProcessTest, CommandGetsIndexAttemptInputsAndItsStdoutIsTheOutput) {
  Handshake();
  // $0 is the substituted {{inputs.name}}; stdin and $FANOUT_INPUTS both hold the inputs.
  auto t = Command({"sh", "-c",
                    "printf '{\"index\": %s, \"attempt\": %s, \"arg\": \"%s\", \"stdin\": %s, "
                    "\"file\": %s}' \"$FANOUT_INDEX\" \"$FANOUT_ATTEMPT\" \"$0\" \"$(cat)\" "
                    "\"$(cat \"$FANOUT_INPUTS\")\"",
                    "{{inputs.name}}"},
                   {{"name", "str"}, {"n", "int"}}, {{"o0", "json"}});
  auto r = RunOne(t, {Value("widget"), Value(int64_t{5})}, /*index=*/7, /*attempt=*/2);
  ASSERT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
  EXPECT_EQ(r.key.index, 7u);
  EXPECT_EQ(r.key.attempt, 2u);
  Value inputs(Map{{"name", Value("widget")}, {"n", Value(int64_t{5})}});
  Value expected(Map{{"index", Value(int64_t{7})},
                     {"attempt", Value(int64_t{2})},
                     {"arg", Value("widget")},
                     {"stdin", inputs},
                     {"file", inputs}});
  EXPECT_EQ(Outputs(r), List{expected});
}

TEST_F(WorkerProcessTest, CommandOutputsFileWinsAndIsTypeChecked) {
  Handshake();
  auto t = Command({"sh", "-c", "echo '{\"o0\": 2, \"o1\": \"x\"}' > \"$FANOUT_OUTPUTS\""}, {},
                   {{"o0", "float"}, {"o1", "str"}});
  auto r = RunOne(t, {});
  ASSERT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
  List out = Outputs(r);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], Value("x"));

  auto bad = Command({"sh", "-c", "echo '\"text\"'"}, {}, {{"o0", "int"}});
  auto r2 = RunOne(bad, {}, 1);
  EXPECT_EQ(r2.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r2.error, "output 'o0': expected int, got str");
}

TEST_F(WorkerProcessTest, CommandExit42IsNonRetryable) {
  Handshake();
  auto r = RunOne(Command({"sh", "-c", "exit 42"}, {}, {}), {});
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kNonRetryable));
  EXPECT_EQ(r.error, "exit code 42");
}

TEST_F(WorkerProcessTest, CommandExit1IsAUserErrorWithItsLastStderrLine) {
  Handshake();
  auto r = RunOne(Command({"sh", "-c", "exit 1"}, {}, {}), {});
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r.error, "exit code 1");
  auto r2 = RunOne(Command({"sh", "-c", "echo starting >&2; echo 'bad input' >&2; exit 1"}, {}, {}),
                   {}, 1);
  EXPECT_EQ(r2.error, "exit code 1: bad input");
}

TEST_F(WorkerProcessTest, CommandThatCannotStartIsAUserErrorNamingTheProgram) {
  Handshake();
  auto r = RunOne(Command({"no-such-program-fanout"}, {}, {}), {});
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_NE(r.error.find("no-such-program-fanout"), std::string::npos) << r.error;
}

TEST_F(WorkerProcessTest, CommandTimesOutAndItsProcessGroupIsKilled) {
  Handshake();
  auto start = Clock::now();
  // The child ignores SIGTERM: only the SIGKILL after the grace period stops it.
  auto r = RunOne(Command({"sh", "-c", "trap '' TERM; sleep 30 & wait"}, {}, {}, 300), {});
  auto took = Clock::now() - start;
  EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kUserError));
  EXPECT_EQ(r.error, "timed out after 0.3s");
  EXPECT_LT(took, milliseconds(5000));
}

TEST_F(WorkerProcessTest, AbortKillsARunningCommandPromptly) {
  Handshake();
  auto t = Command({"sleep", "30"}, {}, {});
  SendWork(t, {Item(0, 0, Args({}))});
  // Running: the heartbeat says so.
  ASSERT_TRUE(WaitHeartbeat(milliseconds(5000), [](const wire::Heartbeat& h) { return h.running == 1; }));
  auto start = Clock::now();
  Send(wire::Kind::kAbort, wire::EncodeBody(wire::AckBatch{{wire::SubtaskKey{"e1", "n1", 0, 0}}}));
  auto results = CollectResults(1, milliseconds(5000));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, static_cast<uint8_t>(wire::Outcome::kAborted));
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
}

TEST_F(WorkerProcessTest, ResendsResultsUntilAcked) {
  Handshake();
  auto first = RunOne(Builtin("builtin.noop", {{"x", "int"}}), {Value(int64_t{5})}, 3, 1);
  ASSERT_EQ(first.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded));

  // Go silent: the worker declares us lost, reconnects with a new identity and says HELLO.
  answer_heartbeats_ = false;
  auto hello = WaitFor(wire::Kind::kHello, milliseconds(10000));
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->identity, "test-w-2");
  answer_heartbeats_ = true;
  // After our WELCOME (auto) the unacknowledged result comes again.
  auto again = CollectResults(1, milliseconds(5000));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].key, first.key);
  EXPECT_EQ(again[0].outputs, first.outputs);

  // A stale ACK (another attempt) releases nothing; the exact key does.
  Send(wire::Kind::kAck, wire::EncodeBody(wire::AckBatch{{wire::SubtaskKey{"e1", "n1", 3, 0}}}));
  auto held = WaitFor(wire::Kind::kHeartbeat, milliseconds(3000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->held == 1;
  });
  EXPECT_TRUE(held.has_value());
  Send(wire::Kind::kAck, wire::EncodeBody(wire::AckBatch{{first.key}}));
  auto released = WaitFor(wire::Kind::kHeartbeat, milliseconds(3000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->held == 0;
  });
  EXPECT_TRUE(released.has_value());
}

TEST_F(WorkerProcessTest, ResendsResultsToARestartedCoordinator) {
  Handshake();
  auto first = RunOne(Builtin("builtin.noop", {{"x", "int"}}), {Value(int64_t{9})});
  // The coordinator restarts on the same address.
  std::string endpoint = endpoint_;
  router_.close();
  // The old socket lets go of the port asynchronously.
  auto deadline = Clock::now() + milliseconds(5000);
  while (true) {
    try {
      Bind(endpoint);
      break;
    } catch (const zmq::error_t& e) {
      ASSERT_LT(Clock::now(), deadline) << "cannot re-bind " << endpoint << ": " << e.what();
      usleep(20000);
    }
  }
  forgot_worker_ = true;
  auto again = CollectResults(1, milliseconds(15000));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].key, first.key);
}

TEST_F(WorkerProcessTest, ReconnectMessageMakesTheWorkerSayHelloAgain) {
  Handshake();
  Send(wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{"coordinator", 0, 0, false}));
  auto hello = WaitFor(wire::Kind::kHello, milliseconds(3000));
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->identity, "test-w-1");  // same socket
}

TEST_F(WorkerProcessTest, SigtermDrainsRunningWorkAndExitsZero) {
  Handshake();
  SendWork(Builtin("builtin.sleep_ms", {{"ms", "int"}}), {Item(0, 0, Args({Value(int64_t{500})}))});
  ASSERT_TRUE(WaitHeartbeat(milliseconds(5000), [](const wire::Heartbeat& h) { return h.running == 1; }));
  kill(pid_, SIGTERM);
  ASSERT_TRUE(WaitHeartbeat(milliseconds(3000), [](const wire::Heartbeat& h) { return h.draining; }));
  // New work is refused at once.
  SendWork(Builtin("builtin.noop", {{"x", "int"}}), {Item(1, 0, Args({Value(int64_t{1})}))});
  auto results = CollectResults(2, milliseconds(5000));
  ASSERT_EQ(results.size(), 2u);
  wire::AckBatch ack;
  for (const auto& r : results) {
    if (r.key.index == 1) {
      EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSystemError));
      EXPECT_EQ(r.error, "worker draining");
    } else {
      EXPECT_EQ(r.outcome, static_cast<uint8_t>(wire::Outcome::kSucceeded)) << r.error;
    }
    ack.keys.push_back(r.key);
  }
  Send(wire::Kind::kAck, wire::EncodeBody(ack));
  ASSERT_TRUE(WaitFor(wire::Kind::kBye, milliseconds(5000)).has_value());
  auto status = WaitExit(milliseconds(5000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(WorkerProcessTest, SecondSignalStopsChildrenAndReportsThemAsShutDown) {
  Handshake();
  SendWork(Command({"sleep", "30"}, {}, {}), {Item(0, 0, Args({}))});
  ASSERT_TRUE(WaitHeartbeat(milliseconds(5000), [](const wire::Heartbeat& h) { return h.running == 1; }));
  kill(pid_, SIGTERM);
  ASSERT_TRUE(WaitHeartbeat(milliseconds(3000), [](const wire::Heartbeat& h) { return h.draining; }));
  kill(pid_, SIGINT);
  auto results = CollectResults(1, milliseconds(5000));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, static_cast<uint8_t>(wire::Outcome::kSystemError));
  EXPECT_EQ(results[0].error, "worker shut down");
  EXPECT_TRUE(WaitExit(milliseconds(5000)).has_value());
}

TEST_F(WorkerProcessTest, BadFlagsExitWithCode2) {
  StartWorker({"--slots", "zero"});
  auto status = WaitExit(milliseconds(5000));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 2);
}

}  // namespace
}  // namespace fanout::testing
