#include "coordinator/phases.h"

namespace fanout {

std::string_view SubtaskPhaseName(SubtaskPhase p) {
  switch (p) {
    case SubtaskPhase::kQueued: return "queued";
    case SubtaskPhase::kRunning: return "running";
    case SubtaskPhase::kRetrying: return "retrying";
    case SubtaskPhase::kSucceeded: return "succeeded";
    case SubtaskPhase::kFailed: return "failed";
    case SubtaskPhase::kAborted: return "aborted";
    case SubtaskPhase::kWaitingForCache: return "waiting_for_cache";
  }
  return "unknown";
}

static constexpr std::string_view kNodePhases[] = {"PENDING", "RUNNING", "SUCCEEDED",
                                                   "FAILED",  "ABORTED", "SKIPPED"};
static constexpr std::string_view kExecPhases[] = {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED",
                                                   "ABORTED"};

std::string_view NodePhaseName(NodePhase p) { return kNodePhases[static_cast<int>(p)]; }
std::string_view ExecPhaseName(ExecPhase p) { return kExecPhases[static_cast<int>(p)]; }

}  // namespace fanout
