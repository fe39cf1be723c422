// UvWorkQueue: runs a job's work on libuv's thread pool and its `done` back on the loop
// thread, for as long as the queue lives. A job whose `done` comes after the queue is gone is
// dropped there (its work still runs to the end on its thread), so `done` may reach into the
// owner of the queue. Run and the destructor: loop thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

namespace fanout {

class UvWorkQueue {
 public:
  explicit UvWorkQueue(uv_loop_t* loop) : loop_(loop), alive_(std::make_shared<bool>(true)) {}
  ~UvWorkQueue() { *alive_ = false; }
  UvWorkQueue(const UvWorkQueue&) = delete;
  UvWorkQueue& operator=(const UvWorkQueue&) = delete;

  // `work` may touch nothing the loop thread touches; `done` runs on the loop thread. When the
  // job cannot be queued, both run at once, here.
  void Run(std::function<void()> work, std::function<void()> done);

 private:
  uv_loop_t* loop_;
  std::shared_ptr<bool> alive_;  // read and written on the loop thread only
};

}  // namespace fanout
