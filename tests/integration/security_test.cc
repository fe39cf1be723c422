// Issue 10, tried as an attacker would: small ZeroMQ peers written here against a coordinator
// with CurveZMQ keys (made with the real `fanout keygen`), and the event publisher's topics.
// Every refusal is observed as an event (a failed handshake on the peer's socket monitor, a
// missing WELCOME before a later one on the same connection), never as silence for a while.
#include <gtest/gtest.h>
#include <uv.h>
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <sys/stat.h>
#include <cstring>
#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/curve_keys.h"
#include "common/wire.h"
#include "coordinator/events.h"
#include "tests/integration/harness.h"
#include "tests/integration/process_scan.h"

namespace fanout::testing {
namespace {

using std::chrono::milliseconds;

// One raw peer: a DEALER (or SUB) with an optional CURVE key pair and a socket monitor.
class Peer {
 public:
  Peer(zmq::socket_type type, const std::optional<CurvePeerKeys>& keys, const std::string& routing_id = "")
      : sock_(ctx_, type), monitor_(ctx_, zmq::socket_type::pair) {
    static std::atomic<int> seq{0};
    std::string at = "inproc://monitor-" + std::to_string(seq++);
    EXPECT_EQ(zmq_socket_monitor(sock_.handle(), at.c_str(), ZMQ_EVENT_ALL), 0);
    monitor_.connect(at);
    sock_.set(zmq::sockopt::linger, 0);
    if (!routing_id.empty()) sock_.set(zmq::sockopt::routing_id, routing_id);
    if (keys) ApplyCurveClient(sock_, *keys);
  }
  ~Peer() {
    zmq_socket_monitor(sock_.handle(), nullptr, 0);
  }

  void Connect(const std::string& at) { sock_.connect(at); }
  zmq::socket_t& socket() { return sock_; }

  void Send(wire::Kind kind, const std::string& body) {
    std::string header = wire::Header(kind);
    sock_.send(zmq::buffer(header), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(body), zmq::send_flags::none);
  }

  // The next message (all frames), or nullopt when none came before the deadline.
  std::optional<std::vector<std::string>> Recv(milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq_pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, 50) <= 0) continue;
      std::vector<std::string> frames;
      bool more = true;
      while (more) {
        zmq::message_t m;
        if (!sock_.recv(m, zmq::recv_flags::none)) break;
        more = m.more();
        frames.push_back(m.to_string());
      }
      return frames;
    }
    return std::nullopt;
  }

  // Waits for one of `wanted` socket events (ZMQ_EVENT_*); returns the event seen, or 0. Every
  // event read on the way is remembered in seen().
  int WaitEvent(std::initializer_list<int> wanted, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq_pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, 50) <= 0) continue;
      zmq::message_t ev, addr;
      if (!monitor_.recv(ev, zmq::recv_flags::none)) continue;
      if (ev.more()) (void)monitor_.recv(addr, zmq::recv_flags::none);
      uint16_t id = 0;
      std::memcpy(&id, ev.data(), sizeof id);
      seen_.push_back(id);
      for (int w : wanted)
        if (w == id) return id;
    }
    return 0;
  }
  bool Saw(int event) const { return std::find(seen_.begin(), seen_.end(), event) != seen_.end(); }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t sock_;
  zmq::socket_t monitor_;
  std::vector<int> seen_;
};

constexpr int kHandshakeFailed[] = {ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL};

std::string QueryBody(uint64_t rid) { return wire::EncodeBody(wire::QueryRequest{rid, "", false}); }

std::string HelloBody(const std::string& worker_id) {
  wire::Hello h;
  h.worker_id = worker_id;
  h.slots = 1;
  return wire::EncodeBody(h);
}

// The kinds of the messages `frames` lists (DEALER: [header, body]).
std::optional<wire::Kind> KindOf(const std::vector<std::string>& frames) {
  if (frames.size() != 2) return std::nullopt;
  auto k = wire::ParseHeader(frames[0]);
  if (!k) return std::nullopt;
  return *k;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = new TempDir("fanout-security-keys");
    const std::string k = keys_->path();
    const std::string fanout = BinDir() + "/fanout";
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{fanout, "keygen", "--coordinator-dir", k + "/coord"},
          {fanout, "keygen", "alice", "--dir", k, "--allow", k + "/coord/clients"},
          {fanout, "keygen", "w1", "--dir", k, "--allow", k + "/coord/workers"},
          {fanout, "keygen", "w2", "--dir", k, "--allow", k + "/coord/workers"},
          {fanout, "keygen", "mallory", "--dir", k}}) {
      RunResult r = fanout::testing::Run(argv);
      ASSERT_EQ(r.exit_code, 0) << r;
    }
    ClusterOptions o;
    o.workers = 1;
    o.slots = 2;
    events_port_ = FreePort();
    o.coordinator_args = {"--keys-dir", k + "/coord", "--events-bind",
                          "tcp://127.0.0.1:" + std::to_string(events_port_)};
    o.worker_args = {"--server-key", k + "/coord/server.pub", "--key", k + "/w1.key", "--id", "victim-w"};
    o.env = {{"FANOUT_SERVER_KEY", k + "/coord/server.pub"}, {"FANOUT_KEY", k + "/alice.key"}};
    cluster_ = new Cluster(o);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete keys_;
    keys_ = nullptr;
  }

  static CurvePeerKeys KeysOf(const std::string& name) {
    auto server = LoadPublicKey(keys_->path() + "/coord/server.pub");
    auto own = LoadSecretKey(keys_->path() + "/" + name + ".key");
    EXPECT_TRUE(server.has_value() && own.has_value()) << name;
    return CurvePeerKeys{server.value_or(""), own.value_or(CurveKeyPair{})};
  }

  // `fanout workers -o json` as the listed client.
  static nlohmann::json Workers() {
    RunResult r = cluster_->Fanout("workers", "-o", "json");
    EXPECT_EQ(r.exit_code, 0) << r;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  static inline TempDir* keys_ = nullptr;
  static inline int events_port_ = 0;
  static inline Cluster* cluster_ = nullptr;
};

TEST_F(SecurityTest, AListedClientKeyIsAnswered) {
  Peer alice(zmq::socket_type::dealer, KeysOf("alice"));
  alice.Connect(cluster_->Address());
  alice.Send(wire::Kind::kHealth, QueryBody(7));
  auto reply = alice.Recv(milliseconds(20000));
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(KindOf(*reply), wire::Kind::kReply);
  EXPECT_EQ(wire::DecodeBody<wire::Reply>((*reply)[1])->rid, 7u);
}

TEST_F(SecurityTest, AnUnknownKeyIsRefusedAtTheHandshake) {
  Peer mallory(zmq::socket_type::dealer, KeysOf("mallory"));
  mallory.Connect(cluster_->Address());
  mallory.Send(wire::Kind::kHealth, QueryBody(1));
  EXPECT_EQ(mallory.WaitEvent({ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, ZMQ_EVENT_HANDSHAKE_SUCCEEDED}, milliseconds(20000)),
            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  EXPECT_FALSE(mallory.Saw(ZMQ_EVENT_HANDSHAKE_SUCCEEDED));
}

TEST_F(SecurityTest, APlainClientIsRefusedByTheCurveSocket) {
  Peer plain(zmq::socket_type::dealer, std::nullopt);
  plain.Connect(cluster_->Address());
  plain.Send(wire::Kind::kHealth, QueryBody(1));
  int ev = plain.WaitEvent({kHandshakeFailed[0], kHandshakeFailed[1], kHandshakeFailed[2], ZMQ_EVENT_HANDSHAKE_SUCCEEDED},
                           milliseconds(20000));
  EXPECT_NE(ev, 0) << "no handshake outcome";
  EXPECT_NE(ev, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
}

TEST_F(SecurityTest, AWorkerKeyCannotFollowEvents) {
  Peer sub(zmq::socket_type::sub, KeysOf("w2"));
  sub.socket().set(zmq::sockopt::subscribe, "");
  sub.Connect("tcp://127.0.0.1:" + std::to_string(events_port_));
  EXPECT_EQ(sub.WaitEvent({ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, ZMQ_EVENT_HANDSHAKE_SUCCEEDED}, milliseconds(20000)),
            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
}

// Row 2: a client key saying HELLO. The same connection then asks WORKERS: its answer comes
// after the HELLO was handled (one connection is read in order), and no WELCOME came first.
TEST_F(SecurityTest, AClientKeySendingHelloIsNotWelcomed) {
  Peer alice(zmq::socket_type::dealer, KeysOf("alice"));
  alice.Connect(cluster_->Address());
  alice.Send(wire::Kind::kHello, HelloBody("intruder"));
  alice.Send(wire::Kind::kWorkers, QueryBody(9));
  auto first = alice.Recv(milliseconds(20000));
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(KindOf(*first), wire::Kind::kReply) << "the HELLO of a client key was answered";
  auto reply = wire::DecodeBody<wire::Reply>((*first)[1]);
  ASSERT_TRUE(reply.has_value());
  nlohmann::json doc = nlohmann::json::parse(reply->json);
  for (const auto& w : doc["workers"]) EXPECT_NE(w["id"], "intruder") << doc.dump();
}

// Row 1 from a worker key: a SUBMIT of a command is dropped; the HELLO after it is welcomed.
TEST_F(SecurityTest, AWorkerKeySendingSubmitRunsNothing) {
  Peer w2(zmq::socket_type::dealer, KeysOf("w2"), "w2-submitter-1");
  w2.Connect(cluster_->Address());
  wire::SubmitRequest req;
  req.rid = 77;
  req.spec_name = "intruder.yaml";
  req.spec_text = R"(version: 1
tasks:
  t: {command: [sh, -c, "echo 1"], inputs: {x: int}, outputs: {o0: int}}
workflows:
  intruder_workflow:
    nodes: [{id: n, map: t, inputs: {x: [1]}}]
    outputs: {o0: $n.o0}
)";
  w2.Send(wire::Kind::kSubmit, wire::EncodeBody(req));
  w2.Send(wire::Kind::kHello, HelloBody("w2-submitter"));
  auto first = w2.Recv(milliseconds(20000));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(KindOf(*first), wire::Kind::kWelcome) << "the SUBMIT of a worker key was answered";
  w2.Send(wire::Kind::kBye, wire::EncodeBody(wire::Heartbeat{}));
  RunResult list = cluster_->Fanout("list", "-o", "json");
  ASSERT_EQ(list.exit_code, 0) << list;
  EXPECT_EQ(list.out.find("intruder_workflow"), std::string::npos) << list.out;
}

// Row 3: another worker key says HELLO with the running worker's id; it is not welcomed, the
// victim stays registered as itself and keeps working.
TEST_F(SecurityTest, AStolenWorkerIdIsRefusedAndTheVictimKeepsWorking) {
  ASSERT_TRUE(cluster_->WaitForWorkers(1, milliseconds(30000)));
  Peer thief(zmq::socket_type::dealer, KeysOf("w2"), "thief-1");
  thief.Connect(cluster_->Address());
  wire::Hello stolen;
  stolen.worker_id = "victim-w";
  stolen.slots = 100000;
  stolen.functions = {"builtin.noop"};
  thief.Send(wire::Kind::kHello, wire::EncodeBody(stolen));
  thief.Send(wire::Kind::kHello, HelloBody("thief-own"));
  auto first = thief.Recv(milliseconds(20000));
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(KindOf(*first), wire::Kind::kWelcome);
  nlohmann::json doc = Workers();
  bool victim_listed = false;
  for (const auto& w : doc["workers"]) {
    if (w["id"] != "victim-w") continue;
    victim_listed = true;
    EXPECT_EQ(w["pid"].get<int64_t>(), static_cast<int64_t>(cluster_->worker(0).Pid())) << doc.dump();
    EXPECT_EQ(w["slots"], 2) << doc.dump();
  }
  EXPECT_TRUE(victim_listed) << doc.dump();
  thief.Send(wire::Kind::kBye, wire::EncodeBody(wire::Heartbeat{}));
  std::string spec = cluster_->dir().WriteFile("noop.yaml", R"(version: 1
tasks:
  t: {function: builtin.noop, inputs: {x: int}, outputs: {o0: int}}
workflows:
  w:
    nodes: [{id: n, map: t, inputs: {x: [1, 2, 3]}}]
    outputs: {o0: $n.o0}
)");
  RunResult run = cluster_->Fanout("run", spec, "-o", "json");
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(nlohmann::json::parse(run.out)["outputs"]["o0"], nlohmann::json::parse("[1,2,3]")) << run.out;
}

// Row 11: spec A caches `echo 999` under task name t; spec B gives t (same interface) the
// command `echo 1` and must get its own outputs, not A's.
TEST_F(SecurityTest, ASpecCannotPlantCachedOutputsForAnotherSpecsCommand) {
  auto spec = [](const std::string& name, const std::string& echo) {
    return cluster_->dir().WriteFile(name, R"(version: 1
tasks:
  t:
    command: [sh, -c, "echo )" + echo + R"("]
    inputs: {x: int}
    outputs: {o0: int}
    cache: {enabled: true, version: "1"}
workflows:
  w:
    nodes: [{id: n, map: t, inputs: {x: [1, 2]}}]
    outputs: {o0: $n.o0}
)");
  };
  RunResult a = cluster_->Fanout("run", spec("poison-a.yaml", "999"), "-o", "json");
  ASSERT_EQ(a.exit_code, 0) << a;
  EXPECT_EQ(nlohmann::json::parse(a.out)["outputs"]["o0"], nlohmann::json::parse("[999,999]")) << a.out;
  RunResult b = cluster_->Fanout("run", spec("poison-b.yaml", "1"), "-o", "json");
  ASSERT_EQ(b.exit_code, 0) << b;
  EXPECT_EQ(nlohmann::json::parse(b.out)["outputs"]["o0"], nlohmann::json::parse("[1,1]")) << b.out;
}

// Row 9: a frame larger than any valid message is refused by ZeroMQ (ZMQ_MAXMSGSIZE) as its
// length arrives: the sender is disconnected and the coordinator carries on.
TEST_F(SecurityTest, AnOversizedFrameDropsTheConnectionAndTheCoordinatorCarriesOn) {
  Peer alice(zmq::socket_type::dealer, KeysOf("alice"));
  alice.Connect(cluster_->Address());
  ASSERT_EQ(alice.WaitEvent({ZMQ_EVENT_HANDSHAKE_SUCCEEDED}, milliseconds(20000)), ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  std::string huge(wire::kMaxBodyBytes + (2u << 20), 'x');
  alice.Send(wire::Kind::kSubmit, huge);
  huge.clear();
  huge.shrink_to_fit();
  EXPECT_EQ(alice.WaitEvent({ZMQ_EVENT_DISCONNECTED}, milliseconds(60000)), ZMQ_EVENT_DISCONNECTED);
  RunResult h = cluster_->Fanout("health");
  EXPECT_EQ(h.exit_code, 0) << h;
  EXPECT_TRUE(cluster_->coordinator()->Running());
}

// Without keys a coordinator binds loopback only: a wider bind is refused (exit 2, saying why)
// unless --insecure says so; it is refused before Redis is even needed.
TEST(CoordinatorBindTest, WithoutKeysANonLoopbackBindIsRefusedUnlessInsecure) {
  TempDir dir("fanout-security-bind");
  Env env = {{"FANOUT_HOME", dir.Path("home")}};
  std::string bind = "tcp://0.0.0.0:" + std::to_string(FreePort());
  Process refused({BinDir() + "/fanout-coordinator", "--redis", "127.0.0.1:1", "--bind", bind}, dir.path(), env);
  auto rc = refused.Wait(milliseconds(20000));
  ASSERT_TRUE(rc.has_value()) << "the coordinator kept running";
  EXPECT_EQ(*rc, 2);
  EXPECT_NE(refused.Stderr().find("without keys"), std::string::npos) << refused.Stderr();

  RedisServer redis(dir.Path("redis"));
  Process insecure({BinDir() + "/fanout-coordinator", "--redis", redis.Address(), "--bind", bind, "--insecure"},
                   dir.path(), env, {}, "insecure");
  EXPECT_TRUE(WaitFor([&] { return insecure.Stdout().find("FANOUT_COORDINATOR_LISTENING=") != std::string::npos; },
                      milliseconds(30000)))
      << insecure.Stderr();
  EXPECT_NE(insecure.Stderr().find("--insecure"), std::string::npos) << insecure.Stderr();
}

// The coordinator's caps, through the CLI: a submission beyond --max-executions is refused
// (exit 1, naming the flag) while one runs, and accepted once it ended; a list input beyond
// --max-node-elements is a usage error (exit 2, naming the input).
TEST(CoordinatorLimitsTest, ExecutionsInFlightAndElementsPerNodeAreCappedWithClearErrors) {
  ClusterOptions o;
  o.workers = 1;
  o.slots = 2;
  o.coordinator_args = {"--max-executions", "1", "--max-node-elements", "4"};
  Cluster cluster(o);
  std::string spec = cluster.dir().WriteFile("sleep.yaml", R"(version: 1
tasks:
  sleep: {function: builtin.sleep_ms, inputs: {ms: int}, outputs: {o0: int}}
workflows:
  w:
    inputs:
      ms: {type: "list<int>", default: [1500, 1500]}
    nodes:
      - {id: m, map: sleep, inputs: {ms: $inputs.ms}}
    outputs: {o0: $m.o0}
)");
  std::string running = cluster.Submit({spec});
  ASSERT_FALSE(running.empty());
  RunResult refused = cluster.Fanout("run", spec, "--no-wait");
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_NE(refused.err.find("--max-executions 1"), std::string::npos) << refused;
  RunResult too_long = cluster.Fanout("run", spec, "-i", "ms=[1,1,1,1,1]", "--no-wait");
  EXPECT_EQ(too_long.exit_code, 2) << too_long;
  EXPECT_NE(too_long.err.find("input 'ms': 5 elements, more than the limit of 4"), std::string::npos) << too_long;
  RunResult done = cluster.Fanout("watch", running, "-o", "json");
  ASSERT_EQ(done.exit_code, 0) << done;
  RunResult again = cluster.Fanout("run", spec, "-i", "ms=[1,1,1,1]");
  EXPECT_EQ(again.exit_code, 0) << again;
}

// `fanout local` makes its keys and a Redis password on first use and uses them with no user
// step: the CLI of its home runs a workflow, a plain client is refused, Redis wants the
// password, and the password is on no command line.
class LocalClusterSecurityTest : public ::testing::Test {
 protected:
  ~LocalClusterSecurityTest() override {
    local_.reset();
    KillMarked("FANOUT_HOME=" + home_.path());
  }
  TempDir home_{"fanout-security-home"};
  TempDir logs_{"fanout-security-logs"};
  std::unique_ptr<Process> local_;
};

TEST_F(LocalClusterSecurityTest, LocalMakesItsKeysAndRedisPasswordAndUsesThemWithoutAUserStep) {
  Env env = {{"FANOUT_HOME", home_.path()}, {"FANOUT_COORDINATOR", ""}, {"FANOUT_TIMEOUT", "5s"}};
  local_ = std::make_unique<Process>(std::vector<std::string>{BinDir() + "/fanout", "local", "--workers", "1"},
                                     logs_.path(), env, SourceDir(), "local");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(home_.Path("local.json")).find("coordinator") != std::string::npos; },
                      milliseconds(60000)))
      << local_->Stderr();
  std::string address = nlohmann::json::parse(ReadFile(home_.Path("local.json")))["coordinator"];
  auto mode = [](const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
  };
  EXPECT_EQ(mode(home_.Path("keys")), 0700);
  EXPECT_EQ(mode(home_.Path("keys/server.key")), 0600);
  EXPECT_EQ(mode(home_.Path("keys/client.key")), 0600);
  EXPECT_EQ(mode(home_.Path("redis.pass")), 0600);

  std::string spec = home_.WriteFile("noop.yaml", R"(version: 1
tasks:
  t: {function: builtin.noop, inputs: {x: int}, outputs: {o0: int}}
workflows:
  w:
    nodes: [{id: n, map: t, inputs: {x: [4, 5]}}]
    outputs: {o0: $n.o0}
)");
  RunResult run = fanout::testing::Run({BinDir() + "/fanout", "run", spec, "-o", "json"}, env, SourceDir(), milliseconds(120000));
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(nlohmann::json::parse(run.out)["outputs"]["o0"], nlohmann::json::parse("[4,5]")) << run.out;

  // Without the keys (another home), the coordinator refuses the handshake.
  Peer plain(zmq::socket_type::dealer, std::nullopt);
  plain.Connect(address);
  plain.Send(wire::Kind::kHealth, QueryBody(1));
  int ev = plain.WaitEvent({kHandshakeFailed[0], kHandshakeFailed[1], kHandshakeFailed[2], ZMQ_EVENT_HANDSHAKE_SUCCEEDED},
                           milliseconds(20000));
  EXPECT_NE(ev, 0);
  EXPECT_NE(ev, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);

  std::string password = ReadFile(home_.Path("redis.pass"));
  while (!password.empty() && password.back() == '\n') password.pop_back();
  ASSERT_GE(password.size(), 32u);
  std::vector<MarkedProcess> daemons = ProcessesWithMarker("FANOUT_HOME=" + home_.path());
  bool saw_coordinator = false;
  for (const MarkedProcess& p : daemons) {
    EXPECT_EQ(p.cmdline.find(password), std::string::npos) << "the Redis password is on a command line: " << p.cmdline;
    saw_coordinator = saw_coordinator || p.cmdline.find("fanout-coordinator") != std::string::npos;
  }
  EXPECT_TRUE(saw_coordinator) << Describe(daemons);
  // "fanout local: redis 127.0.0.1:PORT, ...": without the password, Redis refuses.
  std::string log = local_->Stderr();
  auto at = log.find("redis 127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  std::string port = log.substr(at + 16, log.find(',', at) - at - 16);
  RunResult ping = fanout::testing::Run({"redis-cli", "-p", port, "ping"});
  EXPECT_NE((ping.out + ping.err).find("NOAUTH"), std::string::npos) << ping;
  local_->Kill(SIGTERM);
  EXPECT_TRUE(local_->Wait(milliseconds(60000)).has_value());
}

// Row 8: the event publisher (a real XPUB on a loop in this process). Subscriber S asks for the
// prefix "e" and then for "e2" exactly; T follows "e1". S's two subscriptions reach the
// publisher in order, so once both executions are followed S's prefix was seen; e1's document
// is published before e2's, so a prefix match would be the first thing S receives.
TEST(EventTopicTest, APrefixSubscriptionReceivesNothing) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    zmq::context_t ctx(1);
    EventPublisher pub(&loop, ctx, [](const std::string&) { return std::optional<std::string>(); }, 60000);
    ASSERT_TRUE(pub.Bind("tcp://127.0.0.1:*").ok());
    Peer s(zmq::socket_type::sub, std::nullopt);
    Peer t(zmq::socket_type::sub, std::nullopt);
    s.socket().set(zmq::sockopt::subscribe, "e");
    s.socket().set(zmq::sockopt::subscribe, "");
    s.socket().set(zmq::sockopt::subscribe, wire::EventTopic("e2"));
    t.socket().set(zmq::sockopt::subscribe, wire::EventTopic("e1"));
    s.Connect(pub.endpoint());
    t.Connect(pub.endpoint());
    ASSERT_TRUE(WaitFor(
        [&] {
          uv_run(&loop, UV_RUN_NOWAIT);
          return pub.subscriptions() == 2;
        },
        milliseconds(20000)));
    pub.Publish("e1", R"({"execution":"e1"})");
    pub.Publish("e2", R"({"execution":"e2"})");
    uv_run(&loop, UV_RUN_NOWAIT);
    auto got_t = t.Recv(milliseconds(20000));
    ASSERT_TRUE(got_t.has_value());
    EXPECT_EQ((*got_t)[0], wire::EventTopic("e1"));
    auto got_s = s.Recv(milliseconds(20000));
    ASSERT_TRUE(got_s.has_value());
    EXPECT_EQ((*got_s)[0], wire::EventTopic("e2")) << "a prefix subscription received another execution's events";
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace fanout::testing
