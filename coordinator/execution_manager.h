// ExecutionManager: workflow advancement (DESIGN §3.1, §4). It owns the life of executions in
// memory: a submitted spec becomes an Execution of a launch plan (a workflow is its own
// default launch plan), is stored before it is acknowledged, and is advanced node by node as
// upstream values arrive; a node starts (inputs resolved, ArrayNode made, its known state
// loaded by NodeLoader), runs (Dispatcher for tasks, ChildRuns for launch plans), and
// completes (outputs assembled from the store); the execution ends when every node succeeded
// or one failed, and its end is stored after every subtask write it depends on.
//
// Child executions (elements of a map over a launch plan) are executions too, with their own
// id, nodes and records; they share their top-level execution's spec.
//
// A restarted coordinator hands it the snapshot of active executions (Store::LoadActive), read
// once; each is rebuilt from its stored binary spec (common/spec_codec.h), never by parsing
// YAML again. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/wire.h"
#include "coordinator/commit_queue.h"
#include "coordinator/dispatcher.h"
#include "coordinator/execution.h"
#include "coordinator/store.h"

namespace fanout {

// What one coordinator takes on (DESIGN §7; `fanout-coordinator --help`): each is a clear error
// where it is crossed, never a slow death of the coordinator.
struct Limits {
  // Subtasks of one map node (children of a map over a launch plan). A list input longer than
  // this is refused at submission; a longer list made by an upstream node fails the node.
  uint64_t max_node_elements = 10'000'000;
  // Subtasks of all the map nodes of one execution together (a child execution has its own).
  uint64_t max_execution_elements = 100'000'000;
  // Top-level executions running at once; a submission beyond it is refused.
  uint64_t max_executions = 10'000;
};

class NodeLoader;
class ChildRuns;

class ExecutionManager {
 public:
  struct Options {
    int system_retries = 3;
    int64_t max_checkpoint_bytes = 16 << 20;
    bool keep_checkpoints = false;
    Limits limits;
  };
  struct Hooks {
    // The execution ended and its end is durable: publish its last STATUS.
    std::function<void(const Execution&)> ended;
    std::function<void()> wake;
  };
  using StoredFields = std::map<std::string, std::string>;

  ExecutionManager(ExecutionTable& execs, Store& store, CommitQueue& commits, Dispatcher& dispatcher,
                   const Clock& clock, Options options, Hooks hooks);
  void set_rooms(NodeLoader* loader, ChildRuns* children) {
    loader_ = loader;
    children_ = children;
  }

  // A parsed SUBMIT (ParseSubmission) meets the coordinator: refused while the store is
  // away or max_executions run; otherwise given an id and its nodes. Nothing is stored yet.
  Status Admit(Execution& e);
  const Limits& limits() const { return options_.limits; }
  // `fanout recover`: a new execution of a stored one's spec and inputs (from its fields),
  // which reuses the subtasks that succeeded there.
  Result<std::unique_ptr<Execution>> PrepareRecovery(const std::string& source, const StoredFields& fields);
  // The child execution for element `index` (attempt `attempt`) of a launch-plan node.
  Result<std::unique_ptr<Execution>> PrepareChild(const NodeRun& node, uint32_t index, uint32_t attempt);
  // Stores a prepared execution, then starts it. done runs once it is durable (or not).
  void Accept(std::unique_ptr<Execution> e, std::function<void(Status, const Execution*)> done);
  // Stores a prepared child unless it exists already; starts it when it was created. done gets
  // the stored fields of an existing child (nullopt when this call created it).
  void AcceptChild(std::unique_ptr<Execution> e, std::function<void(Result<std::optional<StoredFields>>)> done);
  // After a restart: rebuilds and restarts every execution of the snapshot. Top-level ones
  // first; children share their top-level execution's spec; a child whose top-level execution
  // is not active any more is ended as ABORTED.
  void Restore(const std::vector<StoredExecution>& snapshot);
  // A stored active child execution that is not in memory: rebuilt and restarted.
  void Resume(const StoredExecution& stored);

  // Starts what is ready, or ends the execution when every node is done.
  void Advance(Execution& e);
  // Subtask states of a node moved: abort what fail-fast stopped, complete the node when done.
  void NodeChanged(NodeRun& node);
  // NodeLoader is done with a node: it may dispatch.
  void NodeReady(NodeRun& node);
  // A node cannot go on (e.g. its records cannot be read): the execution fails.
  void NodeFailed(NodeRun& node, const std::string& why);
  void Abort(Execution& e, const std::string& why);
  // `fanout update`: a running map node's concurrency and success criteria, in effect at once
  // when the returned status is OK; `stored` is told once the change is durable (or is not).
  Status Update(Execution& e, const std::string& node, const NodeOverride& change, Store::Done stored);
  // Writes again the ends that the store could not take (a lost connection); called on every
  // tick and when the store is back.
  void RetryUnstoredEnds();

 private:
  // An execution from its stored fields (nullptr and a logged reason when it cannot be).
  Result<std::unique_ptr<Execution>> FromStored(const StoredExecution& stored, std::shared_ptr<const Spec> spec);
  std::string NewId();
  // Refuses a new top-level execution while max_executions run.
  Status RoomForAnother() const;
  // Refuses a map node of n subtasks beyond max_node_elements, or beyond
  // max_execution_elements with the execution's earlier nodes; counts it in.
  Status TakeElements(Execution& e, uint64_t n);
  void StartNode(Execution& e, NodeRun& node);
  ArrayNodePolicy PolicyOf(const Execution& e, const NodeRun& node, uint32_t n) const;
  void CompleteNode(NodeRun& node);
  void FailNode(NodeRun& node, std::string error);
  void StopNodes(Execution& e);
  void StopAborted(NodeRun& node);
  void Finish(Execution& e, ExecPhase phase, std::string error);
  // Stores an ended execution's end (and drops its checkpoints and unclaimed marks); once it
  // is durable, publishes the end and forgets the execution.
  void StoreEnd(const Execution& e, ::fanout::Fields f);
  void PersistNodePhase(const NodeRun& node);

  ExecutionTable& execs_;
  Store& store_;
  CommitQueue& commits_;
  Dispatcher& dispatcher_;
  NodeLoader* loader_ = nullptr;
  ChildRuns* children_ = nullptr;
  const Clock& clock_;
  Options options_;
  Hooks hooks_;
  std::map<std::string, ::fanout::Fields> unstored_ends_;  // exec → its end, to write again
};

// A SUBMIT as far as it goes without the coordinator's state: the spec parsed and checked,
// the launch plan found, the inputs parsed, resolved against it, checked and encoded. A pure
// function of the request and the limits: it takes seconds for a large input, so ClientApi
// runs it off the loop. ExecutionManager::Admit takes it from there.
Result<std::unique_ptr<Execution>> ParseSubmission(const wire::SubmitRequest& req, const Limits& limits);

}  // namespace fanout
