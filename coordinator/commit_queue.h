// CommitQueue: subtask writes batched per node per loop turn (DESIGN §6: "writes are pipelined
// and batched per event-loop turn; the worker ACK follows the reply"). Rooms Add ops as they
// decide; the reactor Flushes once per loop turn (and the execution manager before it stores
// an execution's end, so an execution is never terminal before its results). Each batch is
// one fenced Store::Commit; each op's outcome goes to the sink with the op and its origin.
//
// A fenced commit means another coordinator owns the store now: on_fenced is called and no
// outcome is delivered (this coordinator must stop). Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "coordinator/ids.h"
#include "coordinator/store.h"

namespace fanout {

enum class CommitOutcome : uint8_t {
  kApplied,         // durable now
  kAlreadyApplied,  // was durable already (an earlier identical commit whose reply was lost)
  kRefused,         // the store disagrees (stale attempt, terminal subtask, output present)
  kNotDurable,      // the store failed or is away: nothing is known to be written
};

// Where an op came from, so that its outcome reaches whoever waits for it: the worker whose
// result it commits (acknowledged once durable), a cache hit, a child execution's end, or the
// coordinator's own decision (dispatch, abort: nobody waits).
struct CommitOrigin {
  enum class Source : uint8_t { kCoordinator, kWorker, kCache, kChild };
  Source source = Source::kCoordinator;
  WorkerNo worker = 0;    // kWorker
  std::string identity;   // kWorker
};

class CommitSink {
 public:
  virtual ~CommitSink() = default;
  virtual void OnCommitted(NodeUid node, const CommitOp& op, CommitOutcome outcome,
                           const CommitOrigin& origin) = 0;
};

class CommitQueue {
 public:
  CommitQueue(Store& store, std::function<void()> on_fenced);
  void set_sink(CommitSink* sink) { sink_ = sink; }

  // Queues an op of node `uid` (exec/node: its store names). `notify`: deliver the outcome
  // to the sink (results and cache hits need it; dispatch records do not).
  void Add(NodeUid uid, std::string_view exec, std::string_view node, CommitOp op, bool notify,
           CommitOrigin origin = {});
  void Flush();
  bool empty() const { return batches_.empty(); }
  // Commits sent and not answered yet.
  size_t in_flight() const { return in_flight_; }

 private:
  struct Pending {
    CommitOp op;
    bool notify = false;
    CommitOrigin origin;
  };
  struct Batch {
    std::string exec, node;
    std::vector<Pending> ops;
  };

  Store& store_;
  std::function<void()> on_fenced_;
  CommitSink* sink_ = nullptr;
  std::map<NodeUid, Batch> batches_;
  size_t in_flight_ = 0;
};

}  // namespace fanout
