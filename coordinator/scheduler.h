// Scheduler: which node's subtasks go to which worker now. Pure: workers' free capacity and
// every runnable node's demand in, grants out; no I/O, no clock.
//
// Rules, in order:
// 1. Fair between executions, then between the nodes of an execution: free slots are shared by
//    max-min fairness ("water-filling") on what each already runs, so a node that runs less
//    gets more, and a small node is never starved by a big one.
// 2. Work-conserving: after the fair shares are placed, slots still free go to any node that
//    can still start something and fits there. No slot stays idle while a node could use it
//    (a fair share can be unplaceable when a node fits only some workers).
// 3. Within a node's share, batches are spread over the workers that fit it (round robin),
//    each batch at most max_batch subtasks.
// Placement rules (function offered, interruptible, requests, command slots) come from
// placement.h.
#pragma once

#include <cstdint>
#include <vector>

#include "coordinator/ids.h"
#include "coordinator/placement.h"

namespace fanout {

struct Demand {
  NodeUid node = 0;
  uint32_t group = 0;       // the fairness group: the execution (its root, for child executions)
  uint64_t running = 0;     // the node's subtasks in flight
  uint64_t startable = 0;   // how many it could start now (its concurrency limit applied)
  NodeNeeds needs;
  // Of those, how many may only go to non-interruptible workers (their last system retry).
  uint64_t steady_only = 0;
};

struct Grant {
  WorkerNo worker = 0;
  NodeUid node = 0;
  uint32_t count = 0;
  int max_system_failures = 0;  // see MaxSystemFailures
};

// `workers`: capacity views (their free_* are consumed as grants are made). Grants are in the
// order they should be sent.
std::vector<Grant> Schedule(std::vector<WorkerView> workers, const std::vector<Demand>& demands,
                            uint32_t max_batch, int system_retries);

// Max-min fair integer allocation of `amount` over entries that already hold base[i] and can
// take at most cap[i] more. Ties go to lower indices first. Exposed for tests.
std::vector<uint64_t> WaterFill(const std::vector<uint64_t>& base, const std::vector<uint64_t>& cap,
                                uint64_t amount);

}  // namespace fanout
