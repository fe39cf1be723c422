// Coordinator: the reactor (DESIGN §1). One libuv loop drives the ROUTER socket that workers
// and clients talk to, the Redis connection and the timers; it feeds events to the pure core
// (ArrayNode per map node, the workflow logic in Execution) and executes what it decides:
// WORK batches against worker credit, Redis writes batched per loop turn, ACKs after the
// writes are durable, ABORTs on fail-fast, progress events to subscribed clients.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/redis_client.h"
#include "common/uv_handle.h"
#include "common/wire.h"
#include "common/zmq_uv.h"
#include "coordinator/events.h"
#include "coordinator/execution.h"
#include "coordinator/placement.h"
#include "coordinator/store.h"

namespace fanout {

struct CoordinatorConfig {
  std::string bind = "tcp://*:7800";  // the ROUTER workers and clients connect to
  std::string events_bind;            // the progress XPUB; "" = bind's host, any port; "none"
  std::string redis_host = "127.0.0.1";
  int redis_port = 6379;
  std::string redis_password;
  int64_t heartbeat_ms = 1000;  // heartbeat interval, both ways
  int liveness = 3;             // missed intervals before a worker is declared lost
  int system_retries = 3;       // per-subtask budget for system errors
  uint32_t max_batch = 256;     // subtasks per WORK message
  std::string endpoint_file;    // if set, the bound endpoint is written there once ready
  int64_t max_checkpoint_bytes = 16 << 20;  // per subtask; larger ones fail the attempt
  bool keep_checkpoints = false;            // keep checkpoints after the execution ends
  int64_t log_ttl_s = 7 * 24 * 3600;        // how long attempt logs stay in Redis
};

class Coordinator {
 public:
  Coordinator(uv_loop_t* loop, CoordinatorConfig config, const Clock& clock);
  ~Coordinator();

  // Connects to Redis, takes an epoch, loads active executions, then binds. Returns at once;
  // failures are logged and make Run's loop exit with a non-zero code.
  void Start();
  void Stop();
  int exit_code() const { return exit_code_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  // One subtask of one execution.
  struct SubtaskRef {
    std::string exec, node;
    uint32_t index = 0;
  };
  struct Worker {
    std::string identity;
    wire::Hello hello;
    uint32_t free = 0;   // slots
    double free_cpu = 0;
    int64_t free_mem = 0;
    bool draining = false;
    int64_t last_seen_ms = 0;
    uint32_t inflight = 0;
  };
  struct Inflight {
    std::string worker;  // identity
    uint32_t attempt = 0;
    double cpu = 0;       // requests held on the worker until the result arrives
    int64_t mem = 0;
  };
  // A worker's HELLO claim of an attempt the coordinator does not track (yet): after a
  // restart, HELLOs can arrive before the node's records are restored.
  struct Claim {
    std::string worker;
    uint32_t attempt = 0;
    int64_t at_ms = 0;
  };
  // A subtask restored as RUNNING that no worker has claimed yet.
  struct Unclaimed {
    uint32_t attempt = 0;
    int64_t deadline_ms = 0;
    double cpu = 0;
    int64_t mem = 0;
  };
  struct PendingOp {
    Store::Op op;
    std::function<void(int)> done;  // 1 applied, 0 refused, -1 failed
  };

  // Start-up.
  void OnRedisState(bool connected);
  void LoadActive();
  void RestoreExecution(const std::string& id, std::map<std::string, std::string> fields,
                        std::function<void()> done);
  void Bind();

  // Socket.
  void OnMessage(std::vector<zmq::message_t>& frames);
  void Send(const std::string& identity, wire::Kind kind, const std::string& body);
  void OnHello(const std::string& identity, const wire::Hello& hello);
  void OnResults(const std::string& identity, wire::ResultBatch& batch);
  void OnClient(const std::string& identity, wire::Kind kind, std::string_view body);
  void Reply(const std::string& identity, uint64_t rid, Status st, const std::string& json);
  // `fanout logs`: the log of one attempt (the latest when req.attempt < 0).
  void OnLogs(const std::string& identity, const wire::LogsRequest& req);

  // Workflow.
  Status Submit(const wire::SubmitRequest& req, std::string* exec_id,
                std::unique_ptr<Execution>* out);
  // Stores a new execution, answers the client with its id, and starts it.
  void Accept(const std::string& identity, uint64_t rid, std::unique_ptr<Execution> e);
  void Advance(const std::string& exec);
  void LoadNodeRecords(const std::string& exec, const std::string& node);
  // Completes cached subtasks of a node from the cache, chunk by chunk, then NodeReady.
  void CacheLookup(const std::string& exec, const std::string& node, uint32_t from);
  // The node's restored state is complete: it may dispatch.
  void NodeReady(const std::string& exec, const std::string& node);
  // Cache serialization (cache.serialize): one subtask per key computes it; the others wait.
  void CommitCached(const std::string& exec, const std::string& node, uint32_t index,
                    std::string outputs, std::function<void()> done);
  void TryReserve(const std::string& key, const SubtaskRef& ref, std::function<void(bool mine)> cb);
  void ReleaseReservation(const std::string& exec, const std::string& node, uint32_t index);
  // On the heartbeat tick: renew our reservations (TTL 3 intervals), resolve waiters.
  void TickCacheReservations();
  void SaveCheckpoint(Execution& e, NodeRun& node, uint32_t index, uint32_t attempt,
                      std::string bytes);
  void StartNode(Execution& e, NodeRun& node);
  void AfterNodeChange(Execution& e, NodeRun& node);
  void CompleteNode(Execution& e, NodeRun& node);
  void FinishExecution(Execution& e, ExecPhase phase, std::string error);
  void AbortExecution(Execution& e, const std::string& why);
  void SendAborts(Execution& e, NodeRun& node);
  void PersistNodePhase(const Execution& e, const NodeRun& node);

  // Scheduling.
  void SchedulePump();
  void Pump();
  void LoseWorker(const std::string& identity, const std::string& why);
  void FailLost(const std::vector<std::pair<std::string, Inflight>>& lost,
                const std::string& worker_id, const std::string& why);
  void FailSystem(const std::string& exec, const std::string& node, uint32_t index,
                  uint32_t attempt, const std::string& msg);
  // A restored RUNNING subtask: claimed already, or given a grace period to be claimed.
  void AdoptRestored(const NodeRun& node, const std::string& exec, uint32_t index, uint32_t attempt);
  void CarryGraceAcrossRestarts(const std::string& exec, const std::string& node);
  void ForgetUnclaimed(const std::string& key);
  // How long restored attempts wait for a worker to claim them: one liveness window.
  int64_t Grace() const { return config_.heartbeat_ms * config_.liveness; }
  // Gives a finished attempt's slot and requests back to its worker.
  void Release(const Inflight& inf);
  static WorkerView View(const Worker& w);
  static NodeNeeds Needs(const NodeRun& node);
  // Why a node with startable subtasks cannot be placed on any connected worker, or "".
  std::string WaitingReason(const NodeRun& node) const;
  void OnTick();

  // Redis writes, batched per node per loop turn.
  void QueueOp(const std::string& exec, const std::string& node, Store::Op op,
               std::function<void(int)> done = nullptr);
  void FlushOps();
  void FlushAcks();
  void Fenced();

  // "exec \0 node \0 index": the key of a subtask in the in-flight maps, and back.
  static std::string InflightKey(std::string_view exec, std::string_view node, uint32_t index);
  static SubtaskRef ParseInflightKey(const std::string& key);
  Execution* FindExec(const std::string& id);
  std::string NewExecutionId();

  uv_loop_t* loop_;
  CoordinatorConfig config_;
  const Clock& clock_;
  zmq::context_t zctx_;
  zmq::socket_t router_;
  std::unique_ptr<ZmqWatcher> watcher_;
  std::unique_ptr<EventPublisher> events_;  // after Bind, unless --events-bind none
  RedisClient redis_;
  Store store_;
  bool ready_ = false;  // executions loaded, socket bound
  bool loading_ = false;
  int exit_code_ = 0;
  std::string endpoint_;

  std::map<std::string, std::unique_ptr<Execution>> execs_;  // non-terminal, by id
  std::map<std::string, Worker> workers_;                    // by ROUTER identity
  std::unordered_map<std::string, Inflight> inflight_;       // InflightKey → where it runs
  std::unordered_map<std::string, Claim> claims_;            // InflightKey → HELLO claim
  std::unordered_map<std::string, Unclaimed> unclaimed_;     // InflightKey → grace deadline
  std::unordered_map<std::string, SubtaskRef> reserved_;       // cache key → our owner subtask
  std::unordered_map<std::string, std::vector<SubtaskRef>> cache_waiters_;  // cache key → waiting
  std::map<std::pair<std::string, std::string>, std::vector<PendingOp>> pending_ops_;
  std::map<std::string, std::vector<wire::SubtaskKey>> pending_acks_;  // per worker, per turn
  std::set<std::string> resend_from_;  // workers holding results whose commit failed
  size_t rr_node_ = 0;  // round-robin cursor over runnable nodes

  UvHandle<uv_check_t> flush_check_;
  UvHandle<uv_idle_t> pump_idle_;
  UvHandle<uv_timer_t> tick_timer_;
  UvHandle<uv_signal_t> sigterm_;
  UvHandle<uv_signal_t> sigint_;
  bool pump_scheduled_ = false;
  uint64_t dropped_messages_ = 0;
};

}  // namespace fanout
