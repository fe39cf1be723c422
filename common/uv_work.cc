#include "common/uv_work.h"

#include <utility>

namespace fanout {
namespace {

struct Job {
  uv_work_t req{};
  std::function<void()> work;
  std::function<void()> done;
  std::shared_ptr<bool> alive;
};

void RunWork(uv_work_t* req) { static_cast<Job*>(req->data)->work(); }

// UV_ECANCELED cannot happen (no job is cancelled); `done` runs either way and sees whatever
// the work left.
void RunDone(uv_work_t* req, int /*status*/) {
  std::unique_ptr<Job> job(static_cast<Job*>(req->data));
  if (*job->alive) job->done();
}

}  // namespace

void UvWorkQueue::Run(std::function<void()> work, std::function<void()> done) {
  auto job = std::make_unique<Job>();
  job->work = std::move(work);
  job->done = std::move(done);
  job->alive = alive_;
  job->req.data = job.get();
  if (uv_queue_work(loop_, &job->req, RunWork, RunDone) == 0) {
    job.release();  // RunDone owns it
    return;
  }
  job->work();
  job->done();
}

}  // namespace fanout
