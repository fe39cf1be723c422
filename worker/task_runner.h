// TaskRunner: one running attempt of a subtask, whatever its kind (built-in, plugin function,
// command). Loop thread only.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/wire.h"

namespace fanout::worker {

// How an attempt ended: the outcome and either the encoded outputs or a one-line error.
struct TaskOutcome {
  wire::Outcome outcome = wire::Outcome::kSucceeded;
  std::string outputs;  // kSucceeded: msgpack array in TaskDesc::outputs order
  std::string error;    // otherwise
  // The checkpoint saved when the attempt ended, if it saved one during this attempt
  // (ResultItem::has_checkpoint / checkpoint).
  std::optional<std::string> checkpoint;
  std::string log;  // what the attempt printed (ResultItem::log)

  static TaskOutcome Success(std::string outputs) {
    return {wire::Outcome::kSucceeded, std::move(outputs), "", std::nullopt, ""};
  }
  static TaskOutcome Failure(wire::Outcome outcome, std::string error) {
    return {outcome, "", std::move(error), std::nullopt, ""};
  }
};

// Called exactly once per attempt, on the loop thread; possibly from inside Start(). The
// runner may still be on the stack: the owner must not destroy it from inside this callback.
using DoneFn = std::function<void(TaskOutcome)>;

// Called on the loop thread while an attempt runs, with each checkpoint it saves (the worker
// sends it as a kCheckpoint message). Never called after the DoneFn.
using CheckpointFn = std::function<void(std::string)>;

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  // Starts the attempt; it ends through the DoneFn given at construction.
  virtual void Start() = 0;
  // Asks the attempt to stop. It still ends through the DoneFn, with this outcome and reason
  // (commands: once the process group is gone; functions: once the call returns). Idempotent.
  virtual void Cancel(wire::Outcome outcome, std::string reason) = 0;
  // The latest checkpoint this attempt saved so far, if any: for reporting an attempt that
  // has to be given up before it ends (shutdown of a stuck attempt).
  virtual std::optional<std::string> LastCheckpoint() const { return std::nullopt; }
};

}  // namespace fanout::worker
