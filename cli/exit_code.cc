#include "cli/exit_code.h"

#include "common/phases.h"

namespace fanout::cli {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk: return kExitOk;
    case Code::kInvalidArgument:
    case Code::kNotFound: return kExitUsage;
    case Code::kUnavailable: return kExitUnreachable;
    case Code::kAborted: return kExitInterrupted;
    default: return kExitFailed;
  }
}

int ExitCodeForPhase(std::string_view execution_phase) {
  return ParseExecPhase(execution_phase) == ExecPhase::kSucceeded ? kExitOk : kExitFailed;
}

bool IsTerminalPhase(std::string_view execution_phase) {
  auto p = ParseExecPhase(execution_phase);
  return p && IsTerminal(*p);
}

}  // namespace fanout::cli
