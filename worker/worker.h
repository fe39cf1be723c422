// Worker: the worker daemon's reactor (DESIGN §1, §5). One libuv loop drives a ZeroMQ DEALER
// to the coordinator, the running attempts (built-ins on the loop, plugin functions on the
// thread pool, commands as child processes), heartbeats, reconnects and the drain on SIGTERM.
//
// Protocol, as seen from here:
//   connect → HELLO (capacity, functions, attempts still running) → WELCOME → every held
//   result is re-sent. WORK items run at once or queue locally (never dropped); at most
//   `slots` run, of which at most `command_slots` are commands. Before attempts start, one
//   STARTED names them (HELLO says reports_started), so the coordinator may send work ahead of
//   free slots: what waits in the queue when this worker is lost costs no system failure. Results go out
//   as one RESULT batch per loop turn and are held until ACKed by exact key. HEARTBEAT every
//   interval; any message from the coordinator counts as life; silence for liveness intervals
//   means the coordinator is lost: a new socket (new routing id) with exponential backoff.
//   RECONNECT: HELLO again on the same socket. ABORT: stop those attempts, report kAborted.
//   SIGTERM/SIGINT: drain (refuse new work, finish, wait ≤ 10 s for ACKs, BYE, exit 0); a
//   second signal stops the children, reports them as system errors and exits 1. A worker
//   started with --interruptible treats the first SIGTERM as a preemption: it stops at once and
//   hands its attempts back as system errors ("worker preempted").
//   Checkpoints: a WORK item's checkpoint goes to its runner (ctx.previous_checkpoint(),
//   $FANOUT_PREV_CHECKPOINT_DIR); saves made while it runs go out at once as CHECKPOINT
//   messages, and the last one of the attempt rides in its RESULT (has_checkpoint).
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/uv_handle.h"
#include "common/wire.h"
#include "common/zmq_uv.h"
#include "worker/command_runner.h"
#include "worker/config.h"
#include "worker/plugin_loader.h"
#include "worker/result_store.h"
#include "worker/subtask_key.h"
#include "worker/task_runner.h"
#include "worker/task_shim.h"

namespace fanout::worker {

class Worker {
 public:
  Worker(uv_loop_t* loop, WorkerConfig config, PluginRegistry plugins);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Serves until drained or shut down; returns the process exit code. Call once.
  int Run();

  // Every function this worker can run, built-ins then plugin functions, with the build and
  // signature it advertises in HELLO.
  std::vector<wire::FunctionInfo> Offers() const;
  // Their names.
  std::vector<std::string> Functions() const;

 private:
  enum class State { kServing, kDraining, kShuttingDown };
  struct Running {
    std::unique_ptr<TaskRunner> runner;
    int64_t started_ms = 0;
    bool command = false;  // counts against command_slots
  };
  struct Queued {
    std::shared_ptr<const wire::TaskDesc> task;
    wire::SubtaskKey key;
    std::string args;
    std::optional<std::string> checkpoint;  // WorkItem::checkpoint, when it has one
  };

  // Connection.
  void Connect();
  void Disconnect();
  void ScheduleReconnect();
  bool Send(wire::Kind kind, const std::string& body);
  void SendHello();
  void SendHeartbeat(wire::Kind kind);
  void OnMessage(std::vector<zmq::message_t>& frames);
  void OnWelcome(const wire::Welcome& w);
  void OnWork(wire::WorkBatch batch);
  void OnAck(const wire::AckBatch& acks);
  void OnAbort(const wire::AckBatch& aborts);
  void OnHeartbeatTimer();
  // True when a message from the coordinator waits in the socket, not yet read.
  bool InputWaiting() const;
  void RestartHeartbeatTimer();

  // Attempts.
  bool IsKnown(const wire::SubtaskKey& key) const;
  // Commands this worker runs at once: --command-slots, never more than --slots.
  uint32_t CommandSlots() const;
  // Starts queued items in order while slots are free; a command waits (and functions behind
  // it may start) while CommandSlots() commands run.
  void StartQueued();
  void StartItem(Queued item);
  // One kStarted per node for the items about to start (nothing when not connected).
  void ReportStarted(const std::vector<Queued>& batch);
  void OnTaskDone(const wire::SubtaskKey& key, TaskOutcome outcome);
  void ReportNow(const wire::SubtaskKey& key, TaskOutcome outcome);
  // A running attempt saved a checkpoint: a kCheckpoint now (dropped when not connected; the
  // result carries the last one anyway).
  void SendCheckpoint(const wire::SubtaskKey& key, std::string bytes);
  // Sends every unsent result (one RESULT batch per kMaxResultsPerBatch), destroys finished
  // runners and advances a drain. Runs in every loop turn before poll and after it, so a result
  // produced in any callback (timer, I/O, process exit) leaves before the loop next blocks.
  void Flush();

  // Drain and shutdown.
  void OnSignal(int signum);
  // Cancels every running attempt, reporting it as a system error `why`, then exits 1.
  void StopRunning(const char* why);
  void MaybeFinishDrain();
  void FinishDrain();
  void Exit(int code);

  uv_loop_t* loop_;
  WorkerConfig config_;
  PluginRegistry plugins_;
  std::optional<Lifeline> lifeline_;  // held until the process ends: task shims watch it
  CommandOptions command_options_;

  zmq::context_t ctx_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<ZmqWatcher> watcher_;
  uint64_t connection_seq_ = 0;
  bool welcomed_ = false;
  uint64_t last_recv_ms_ = 0;  // uv_now
  int64_t heartbeat_ms_;
  int64_t backoff_ms_;
  uint64_t dropped_messages_ = 0;

  UvHandle<uv_timer_t> heartbeat_timer_, reconnect_timer_, drain_timer_, exit_timer_;
  // Flush runs in both: the prepare handle sends what timer callbacks produced before the loop
  // blocks in poll; the check handle sends what I/O callbacks produced without another turn.
  UvHandle<uv_prepare_t> flush_prepare_;
  UvHandle<uv_check_t> flush_check_;
  UvHandle<uv_signal_t> sigterm_, sigint_;

  std::map<wire::SubtaskKey, Running, SubtaskKeyLess> running_;
  uint32_t running_commands_ = 0;  // entries of running_ with command set
  std::deque<Queued> queue_;
  std::set<wire::SubtaskKey, SubtaskKeyLess> queued_keys_;  // the keys of queue_
  std::vector<std::unique_ptr<TaskRunner>> finished_;  // destroyed on the next loop turn
  bool starting_ = false;
  ResultStore results_;

  State state_ = State::kServing;
  bool drain_timer_started_ = false;
  const char* stop_reason_ = "worker shut down";
  bool exiting_ = false;
  int exit_code_ = 0;
};

}  // namespace fanout::worker
