// ZmqWatcher: drives a ZeroMQ socket from a libuv loop. uv_poll watches ZMQ_FD, which is
// edge-triggered: after every wake-up and after every send we re-read ZMQ_EVENTS and drain
// until the socket would block (DESIGN §1). Loop thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/uv_handle.h"

namespace fanout {

class ZmqWatcher {
 public:
  // on_message gets the frames of one message. Called on the loop thread.
  using OnMessage = std::function<void(std::vector<zmq::message_t>& frames)>;

  ZmqWatcher(uv_loop_t* loop, zmq::socket_t& socket, OnMessage on_message);
  ~ZmqWatcher();
  ZmqWatcher(const ZmqWatcher&) = delete;
  ZmqWatcher& operator=(const ZmqWatcher&) = delete;

  // Re-checks ZMQ_EVENTS and drains pending messages. Call after sending on the socket
  // (a send can consume the edge that signalled readability).
  void Poke();

 private:
  void Drain();

  zmq::socket_t& socket_;
  OnMessage on_message_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_idle_t> idle_;  // runs one Drain on the next loop turn after Poke
  bool draining_ = false;
};

// Sends a multipart message; returns false when it would block (or the peer is unroutable).
bool SendFrames(zmq::socket_t& socket, const std::vector<std::string>& frames);

}  // namespace fanout
