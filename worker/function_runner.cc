#include "worker/function_runner.h"

#include <fmt/format.h>

#include <mutex>

#include "common/codec.h"
#include "worker/checkpoint.h"
#include "worker/task_io.h"

namespace fanout::worker {
namespace {

struct Host {
  const std::atomic<bool>* cancelled;
  CallResult* result;
  const CheckpointHooks* hooks;
  std::atomic<bool> refused{false};  // a save was over the cap: the call is as good as cancelled
};

}  // namespace

CallResult InvokeFunction(void (*invoke)(const fanout_call*), const std::string& args,
                          uint32_t attempt, const std::atomic<bool>* cancelled,
                          const CheckpointHooks& hooks) {
  CallResult result;
  Host host{cancelled, &result, &hooks};
  fanout_call call{};
  call.args = args.data();
  call.args_len = args.size();
  call.attempt = static_cast<int32_t>(attempt);
  call.prev_checkpoint = hooks.previous != nullptr ? hooks.previous->data() : nullptr;
  call.prev_checkpoint_len = hooks.previous != nullptr ? hooks.previous->size() : 0;
  call.host = &host;
  call.is_cancelled = [](void* h) -> int {
    auto* host = static_cast<Host*>(h);
    if (host->refused.load(std::memory_order_relaxed)) return 1;
    return host->cancelled != nullptr && host->cancelled->load(std::memory_order_relaxed);
  };
  call.checkpoint = [](void* h, const char* data, size_t len) {
    auto* host = static_cast<Host*>(h);
    if (host->refused.load(std::memory_order_relaxed)) return;  // the attempt has failed already
    Status st = CheckCheckpointSize(len, host->hooks->cap);
    if (!st.ok()) {
      host->result->checkpoint_error = st.message();
      host->refused = true;
      return;
    }
    host->result->checkpoint = std::string(data, len);
    if (host->hooks->on_save) host->hooks->on_save(*host->result->checkpoint);
  };
  call.set_result = [](void* h, int status, const char* data, size_t len) {
    CallResult* r = static_cast<Host*>(h)->result;
    if (r->status != -1) return;  // exactly once: the first report wins
    r->status = status;
    r->data.assign(data, len);
  };
  invoke(&call);
  return result;
}

TaskOutcome ToOutcome(const wire::TaskDesc& task, const CallResult& call) {
  if (call.checkpoint_error) {
    return TaskOutcome::Failure(wire::Outcome::kUserError, *call.checkpoint_error);
  }
  switch (call.status) {
    case FANOUT_RESULT_OK: {
      auto value = DecodeMsgpack(call.data);
      if (!value) {
        return TaskOutcome::Failure(
            wire::Outcome::kUserError,
            "the function returned an unsupported value: " + value.error().message());
      }
      auto out = EncodeSingleOutput(task.outputs, std::move(*value));
      if (!out) return TaskOutcome::Failure(wire::Outcome::kUserError, out.error().message());
      return TaskOutcome::Success(std::move(*out));
    }
    case FANOUT_RESULT_NON_RETRYABLE:
      return TaskOutcome::Failure(wire::Outcome::kNonRetryable, call.data);
    case FANOUT_RESULT_USER_ERROR:
      return TaskOutcome::Failure(wire::Outcome::kUserError, call.data);
    default:
      return TaskOutcome::Failure(wire::Outcome::kUserError, "the function reported no result");
  }
}

struct FunctionRunner::Job {
  uv_work_t req{};
  void (*invoke)(const fanout_call*) = nullptr;
  std::string args;
  uint32_t attempt = 0;
  std::atomic<bool> cancelled{false};
  std::optional<std::string> previous;  // read-only once queued
  CheckpointHooks hooks;                // read-only once queued (on_save posts to the loop)
  CallResult result;                    // written by the pool thread, read after it
  FunctionRunner* owner = nullptr;      // loop thread only; null once the runner is gone
  // Saves posted from the pool thread to the loop.
  std::mutex mu;
  std::optional<std::string> posted;  // guarded by mu: the latest save not yet taken
  uv_async_t* async = nullptr;        // guarded by mu: null once the loop no longer listens
};

FunctionRunner::FunctionRunner(uv_loop_t* loop, std::shared_ptr<const wire::TaskDesc> task,
                               const PluginFunction* fn, std::string args, uint32_t attempt,
                               DoneFn done, std::optional<std::string> previous, int64_t cap,
                               CheckpointFn on_checkpoint)
    : loop_(loop),
      task_(std::move(task)),
      job_(new Job),
      done_(std::move(done)),
      on_checkpoint_(std::move(on_checkpoint)) {
  job_->invoke = fn->invoke;
  job_->args = std::move(args);
  job_->attempt = attempt;
  job_->owner = this;
  job_->req.data = job_;
  job_->previous = std::move(previous);
  job_->hooks.previous = job_->previous ? &*job_->previous : nullptr;
  job_->hooks.cap = cap;
  Job* job = job_;
  job_->hooks.on_save = [job](const std::string& bytes) {  // pool thread
    std::lock_guard<std::mutex> lock(job->mu);
    job->posted = bytes;
    if (job->async != nullptr) uv_async_send(job->async);
  };
}

void FunctionRunner::DetachAsync() {
  if (job_ != nullptr) {
    std::lock_guard<std::mutex> lock(job_->mu);
    job_->async = nullptr;
  }
  async_.Close();
}

void FunctionRunner::OnCheckpointPosted() {
  if (job_ == nullptr) return;
  std::optional<std::string> bytes;
  {
    std::lock_guard<std::mutex> lock(job_->mu);
    bytes.swap(job_->posted);
  }
  if (!bytes) return;
  last_checkpoint_ = *bytes;
  if (on_checkpoint_) on_checkpoint_(std::move(*bytes));
}

FunctionRunner::~FunctionRunner() {
  DetachAsync();
  if (job_ == nullptr) return;
  if (job_->req.loop != nullptr) {
    // Still on the pool: the after-work callback frees it.
    job_->cancelled = true;
    job_->owner = nullptr;
  } else {
    delete job_;
  }
}

void FunctionRunner::Start() {
  uv_async_init(loop_, async_.get(), [](uv_async_t* a) {
    static_cast<FunctionRunner*>(a->data)->OnCheckpointPosted();
  });
  async_->data = this;
  {
    std::lock_guard<std::mutex> lock(job_->mu);
    job_->async = async_.get();
  }
  if (task_->timeout_ms > 0) {
    uv_timer_init(loop_, timeout_.get());
    timeout_->data = this;
    uv_timer_start(
        timeout_.get(),
        [](uv_timer_t* t) {
          auto* self = static_cast<FunctionRunner*>(t->data);
          self->Cancel(wire::Outcome::kUserError,
                       fmt::format("timed out after {:g}s", self->task_->timeout_ms / 1000.0));
        },
        static_cast<uint64_t>(task_->timeout_ms), 0);
  }
  int rc = uv_queue_work(
      loop_, &job_->req,
      [](uv_work_t* req) {
        auto* job = static_cast<Job*>(req->data);
        job->result =
            InvokeFunction(job->invoke, job->args, job->attempt, &job->cancelled, job->hooks);
      },
      [](uv_work_t* req, int status) {
        auto* job = static_cast<Job*>(req->data);
        if (job->owner == nullptr) {
          delete job;
          return;
        }
        job->owner->OnDone(status);
      });
  if (rc != 0) {
    job_->req.loop = nullptr;
    DetachAsync();
    ended_ = true;
    done_(TaskOutcome::Failure(wire::Outcome::kSystemError,
                               std::string("cannot queue the function: ") + uv_strerror(rc)));
  }
}

void FunctionRunner::Cancel(wire::Outcome outcome, std::string reason) {
  if (ended_ || cancel_) return;
  cancel_ = TaskOutcome::Failure(outcome, std::move(reason));
  job_->cancelled = true;
  // Succeeds only when the call has not started; then the after-work callback comes with
  // UV_ECANCELED on the next turn.
  uv_cancel(reinterpret_cast<uv_req_t*>(&job_->req));
}

void FunctionRunner::OnDone(int status) {
  // The call has returned: no more saves. The last one goes in the result (a save still posted
  // but not yet sent is not sent on its own).
  DetachAsync();
  Job* job = job_;
  job_ = nullptr;
  if (timeout_->loop != nullptr) uv_timer_stop(timeout_.get());
  ended_ = true;
  TaskOutcome outcome;
  if (cancel_) {
    outcome = std::move(*cancel_);
  } else if (status == UV_ECANCELED) {
    outcome = TaskOutcome::Failure(wire::Outcome::kSystemError, "the function was cancelled");
  } else {
    outcome = ToOutcome(*task_, job->result);
  }
  if (status != UV_ECANCELED) {
    // A refused save is never lost silently: it fails the attempt even when it was also cancelled
    // by a timeout (not by an abort or a shutdown, which are not the task's doing).
    if (job->result.checkpoint_error && outcome.outcome != wire::Outcome::kAborted &&
        outcome.outcome != wire::Outcome::kSystemError) {
      outcome = TaskOutcome::Failure(wire::Outcome::kUserError, *job->result.checkpoint_error);
    }
    if (job->result.checkpoint) {
      last_checkpoint_ = *job->result.checkpoint;
      outcome.checkpoint = std::move(job->result.checkpoint);
    }
  }
  delete job;
  done_(std::move(outcome));
}

}  // namespace fanout::worker
