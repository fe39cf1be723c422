// Progress events (DESIGN §5, issue 3 §10): the coordinator publishes an execution's STATUS
// document on its event socket (XPUB) while it runs and once more when it has ended; a client
// subscribed to the execution id gets them without polling. Without an event socket
// (`--events-bind none`) `fanout run` still follows the execution, by reading STATUS.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/wire.h"
#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

constexpr int kN = 40;

// kN subtasks, 4 at a time, each waiting until the file GATE exists (none when empty) and
// then taking 100 ms.
std::string Spec(const std::string& gate = "") {
  std::string wait = gate.empty() ? "" : "while [ ! -e " + gate + " ]; do sleep 0.02; done; ";
  return MapSpec(wait + "sleep 0.1; echo {{inputs.x}}", kN, "", "        concurrency: 4\n");
}

TEST(ProgressEventsTest, SubscriberSeesCountsRiseAndTheEndWithoutPolling) {
  Cluster cluster;
  std::string gate = cluster.dir().Path("go");
  std::string spec = cluster.dir().WriteFile("slow.yaml", Spec(gate));
  std::string exec = cluster.Submit({spec});
  ASSERT_FALSE(exec.empty());

  nlohmann::json doc = cluster.Status(exec);
  ASSERT_TRUE(doc.is_object());
  ASSERT_TRUE(doc.contains("events_port")) << doc.dump(2);
  int port = doc["events_port"].get<int>();
  ASSERT_GT(port, 0);

  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, wire::EventTopic(exec));
  sub.connect("tcp://127.0.0.1:" + std::to_string(port));

  std::vector<nlohmann::json> events;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    zmq_pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 200) <= 0) continue;
    std::vector<zmq::message_t> frames;
    bool more = true;
    while (more) {
      zmq::message_t m;
      ASSERT_TRUE(sub.recv(m, zmq::recv_flags::none));
      more = m.more();
      frames.push_back(std::move(m));
    }
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].to_string(), wire::EventTopic(exec));
    auto kind = wire::ParseHeader(frames[1].to_string_view());
    ASSERT_TRUE(kind.has_value());
    EXPECT_EQ(*kind, wire::Kind::kProgress);
    auto ev = wire::DecodeBody<wire::ProgressEvent>(frames[2].to_string_view());
    ASSERT_TRUE(ev.has_value()) << ev.error().ToString();
    events.push_back(nlohmann::json::parse(ev->json));
    // A new subscriber gets the current document first; only then do the subtasks go on.
    if (events.size() == 1) cluster.dir().WriteFile("go", "");
    if (events.back()["phase"] != "RUNNING") break;
  }
  ASSERT_FALSE(events.empty()) << "no progress event arrived";
  // The first document, at least one while it ran (4 at a time, 10 rounds of 100 ms), the end;
  // counts never fall.
  EXPECT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["nodes"][0]["counts"]["succeeded"], 0);
  int64_t last = -1;
  for (const auto& e : events) {
    EXPECT_EQ(e["execution"], exec);
    int64_t done = e["nodes"][0]["counts"]["succeeded"].get<int64_t>();
    EXPECT_GE(done, last) << "succeeded went down";
    last = done;
  }
  EXPECT_EQ(events.back()["phase"], "SUCCEEDED") << events.back().dump(2);
  EXPECT_EQ(events.back()["nodes"][0]["counts"]["succeeded"], kN);
  // The end is published once it is stored: the outputs can be read at once.
  RunResult out = cluster.Fanout("outputs", exec, "-o", "json");
  ASSERT_EQ(out.exit_code, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out.out)["outputs"]["o0"].size(), static_cast<size_t>(kN));
}

TEST(ProgressEventsTest, RunAndWatchFollowByStatusWhenTheCoordinatorHasNoEventSocket) {
  ClusterOptions o;
  o.coordinator_args = {"--events-bind", "none"};
  Cluster cluster(o);
  std::string gate = cluster.dir().Path("go");
  std::string spec = cluster.dir().WriteFile("slow.yaml", Spec(gate));
  // While it runs (held at the gate), STATUS offers no event port.
  std::string exec = cluster.Submit({spec});
  ASSERT_FALSE(exec.empty());
  nlohmann::json st = cluster.Status(exec);
  ASSERT_EQ(st.value("phase", ""), "RUNNING") << st.dump(2);
  EXPECT_FALSE(st.contains("events_port")) << st.dump(2);
  cluster.dir().WriteFile("go", "");
  RunResult watch = cluster.Fanout("watch", exec, "-o", "json");
  ASSERT_EQ(watch.exit_code, 0) << watch;
  EXPECT_EQ(nlohmann::json::parse(watch.out)["outputs"]["o0"].size(), static_cast<size_t>(kN));

  RunResult run = cluster.Fanout("run", spec, "-o", "json");
  ASSERT_EQ(run.exit_code, 0) << run;
  auto doc = nlohmann::json::parse(run.out);
  EXPECT_EQ(doc["phase"], "SUCCEEDED");
  EXPECT_EQ(doc["outputs"]["o0"].size(), static_cast<size_t>(kN));
}

TEST(ProgressEventsTest, BadEventEndpointStopsTheCoordinatorWithExitTwo) {
  RedisServer redis;
  TempDir dir;
  Process coord({BinDir() + "/fanout-coordinator", "--redis", redis.Address(), "--bind",
                 "tcp://127.0.0.1:" + std::to_string(FreePort()), "--events-bind", "bogus://x"},
                dir.path());
  auto rc = coord.Wait(milliseconds(20000));
  ASSERT_TRUE(rc.has_value()) << "the coordinator kept running";
  EXPECT_EQ(*rc, 2);
  EXPECT_NE(coord.Stderr().find("event socket"), std::string::npos) << coord.Stderr();
}

}  // namespace
}  // namespace fanout::testing
