// The Redis key schema (DESIGN §6). Every key string is formatted here and nowhere else.
// All keys of one execution share the hash tag {EXEC}, so the layout works on Redis Cluster.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fanout::keys {

// INCR'd by every coordinator at start: the fencing epoch.
inline std::string Epoch() { return "fo:epoch"; }
// Sorted set: every execution, scored by creation wall time (ms).
inline std::string Execs() { return "fo:execs"; }
// Sorted set: child executions (elements of maps over launch plans), by creation time; kept
// apart so that `fanout list` shows top-level executions unless asked for children.
inline std::string Children() { return "fo:children"; }
// Set: executions not yet terminal; a restarted coordinator resumes these.
inline std::string Active() { return "fo:active"; }

// Hash of one execution. Fields are the k* constants below.
inline std::string Exec(std::string_view e) { return "fo:{" + std::string(e) + "}:spec"; }
inline constexpr const char* kFieldSpecText = "spec";        // YAML text as submitted
inline constexpr const char* kFieldSpecName = "spec_name";   // file name, for messages
inline constexpr const char* kFieldWorkflow = "workflow";
inline constexpr const char* kFieldInputs = "inputs";        // msgpack map of resolved inputs
inline constexpr const char* kFieldPhase = "phase";          // ExecPhase name
inline constexpr const char* kFieldCreated = "created_ms";
inline constexpr const char* kFieldEnded = "ended_ms";
inline constexpr const char* kFieldError = "error";
inline constexpr const char* kFieldOutputs = "outputs";      // msgpack map of workflow outputs
inline constexpr const char* kFieldRecoveredFrom = "recovered_from";  // source of `fanout recover`
inline constexpr const char* kFieldStatus = "status";        // final STATUS document (JSON)
inline constexpr const char* kFieldOverwriteCache = "overwrite_cache";  // "1" when set
inline constexpr const char* kFieldSpecBinary = "spec_bin";  // the resolved spec (common/spec_codec.h)
inline constexpr const char* kFieldLaunchPlan = "launch_plan";
inline constexpr const char* kFieldMaxParallelism = "max_parallelism";
// Child executions: their parent execution, its node and the element (index, attempt) they
// run, and the top-level execution whose stored spec they share (they store none).
inline constexpr const char* kFieldParent = "parent";
inline constexpr const char* kFieldParentNode = "parent_node";
inline constexpr const char* kFieldParentIndex = "parent_index";
inline constexpr const char* kFieldParentAttempt = "parent_attempt";
inline constexpr const char* kFieldRoot = "root";
// Per node: "node:ID:phase", "node:ID:size", "node:ID:error", and what `fanout update`
// changed: "node:ID:concurrency", "node:ID:min_successes".
inline std::string NodeField(std::string_view node, std::string_view what) {
  return "node:" + std::string(node) + ":" + std::string(what);
}

// Subtask records of a node: a bitfield of u16 per index (see PackRecord).
inline std::string Phases(std::string_view e, std::string_view node) {
  return "fo:{" + std::string(e) + "}:n:" + std::string(node) + ":ph";
}
// Hash index → msgpack array of the subtask's outputs (written once, HSETNX).
inline std::string Outputs(std::string_view e, std::string_view node) {
  return "fo:{" + std::string(e) + "}:n:" + std::string(node) + ":out";
}
// Hash index → last error message of the subtask.
inline std::string Errors(std::string_view e, std::string_view node) {
  return "fo:{" + std::string(e) + "}:n:" + std::string(node) + ":err";
}
// Hash index → wall ms when a restarted coordinator first found that RUNNING subtask with no
// worker claiming it: the claim grace window runs from there across further restarts.
inline std::string Unclaimed(std::string_view e, std::string_view node) {
  return "fo:{" + std::string(e) + "}:n:" + std::string(node) + ":unclaimed";
}
inline std::string Checkpoint(std::string_view e, std::string_view node, uint32_t index) {
  return "fo:{" + std::string(e) + "}:n:" + std::string(node) + ":ckpt:" + std::to_string(index);
}
// Set of the checkpoint keys of an execution (written before each checkpoint), so that they
// are listed and deleted without scanning the key space.
inline std::string CheckpointIndex(std::string_view e) { return "fo:{" + std::string(e) + "}:ckpts"; }
inline std::string Log(std::string_view e, std::string_view node, uint32_t index, uint32_t attempt) {
  return "fo:{" + std::string(e) + "}:n:" + std::string(node) + ":log:" + std::to_string(index) +
         ":" + std::to_string(attempt);
}
inline std::string Events(std::string_view e) { return "fo:{" + std::string(e) + "}:events"; }
inline std::string Cache(std::string_view key) { return "fo:cache:" + std::string(key); }
inline std::string CacheReservation(std::string_view key) {
  return "fo:cache:" + std::string(key) + ":res";
}

}  // namespace fanout::keys
