// CoordinatorCore: the coordinator's rooms, wired together, without sockets, timers or a real
// store (sans-IO). The reactor (coordinator.h) owns one and feeds it: decoded messages in,
// messages out through an Outbox, time from a Clock, durability through a Store. Unit tests
// own one with a FakeStore, a FakeClock and a recording Outbox, and drive whole scenarios
// (submit, dispatch, results, worker loss, restart) without a process or a sleep.
//
//   ClientApi          client requests → answers                      client_api.h
//   ExecutionManager   workflow advancement: submit, nodes, the end   execution_manager.h
//   NodeLoader         a starting node's known state: records, cache  node_loader.h
//   ChildRuns          maps over launch plans: child executions       child_runs.h
//   Dispatcher         workers: HELLO, WORK, RESULT → commit → ACK    dispatcher.h
//   Scheduler          who gets which free slot (pure)                scheduler.h
//   WorkerRegistry     workers, credit, liveness, who runs what       worker_registry.h
//   Recovery           restart claims and their grace (pure)          recovery.h
//   CacheGate          serialized cache reservations                  cache_gate.h
//   CommitQueue        subtask writes, batched per node per turn      commit_queue.h
//   Store              everything durable (RedisStore, FakeStore)     store.h
//   Metrics            counters and histograms; gauges read at scrape  metrics.h
//                      (every room's store calls go through a MeteredStore)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/wire.h"
#include "coordinator/cache_gate.h"
#include "coordinator/child_runs.h"
#include "coordinator/client_api.h"
#include "coordinator/commit_queue.h"
#include "coordinator/dispatcher.h"
#include "coordinator/execution.h"
#include "coordinator/execution_manager.h"
#include "coordinator/metered_store.h"
#include "coordinator/metrics.h"
#include "coordinator/node_loader.h"
#include "coordinator/outbox.h"
#include "coordinator/recovery.h"
#include "coordinator/store.h"
#include "coordinator/worker_registry.h"

namespace fanout {

struct CoreOptions {
  int64_t heartbeat_ms = 1000;  // heartbeat interval, both ways
  int liveness = 3;             // missed intervals before a worker is declared lost
  int system_retries = 3;       // per-subtask budget for system errors
  uint32_t max_batch = 256;     // subtasks per WORK message
  uint32_t max_worker_slots = 4096;  // HELLO's slots are capped here
  int64_t max_checkpoint_bytes = 16 << 20;
  bool keep_checkpoints = false;
  int64_t log_ttl_s = 7 * 24 * 3600;
  int64_t deadline_grace_ms = 5000;  // see Dispatcher::Options
  Limits limits;                      // see ExecutionManager::Limits
};

class CoordinatorCore final : private CommitSink {
 public:
  struct Hooks {
    std::function<void()> wake;    // run EndOfTurn before waiting for events again
    std::function<void()> fenced;  // another coordinator owns the store: stop at once
    std::function<void(const Execution&)> ended;  // an execution's end is durable
    std::function<ClientApi::Health()> health;
    // Where a submission is parsed (ClientApi::Offload); null: at once, on the loop.
    ClientApi::Offload offload;
  };

  CoordinatorCore(Store& store, Outbox& outbox, const Clock& clock, CoreOptions options, Hooks hooks);
  CoordinatorCore(const CoordinatorCore&) = delete;
  CoordinatorCore& operator=(const CoordinatorCore&) = delete;

  // Start-up, once the store answers: the active executions of the snapshot resume.
  void Restore(const std::vector<StoredExecution>& snapshot) { manager_.Restore(snapshot); }
  // The store is back after an outage.
  void StoreReconnected();
  // A message from a peer (frames already split; the kind tells worker from client). `keep`,
  // when given, owns the bytes of `body`: work that outlives the call (a SUBMIT's parse) holds
  // it instead of copying them.
  void OnMessage(const std::string& identity, wire::Kind kind, std::string_view body,
                 std::shared_ptr<const void> keep = nullptr);
  // Before the loop waits again: dispatch, flush the turn's writes, send ACKs.
  void EndOfTurn();
  // Every heartbeat interval.
  void Tick();
  // A message that could not be split or decoded: counted, logged at most once a second.
  void Drop(const std::string& why);

  ExecutionTable& executions() { return execs_; }
  WorkerRegistry& workers() { return workers_; }
  Recovery& recovery() { return recovery_; }
  CommitQueue& commits() { return commits_; }
  ExecutionManager& manager() { return manager_; }
  ClientApi& api() { return api_; }
  // The store every room uses (the reactor's store, metered).
  Store& store() { return metered_; }
  Metrics& metrics() { return metrics_; }
  uint64_t dropped_messages() const { return dropped_; }
  // The gauges of /metrics, read from the rooms now.
  Gauges ReadGauges();

 private:
  // Routes commit outcomes: worker results and cache hits to the dispatcher (counted on the way),
  // children's ends to ChildRuns.
  void OnCommitted(NodeUid node, const CommitOp& op, CommitOutcome outcome, const CommitOrigin& origin) override;

  Store& store_;
  const Clock& clock_;
  Hooks hooks_;
  Metrics metrics_;        // before every room: they hold references to it
  MeteredStore metered_;   // the store as the rooms see it
  ExecutionTable execs_;
  WorkerRegistry workers_;
  Recovery recovery_;
  CacheGate cache_;
  CommitQueue commits_;
  Dispatcher dispatcher_;
  ExecutionManager manager_;
  NodeLoader loader_;
  ChildRuns children_;
  ClientApi api_;
  uint64_t dropped_ = 0;
  int64_t last_drop_log_ms_ = -1'000'000;
  int64_t first_tick_ms_ = -1;  // the first Tick: the coordinator is serving workers
  int64_t startup_grace_ms_;     // after it, workers had time to join (ClientApi's check)
};

}  // namespace fanout
