// TaskRunner: one running attempt of a subtask, whatever its kind (built-in, plugin function,
// command). Loop thread only.
#pragma once

#include <functional>
#include <string>

#include "common/wire.h"

namespace fanout::worker {

// How an attempt ended: the outcome and either the encoded outputs or a one-line error.
struct TaskOutcome {
  wire::Outcome outcome = wire::Outcome::kSucceeded;
  std::string outputs;  // kSucceeded: msgpack array in TaskDesc::outputs order
  std::string error;    // otherwise

  static TaskOutcome Success(std::string outputs) {
    return {wire::Outcome::kSucceeded, std::move(outputs), ""};
  }
  static TaskOutcome Failure(wire::Outcome outcome, std::string error) {
    return {outcome, "", std::move(error)};
  }
};

// Called exactly once per attempt, on the loop thread; possibly from inside Start(). The
// runner may still be on the stack: the owner must not destroy it from inside this callback.
using DoneFn = std::function<void(TaskOutcome)>;

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  // Starts the attempt; it ends through the DoneFn given at construction.
  virtual void Start() = 0;
  // Asks the attempt to stop. It still ends through the DoneFn, with this outcome and reason
  // (commands: once the process group is gone; functions: once the call returns). Idempotent.
  virtual void Cancel(wire::Outcome outcome, std::string reason) = 0;
};

}  // namespace fanout::worker
