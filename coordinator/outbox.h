// Outbox: how the coordinator's rooms send messages to workers and clients without owning a
// socket. The reactor implements it over its ROUTER; unit tests record what was sent.
#pragma once

#include <string>

#include "common/wire.h"

namespace fanout {

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Sends one message to the peer with this ROUTER identity. Never blocks; a message to a peer
  // that is gone is dropped (the protocol recovers: HELLO re-announces, results are re-sent).
  virtual void Send(const std::string& identity, wire::Kind kind, std::string body) = 0;
};

}  // namespace fanout
