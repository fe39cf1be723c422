// Who may talk to the coordinator (issue 10; docs/security.md).
//
// ZapPolicy decides a CurveZMQ handshake: a client public key listed in the key directory's
// clients/ gets the ZAP user id "client:NAME", a key in workers/ gets "worker:NAME", any other
// key (and any other mechanism, NULL included) is refused. The event socket (domain
// kEventsDomain) admits client keys only.
//
// ZapHandler answers libzmq's ZAP requests (RFC 27) for every CURVE socket of its context: a REP
// socket bound to inproc://zeromq.zap.01, serviced on the loop thread. libzmq holds a handshake
// until the answer, so the loop must not block (it never does).
//
// PeerGate checks every received message against the user id its connection was admitted with:
// a client key sends only client kinds, a worker key only worker kinds (wire::IsClientKind /
// IsWorkerKind); a worker id belongs to the key that first said HELLO with it, and a ROUTER
// identity that said HELLO belongs to that key. Without CURVE (a loopback-only coordinator) the
// gate admits everything. Pure; loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "common/curve_keys.h"
#include "common/status.h"
#include "common/wire.h"
#include "common/zmq_uv.h"

namespace fanout {

inline constexpr char kRouterZapDomain[] = "fanout";
inline constexpr char kEventsZapDomain[] = "fanout-events";

class ZapPolicy {
 public:
  ZapPolicy(CurveAllowList clients, CurveAllowList workers)
      : clients_(std::move(clients)), workers_(std::move(workers)) {}

  // The user id of an admitted peer, or an error saying why it is refused. key: the 32-byte
  // binary public key of a CURVE handshake.
  Result<std::string> Decide(std::string_view domain, std::string_view mechanism, std::string_view key) const;

 private:
  CurveAllowList clients_;
  CurveAllowList workers_;
};

class ZapHandler {
 public:
  ZapHandler(uv_loop_t* loop, zmq::context_t& ctx, ZapPolicy policy);
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Binds the ZAP endpoint; call before any CURVE socket of the context binds.
  Status Start();
  uint64_t refused() const { return refused_; }

 private:
  void OnRequest(std::vector<zmq::message_t>& frames);

  uv_loop_t* loop_;
  zmq::socket_t rep_;
  ZapPolicy policy_;
  std::unique_ptr<ZmqWatcher> watcher_;
  uint64_t refused_ = 0;
  int64_t last_log_ms_ = -1'000'000;
};

class PeerGate {
 public:
  explicit PeerGate(bool curve) : curve_(curve) {}

  // Ok when the message may go to the core; otherwise why it is dropped. user_id: the ZAP user
  // id of the connection ("" without CURVE).
  Status Admit(const std::string& identity, std::string_view user_id, wire::Kind kind, std::string_view body);

 private:
  bool curve_;
  std::unordered_map<std::string, std::string> worker_owner_;     // worker id → user id
  std::unordered_map<std::string, std::string> worker_identity_;  // worker id → its last identity
  std::unordered_map<std::string, std::string> identity_owner_;   // ROUTER identity → user id
};

}  // namespace fanout
