#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <malloc.h>

#include <csignal>
#include <fstream>

namespace fanout {

bool IsLoopbackEndpoint(const std::string& endpoint) {
  if (endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")) return true;
  if (!endpoint.starts_with("tcp://")) return false;
  std::string_view rest = std::string_view(endpoint).substr(6);
  auto colon = rest.rfind(':');
  std::string_view host = colon == std::string_view::npos ? rest : rest.substr(0, colon);
  if (host.starts_with("[") && host.ends_with("]")) host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host == "lo" || host.starts_with("127.");
}

namespace {

// Transports another machine can reach. Others (ipc, inproc, unknown schemes, which fail to
// bind anyway with their own message) need no keys.
bool IsNetworkTransport(const std::string& endpoint) {
  for (const char* scheme : {"tcp://", "ws://", "wss://", "udp://", "pgm://", "epgm://", "norm://", "vmci://", "tipc://"})
    if (endpoint.starts_with(scheme)) return true;
  return false;
}

}  // namespace

Coordinator::Coordinator(uv_loop_t* loop, CoordinatorConfig config, const Clock& clock)
    : loop_(loop),
      config_(std::move(config)),
      clock_(clock),
      store_(loop, config_.redis_host, config_.redis_port, config_.redis_password, config_.redis_user),
      zctx_(1),
      router_(zctx_, zmq::socket_type::router),
      core_(store_, *this, clock, config_.core,
            CoordinatorCore::Hooks{[this] { Wake(); }, [this] { Fenced(); },
                                   [this](const Execution& e) {
                                     if (events_) events_->Publish(e.id, BuildStatus(e).ToJson().dump());
                                   },
                                   [this] {
                                     return ClientApi::Health{ready_, events_ ? events_->port() : 0,
                                                              events_ ? events_->subscriptions() : size_t{0}, 0,
                                                              http_ ? http_->port() : 0};
                                   },
                                   [this](std::function<void()> work, std::function<void()> done) {
                                     // Once stopping, a late submission is dropped like a
                                     // message that comes then: unanswered, nothing stored.
                                     offload_.Run(std::move(work), [this, done = std::move(done)] {
                                       if (!stopping_) done();
                                     });
                                   }}),
      offload_(loop) {
  router_.set(zmq::sockopt::linger, 0);
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::sndhwm, 100000);
  router_.set(zmq::sockopt::rcvhwm, 100000);
  // A frame larger than any valid message is refused by ZeroMQ before it is buffered whole.
  router_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxBodyBytes) + 1024);
  uv_check_init(loop_, turn_check_.get());
  turn_check_->data = this;
  uv_prepare_init(loop_, turn_meter_.get());
  turn_meter_->data = this;
  // The time the loop waits in the kernel, for MeterTurn.
  if (int rc = uv_loop_configure(loop_, UV_METRICS_IDLE_TIME); rc != 0)
    spdlog::warn("cannot measure the loop's idle time ({}): fanout_loop_turn_seconds counts waits as busy",
                 uv_strerror(rc));
  uv_idle_init(loop_, wake_idle_.get());
  wake_idle_->data = this;
  uv_timer_init(loop_, tick_timer_.get());
  tick_timer_->data = this;
  uv_timer_init(loop_, stop_timer_.get());
  stop_timer_->data = this;
  uv_signal_init(loop_, sigterm_.get());
  sigterm_->data = this;
  uv_signal_init(loop_, sigint_.get());
  sigint_->data = this;
}

Coordinator::~Coordinator() {
  // No HTTP thread may wait for the loop from here on: what waits is answered (503), then
  // the server's threads are joined.
  if (http_backend_) http_backend_->Close();
  if (http_) http_->Stop();
  // Pending store callbacks run now, while every room they reach into is alive.
  store_.Shutdown();
  // Queries still waiting are answered (503) while the core is alive.
  http_backend_.reset();
}

Status Coordinator::StartHttp() {
  if (!config_.http) return Status::Ok();
  http_backend_ = std::make_unique<HttpBackend>(loop_, core_);
  http_ = std::make_unique<HttpServer>(*http_backend_, *config_.http);
  Status s = http_->Start();
  if (!s.ok() && s.code() == Code::kUnavailable && config_.http_port_fallback) {
    spdlog::warn("{}; serving HTTP on a free port instead", s.message());
    HttpOptions o = *config_.http;
    o.port = 0;
    http_ = std::make_unique<HttpServer>(*http_backend_, o);
    s = http_->Start();
  }
  if (!s.ok()) {
    http_.reset();
    return s;
  }
  spdlog::info("HTTP on {}: the page at /, the API at /api/v1, metrics at /metrics{}", http_->url(),
               config_.http->token.empty() ? "" : " (bearer token required)");
  std::printf("FANOUT_COORDINATOR_HTTP=%s\n", http_->url().c_str());
  std::fflush(stdout);
  return Status::Ok();
}

void Coordinator::Start() {
  std::signal(SIGPIPE, SIG_IGN);
  auto on_signal = [](uv_signal_t* s, int signum) {
    spdlog::info("signal {}: flushing and stopping", signum);
    static_cast<Coordinator*>(s->data)->Stop();
  };
  uv_signal_start(sigterm_.get(), on_signal, SIGTERM);
  uv_signal_start(sigint_.get(), on_signal, SIGINT);
  uv_check_start(turn_check_.get(), [](uv_check_t* c) { static_cast<Coordinator*>(c->data)->EndOfTurn(); });
  uv_prepare_start(turn_meter_.get(), [](uv_prepare_t* p) { static_cast<Coordinator*>(p->data)->MeterTurn(); });
  if (!config_.keys_dir.empty()) {
    Result<ServerKeys> keys = LoadServerKeys(config_.keys_dir);
    if (!keys) {
      spdlog::error("cannot load the keys of {}: {}", config_.keys_dir, keys.error().message());
      return Fail(2);
    }
    if (keys->clients.empty() && keys->workers.empty())
      spdlog::warn("{} lists no client and no worker keys: nobody can connect", config_.keys_dir);
    spdlog::info("CURVE on: {} client key(s), {} worker key(s) from {}", keys->clients.size(),
                 keys->workers.size(), config_.keys_dir);
    zap_ = std::make_unique<ZapHandler>(loop_, zctx_, ZapPolicy(keys->clients, keys->workers));
    if (Status s = zap_->Start(); !s.ok()) {
      spdlog::error("{}", s.message());
      return Fail(2);
    }
    keys_ = std::move(*keys);
    gate_ = PeerGate(true);
  } else {
    for (const std::string& at : {config_.bind, config_.events_bind}) {
      if (at.empty() || at == "none" || !IsNetworkTransport(at) || IsLoopbackEndpoint(at)) continue;
      if (!config_.insecure) {
        spdlog::error(
            "refusing to bind {} without keys: anyone who reaches it could run commands on every "
            "worker. Give --keys-dir (see `fanout keygen`), bind 127.0.0.1, or pass --insecure",
            at);
        return Fail(2);
      }
      spdlog::warn("binding {} without keys (--insecure): anyone who reaches it controls the cluster", at);
    }
  }
  // HTTP first: /healthz and /readyz answer while Redis is awaited and executions load.
  if (Status s = StartHttp(); !s.ok()) {
    spdlog::error("{}", s.message());
    return Fail(2);
  }
  store_.Start([this](bool connected) { OnStoreState(connected); });
}

void Coordinator::Stop() {
  if (stopping_) return;
  stopping_ = true;
  ready_ = false;
  watcher_.reset();  // no more messages
  EndOfTurn();
  stop_deadline_ms_ = clock_.NowMs() + config_.shutdown_wait_ms;
  uv_timer_start(
      stop_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Coordinator*>(t->data);
        self->EndOfTurn();
        size_t pending = self->store_.pending();
        if (pending > 0 && self->clock_.NowMs() < self->stop_deadline_ms_) return;
        if (pending > 0) spdlog::warn("stopping with {} store command(s) unanswered", pending);
        uv_stop(self->loop_);
      },
      0, 10);
}

void Coordinator::Fail(int code) {
  exit_code_ = code;
  ready_ = false;
  uv_stop(loop_);
}

void Coordinator::Fenced() {
  spdlog::critical("a newer coordinator has taken over (epoch {} is stale): exiting", store_.epoch());
  Fail(3);
}

void Coordinator::Wake() {
  // A pending idle handle makes the loop poll without blocking, so EndOfTurn runs before the
  // loop waits again, also when the wake came from a timer.
  uv_idle_start(wake_idle_.get(), [](uv_idle_t* i) { uv_idle_stop(i); });
}

void Coordinator::EndOfTurn() {
  if (ready_ || stopping_) core_.EndOfTurn();
}

void Coordinator::OnStoreState(bool connected) {
  if (!connected) {
    spdlog::warn("redis lost: dispatch is on hold until it is back");
    return;
  }
  if (ready_ || loading_) return core_.StoreReconnected();
  loading_ = true;
  store_.TakeEpoch([this](Result<int64_t> epoch) {
    if (!epoch) {
      spdlog::error("cannot take an epoch: {}", epoch.error().message());
      loading_ = false;
      return;
    }
    spdlog::info("epoch {}", *epoch);
    Load();
  });
}

void Coordinator::Load() {
  store_.LoadActive([this](Result<std::vector<StoredExecution>> snapshot) {
    loading_ = false;
    if (!snapshot) {
      spdlog::error("cannot load the active executions: {}", snapshot.error().message());
      return;
    }
    if (!snapshot->empty()) spdlog::info("resuming {} active execution(s)", snapshot->size());
    Bind();
    if (exit_code_ == 0) core_.Restore(*snapshot);
  });
}

void Coordinator::Bind() {
  try {
    if (keys_) {
      router_.set(zmq::sockopt::zap_domain, kRouterZapDomain);
      router_.set(zmq::sockopt::curve_server, 1);
      router_.set(zmq::sockopt::curve_secretkey, keys_->server.secret_z85);
    }
    router_.bind(config_.bind);
  } catch (const zmq::error_t& err) {
    spdlog::error("cannot bind {}: {}", config_.bind, err.what());
    return Fail(2);
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  watcher_ = std::make_unique<ZmqWatcher>(loop_, router_, [this](std::vector<zmq::message_t>& f) { OnMessage(f); });
  if (config_.events_bind != "none") {
    events_ = std::make_unique<EventPublisher>(loop_, zctx_, [this](const std::string& id) -> std::optional<std::string> {
      Execution* e = core_.executions().Find(id);
      // An ended execution is published once its end is stored (ExecutionManager::Finish).
      if (e == nullptr || IsTerminal(e->phase)) return std::nullopt;
      return BuildStatus(*e).ToJson().dump();
    });
    std::string at = config_.events_bind.empty() ? DefaultEventsEndpoint(endpoint_) : config_.events_bind;
    if (Status s = events_->Bind(at, keys_ ? &keys_->server : nullptr); !s.ok()) {
      spdlog::error("{}", s.message());
      return Fail(2);
    }
  }
  uv_timer_start(
      tick_timer_.get(), [](uv_timer_t* t) { static_cast<Coordinator*>(t->data)->OnTick(); },
      static_cast<uint64_t>(config_.core.heartbeat_ms), static_cast<uint64_t>(config_.core.heartbeat_ms));
  ready_ = true;
  spdlog::info("listening on {} (epoch {}){}", endpoint_, store_.epoch(),
               events_ ? ", progress events on " + events_->endpoint() : "");
  // Announce readiness to whoever started us (fanout local, tests).
  std::printf("FANOUT_COORDINATOR_LISTENING=%s\n", endpoint_.c_str());
  std::fflush(stdout);
  if (!config_.endpoint_file.empty()) std::ofstream(config_.endpoint_file) << endpoint_ << "\n";
}

void Coordinator::Send(const std::string& identity, wire::Kind kind, std::string body) {
  if (http_backend_ && http_backend_->TakeReply(identity, kind, body)) return;  // an HTTP query's answer
  if (!SendFrames(router_, {identity, wire::Header(kind), body}))
    spdlog::debug("cannot send {} to a peer: gone or queue full", wire::KindName(kind));
  if (watcher_) watcher_->Poke();
}

void Coordinator::OnMessage(std::vector<zmq::message_t>& frames) {
  if (frames.size() != 3) return core_.Drop("expected 3 frames, got " + std::to_string(frames.size()));
  auto kind = wire::ParseHeader(frames[1].to_string_view());
  if (!kind) return core_.Drop(kind.error().message());
  std::string identity = frames[0].to_string();
  const char* user_id = keys_ ? zmq_msg_gets(frames[2].handle(), "User-Id") : nullptr;
  if (Status s = gate_.Admit(identity, user_id != nullptr ? user_id : "", *kind, frames[2].to_string_view()); !s.ok())
    return core_.Drop(s.message());
  if (*kind == wire::Kind::kSubmit) {
    // A large input is megabytes: its parse (off the loop) holds the frame instead of a copy.
    auto body = std::make_shared<zmq::message_t>(std::move(frames[2]));
    return core_.OnMessage(identity, *kind, body->to_string_view(), body);
  }
  core_.OnMessage(identity, *kind, frames[2].to_string_view());
}

void Coordinator::MeterTurn() {
  // From the start of the last wait until now, less the time spent waiting: the turn's work.
  uint64_t now = uv_hrtime();
  uint64_t idle = uv_metrics_idle_time(loop_);
  if (turn_mark_ns_ != 0) {
    int64_t busy = static_cast<int64_t>(now - turn_mark_ns_) - static_cast<int64_t>(idle - idle_mark_ns_);
    core_.metrics().LoopTurn(busy / 1000);
  }
  turn_mark_ns_ = now;
  idle_mark_ns_ = idle;
}

void Coordinator::OnTick() {
  core_.Tick();
  // When the heap in use fell by an eighth (at least 64 KiB) below its high point since the
  // last trim (a map over a launch plan ends thousands of children, and what they held is freed
  // over the next ticks), give the pages malloc keeps free back to the system, so that the
  // coordinator's RSS follows what it holds, not its peak: a few small objects still alive at
  // one trim can pin megabytes of pages until the next. The threshold keeps a busy
  // coordinator, whose heap goes up and down every tick, from trimming (and faulting the pages
  // back in) all the time. mallinfo2 walks malloc's free lists: cheap once a tick.
  struct mallinfo2 heap = mallinfo2();
  size_t in_use = heap.uordblks + heap.hblkhd;
  heap_high_ = std::max(heap_high_, in_use);
  if (in_use + std::max<size_t>(64 << 10, heap_high_ / 8) < heap_high_) {
    malloc_trim(0);
    heap_high_ = in_use;
  }
}

}  // namespace fanout
