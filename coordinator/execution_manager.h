// ExecutionManager: workflow advancement (DESIGN §3.1, §4). It owns the life of executions in
// memory: a submitted spec becomes an Execution, is stored before it is acknowledged, and is
// advanced node by node as upstream values arrive; a node starts (inputs resolved, ArrayNode
// made, its known state loaded by NodeLoader), runs (Dispatcher), and completes (outputs
// assembled from the store); the execution ends when every node succeeded or one failed, and
// its end is stored after every subtask write it depends on.
//
// A restarted coordinator hands it the snapshot of active executions (Store::LoadActive), read
// once; each is rebuilt from its stored binary spec (common/spec_codec.h), never by parsing
// its YAML again. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/wire.h"
#include "coordinator/commit_queue.h"
#include "coordinator/dispatcher.h"
#include "coordinator/execution.h"
#include "coordinator/node_loader.h"
#include "coordinator/store.h"

namespace fanout {

class ExecutionManager {
 public:
  struct Options {
    int system_retries = 3;
    int64_t max_checkpoint_bytes = 16 << 20;
    bool keep_checkpoints = false;
  };
  struct Hooks {
    // The execution ended and its end is durable: publish its last STATUS.
    std::function<void(const Execution&)> ended;
    std::function<void()> wake;
  };

  ExecutionManager(ExecutionTable& execs, Store& store, CommitQueue& commits, Dispatcher& dispatcher,
                   const Clock& clock, Options options, Hooks hooks);
  void set_loader(NodeLoader* loader) { loader_ = loader; }

  // A SUBMIT: the spec parsed and checked, inputs resolved, an id given. Nothing is stored yet.
  Result<std::unique_ptr<Execution>> Prepare(const wire::SubmitRequest& req);
  // `fanout recover`: a new execution of a stored one's spec and inputs (from its fields),
  // which reuses the subtasks that succeeded there.
  Result<std::unique_ptr<Execution>> PrepareRecovery(const std::string& source,
                                                     const std::map<std::string, std::string>& fields);
  // Stores a prepared execution, then starts it. done runs once it is durable (or not).
  void Accept(std::unique_ptr<Execution> e, std::function<void(Status, const Execution*)> done);
  // After a restart: rebuilds and restarts every execution of the snapshot.
  void Restore(const std::vector<StoredExecution>& snapshot);

  // Starts what is ready, or ends the execution when every node is done.
  void Advance(Execution& e);
  // Subtask states of a node moved (Dispatcher, NodeLoader): abort what fail-fast stopped,
  // complete the node when it is done.
  void NodeChanged(NodeRun& node);
  // NodeLoader is done with a node: it may dispatch.
  void NodeReady(NodeRun& node);
  // A node cannot go on (e.g. its records cannot be read): the execution fails.
  void NodeFailed(NodeRun& node, const std::string& why);
  void Abort(Execution& e, const std::string& why);

 private:
  Result<std::unique_ptr<Execution>> Build(std::unique_ptr<Spec> spec, const std::string& workflow,
                                           const Map& given);
  std::string NewId();
  void StartNode(Execution& e, NodeRun& node);
  void CompleteNode(NodeRun& node);
  void FailNode(NodeRun& node, std::string error);
  void StopNodes(Execution& e);
  void Finish(Execution& e, ExecPhase phase, std::string error);
  void PersistNodePhase(const NodeRun& node);

  ExecutionTable& execs_;
  Store& store_;
  CommitQueue& commits_;
  Dispatcher& dispatcher_;
  NodeLoader* loader_ = nullptr;
  const Clock& clock_;
  Options options_;
  Hooks hooks_;
};

}  // namespace fanout
