#include "common/zmq_uv.h"

namespace fanout {

ZmqWatcher::ZmqWatcher(uv_loop_t* loop, zmq::socket_t& socket, OnMessage on_message)
    : socket_(socket), on_message_(std::move(on_message)) {
  int fd = socket_.get(zmq::sockopt::fd);
  uv_poll_init(loop, poll_.get(), fd);
  poll_->data = this;
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    static_cast<ZmqWatcher*>(p->data)->Drain();
  });
  uv_idle_init(loop, idle_.get());
  idle_->data = this;
}

ZmqWatcher::~ZmqWatcher() {
  uv_poll_stop(poll_.get());
  uv_idle_stop(idle_.get());
}

void ZmqWatcher::Poke() {
  uv_idle_start(idle_.get(), [](uv_idle_t* i) {
    uv_idle_stop(i);
    static_cast<ZmqWatcher*>(i->data)->Drain();
  });
}

void ZmqWatcher::Drain() {
  if (draining_) return;  // a handler that sends re-enters through Poke, not recursion
  draining_ = true;
  std::vector<zmq::message_t> frames;
  // Bound one turn's work so timers and other sockets get their share of the loop.
  for (int budget = 4096; budget > 0; --budget) {
    bool got = false;
    try {
      int events = socket_.get(zmq::sockopt::events);
      if (!(events & ZMQ_POLLIN)) break;
      frames.clear();
      bool more = true;
      while (more) {
        zmq::message_t m;
        auto r = socket_.recv(m, zmq::recv_flags::dontwait);
        if (!r) break;
        got = true;
        more = m.more();
        frames.push_back(std::move(m));
      }
    } catch (const zmq::error_t& e) {
      // A signal (e.g. SIGCHLD of a command task) interrupted the call: try again.
      if (e.num() == EINTR) {
        Poke();
        break;
      }
      throw;
    }
    if (!got) break;
    on_message_(frames);
    if (budget == 1) Poke();  // more may be pending: continue next turn
  }
  draining_ = false;
}

bool SendFrames(zmq::socket_t& socket, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    auto flags = zmq::send_flags::dontwait;
    if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
    try {
      auto r = socket.send(zmq::buffer(frames[i]), flags);
      if (!r) return false;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR && i == 0) {  // interrupted before anything went out: retry
        --i;
        continue;
      }
      return false;  // EHOSTUNREACH with ZMQ_ROUTER_MANDATORY: the peer is gone
    }
  }
  return true;
}

}  // namespace fanout
