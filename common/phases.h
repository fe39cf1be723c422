// Phases of executions, nodes and subtasks, and their names as users and documents see them.
// The one place where a phase becomes text and text becomes a phase: the coordinator, the CLI
// and the stored documents all go through these functions.
#pragma once

#include <cstdint>
#include <optional>
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
  kWaitingForCache = 6,  // cache serialization: another subtask computes the same key
};
inline constexpr int kSubtaskPhaseCount = 7;

inline bool IsTerminal(SubtaskPhase p) {
  return p == SubtaskPhase::kSucceeded || p == SubtaskPhase::kFailed || p == SubtaskPhase::kAborted;
}

std::string_view SubtaskPhaseName(SubtaskPhase p);  // "queued", "running", ...
std::optional<SubtaskPhase> ParseSubtaskPhase(std::string_view name);

enum class NodePhase : uint8_t { kPending, kRunning, kSucceeded, kFailed, kAborted, kSkipped };
inline constexpr int kNodePhaseCount = 6;
std::string_view NodePhaseName(NodePhase p);  // "PENDING", ...
std::optional<NodePhase> ParseNodePhase(std::string_view name);
inline bool IsTerminal(NodePhase p) {
  return p != NodePhase::kPending && p != NodePhase::kRunning;
}

enum class ExecPhase : uint8_t { kQueued, kRunning, kSucceeded, kFailed, kAborted };
inline constexpr int kExecPhaseCount = 5;
std::string_view ExecPhaseName(ExecPhase p);  // "QUEUED", ...
std::optional<ExecPhase> ParseExecPhase(std::string_view name);
inline bool IsTerminal(ExecPhase p) {
  return p == ExecPhase::kSucceeded || p == ExecPhase::kFailed || p == ExecPhase::kAborted;
}

}  // namespace fanout
