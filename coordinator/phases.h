// Phases of executions, nodes and subtasks, and their names as users see them.
#pragma once

#include <cstdint>
#include <string_view>

namespace fanout {

// Persisted in 4 bits of the subtask record (keys::SubtaskRecord::phase): never renumber.
enum class SubtaskPhase : uint8_t {
  kQueued = 0,           // not started (or re-queued after a system failure)
  kRunning = 1,          // dispatched to a worker
  kRetrying = 2,         // failed retryably; waits to be dispatched again, holding its slot
  kSucceeded = 3,
  kFailed = 4,
  kAborted = 5,
  kWaitingForCache = 6,  // reserved: cache serialization
};
inline constexpr int kSubtaskPhaseCount = 7;

inline bool IsTerminal(SubtaskPhase p) {
  return p == SubtaskPhase::kSucceeded || p == SubtaskPhase::kFailed || p == SubtaskPhase::kAborted;
}

std::string_view SubtaskPhaseName(SubtaskPhase p);  // "queued", "running", ...

enum class NodePhase : uint8_t { kPending, kRunning, kSucceeded, kFailed, kAborted, kSkipped };
std::string_view NodePhaseName(NodePhase p);  // "PENDING", ...

enum class ExecPhase : uint8_t { kQueued, kRunning, kSucceeded, kFailed, kAborted };
std::string_view ExecPhaseName(ExecPhase p);  // "QUEUED", ...
inline bool IsTerminal(ExecPhase p) {
  return p == ExecPhase::kSucceeded || p == ExecPhase::kFailed || p == ExecPhase::kAborted;
}

}  // namespace fanout
