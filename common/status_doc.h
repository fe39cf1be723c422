// The documents the coordinator answers with and the CLI reads (DESIGN §3.2 `-o json`): one
// struct per document, encoded to and decoded from JSON here and nowhere else, so that no side
// matches the other's human-readable text.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/phases.h"
#include "common/status.h"

namespace fanout {

// Why a node that has subtasks to start cannot place them on any connected worker.
enum class WaitReason : uint8_t {
  kNone = 0,
  kNoWorkers,                  // no worker is connected (or all are draining)
  kFunctionNotOffered,         // no connected worker offers the node's function
  kOnlyInterruptibleWorkers,   // the task is not interruptible; only interruptible workers
  kRequestsFitNoWorker,        // cpu/mem requests exceed every worker's capacity
  kLastRetryNeedsNonInterruptible,  // a last system retry waits for a non-interruptible worker
  kMaxParallelism,             // the execution's max_parallelism is reached
};
std::string_view WaitReasonName(WaitReason r);  // "no_workers", ...; "" for kNone
WaitReason ParseWaitReason(std::string_view name);  // unknown → kNone

struct Waiting {
  WaitReason reason = WaitReason::kNone;
  std::string function;  // kFunctionNotOffered: the function
  std::string message;   // a sentence for humans ("no connected worker offers function 'f'")
  bool operator==(const Waiting&) const = default;
};

struct FailedSubtask {
  uint32_t index = 0;
  uint32_t attempts = 0;
  SubtaskPhase phase = SubtaskPhase::kFailed;
  std::string error;
  bool operator==(const FailedSubtask&) const = default;
};

struct NodeStatus {
  std::string id;
  bool is_map = false;
  std::string task;          // what it runs: a task, or a launch plan (then each element is a
  bool launch_plan = false;  // child execution, "EXEC.NODE.INDEX": see child_prefix)
  std::string child_prefix;  // launch-plan nodes: child ids are child_prefix + index
  NodePhase phase = NodePhase::kPending;
  std::string error;
  Waiting waiting;
  double cpu = 0;          // requests
  int64_t mem_bytes = 0;
  std::array<uint64_t, kSubtaskPhaseCount> counts{};  // by SubtaskPhase
  uint64_t cached = 0;
  uint64_t size = 0;
  int64_t min_successes = 0;
  uint32_t concurrency = 0;  // subtasks (or children) running at once; 0: no bound
  uint64_t state_bytes = 0;  // coordinator memory held for the node
  std::vector<FailedSubtask> failed;  // in index order, at most kMaxFailedShown

  uint64_t count(SubtaskPhase p) const { return counts[static_cast<int>(p)]; }
  bool operator==(const NodeStatus&) const = default;
};

// STATUS: one execution.
struct ExecutionStatus {
  static constexpr size_t kMaxFailedShown = 100;

  std::string execution;
  std::string workflow;
  ExecPhase phase = ExecPhase::kQueued;
  int64_t created_ms = 0;
  int64_t ended_ms = 0;
  std::string error;
  std::string recovered_from;
  std::string launch_plan;  // what runs (a workflow's name when it is its own launch plan)
  std::string parent;       // a child execution: its parent execution, node and element
  std::string parent_node;
  uint32_t parent_index = 0;
  uint32_t max_parallelism = 0;
  int events_port = 0;  // while it runs: where its progress events are published (0: none)
  std::vector<NodeStatus> nodes;

  nlohmann::json ToJson() const;
  // Accepts documents written by older coordinators (missing fields keep their defaults);
  // refuses a document whose phases are unknown.
  static Result<ExecutionStatus> FromJson(const nlohmann::json& j);
  bool operator==(const ExecutionStatus&) const = default;
};

// One subtask that failed (or was aborted) in an execution that may still have succeeded: the
// tolerated failures behind the nulls of a map node's outputs.
struct FailedElement {
  std::string node;
  uint32_t index = 0;
  std::string error;
  bool operator==(const FailedElement&) const = default;
};

// OUTPUTS: an execution's phase, error and (when it succeeded, or tolerated failures) outputs.
struct ExecutionOutputs {
  std::string execution;
  ExecPhase phase = ExecPhase::kQueued;
  std::string error;
  bool has_outputs = false;
  nlohmann::json outputs;  // object: output name → value
  // Failed subtasks of the map nodes, by node then index, at most kMaxFailedShown per node
  // (as in STATUS); failed_total counts them all.
  std::vector<FailedElement> failed;
  uint64_t failed_total = 0;

  // Fills failed/failed_total from a STATUS document of the same execution.
  void AddFailures(const ExecutionStatus& status);

  nlohmann::json ToJson() const;
  static Result<ExecutionOutputs> FromJson(const nlohmann::json& j);
};

}  // namespace fanout

namespace fanout {

// SUBTASKS: the phases of a map node's subtasks in one compact string, one character per
// subtask from `offset` (the page's grid; DESIGN §1 "subtask grids by phase"). Or, when asked
// for one phase, the indices in that phase.
struct SubtaskGrid {
  // One character per subtask phase, by SubtaskPhase, and 'c' for a success from the cache.
  // queued running retrYing succeeded failed aborted waiting_for_cache
  static constexpr std::string_view kPhaseChars = "qrysfaw";
  static constexpr char kCachedChar = 'c';
  static char CharOf(SubtaskPhase p, bool cached);

  std::string execution;
  std::string node;
  uint64_t size = 0;
  uint64_t offset = 0;
  std::string phases;             // phases[k] is subtask offset+k
  bool has_indices = false;       // asked for one phase: indices instead of phases
  std::vector<uint32_t> indices;  // in index order, at most the limit asked
  bool live = false;              // from the coordinator's memory (else from the store)

  nlohmann::json ToJson() const;
  static Result<SubtaskGrid> FromJson(const nlohmann::json& j);
};

// SUBTASK: one subtask: its phase, attempts, error and the end of its latest attempt's log.
struct SubtaskDetail {
  static constexpr size_t kLogTailBytes = 8 << 10;

  std::string execution;
  std::string node;
  uint32_t index = 0;
  SubtaskPhase phase = SubtaskPhase::kQueued;
  uint32_t attempts = 0;  // attempts started (0: never started)
  uint32_t system_failures = 0;
  bool cached = false;
  std::string error;      // the last error, when known
  bool log_found = false;
  uint32_t log_attempt = 0;  // the attempt whose log is shown
  std::string log_tail;      // its last kLogTailBytes
  uint64_t log_bytes = 0;    // its whole size
  bool live = false;

  nlohmann::json ToJson() const;
  static Result<SubtaskDetail> FromJson(const nlohmann::json& j);
};

}  // namespace fanout
