// ChildRuns: maps over launch plans (DESIGN §3.1, Flyte's map_task(launch_plan)). Each element
// of a launch-plan node runs as a child execution of the plan's workflow, with its own id
// (ChildId: "PARENT.NODE.INDEX"), nodes, records, logs and status. This room starts children
// as the node's ArrayNode lets them start (concurrency, and the execution's max_parallelism),
// turns a child's end into its element's result (outputs committed like a task's, fenced,
// first one wins), aborts the children of aborted elements (fail-fast, abort: a cascade), and
// after a restart finds each running element's child again: in memory (it was active), ended
// (its stored end is taken), or never created (it is started again: creation is idempotent).
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/commit_queue.h"
#include "coordinator/execution.h"
#include "coordinator/execution_manager.h"
#include "coordinator/store.h"

namespace fanout {

class ChildRuns {
 public:
  struct Hooks {
    std::function<void()> wake;
  };
  ChildRuns(ExecutionTable& execs, ExecutionManager& manager, Store& store, CommitQueue& commits, Hooks hooks);

  // Starts the children that launch-plan nodes may start now. Once per loop turn, before the
  // dispatch of task subtasks (children and subtasks share an execution's max_parallelism).
  void Pump();
  // A restored RUNNING element of a launch-plan node (the node is loading).
  void Adopt(NodeRun& node, uint32_t index, uint32_t attempt);
  // Stores the records of the node's newly aborted elements and aborts their children.
  void StopAborted(NodeRun& node);
  // A child's end is durable: it becomes its element's result.
  void ChildEnded(const Execution& child);
  // The node has finished loading: ends that arrived meanwhile are applied.
  void NodeReady(NodeRun& node);
  // The outcome of committing a child's outputs.
  void OnCommitted(NodeUid node, const CommitOp& op, CommitOutcome outcome);
  // Every heartbeat tick: commits that were not durable are tried again.
  void Tick();

 private:
  struct End {
    uint32_t index = 0;
    uint32_t attempt = 0;
    ExecPhase phase = ExecPhase::kFailed;
    std::string outputs;  // SUCCEEDED: the child's outputs, a msgpack map
    std::string error;
    std::string child;
  };
  void Start(NodeRun& node, uint32_t index, uint32_t attempt);
  // Applies an end now, or keeps it until the node has loaded.
  void Take(NodeRun& node, End end);
  void Deliver(NodeRun& node, End end);
  void Fail(NodeRun& node, uint32_t index, uint32_t attempt, FailureKind kind, const std::string& why);
  void Record(NodeRun& node, uint32_t index, uint32_t attempt);

  ExecutionTable& execs_;
  ExecutionManager& manager_;
  Store& store_;
  CommitQueue& commits_;
  Hooks hooks_;
  std::unordered_map<NodeUid, std::vector<End>> pending_;  // ends of elements of loading nodes
  std::unordered_map<uint64_t, End> committing_;           // SubtaskId::packed → end in a commit
  std::vector<std::pair<NodeUid, End>> retry_;             // commits to try again
};

}  // namespace fanout
