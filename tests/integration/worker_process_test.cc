// The worker daemon as a process: a real fanout-worker talks to a ZeroMQ ROUTER played by the
// test (the coordinator's side of DESIGN §5): HELLO/WELCOME, WORK → RESULT, ACK, ABORT,
// reconnects, the command contract, the drain on SIGTERM. Self-contained: it spawns the
// worker itself and needs no Redis.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/codec.h"
#include "common/value.h"
#include "common/wire.h"

namespace fanout {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string BinDir() {
  if (const char* env = std::getenv("FANOUT_BIN_DIR")) return env;
#ifdef FANOUT_BIN_DIR
  return FANOUT_BIN_DIR;
#else
  return "build/bin";
#endif
}

struct Msg {
  std::string identity;
  wire::Kind kind{};
  std::string body;
};

wire::TaskDesc Builtin(std::string fn, std::vector<wire::Param> inputs,
                       std::vector<wire::Param> outputs = {{"o0", "int"}}) {
  wire::TaskDesc t;
  t.name = fn;
  t.kind = static_cast<uint8_t>(wire::TaskKind::kFunction);
  t.function = std::move(fn);
  t.inputs = std::move(inputs);
  t.outputs = std::move(outputs);
  return t;
}

wire::TaskDesc Command(std::vector<std::string> argv, std::vector<wire::Param> inputs,
                       std::vector<wire::Param> outputs, int64_t timeout_ms = 0) {
  wire::TaskDesc t;
  t.name = "cmd";
  t.kind = static_cast<uint8_t>(wire::TaskKind::kCommand);
  t.command = std::move(argv);
  t.inputs = std::move(inputs);
  t.outputs = std::move(outputs);
  t.timeout_ms = timeout_ms;
  return t;
}

// A WORK item without a checkpoint.
wire::WorkItem Item(uint32_t index, uint32_t attempt, std::string args) {
  wire::WorkItem w;
  w.index = index;
  w.attempt = attempt;
  w.args = std::move(args);
  return w;
}

std::string Args(List values) { return EncodeMsgpack(Value(std::move(values))); }

List Outputs(const wire::ResultItem& r) {
  auto v = DecodeMsgpack(r.outputs);
  EXPECT_TRUE(v.has_value());
  return v && v->is_list() ? v->as_list() : List{};
}

class WorkerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    scratch_ =
        std::filesystem::temp_directory_path() / ("fanout-worker-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(scratch_);
    Bind("tcp://127.0.0.1:*");
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
  }

  void Bind(const std::string& endpoint) {
    router_ = zmq::socket_t(ctx_, zmq::socket_type::router);
    router_.set(zmq::sockopt::linger, 0);
    router_.bind(endpoint);
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }

  // Starts fanout-worker against our ROUTER; it dies with the test (PR_SET_PDEATHSIG).
  void StartWorker(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {BinDir() + "/fanout-worker",
                                     "--coordinator",
                                     endpoint_,
                                     "--id",
                                     "test-w",
                                     "--slots",
                                     "4",
                                     "--heartbeat-ms",
                                     "100",
                                     "--liveness",
                                     "3",
                                     "--kill-grace-ms",
                                     "500",
                                     "--scratch",
                                     (scratch_ / "w").string(),
                                     "--log-level",
                                     "debug"};
    for (auto& a : extra) args.push_back(std::move(a));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = getpid();
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }

  // Receives one message within the timeout. Heartbeats are answered (the coordinator's half of
  // the heartbeat) unless answer_heartbeats_ is false; HELLO is answered with WELCOME when
  // auto_welcome_ is set.
  std::optional<Msg> Recv(milliseconds timeout) {
    zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, timeout);
    if (!(items[0].revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> frames;
    bool more = true;
    while (more) {
      zmq::message_t m;
      (void)router_.recv(m);
      more = m.more();
      frames.push_back(std::move(m));
    }
    EXPECT_EQ(frames.size(), 3u);
    if (frames.size() != 3) return std::nullopt;
    auto kind = wire::ParseHeader(frames[1].to_string_view());
    EXPECT_TRUE(kind.has_value());
    if (!kind) return std::nullopt;
    Msg msg{frames[0].to_string(), *kind, frames[2].to_string()};
    identity_ = msg.identity;
    if (msg.kind == wire::Kind::kHello) forgot_worker_ = false;
    if (msg.kind == wire::Kind::kHeartbeat && forgot_worker_) {
      // A restarted coordinator does not know this worker: "say HELLO again".
      Send(wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{"coordinator", 0, 0, false}));
    } else if (msg.kind == wire::Kind::kHeartbeat && answer_heartbeats_) {
      Send(wire::Kind::kHeartbeat, wire::EncodeBody(wire::Heartbeat{"coordinator", 0, 0, false}));
    }
    if (msg.kind == wire::Kind::kHello && auto_welcome_) {
      Send(wire::Kind::kWelcome, wire::EncodeBody(wire::Welcome{7, 100}));
    }
    return msg;
  }

  // Receives until a message of `kind` that satisfies `pred` arrives, within the deadline.
  std::optional<Msg> WaitFor(wire::Kind kind, milliseconds timeout,
                             std::function<bool(const Msg&)> pred = nullptr) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      auto m = Recv(std::max(left, milliseconds(1)));
      if (m && m->kind == kind && (!pred || pred(*m))) return m;
    }
    return std::nullopt;
  }

  // Collects results until `n` distinct keys arrived.
  std::vector<wire::ResultItem> CollectResults(size_t n, milliseconds timeout) {
    std::vector<wire::ResultItem> out;
    auto deadline = Clock::now() + timeout;
    while (out.size() < n && Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      auto m = WaitFor(wire::Kind::kResult, std::max(left, milliseconds(1)));
      if (!m) break;
      auto batch = wire::DecodeBody<wire::ResultBatch>(m->body);
      EXPECT_TRUE(batch.has_value());
      if (!batch) break;
      for (auto& r : batch->results) out.push_back(std::move(r));
    }
    return out;
  }

  void Send(wire::Kind kind, const std::string& body) {
    router_.send(zmq::buffer(identity_), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(wire::Header(kind)), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(body), zmq::send_flags::none);
  }

  // Starts the worker and completes HELLO/WELCOME; returns the HELLO.
  wire::Hello Handshake(std::vector<std::string> extra = {}) {
    StartWorker(std::move(extra));
    auto m = WaitFor(wire::Kind::kHello, milliseconds(10000));
    EXPECT_TRUE(m.has_value()) << "no HELLO from the worker";
    if (!m) return {};
    auto hello = wire::DecodeBody<wire::Hello>(m->body);
    EXPECT_TRUE(hello.has_value());
    return hello ? *hello : wire::Hello{};
  }

  void SendWork(const wire::TaskDesc& task, std::vector<wire::WorkItem> items,
                std::string exec = "e1", std::string node = "n1") {
    wire::WorkBatch b{std::move(exec), std::move(node), task, std::move(items)};
    Send(wire::Kind::kWork, wire::EncodeBody(b));
  }

  // Runs one command item and returns its result.
  wire::ResultItem RunOne(const wire::TaskDesc& task, List args, uint32_t index = 0,
                          uint32_t attempt = 0, milliseconds timeout = milliseconds(10000)) {
    SendWork(task, {Item(index, attempt, Args(std::move(args)))});
    auto results = CollectResults(1, timeout);
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? wire::ResultItem{} : results[0];
  }

  // Waits for the worker to exit; returns its wait status.
  std::optional<int> WaitExit(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      Recv(milliseconds(20));  // keep answering while it drains
    }
    return std::nullopt;
  }

  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::string identity_;
  std::filesystem::path scratch_;
  pid_t pid_ = -1;
  bool answer_heartbeats_ = true;
  bool auto_welcome_ = true;
  bool forgot_worker_ = false;  // answer heartbeats with RECONNECT until the next HELLO
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
  auto hb = WaitFor(wire::Kind::kHeartbeat, milliseconds(5000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->held == 0 && h->running == 0;
  });
  EXPECT_TRUE(hb.has_value());
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
  ASSERT_TRUE(WaitFor(wire::Kind::kHeartbeat, milliseconds(5000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->running == 1;
  }));
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
  ASSERT_TRUE(WaitFor(wire::Kind::kHeartbeat, milliseconds(5000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->running == 1;
  }));
  kill(pid_, SIGTERM);
  ASSERT_TRUE(WaitFor(wire::Kind::kHeartbeat, milliseconds(3000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->draining;
  }));
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
  ASSERT_TRUE(WaitFor(wire::Kind::kHeartbeat, milliseconds(5000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->running == 1;
  }));
  kill(pid_, SIGTERM);
  ASSERT_TRUE(WaitFor(wire::Kind::kHeartbeat, milliseconds(3000), [](const Msg& m) {
    auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
    return h && h->draining;
  }));
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
}  // namespace fanout
