// FunctionRunner: runs a plugin task function on the libuv thread pool (uv_queue_work), so
// the loop never blocks. Cancellation (ABORT, timeout) sets the flag the function sees as
// ctx.cancelled(); the attempt ends when the call returns (or at once if it never started).
//
// Checkpoints (DESIGN §3.3): ctx.previous_checkpoint() is the WorkItem's checkpoint. Each
// ctx.checkpoint(bytes) is handed from the pool thread to the loop (a mutex-protected slot and a
// uv_async; saves made faster than the loop turns coalesce to the latest) and sent at once as a
// kCheckpoint; the last one also goes in the result. A save over the cap is refused: the attempt
// fails as a user error ("checkpoint of N bytes exceeds the cap of M bytes") and the function
// sees ctx.cancelled() from then on.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
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
  std::optional<std::string> checkpoint;  // the latest accepted ctx.checkpoint()
  std::optional<std::string> checkpoint_error;  // a refused save: the attempt fails with this
};

// The checkpoint side of one call.
struct CheckpointHooks {
  const std::string* previous = nullptr;  // ctx.previous_checkpoint(); null: none
  int64_t cap = 0;                        // larger saves are refused; <= 0: no cap
  // Called on the calling thread with each accepted save; may be empty.
  std::function<void(const std::string&)> on_save;
};

// Calls the function synchronously on the calling thread. `cancelled` is read by
// ctx.cancelled() and may be set from another thread.
CallResult InvokeFunction(void (*invoke)(const fanout_call*), const std::string& args,
                          uint32_t attempt, const std::atomic<bool>* cancelled,
                          const CheckpointHooks& hooks = {});

// Interprets a call: the return value checked and coerced against the declared outputs;
// NonRetryable → kNonRetryable; other exceptions → kUserError; a refused checkpoint →
// kUserError with its message, whatever the function returned. Does not set
// TaskOutcome::checkpoint.
TaskOutcome ToOutcome(const wire::TaskDesc& task, const CallResult& call);

class FunctionRunner : public TaskRunner {
 public:
  // previous: the WorkItem's checkpoint; cap: the effective max_checkpoint_bytes; on_checkpoint:
  // each save, on the loop thread.
  FunctionRunner(uv_loop_t* loop, std::shared_ptr<const wire::TaskDesc> task,
                 const PluginFunction* fn, std::string args, uint32_t attempt, DoneFn done,
                 std::optional<std::string> previous = std::nullopt, int64_t cap = 0,
                 CheckpointFn on_checkpoint = nullptr);
  ~FunctionRunner() override;

  void Start() override;
  void Cancel(wire::Outcome outcome, std::string reason) override;
  std::optional<std::string> LastCheckpoint() const override { return last_checkpoint_; }

 private:
  struct Job;  // shared with the pool thread; freed by the after-work callback
  void OnDone(int status);
  void OnCheckpointPosted();
  void DetachAsync();

  uv_loop_t* loop_;
  std::shared_ptr<const wire::TaskDesc> task_;
  Job* job_ = nullptr;
  DoneFn done_;
  CheckpointFn on_checkpoint_;
  std::optional<std::string> last_checkpoint_;  // the latest one seen on the loop
  UvHandle<uv_async_t> async_;
  UvHandle<uv_timer_t> timeout_;
  std::optional<TaskOutcome> cancel_;
  bool ended_ = false;
};

}  // namespace fanout::worker
