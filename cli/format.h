// Human output of the CLI: compact JSON values, outputs, status, tables. Pure functions of the
// coordinator's reply documents (see common/wire.h for their shape); no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fanout::cli {

// Reply documents keep the coordinator's key order (outputs in declared order).
using Json = nlohmann::ordered_json;

// One-line JSON with ", " between items and ": " in objects: `[false, true]`, `{"a": 1}`.
// Strings are JSON-escaped (quoted); floats keep their decimal point (6.0).
std::string CompactJson(const Json& j);

// "350ms", "1.2s", "2m05s", "1h02m". Negative → "-".
std::string FormatDurationMs(int64_t ms);

// One line per output, in document order: "NAME: VALUE\n".
std::string FormatOutputs(const Json& outputs);

// The human form of a STATUS document: a header line, one line per node (phase, size,
// counts), one line per failed subtask (index, attempts, last error), the execution error.
// now_ms: for the age of a running execution.
std::string FormatStatus(const Json& status, int64_t now_ms);

// The tolerated failures of a succeeded execution from its OUTPUTS document ("failed",
// "failed_total"): "" when none, else a line saying how many subtasks failed (their outputs are
// null) and one line per failed subtask shown ("  NODE[INDEX]: ERROR"), at most max_lines, then
// where to see the rest.
std::string FormatToleratedFailures(const Json& outputs_doc, const std::string& exec, size_t max_lines = 10);

// The failed subtask with the lowest index in a STATUS document (nodes in workflow order, the
// first node that has failures): its node and index.
std::optional<std::pair<std::string, int64_t>> LowestFailedSubtask(const Json& status);

// A table; rows[0] is the header. Columns are left-aligned, separated by two spaces, the
// last column is not padded.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// The LIST document as a table: EXECUTION WORKFLOW PHASE CREATED DURATION.
std::string FormatExecutions(const Json& list, int64_t now_ms);

// The WORKERS document as a table: ID HOST PID SLOTS RUNNING HEARTBEAT INTERRUPTIBLE FUNCTIONS.
std::string FormatWorkers(const Json& workers);

// Reads a field with a default when absent or of another type (reply documents are
// validated loosely: a missing field is shown as its default, never a crash).
std::string JsonStr(const Json& j, const char* key, std::string def = "");
int64_t JsonInt(const Json& j, const char* key, int64_t def = 0);

}  // namespace fanout::cli
