#include "tests/integration/harness_fake_coordinator.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <utility>

#include "common/codec.h"

namespace fanout::testing {

wire::TaskDesc Builtin(std::string fn, std::vector<wire::Param> inputs,
                       std::vector<wire::Param> outputs) {
  wire::TaskDesc t;
  t.name = fn;
  t.kind = static_cast<uint8_t>(wire::TaskKind::kFunction);
  t.function = std::move(fn);
  t.inputs = std::move(inputs);
  t.outputs = std::move(outputs);
  return t;
}

wire::TaskDesc Command(std::vector<std::string> argv, std::vector<wire::Param> inputs,
                       std::vector<wire::Param> outputs, int64_t timeout_ms) {
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


void FakeCoordinatorTest::SetUp() {
  signal(SIGPIPE, SIG_IGN);
  scratch_ =
      std::filesystem::temp_directory_path() / (scratch_prefix_ + std::to_string(getpid()));
  std::filesystem::create_directories(scratch_);
  Bind("tcp://127.0.0.1:*");
}

void FakeCoordinatorTest::TearDown() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(scratch_, ec);
}

void FakeCoordinatorTest::Bind(const std::string& endpoint) {
  router_ = zmq::socket_t(ctx_, zmq::socket_type::router);
  router_.set(zmq::sockopt::linger, 0);
  router_.bind(endpoint);
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
}

void FakeCoordinatorTest::StartWorker(std::vector<std::string> extra) {
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

std::optional<Msg> FakeCoordinatorTest::Recv(milliseconds timeout) {
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

std::optional<Msg> FakeCoordinatorTest::WaitFor(wire::Kind kind, milliseconds timeout,
                                                std::function<bool(const Msg&)> pred) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    auto m = Recv(std::max(left, milliseconds(1)));
    if (m && m->kind == kind && (!pred || pred(*m))) return m;
  }
  return std::nullopt;
}

bool FakeCoordinatorTest::WaitHeartbeat(milliseconds timeout,
                                        const std::function<bool(const wire::Heartbeat&)>& pred) {
  return WaitFor(wire::Kind::kHeartbeat, timeout, [&](const Msg& m) {
           auto h = wire::DecodeBody<wire::Heartbeat>(m.body);
           return h && pred(*h);
         }).has_value();
}

bool FakeCoordinatorTest::PumpUntil(const std::function<bool()>& cond, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!cond() && Clock::now() < deadline) Recv(milliseconds(20));
  return cond();
}

std::vector<wire::ResultItem> FakeCoordinatorTest::CollectResults(size_t n, milliseconds timeout) {
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

void FakeCoordinatorTest::Send(wire::Kind kind, const std::string& body) {
  router_.send(zmq::buffer(identity_), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(wire::Header(kind)), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(body), zmq::send_flags::none);
}

wire::Hello FakeCoordinatorTest::Handshake(std::vector<std::string> extra) {
  StartWorker(std::move(extra));
  auto m = WaitFor(wire::Kind::kHello, milliseconds(10000));
  EXPECT_TRUE(m.has_value()) << "no HELLO from the worker";
  if (!m) return {};
  auto hello = wire::DecodeBody<wire::Hello>(m->body);
  EXPECT_TRUE(hello.has_value());
  return hello ? *hello : wire::Hello{};
}

void FakeCoordinatorTest::SendWork(const wire::TaskDesc& task, std::vector<wire::WorkItem> items,
                                   std::string exec, std::string node) {
  wire::WorkBatch b{std::move(exec), std::move(node), task, std::move(items)};
  Send(wire::Kind::kWork, wire::EncodeBody(b));
}

wire::ResultItem FakeCoordinatorTest::RunOne(const wire::TaskDesc& task, List args, uint32_t index,
                                             uint32_t attempt, milliseconds timeout) {
  SendWork(task, {Item(index, attempt, Args(std::move(args)))});
  auto results = CollectResults(1, timeout);
  EXPECT_EQ(results.size(), 1u);
  return results.empty() ? wire::ResultItem{} : results[0];
}

std::optional<int> FakeCoordinatorTest::WaitExit(milliseconds timeout) {
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

}  // namespace fanout::testing
