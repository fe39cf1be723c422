// NodeLoader: brings a starting node's subtasks to what is already known before any of them is
// dispatched (DESIGN §4 cache and recovery, §6 restart):
//   1. `fanout recover`: the source execution's succeeded subtasks are copied in (fenced);
//   2. the node's stored records are restored (a restarted coordinator); RUNNING ones stay
//      with the worker that claims them (Recovery) or wait for a claim until their grace ends;
//   3. which subtasks have a checkpoint is listed (their bytes stay in the store);
//   4. with caching on, every queued subtask's key is looked up; hits are committed as cached
//      successes, and with `serialize` the misses reserve their key or wait for its owner.
// Then ready(node). The node is `busy` throughout, so nothing of it is dispatched meanwhile.
// It also keeps serialized-cache waiters going on every tick. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/clock.h"
#include "coordinator/cache_gate.h"
#include "coordinator/dispatcher.h"
#include "coordinator/execution.h"
#include "coordinator/recovery.h"
#include "coordinator/store.h"

namespace fanout {

class NodeLoader {
 public:
  struct Hooks {
    std::function<void(NodeRun&)> ready;
    std::function<void(NodeRun&, const std::string& why)> failed;
    std::function<void()> fenced;
    std::function<void()> wake;  // a subtask became startable
    // A restored RUNNING element of a launch-plan node: its child execution is found again.
    std::function<void(NodeRun&, uint32_t index, uint32_t attempt)> adopt_child;
  };
  NodeLoader(ExecutionTable& execs, Store& store, Recovery& recovery, CacheGate& cache,
             Dispatcher& dispatcher, Hooks hooks);

  // `node` has its ArrayNode (all QUEUED) and is busy.
  void Load(NodeRun& node);
  // On every heartbeat tick: waiters of serialized cache keys, and nodes whose cache lookup
  // waits for a worker that offers their function.
  void TickCache();

 private:
  void LoadRecords(NodeUid uid);
  void ListCheckpoints(NodeUid uid, size_t restored);
  void LookUpCache(NodeUid uid, uint32_t from);
  void Ready(NodeUid uid);

  // Cache lookups of function nodes that wait for a worker offering the function: the key
  // names the build that would run (NodeUid, first index not looked up yet).
  std::vector<std::pair<NodeUid, uint32_t>> parked_;

  ExecutionTable& execs_;
  Store& store_;
  Recovery& recovery_;
  CacheGate& cache_;
  Dispatcher& dispatcher_;
  Hooks hooks_;
};

}  // namespace fanout
