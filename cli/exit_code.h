// The CLI's exit codes (DESIGN §3.2) and how errors and execution phases map onto them.
#pragma once

#include <string_view>

#include "common/status.h"

namespace fanout::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the execution failed or was aborted; other errors
inline constexpr int kExitUsage = 2;        // usage, spec or input error; unknown execution
inline constexpr int kExitUnreachable = 3;  // the coordinator (or local cluster) cannot be reached
inline constexpr int kExitAlreadyEnded = 4;  // `abort` of an execution that had already ended
inline constexpr int kExitInterrupted = 130;

// kInvalidArgument and kNotFound → 2; kUnavailable (no answer from the coordinator, or the
// coordinator says its store is unavailable) → 3; kAborted (Ctrl-C while waiting) → 130;
// anything else → 1.
int ExitCodeFor(const Status& status);

// SUCCEEDED → 0; FAILED, ABORTED or anything unexpected → 1.
int ExitCodeForPhase(std::string_view execution_phase);

// True for the execution phases that never change again.
bool IsTerminalPhase(std::string_view execution_phase);

}  // namespace fanout::cli
