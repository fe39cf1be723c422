// The CLI client against a fake coordinator ROUTER in a thread (real ZeroMQ, loopback).
#include "cli/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace fanout::cli {
namespace {

using std::chrono::milliseconds;

// Answers QueryRequests by their exec field:
//   "missing": kNotFound;  "silent": no answer;  "stale": a reply with a wrong rid first;
//   anything else: {"exec": EXEC, "kind": KIND}.
class FakeCoordinator {
 public:
  FakeCoordinator() : sock_(ctx_, zmq::socket_type::router) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.bind("tcp://127.0.0.1:*");
    address_ = sock_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeCoordinator() {
    stop_ = true;
    thread_.join();
  }
  const std::string& address() const { return address_; }

 private:
  void Reply(zmq::message_t& id, wire::Reply r) {
    sock_.send(zmq::buffer(id.to_string_view()), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(wire::Header(wire::Kind::kReply)), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(wire::EncodeBody(r)));
  }

  void Loop() {
    while (!stop_) {
      zmq_pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, 20) <= 0) continue;
      zmq::message_t id, header, body;
      (void)sock_.recv(id);
      (void)sock_.recv(header);
      (void)sock_.recv(body);
      Result<wire::Kind> kind = wire::ParseHeader(header.to_string_view());
      Result<wire::QueryRequest> q = wire::DecodeBody<wire::QueryRequest>(body.to_string_view());
      if (!kind || !q) continue;
      if (q->exec == "silent") continue;
      if (q->exec == "missing") {
        Reply(id, {q->rid, static_cast<uint8_t>(Code::kNotFound), "no execution 'missing'", ""});
        continue;
      }
      if (q->exec == "stale") Reply(id, {q->rid + 1000, 0, "", R"({"stale": true})"});
      nlohmann::json doc = {{"exec", q->exec}, {"kind", static_cast<int>(*kind)}};
      Reply(id, {q->rid, 0, "", doc.dump()});
    }
  }

  zmq::context_t ctx_;
  zmq::socket_t sock_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(CliClientTest, QueryReturnsTheReplyDocument) {
  FakeCoordinator fake;
  Client c(fake.address(), milliseconds(2000));
  Result<Json> r = c.Query(wire::Kind::kStatus, "e1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["exec"], "e1");
  EXPECT_EQ((*r)["kind"], static_cast<int>(wire::Kind::kStatus));
}

TEST(CliClientTest, ErrorReplyKeepsCodeAndMessage) {
  FakeCoordinator fake;
  Client c(fake.address(), milliseconds(2000));
  Result<Json> r = c.Query(wire::Kind::kStatus, "missing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().message(), "no execution 'missing'");
}

TEST(CliClientTest, IgnoresRepliesToOtherRequests) {
  FakeCoordinator fake;
  Client c(fake.address(), milliseconds(2000));
  Result<Json> r = c.Query(wire::Kind::kOutputs, "stale");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->contains("stale"));
  EXPECT_EQ((*r)["exec"], "stale");
}

TEST(CliClientTest, NoAnswerIsUnavailableWithAClearMessage) {
  FakeCoordinator fake;
  Client c(fake.address(), milliseconds(200));
  Result<Json> r = c.Query(wire::Kind::kStatus, "silent");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("cannot reach the coordinator at " + fake.address()),
            std::string::npos);
  EXPECT_NE(r.error().message().find("no answer within 200ms"), std::string::npos);
  // The late answer to nothing, then a fresh request on the same socket still works.
  r = c.Query(wire::Kind::kList);
  ASSERT_TRUE(r) << r.error().message();
}

TEST(CliClientTest, NobodyListeningIsUnavailable) {
  Client c("tcp://127.0.0.1:1", milliseconds(100));
  Result<Json> r = c.Query(wire::Kind::kHealth);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
}

TEST(CliClientTest, InterruptFlagAbortsTheWait) {
  FakeCoordinator fake;
  Client c(fake.address(), milliseconds(5000));
  volatile std::sig_atomic_t flag = 1;
  c.set_interrupt_flag(&flag);
  Result<Json> r = c.Query(wire::Kind::kStatus, "silent");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kAborted);
}

TEST(CliClientTest, BareHostPortIsTakenAsTcp) {
  EXPECT_EQ(NormalizeAddress("127.0.0.1:5555"), "tcp://127.0.0.1:5555");
  EXPECT_EQ(NormalizeAddress("ipc:///tmp/x"), "ipc:///tmp/x");
}

TEST(CliClientTest, BadAddressIsAnInvalidArgument) {
  Client c("tcp://", milliseconds(100));
  Result<Json> r = c.Query(wire::Kind::kHealth);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
}

TEST(EventsAddressTest, UsesTheCoordinatorsHostWithTheEventPort) {
  EXPECT_EQ(EventsAddress("tcp://10.0.0.5:7800", 40001), "tcp://10.0.0.5:40001");
  EXPECT_EQ(EventsAddress("coordinator:7800", 7801), "tcp://coordinator:7801");
  EXPECT_EQ(EventsAddress("ipc:///run/fanout.sock", 7801), "");
}

// A real PUB in the test: a subscription to "e1" must not hand over "e12"'s documents, which
// ZeroMQ's prefix matching delivers too.
TEST(ProgressSubscriptionTest, DeliversOnlyItsOwnExecutionsDocuments) {
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.bind("tcp://127.0.0.1:*");
  std::string at = pub.get(zmq::sockopt::last_endpoint);
  int port = std::stoi(at.substr(at.rfind(':') + 1));
  ProgressSubscription sub("tcp://127.0.0.1:1", port, "e1");
  auto send = [&](const std::string& exec, const std::string& json) {
    pub.send(zmq::buffer(wire::EventTopic(exec)), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(wire::Header(wire::Kind::kProgress)), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(wire::EncodeBody(wire::ProgressEvent{json})), zmq::send_flags::none);
  };
  std::optional<Json> got;
  // The subscription reaches the PUB asynchronously: publish until something arrives.
  for (int i = 0; i < 100 && !got; ++i) {
    send("e12", R"({"execution":"e12"})");
    send("e1", R"({"execution":"e1"})");
    got = sub.Next(milliseconds(50));
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ((*got)["execution"], "e1");
  for (int i = 0; i < 5; ++i) {
    send("e12", R"({"execution":"e12"})");
    auto other = sub.Next(milliseconds(20));
    EXPECT_FALSE(other.has_value()) << other->dump();
  }
}

}  // namespace
}  // namespace fanout::cli
