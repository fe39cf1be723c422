// Checkpointing examples (DESIGN §3.3, §4): C++ task functions that resume from
// ctx.previous_checkpoint(). Built into libfanout_examples.so with anomalies.cc.
#include <fanout/task.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

// Counts from the last checkpoint (or 0) up to `target`, one step at a time, saving the count
// after each step (a decimal string). In attempt 0 it throws when the count reaches `fail_at`
// (0: never), after saving it, so the next attempt resumes there. `step_ms` slows each step.
// Returns {"started_at": where this attempt began, "count": target}.
std::map<std::string, int64_t> count_with_checkpoint(fanout::TaskContext& ctx, int64_t target,
                                                     int64_t fail_at, int64_t step_ms) {
  int64_t count = 0;
  if (auto prev = ctx.previous_checkpoint()) {
    try {
      count = std::stoll(*prev);
    } catch (const std::exception&) {
      throw fanout::NonRetryable("unreadable checkpoint '" + prev->substr(0, 40) + "'");
    }
  }
  const int64_t started_at = count;
  while (count < target) {
    if (ctx.cancelled()) throw std::runtime_error("cancelled at " + std::to_string(count));
    if (step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    ++count;
    ctx.checkpoint(std::to_string(count));
    if (ctx.attempt() == 0 && count == fail_at) {
      throw std::runtime_error("failing on purpose at step " + std::to_string(count));
    }
  }
  return {{"started_at", started_at}, {"count", count}};
}

// Saves one checkpoint of `bytes` bytes and returns its size: for trying the checkpoint cap.
int64_t checkpoint_of_size(fanout::TaskContext& ctx, int64_t bytes) {
  ctx.checkpoint(std::string(static_cast<size_t>(bytes < 0 ? 0 : bytes), 'c'));
  return bytes;
}

}  // namespace

FANOUT_TASK(count_with_checkpoint, count_with_checkpoint);
FANOUT_TASK(checkpoint_of_size, checkpoint_of_size);
