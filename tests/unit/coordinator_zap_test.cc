// Who may connect (ZapPolicy) and what each key may send (PeerGate): coordinator/zap.h.
#include "coordinator/zap.h"
#include "coordinator/coordinator.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

std::string Binary(const std::string& z85) {
  std::string out(32, '\0');
  EXPECT_NE(zmq_z85_decode(reinterpret_cast<uint8_t*>(out.data()), z85.c_str()), nullptr);
  return out;
}

class ZapPolicyTest : public ::testing::Test {
 protected:
  ZapPolicyTest()
      : client_(*GenerateCurveKeyPair()), worker_(*GenerateCurveKeyPair()), stranger_(*GenerateCurveKeyPair()),
        policy_({{client_.public_z85, "alice"}}, {{worker_.public_z85, "w1"}}) {}
  CurveKeyPair client_, worker_, stranger_;
  ZapPolicy policy_;
};

TEST_F(ZapPolicyTest, ListedKeysGetTheirRoleAsUserId) {
  EXPECT_EQ(policy_.Decide(kRouterZapDomain, "CURVE", Binary(client_.public_z85)).value(), "client:alice");
  EXPECT_EQ(policy_.Decide(kRouterZapDomain, "CURVE", Binary(worker_.public_z85)).value(), "worker:w1");
}

TEST_F(ZapPolicyTest, AnUnknownKeyIsRefused) {
  EXPECT_FALSE(policy_.Decide(kRouterZapDomain, "CURVE", Binary(stranger_.public_z85)).has_value());
}

TEST_F(ZapPolicyTest, ThePlainMechanismIsRefused) {
  EXPECT_FALSE(policy_.Decide(kRouterZapDomain, "NULL", "").has_value());
  EXPECT_FALSE(policy_.Decide(kRouterZapDomain, "PLAIN", "").has_value());
}

TEST_F(ZapPolicyTest, TheEventSocketAdmitsClientKeysOnly) {
  EXPECT_TRUE(policy_.Decide(kEventsZapDomain, "CURVE", Binary(client_.public_z85)).has_value());
  EXPECT_FALSE(policy_.Decide(kEventsZapDomain, "CURVE", Binary(worker_.public_z85)).has_value());
}

std::string HelloBody(const std::string& worker_id) {
  wire::Hello h;
  h.worker_id = worker_id;
  return wire::EncodeBody(h);
}

TEST(PeerGateTest, AClientKeyMaySendClientRequestsOnly) {
  PeerGate gate(true);
  EXPECT_TRUE(gate.Admit("c1", "client:alice", wire::Kind::kSubmit, "").ok());
  EXPECT_TRUE(gate.Admit("c1", "client:alice", wire::Kind::kHealth, "").ok());
  EXPECT_FALSE(gate.Admit("c1", "client:alice", wire::Kind::kHello, HelloBody("w")).ok());
  EXPECT_FALSE(gate.Admit("c1", "client:alice", wire::Kind::kResult, "").ok());
}

TEST(PeerGateTest, AWorkerKeyMaySendWorkerMessagesOnly) {
  PeerGate gate(true);
  EXPECT_TRUE(gate.Admit("w1-1", "worker:w1", wire::Kind::kHello, HelloBody("w1")).ok());
  EXPECT_TRUE(gate.Admit("w1-1", "worker:w1", wire::Kind::kResult, "").ok());
  EXPECT_FALSE(gate.Admit("w1-1", "worker:w1", wire::Kind::kSubmit, "").ok());
  EXPECT_FALSE(gate.Admit("w1-1", "worker:w1", wire::Kind::kCacheClear, "").ok());
}

TEST(PeerGateTest, AWorkerIdBelongsToTheKeyThatFirstSaidHelloWithIt) {
  PeerGate gate(true);
  ASSERT_TRUE(gate.Admit("victim-1", "worker:a", wire::Kind::kHello, HelloBody("victim")).ok());
  Status stolen = gate.Admit("thief-1", "worker:b", wire::Kind::kHello, HelloBody("victim"));
  EXPECT_FALSE(stolen.ok());
  EXPECT_NE(stolen.message().find("belongs to worker:a"), std::string::npos) << stolen.message();
  // Its owner reconnects under a new identity and keeps it.
  EXPECT_TRUE(gate.Admit("victim-2", "worker:a", wire::Kind::kHello, HelloBody("victim")).ok());
}

TEST(PeerGateTest, AnotherKeyCannotSpeakOnAWorkersConnection) {
  PeerGate gate(true);
  ASSERT_TRUE(gate.Admit("victim-1", "worker:a", wire::Kind::kHello, HelloBody("victim")).ok());
  EXPECT_FALSE(gate.Admit("victim-1", "worker:b", wire::Kind::kResult, "").ok());
  EXPECT_TRUE(gate.Admit("victim-1", "worker:a", wire::Kind::kResult, "").ok());
}

TEST(PeerGateTest, WithoutCurveEverythingPasses) {
  PeerGate gate(false);
  EXPECT_TRUE(gate.Admit("x", "", wire::Kind::kHello, HelloBody("w")).ok());
  EXPECT_TRUE(gate.Admit("x", "", wire::Kind::kSubmit, "").ok());
}

TEST(PeerGateTest, WithCurveAMessageWithoutUserIdIsRefused) {
  PeerGate gate(true);
  EXPECT_FALSE(gate.Admit("x", "", wire::Kind::kHealth, "").ok());
}

TEST(IsLoopbackEndpointTest, OnlyLoopbackAndLocalTransportsNeedNoKeys) {
  for (const char* ok : {"tcp://127.0.0.1:7800", "tcp://127.0.0.1:*", "tcp://localhost:1", "tcp://[::1]:7800",
                         "ipc:///run/fanout.sock", "inproc://x"})
    EXPECT_TRUE(IsLoopbackEndpoint(ok)) << ok;
  for (const char* no : {"tcp://*:7800", "tcp://0.0.0.0:7800", "tcp://10.0.0.5:7800", "tcp://eth0:7800",
                         "tcp://[::]:7800"})
    EXPECT_FALSE(IsLoopbackEndpoint(no)) << no;
}

}  // namespace
}  // namespace fanout
