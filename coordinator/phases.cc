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

bool ParseNodePhase(std::string_view s, NodePhase* out) {
  for (int i = 0; i < 6; ++i)
    if (kNodePhases[i] == s) {
      *out = static_cast<NodePhase>(i);
      return true;
    }
  return false;
}

bool ParseExecPhase(std::string_view s, ExecPhase* out) {
  for (int i = 0; i < 5; ++i)
    if (kExecPhases[i] == s) {
      *out = static_cast<ExecPhase>(i);
      return true;
    }
  return false;
}

}  // namespace fanout
