// FunctionRunner: runs a plugin task function on the libuv thread pool (uv_queue_work), so
// the loop never blocks. Cancellation (ABORT, timeout) sets the flag the function sees as
// ctx.cancelled(); the attempt ends when the call returns (or at once if it never started).
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/uv_handle.h"
#include "common/wire.h"
#include "worker/plugin_loader.h"
#include "worker/task_runner.h"

namespace fanout::worker {

// What one call of a plugin function reported, before interpretation.
struct CallResult {
  int status = -1;  // FANOUT_RESULT_*; -1: set_result was never called
  std::string data;
  std::optional<std::string> checkpoint;  // the latest ctx.checkpoint(); in memory only for now
};

// Calls the function synchronously on the calling thread. `cancelled` is read by
// ctx.cancelled() and may be set from another thread.
CallResult InvokeFunction(void (*invoke)(const fanout_call*), const std::string& args,
                          uint32_t attempt, const std::atomic<bool>* cancelled);

// Interprets a call: the return value checked and coerced against the declared outputs;
// NonRetryable → kNonRetryable; other exceptions → kUserError.
TaskOutcome ToOutcome(const wire::TaskDesc& task, const CallResult& call);

class FunctionRunner : public TaskRunner {
 public:
  FunctionRunner(uv_loop_t* loop, std::shared_ptr<const wire::TaskDesc> task,
                 const PluginFunction* fn, std::string args, uint32_t attempt, DoneFn done);
  ~FunctionRunner() override;

  void Start() override;
  void Cancel(wire::Outcome outcome, std::string reason) override;

 private:
  struct Job;  // shared with the pool thread; freed by the after-work callback
  void OnDone(int status);

  uv_loop_t* loop_;
  std::shared_ptr<const wire::TaskDesc> task_;
  Job* job_ = nullptr;
  DoneFn done_;
  UvHandle<uv_timer_t> timeout_;
  std::optional<TaskOutcome> cancel_;
  bool ended_ = false;
};

}  // namespace fanout::worker
