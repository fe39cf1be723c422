#include "cli/exit_code.h"

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
  return execution_phase == "SUCCEEDED" ? kExitOk : kExitFailed;
}

bool IsTerminalPhase(std::string_view execution_phase) {
  return execution_phase == "SUCCEEDED" || execution_phase == "FAILED" ||
         execution_phase == "ABORTED";
}

}  // namespace fanout::cli
