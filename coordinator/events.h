// EventPublisher: progress events for clients (DESIGN §5: "progress events go out on PUB").
//
// An XPUB socket. A client SUBscribes to an execution id and receives that execution's STATUS
// document (wire::kProgress) whenever it has changed, at most once per interval, and once more
// when the execution has ended and its end is durable. XPUB hands us the subscriptions, so a
// document is built only for executions somebody watches.
//
// Events are a live view, not a record: PUB drops what a slow subscriber cannot take and a
// subscriber that joins late sees only what follows. `fanout run`/`watch` therefore read STATUS
// once to start, follow events, and fall back to STATUS when events go quiet.
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "common/curve_keys.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "common/zmq_uv.h"

namespace fanout {

class EventPublisher {
 public:
  // The current STATUS document of a live execution, or nullopt (unknown, or ended: the end is
  // published by the coordinator itself once it is durable).
  using Snapshot = std::function<std::optional<std::string>(const std::string& exec)>;

  EventPublisher(uv_loop_t* loop, zmq::context_t& ctx, Snapshot snapshot, int64_t interval_ms = 200);
  ~EventPublisher();
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // Binds the XPUB socket and starts publishing. "tcp://HOST:*" picks a free port. With
  // `curve_server`, the socket is a CURVE server in the ZAP domain kEventsZapDomain (client keys
  // only; the context's ZapHandler decides).
  Status Bind(const std::string& endpoint, const CurveKeyPair* curve_server = nullptr);
  // The bound endpoint and its TCP port (0 before Bind).
  const std::string& endpoint() const { return endpoint_; }
  int port() const { return port_; }

  // Sends `status_json` for `exec` now, if somebody subscribed to it.
  void Publish(const std::string& exec, const std::string& status_json);
  // Executions somebody follows.
  size_t subscriptions() const { return last_sent_.size(); }

 private:
  void OnSubscription(std::vector<zmq::message_t>& frames);
  void OnTimer();

  uv_loop_t* loop_;
  zmq::socket_t xpub_;
  Snapshot snapshot_;
  int64_t interval_ms_;
  std::unique_ptr<ZmqWatcher> watcher_;
  UvHandle<uv_timer_t> timer_;
  std::string endpoint_;
  int port_ = 0;
  // Subscribed execution id → the last document sent ("" when none yet: send on the next tick).
  std::unordered_map<std::string, std::string> last_sent_;
};

// The default event endpoint for a coordinator bound to `bind`: the same host, a free port
// ("tcp://10.0.0.5:7800" → "tcp://10.0.0.5:*").
std::string DefaultEventsEndpoint(const std::string& bind);

}  // namespace fanout
