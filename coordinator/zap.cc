#include "coordinator/zap.h"

#include <spdlog/spdlog.h>

namespace fanout {

Result<std::string> ZapPolicy::Decide(std::string_view domain, std::string_view mechanism,
                                      std::string_view key) const {
  if (mechanism != "CURVE") return Err(InvalidArgument("mechanism " + std::string(mechanism) + " is not allowed"));
  std::optional<std::string> z85 = Z85OfBinaryKey(key);
  if (!z85) return Err(InvalidArgument("malformed CURVE key"));
  if (auto it = clients_.find(*z85); it != clients_.end()) return "client:" + it->second;
  if (auto it = workers_.find(*z85); it != workers_.end()) {
    if (domain == kEventsZapDomain) return Err(InvalidArgument("worker key " + it->second + " on the event socket"));
    return "worker:" + it->second;
  }
  return Err(InvalidArgument("unknown key " + *z85));
}

ZapHandler::ZapHandler(uv_loop_t* loop, zmq::context_t& ctx, ZapPolicy policy)
    : loop_(loop), rep_(ctx, zmq::socket_type::rep), policy_(std::move(policy)) {
  rep_.set(zmq::sockopt::linger, 0);
}

Status ZapHandler::Start() {
  try {
    rep_.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Internal(std::string("cannot bind the ZAP handler: ") + e.what());
  }
  watcher_ = std::make_unique<ZmqWatcher>(loop_, rep_, [this](std::vector<zmq::message_t>& f) { OnRequest(f); });
  return Status::Ok();
}

void ZapHandler::OnRequest(std::vector<zmq::message_t>& frames) {
  // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
  std::string version = frames.size() > 0 ? frames[0].to_string() : "";
  std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
  Result<std::string> user = Err(InvalidArgument("malformed ZAP request"));
  if (frames.size() >= 6 && version == "1.0") {
    std::string_view key = frames.size() >= 7 ? frames[6].to_string_view() : std::string_view();
    user = policy_.Decide(frames[2].to_string_view(), frames[5].to_string_view(), key);
  }
  if (!user) {
    ++refused_;
    int64_t now = static_cast<int64_t>(uv_now(loop_));
    if (now - last_log_ms_ >= 1000) {
      last_log_ms_ = now;
      spdlog::warn("refused a connection from {}: {} ({} refused in all)",
                   frames.size() > 3 ? frames[3].to_string() : std::string("?"), user.error().message(), refused_);
    }
  }
  SendFrames(rep_, {"1.0", request_id, user ? "200" : "400", user ? "OK" : user.error().message(),
                    user ? *user : std::string(), ""});
  if (watcher_) watcher_->Poke();
}

Status PeerGate::Admit(const std::string& identity, std::string_view user_id, wire::Kind kind,
                       std::string_view body) {
  if (!curve_) return Status::Ok();
  if (user_id.starts_with("client:")) {
    if (wire::IsClientKind(kind)) return Status::Ok();
    return InvalidArgument(std::string(wire::KindName(kind)) + " from client key " + std::string(user_id.substr(7)) +
                           ": a client key may send client requests only");
  }
  if (!user_id.starts_with("worker:")) return InvalidArgument("a message from an unauthenticated peer");
  if (!wire::IsWorkerKind(kind)) {
    return InvalidArgument(std::string(wire::KindName(kind)) + " from worker key " + std::string(user_id.substr(7)) +
                           ": a worker key may send worker messages only");
  }
  if (auto it = identity_owner_.find(identity); it != identity_owner_.end() && it->second != user_id)
    return InvalidArgument("a connection of " + it->second + " reused by " + std::string(user_id));
  if (kind != wire::Kind::kHello) return Status::Ok();
  Result<wire::Hello> hello = wire::DecodeBody<wire::Hello>(body);
  if (!hello) return Status::Ok();  // the core drops it as malformed
  auto [owner, fresh] = worker_owner_.try_emplace(hello->worker_id, user_id);
  if (!fresh && owner->second != user_id) {
    return InvalidArgument("HELLO as worker " + hello->worker_id + " from " + std::string(user_id) +
                           ": that worker id belongs to " + owner->second);
  }
  std::string& last = worker_identity_[hello->worker_id];
  if (!last.empty() && last != identity) identity_owner_.erase(last);
  last = identity;
  identity_owner_[identity] = std::string(user_id);
  return Status::Ok();
}

}  // namespace fanout
