#include "coordinator/redis_client.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

namespace fanout {

struct RedisClient::Pending {
  RedisClient* client;
  Callback cb;
};

RedisReply RedisReply::From(const redisReply* r) {
  RedisReply out;
  if (r == nullptr) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = Type::kString; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = Type::kStatus; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = Type::kError; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.type = Type::kInteger; out.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      out.type = Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(From(r->element[i]));
      break;
    default: out.type = Type::kNil; break;
  }
  return out;
}

RedisClient::RedisClient(uv_loop_t* loop, std::string host, int port, std::string password, std::string user)
    : loop_(loop), host_(std::move(host)), port_(port), password_(std::move(password)), user_(std::move(user)) {
  address_ = host_ + ":" + std::to_string(port_);
  uv_timer_init(loop_, reconnect_timer_.get());
  reconnect_timer_->data = this;
  uv_timer_init(loop_, connect_timer_.get());
  connect_timer_->data = this;
  uv_timer_init(loop_, ping_timer_.get());
  ping_timer_->data = this;
  uv_timer_init(loop_, ready_timer_.get());
  ready_timer_->data = this;
  uv_idle_init(loop_, deferred_idle_.get());
  deferred_idle_->data = this;
}

void RedisClient::FailLater(Callback cb, Status error) {
  deferred_.emplace_back(std::move(cb), std::move(error));
  if (deferred_.size() > 1) return;
  uv_idle_start(deferred_idle_.get(), [](uv_idle_t* h) {
    uv_idle_stop(h);
    auto* self = static_cast<RedisClient*>(h->data);
    auto batch = std::move(self->deferred_);
    self->deferred_.clear();
    for (auto& [cb, error] : batch) cb(Err(std::move(error)));
  });
}

void RedisClient::OnPingTimer() {
  if (!connected_ || ctx_ == nullptr) return;
  uint64_t now = uv_now(loop_);
  if (ping_pending_) {
    if (now - ping_sent_ms_ > 5000) ForceReconnect("no answer to PING for 5 s");
    return;
  }
  ping_pending_ = true;
  ping_sent_ms_ = now;
  std::weak_ptr<bool> alive = alive_;
  Command({"PING"}, [this, alive](Result<RedisReply>) {
    if (!alive.expired() && *alive.lock()) ping_pending_ = false;
  });
}

void RedisClient::ForceReconnect(const char* why) {
  spdlog::warn("redis {}: {}; reconnecting", address_, why);
  redisAsyncContext* c = ctx_;
  ctx_ = nullptr;
  bool was = connected_;
  connected_ = false;
  ping_pending_ = false;
  if (c != nullptr) {
    c->data = nullptr;
    redisAsyncFree(c);  // pending commands get their callbacks with an error
  }
  if (was && on_state_) on_state_(false);
  ScheduleReconnect();
}

RedisClient::~RedisClient() {
  // Callbacks not run by now are dropped: whoever owns us had its chance in Shutdown.
  callbacks_dropped_ = true;
  Shutdown();
  uv_idle_stop(deferred_idle_.get());
  deferred_.clear();
}

void RedisClient::Shutdown() {
  if (stopping_) return;
  connected_ = false;
  stopping_ = true;
  *alive_ = false;
  uv_timer_stop(reconnect_timer_.get());
  uv_timer_stop(connect_timer_.get());
  uv_timer_stop(ping_timer_.get());
  uv_timer_stop(ready_timer_.get());
  if (ctx_ != nullptr) {
    ctx_->data = nullptr;
    redisAsyncFree(ctx_);  // runs pending callbacks with a null reply
    ctx_ = nullptr;
  }
  // Commands issued by those callbacks fail too, now (bounded: a callback that retries forever
  // must not hang the shutdown).
  for (int round = 0; round < 100 && !deferred_.empty() && !callbacks_dropped_; ++round) {
    auto batch = std::move(deferred_);
    deferred_.clear();
    for (auto& [cb, error] : batch) cb(Err(std::move(error)));
  }
}

void RedisClient::Start(OnState on_state) {
  on_state_ = std::move(on_state);
  uv_timer_start(
      ping_timer_.get(), [](uv_timer_t* t) { static_cast<RedisClient*>(t->data)->OnPingTimer(); },
      1000, 1000);
  Connect();
}

void RedisClient::Connect() {
  if (stopping_) return;
  ++conn_gen_;
  ctx_ = redisAsyncConnect(host_.c_str(), port_);
  if (ctx_ == nullptr || ctx_->err) {
    spdlog::warn("redis {}: connect failed: {}", address_, ctx_ ? ctx_->errstr : "out of memory");
    if (ctx_ != nullptr) redisAsyncFree(ctx_);
    ctx_ = nullptr;
    ScheduleReconnect();
    return;
  }
  ctx_->data = this;
  redisLibuvAttach(ctx_, loop_);
  redisAsyncSetConnectCallback(ctx_, &RedisClient::OnConnect);
  redisAsyncSetDisconnectCallback(ctx_, &RedisClient::OnDisconnect);
  StartConnectTimer();
}

void RedisClient::StartConnectTimer() {
  uv_timer_start(
      connect_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<RedisClient*>(t->data);
        if (self->connected_ || self->ctx_ == nullptr) return;
        spdlog::warn("redis {}: no answer within 2 s while connecting; retrying", self->address_);
        redisAsyncContext* c = self->ctx_;
        self->ctx_ = nullptr;
        c->data = nullptr;  // no callbacks into us from the abandoned context
        redisAsyncFree(c);
        self->ScheduleReconnect();
      },
      2000, 0);
}

void RedisClient::ScheduleReconnect() {
  if (stopping_) return;
  uv_timer_start(
      reconnect_timer_.get(),
      [](uv_timer_t* t) { static_cast<RedisClient*>(t->data)->Connect(); },
      static_cast<uint64_t>(backoff_ms_), 0);
  backoff_ms_ = std::min<int64_t>(backoff_ms_ * 2, 2000);
}

void RedisClient::OnConnect(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisClient*>(c->data);
  if (self == nullptr) return;
  if (status != REDIS_OK) {
    spdlog::warn("redis {}: cannot connect: {}", self->address_, c->errstr);
    self->ctx_ = nullptr;  // hiredis frees the context after this callback
    self->ScheduleReconnect();
    return;
  }
  uv_timer_stop(self->connect_timer_.get());
  self->Handshake();
}

void RedisClient::Handshake() {
  if (password_.empty()) return PingUntilReady();
  std::weak_ptr<bool> alive = alive_;
  uint64_t gen = conn_gen_;
  StartConnectTimer();
  std::vector<std::string> auth = user_.empty() ? std::vector<std::string>{"AUTH", password_}
                                                : std::vector<std::string>{"AUTH", user_, password_};
  Send(std::move(auth), [this, alive, gen](Result<RedisReply> r) {
    if (alive.expired() || !*alive.lock() || gen != conn_gen_ || ctx_ == nullptr) return;
    uv_timer_stop(connect_timer_.get());
    if (!r) {
      spdlog::error("redis {}: AUTH failed: {}", address_, r.error().message());
      return ForceReconnect("AUTH failed");
    }
    PingUntilReady();
  });
}

void RedisClient::PingUntilReady() {
  std::weak_ptr<bool> alive = alive_;
  uint64_t gen = conn_gen_;
  // Every PING of the handshake must be answered within the connect timeout (a LOADING answer
  // counts: a long load is fine, a silent server is not).
  StartConnectTimer();
  Send({"PING"}, [this, alive, gen](Result<RedisReply> r) {
    if (alive.expired() || !*alive.lock() || gen != conn_gen_ || ctx_ == nullptr) return;
    uv_timer_stop(connect_timer_.get());
    if (!r) {
      if (r.error().message().find("LOADING") == std::string::npos)
        return ForceReconnect("PING failed during the handshake");
      if (loading_logged_gen_ != gen) {
        loading_logged_gen_ = gen;
        spdlog::info("redis {}: loading its data; waiting until it is done", address_);
      }
      uv_timer_start(
          ready_timer_.get(),
          [](uv_timer_t* t) {
            auto* self = static_cast<RedisClient*>(t->data);
            if (self->ctx_ != nullptr && !self->connected_) self->PingUntilReady();
          },
          100, 0);
      return;
    }
    connected_ = true;
    backoff_ms_ = 100;
    spdlog::info("redis {}: connected", address_);
    if (on_state_) on_state_(true);
  });
}

void RedisClient::OnDisconnect(const redisAsyncContext* c, int status) {
  auto* self = static_cast<RedisClient*>(c->data);
  if (self == nullptr) return;
  self->ctx_ = nullptr;
  bool was = self->connected_;
  self->connected_ = false;
  self->ping_pending_ = false;
  if (status != REDIS_OK) spdlog::warn("redis {}: disconnected: {}", self->address_, c->errstr);
  if (was && self->on_state_) self->on_state_(false);
  self->ScheduleReconnect();
}

void RedisClient::OnReply(redisAsyncContext*, void* reply, void* privdata) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
  auto* r = static_cast<redisReply*>(reply);
  if (p->client != nullptr) p->client->pending_--;
  if (r == nullptr) {
    p->cb(Err(Unavailable("redis connection lost before the reply")));
    return;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    p->cb(Err(Internal(std::string("redis: ") + std::string(r->str, r->len))));
    return;
  }
  p->cb(RedisReply::From(r));
}

void RedisClient::Command(const std::vector<std::string>& argv, Callback cb) {
  if (!connected_) return FailLater(std::move(cb), Unavailable("redis " + address_ + " is not connected"));
  Send(argv, std::move(cb));
}

void RedisClient::Send(const std::vector<std::string>& argv, Callback cb) {
  if (ctx_ == nullptr) return FailLater(std::move(cb), Unavailable("redis " + address_ + " is not connected"));
  std::vector<const char*> args;
  std::vector<size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* p = new Pending{this, std::move(cb)};
  if (redisAsyncCommandArgv(ctx_, &RedisClient::OnReply, p, static_cast<int>(args.size()),
                            args.data(), lens.data()) != REDIS_OK) {
    std::unique_ptr<Pending> owned(p);
    return FailLater(std::move(owned->cb), Unavailable("redis " + address_ + ": command not sent"));
  }
  ++pending_;
}

}  // namespace fanout
