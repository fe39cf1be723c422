#include "coordinator/events.h"

#include <charconv>

#include "common/wire.h"
#include "coordinator/zap.h"

namespace fanout {

EventPublisher::EventPublisher(uv_loop_t* loop, zmq::context_t& ctx, Snapshot snapshot,
                               int64_t interval_ms)
    : loop_(loop), xpub_(ctx, zmq::socket_type::xpub), snapshot_(std::move(snapshot)),
      interval_ms_(interval_ms) {
  xpub_.set(zmq::sockopt::linger, 0);
  // Every subscribe reaches us (not only the first per id), so a second watcher of the same
  // execution gets a document on the next tick; an unsubscribe arrives when the last one leaves.
  xpub_.set(zmq::sockopt::xpub_verbose, 1);
  // We decide which subscriptions take effect: only whole topics (wire::EventTopic), so a
  // prefix subscription ("", "e") receives nothing.
  xpub_.set(zmq::sockopt::xpub_manual, 1);
  xpub_.set(zmq::sockopt::sndhwm, 10000);
  uv_timer_init(loop_, timer_.get());
  timer_->data = this;
}

EventPublisher::~EventPublisher() {
  if (timer_->loop != nullptr) uv_timer_stop(timer_.get());
}

Status EventPublisher::Bind(const std::string& endpoint, const CurveKeyPair* curve_server) {
  try {
    if (curve_server != nullptr) {
      xpub_.set(zmq::sockopt::zap_domain, kEventsZapDomain);
      xpub_.set(zmq::sockopt::curve_server, 1);
      xpub_.set(zmq::sockopt::curve_secretkey, curve_server->secret_z85);
    }
    xpub_.bind(endpoint);
  } catch (const zmq::error_t& e) {
    return InvalidArgument("cannot bind the event socket to " + endpoint + ": " + e.what());
  }
  endpoint_ = xpub_.get(zmq::sockopt::last_endpoint);
  auto colon = endpoint_.rfind(':');
  if (colon != std::string::npos)
    std::from_chars(endpoint_.data() + colon + 1, endpoint_.data() + endpoint_.size(), port_);
  watcher_ = std::make_unique<ZmqWatcher>(loop_, xpub_, [this](std::vector<zmq::message_t>& f) {
    OnSubscription(f);
  });
  uv_timer_start(
      timer_.get(), [](uv_timer_t* t) { static_cast<EventPublisher*>(t->data)->OnTimer(); },
      static_cast<uint64_t>(interval_ms_), static_cast<uint64_t>(interval_ms_));
  return Status::Ok();
}

void EventPublisher::OnSubscription(std::vector<zmq::message_t>& frames) {
  // XPUB delivers "\x01TOPIC" (subscribe) and "\x00TOPIC" (unsubscribe), one frame each. With
  // XPUB_MANUAL a subscription applies only once we set it, and to the subscriber that sent the
  // message just received.
  if (frames.size() != 1 || frames[0].size() < 2) return;  // "" = subscribe-to-all: not offered
  std::string_view f(static_cast<const char*>(frames[0].data()), frames[0].size());
  std::string_view topic = f.substr(1);
  std::string exec(wire::ExecOfEventTopic(topic));
  if (exec.empty()) return;  // a prefix or malformed topic: never set, so it matches nothing
  if (f[0] == 1) {
    xpub_.set(zmq::sockopt::subscribe, topic);
    last_sent_[exec].clear();
  } else if (f[0] == 0) {
    // From a subscriber (we drop its subscription) or from libzmq when the last subscriber of
    // the topic has gone (the subscription is gone already; unsubscribing again is harmless).
    xpub_.set(zmq::sockopt::unsubscribe, topic);
    last_sent_.erase(exec);
  }
}

void EventPublisher::Publish(const std::string& exec, const std::string& status_json) {
  auto it = last_sent_.find(exec);
  if (it == last_sent_.end()) return;
  wire::ProgressEvent ev{status_json};
  // A full pipe drops the event (PUB semantics); the subscriber falls back to STATUS.
  SendFrames(xpub_, {wire::EventTopic(exec), wire::Header(wire::Kind::kProgress), wire::EncodeBody(ev)});
  it->second = status_json;
  if (watcher_) watcher_->Poke();
}

void EventPublisher::OnTimer() {
  std::vector<std::pair<std::string, std::string>> due;
  for (const auto& [exec, last] : last_sent_) {
    std::optional<std::string> doc = snapshot_(exec);
    if (doc && *doc != last) due.emplace_back(exec, std::move(*doc));
  }
  for (auto& [exec, doc] : due) Publish(exec, doc);
}

std::string DefaultEventsEndpoint(const std::string& bind) {
  auto colon = bind.rfind(':');
  auto scheme = bind.find("://");
  if (bind.starts_with("tcp://") && colon != std::string::npos && colon > scheme + 3)
    return bind.substr(0, colon) + ":*";
  return bind + "-events";  // ipc:// and inproc:// endpoints: a sibling name
}

}  // namespace fanout
