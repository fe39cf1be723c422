#include "worker/function_runner.h"

#include <fmt/format.h>

#include "common/codec.h"
#include "worker/task_io.h"

namespace fanout::worker {
namespace {

struct Host {
  const std::atomic<bool>* cancelled;
  CallResult* result;
};

}  // namespace

CallResult InvokeFunction(void (*invoke)(const fanout_call*), const std::string& args,
                          uint32_t attempt, const std::atomic<bool>* cancelled) {
  CallResult result;
  Host host{cancelled, &result};
  fanout_call call{};
  call.args = args.data();
  call.args_len = args.size();
  call.attempt = static_cast<int32_t>(attempt);
  call.prev_checkpoint = nullptr;  // checkpoint persistence comes later (DESIGN §4)
  call.prev_checkpoint_len = 0;
  call.host = &host;
  call.is_cancelled = [](void* h) -> int {
    auto* host = static_cast<Host*>(h);
    return host->cancelled != nullptr && host->cancelled->load(std::memory_order_relaxed);
  };
  call.checkpoint = [](void* h, const char* data, size_t len) {
    static_cast<Host*>(h)->result->checkpoint = std::string(data, len);
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
  CallResult result;                // written by the pool thread, read after it
  FunctionRunner* owner = nullptr;  // loop thread only; null once the runner is gone
};

FunctionRunner::FunctionRunner(uv_loop_t* loop, std::shared_ptr<const wire::TaskDesc> task,
                               const PluginFunction* fn, std::string args, uint32_t attempt,
                               DoneFn done)
    : loop_(loop), task_(std::move(task)), job_(new Job), done_(std::move(done)) {
  job_->invoke = fn->invoke;
  job_->args = std::move(args);
  job_->attempt = attempt;
  job_->owner = this;
  job_->req.data = job_;
}

FunctionRunner::~FunctionRunner() {
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
        job->result = InvokeFunction(job->invoke, job->args, job->attempt, &job->cancelled);
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
  delete job;
  done_(std::move(outcome));
}

}  // namespace fanout::worker
