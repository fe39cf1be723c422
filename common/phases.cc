#include "common/phases.h"

namespace fanout {
namespace {

constexpr std::string_view kSubtaskPhases[] = {"queued",  "running", "retrying",         "succeeded",
                                               "failed",  "aborted", "waiting_for_cache"};
constexpr std::string_view kNodePhases[] = {"PENDING", "RUNNING", "SUCCEEDED",
                                            "FAILED",  "ABORTED", "SKIPPED"};
constexpr std::string_view kExecPhases[] = {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "ABORTED"};

template <typename E, size_t N>
std::optional<E> Parse(const std::string_view (&names)[N], std::string_view name) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<E>(i);
  return std::nullopt;
}

}  // namespace

std::string_view SubtaskPhaseName(SubtaskPhase p) {
  auto i = static_cast<size_t>(p);
  return i < std::size(kSubtaskPhases) ? kSubtaskPhases[i] : "unknown";
}
std::string_view NodePhaseName(NodePhase p) { return kNodePhases[static_cast<int>(p)]; }
std::string_view ExecPhaseName(ExecPhase p) { return kExecPhases[static_cast<int>(p)]; }

std::optional<SubtaskPhase> ParseSubtaskPhase(std::string_view name) {
  return Parse<SubtaskPhase>(kSubtaskPhases, name);
}
std::optional<NodePhase> ParseNodePhase(std::string_view name) {
  return Parse<NodePhase>(kNodePhases, name);
}
std::optional<ExecPhase> ParseExecPhase(std::string_view name) {
  return Parse<ExecPhase>(kExecPhases, name);
}

}  // namespace fanout
