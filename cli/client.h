// Request/reply with the coordinator's client ROUTER (common/wire.h) over a ZeroMQ DEALER.
//
// One request at a time. Every request carries a fresh rid; replies with another rid (late
// answers to a request that timed out) are dropped. Errors:
//   kUnavailable  no answer within the timeout ("cannot reach the coordinator at ...")
//   kAborted      the interrupt flag was raised while waiting (Ctrl-C)
//   the reply's code and message when the coordinator answers with an error
//   kInternal     a malformed reply
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "cli/format.h"
#include "common/status.h"
#include "common/wire.h"

namespace fanout::cli {

class Client {
 public:
  // address: a ZeroMQ endpoint (tcp://host:port); "host:port" is taken as tcp.
  Client(std::string address, std::chrono::milliseconds timeout);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& address() const { return address_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  // While waiting, a non-zero *flag aborts the call with kAborted. The flag is set by a
  // signal handler; the pointer must outlive the client.
  void set_interrupt_flag(const volatile std::sig_atomic_t* flag) { interrupt_ = flag; }

  // SUBMIT; req.rid is assigned here. Returns {"execution": ID}.
  Result<Json> Submit(wire::SubmitRequest req);
  // STATUS, OUTPUTS, ABORT_EXEC (with exec) and LIST (children: child executions too),
  // WORKERS, HEALTH (without).
  Result<Json> Query(wire::Kind kind, const std::string& exec = "", bool children = false);
  // UPDATE of a running map node; req.rid is assigned here.
  Result<Json> Update(wire::UpdateRequest req);
  // The log of one attempt of a subtask (attempt < 0: its latest):
  // {"execution", "node", "index", "attempt", "found", "log"}.
  Result<Json> Logs(const std::string& exec, const std::string& node, uint32_t index, int64_t attempt);
  // Removes cache entries of a task and version (empty: all).
  Result<Json> CacheClear(const std::string& task, const std::string& version);

 private:
  Result<Json> Call(wire::Kind kind, uint64_t rid, const std::string& body);

  std::string address_;
  std::chrono::milliseconds timeout_;
  const volatile std::sig_atomic_t* interrupt_ = nullptr;
  uint64_t next_rid_;
  Status connect_error_;  // a bad address: every call returns it
  zmq::context_t ctx_;
  zmq::socket_t sock_;
};

// Follows one execution's progress events on the coordinator's event socket (common/wire.h,
// kProgress): SUB, subscribed to the execution id, connected to `port` on the host of the
// coordinator address. Events may be missed (PUB drops, late joins), so callers treat them as
// a live view and read STATUS when they go quiet.
class ProgressSubscription {
 public:
  ProgressSubscription(const std::string& coordinator_address, int port, std::string exec);
  ProgressSubscription(const ProgressSubscription&) = delete;
  ProgressSubscription& operator=(const ProgressSubscription&) = delete;

  int port() const { return port_; }
  // The next STATUS document of the execution, or nullopt when none came within `timeout`
  // (also on a signal, so the caller can look at its interrupt flag).
  std::optional<Json> Next(std::chrono::milliseconds timeout);

 private:
  int port_;
  std::string exec_;
  zmq::context_t ctx_;
  zmq::socket_t sock_;
};

// The endpoint of `port` on the host of a tcp:// coordinator address ("" for other schemes).
std::string EventsAddress(const std::string& coordinator_address, int port);

// "host:port" → "tcp://host:port"; addresses with a scheme are returned unchanged.
std::string NormalizeAddress(const std::string& address);

// The message of an unanswered request, shared by the client and the embedded-cluster code.
std::string UnreachableMessage(const std::string& address, std::chrono::milliseconds timeout);

}  // namespace fanout::cli
