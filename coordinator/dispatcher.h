// Dispatcher: the worker side of the coordinator (DESIGN §5). It answers HELLO, heartbeats and
// BYE, sends WORK against free credit (placement by the Scheduler), turns RESULTs into commits,
// acknowledges them once they are durable, stops aborted attempts, and gives up on attempts
// whose worker is lost, whose restart grace ran out, or that overran their deadline.
//
// The rules it applies live elsewhere: ArrayNode (a node's subtask states), WorkerRegistry
// (credit and who runs what), Recovery (restart claims), Scheduler (who gets what). The
// Dispatcher only carries events between them and the outside world. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/wire.h"
#include "coordinator/cache_gate.h"
#include "coordinator/commit_queue.h"
#include "coordinator/execution.h"
#include "coordinator/metrics.h"
#include "coordinator/outbox.h"
#include "coordinator/recovery.h"
#include "coordinator/store.h"
#include "coordinator/worker_registry.h"

namespace fanout {

class Dispatcher {
 public:
  struct Options {
    uint32_t max_batch = 256;       // subtasks per WORK message
    size_t max_batch_bytes = 8u << 20;  // and bytes of arguments per WORK message
    int system_retries = 3;
    int64_t heartbeat_ms = 1000;
    int64_t max_checkpoint_bytes = 16 << 20;
    int64_t log_ttl_s = 7 * 24 * 3600;
    // An attempt with a timeout that has not reported this long after its timeout is given
    // up by the coordinator (its worker may be hung): a system error.
    int64_t deadline_grace_ms = 5000;
  };
  struct Hooks {
    std::function<void(NodeRun&)> node_changed;  // subtask states of the node moved
    std::function<void(SubtaskId)> release_cache;  // the subtask ended: free its reservation
    // Something changed (credit, demand, queued commits): the reactor runs Pump, flushes
    // commits and ACKs before it next waits for events.
    std::function<void()> wake;
  };

  Dispatcher(ExecutionTable& execs, WorkerRegistry& workers, Recovery& recovery, CommitQueue& commits,
             Store& store, Outbox& outbox, const Clock& clock, Options options, Hooks hooks);

  // --- From workers ---
  void OnHello(const std::string& identity, const wire::Hello& hello);
  // A heartbeat or BYE. Unknown peers are asked to say HELLO again.
  void OnHeartbeat(const std::string& identity, const wire::Heartbeat& hb, bool bye);
  void OnResults(const std::string& identity, wire::ResultBatch& batch);
  void OnCheckpoint(const std::string& identity, wire::CheckpointSave& save);
  // The worker starts these attempts (kStarted): from now on, losing it costs them a run.
  void OnStarted(const std::string& identity, const wire::StartedBatch& started);

  // --- From the coordinator's own rules ---
  // Sends work to free credit. The reactor calls it at most once per loop turn.
  void Pump();
  // An attempt ended without a result (worker lost, never claimed, deadline): a system error.
  void FailSystem(AttemptRef a, const std::string& why);
  // Stores the records of the node's newly aborted subtasks and stops the running ones.
  void StopAborted(NodeRun& node);
  // Every heartbeat interval: liveness, heartbeats out, restart grace, deadlines, re-sends.
  void Tick();
  // Once per loop turn, after the commit queue flushed: ACKs of durable results.
  void FlushAcks();
  // The store is back after an outage: every worker re-sends what it holds.
  void AskAllToResend();

  // The outcome of committing a worker's result or a cache hit.
  void OnCommitted(NodeUid node, const CommitOp& op, CommitOutcome outcome, const CommitOrigin& origin);
  // Commits the result of a cached subtask (no worker ran it; it waits for cache meanwhile).
  void CommitCached(NodeRun& node, uint32_t index, std::string outputs);
  // A restored RUNNING attempt claimed by `worker`: it carries on there.
  void Adopt(NodeRun& node, uint32_t index, uint32_t attempt, WorkerNo worker);
  // Where the dispatcher counts dispatches, attempt outcomes, retries and workers (optional).
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }
  // The builds of `function` that workers taking work offer (WorkerRegistry::BuildsOf).
  std::vector<std::string> BuildsOf(std::string_view function) const { return workers_.BuildsOf(function); }
  // Sets node.waiting to what it waits for now (a node not ready yet too).
  void ExplainWaiting(NodeRun& node) { UpdateWaiting({&node}); }

 private:
  // A pump looks at this many nodes at least (see Pump).
  static constexpr size_t kMinNodesPerPump = 256;
  void LoseWorker(WorkerNo no, const std::string& why);
  // Attempts a worker held but never started (queued there, handed back unrun, or its worker
  // lost): they go to another worker with the same attempt, without a system failure, once per
  // attempt (a task that kills its worker before the STARTED leaves is charged the next time).
  void HandBack(const std::vector<AttemptRef>& attempts, const std::string& why);
  // Pops the node's handed-back attempts that are still current, up to `max`.
  std::vector<ArrayNode::Start> TakeHandedBack(NodeRun& node, uint32_t max);
  // Dispatches one grant; returns how many subtasks it started.
  uint32_t StartGrant(NodeRun& node, WorkerNo worker, uint32_t count, int max_system_failures);
  void SendWithCheckpoint(NodeRun& node, WorkerNo worker, wire::WorkItem item);
  void OnResult(Worker& w, wire::ResultItem& r);
  void SaveCheckpoint(NodeRun& node, uint32_t index, std::string bytes);
  void Ack(const std::string& identity, wire::SubtaskKey key);
  AttemptCost CostOf(const NodeRun& node) const;
  int64_t DeadlineOf(const NodeRun& node) const;
  void UpdateWaiting(const std::vector<NodeRun*>& nodes);

  ExecutionTable& execs_;
  WorkerRegistry& workers_;
  Recovery& recovery_;
  CommitQueue& commits_;
  Store& store_;
  Outbox& outbox_;
  const Clock& clock_;
  Options options_;
  Hooks hooks_;
  std::map<std::string, std::vector<wire::SubtaskKey>> acks_;  // identity → durable this turn
  std::set<std::string> resend_from_;  // workers holding results whose commit failed
  std::string pump_cursor_;  // the execution the last pump looked at last
  Metrics* metrics_ = nullptr;
  // Handed-back attempts waiting for a worker, per node: RUNNING in the node, held by nobody.
  std::map<NodeUid, std::vector<ArrayNode::Start>> handed_back_;
  // SubtaskId::packed → the attempt that was handed back once already.
  std::unordered_map<uint64_t, uint32_t> handed_back_once_;
};

}  // namespace fanout
