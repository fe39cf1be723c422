// Coordinator: the reactor (DESIGN §1). It owns the ROUTER socket, the progress event socket,
// the Redis store, the timers and the signals; everything else is the CoordinatorCore's rooms
// (core.h lists them). One loop turn: sockets and timers deliver events to the core; before the
// loop waits again (uv_check) the core dispatches work, flushes the turn's writes and sends ACKs.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/uv_handle.h"
#include "common/uv_work.h"
#include "common/wire.h"
#include "common/zmq_uv.h"
#include "coordinator/core.h"
#include "coordinator/events.h"
#include "coordinator/http_backend.h"
#include "coordinator/http_server.h"
#include "coordinator/outbox.h"
#include "coordinator/redis_store.h"
#include "coordinator/zap.h"

namespace fanout {

struct CoordinatorConfig {
  std::string bind = "tcp://127.0.0.1:7800";  // the ROUTER workers and clients connect to
  std::string events_bind;            // the progress XPUB; "" = bind's host, any port; "none"
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  std::string redis_password;
  std::string redis_user;  // an ACL user (docs/security.md); "": the default user
  // CurveZMQ key directory (common/curve_keys.h): "" = no keys, plain ZeroMQ, which is
  // allowed on loopback only unless `insecure`.
  std::string keys_dir;
  bool insecure = false;
  std::string endpoint_file;          // if set, the bound endpoint is written there once ready
  int64_t shutdown_wait_ms = 3000;    // SIGTERM: how long in-flight writes may take
  // HTTP (page, API, metrics, probes); nullopt: off. A taken port is fatal unless
  // http_port_fallback (the default bind): then a free port is used and logged.
  std::optional<HttpOptions> http = HttpOptions{"127.0.0.1", 7880, "", 4};
  bool http_port_fallback = true;
  CoreOptions core;
};

// Ok when `endpoint` may be bound without keys: loopback TCP (127.0.0.0/8, ::1, localhost),
// ipc:// or inproc://.
bool IsLoopbackEndpoint(const std::string& endpoint);

class Coordinator final : private Outbox {
 public:
  Coordinator(uv_loop_t* loop, CoordinatorConfig config, const Clock& clock);
  // Fails what the store still has pending while every room is alive, then tears down.
  ~Coordinator() override;
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Connects to Redis, takes an epoch, loads the active executions, then binds. Returns at
  // once; failures are logged and make the loop exit with a non-zero exit_code.
  void Start();
  // Stops taking messages, flushes the turn's writes, waits (at most shutdown_wait_ms) for the
  // store to answer what is in flight, then stops the loop.
  void Stop();
  int exit_code() const { return exit_code_; }
  const std::string& endpoint() const { return endpoint_; }
  // "http://HOST:PORT" once HTTP serves ("" when off).
  std::string http_url() const { return http_ ? http_->url() : ""; }

 private:
  void Send(const std::string& identity, wire::Kind kind, std::string body) override;
  void OnStoreState(bool connected);
  void Load();
  void Bind();
  void Fail(int code);
  void OnMessage(std::vector<zmq::message_t>& frames);
  void EndOfTurn();
  void Wake();
  void OnTick();
  // Just before the loop waits: observes how long the turn that ends kept it busy.
  void MeterTurn();
  void Fenced();
  Status StartHttp();

  uv_loop_t* loop_;
  CoordinatorConfig config_;
  const Clock& clock_;
  // Declared first, destroyed last: the store outlives every room holding a reference to it.
  RedisStore store_;
  zmq::context_t zctx_;
  zmq::socket_t router_;
  std::unique_ptr<ZmqWatcher> watcher_;
  std::unique_ptr<EventPublisher> events_;  // after Bind, unless --events-bind none
  std::optional<ServerKeys> keys_;          // with --keys-dir
  std::unique_ptr<ZapHandler> zap_;         // with keys
  PeerGate gate_{false};
  CoordinatorCore core_;
  // HTTP: the server's threads reach the core only through the backend (http_backend.h).
  // Declared after the core, so destroyed before it; the server is stopped first (~Coordinator).
  std::unique_ptr<HttpBackend> http_backend_;
  std::unique_ptr<HttpServer> http_;

  bool ready_ = false;  // executions loaded, socket bound
  bool loading_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
  std::string endpoint_;
  size_t heap_high_ = 0;  // the most heap in use seen at a tick since the last malloc_trim
  int64_t stop_deadline_ms_ = 0;

  UvWorkQueue offload_;  // submissions are parsed on libuv's thread pool
  UvHandle<uv_check_t> turn_check_;
  UvHandle<uv_prepare_t> turn_meter_;  // before each wait: the turn's busy time to /metrics
  uint64_t turn_mark_ns_ = 0;          // uv_hrtime at the last wait's start
  uint64_t idle_mark_ns_ = 0;          // the loop's idle time then (uv_metrics_idle_time)
  UvHandle<uv_idle_t> wake_idle_;
  UvHandle<uv_timer_t> tick_timer_;
  UvHandle<uv_timer_t> stop_timer_;
  UvHandle<uv_signal_t> sigterm_;
  UvHandle<uv_signal_t> sigint_;
};

}  // namespace fanout
