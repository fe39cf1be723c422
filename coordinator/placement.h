// Placement: which worker may run which subtasks (DESIGN §4 resources and interruptible
// rules). Pure functions over views of worker capacity and node needs; the scheduler and the
// status document call them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/spec.h"
#include "common/status_doc.h"
#include "coordinator/ids.h"

namespace fanout {

struct WorkerView {
  WorkerNo no = 0;
  bool draining = false;
  bool interruptible = false;
  double cpu = 0;          // advertised capacity
  int64_t mem_bytes = 0;
  uint32_t free_slots = 0;  // what is left now
  uint32_t free_command_slots = 0;
  double free_cpu = 0;
  int64_t free_mem = 0;
  const std::vector<std::string>* functions = nullptr;
};

struct NodeNeeds {
  bool command = false;           // commands run on any worker, within its command slots
  std::string_view function;      // else the worker must offer this function
  bool interruptible = false;     // the task tolerates preemptible workers
  Resources requests;
};

// May this worker ever run the node's subtasks (function offered, interruptible rule,
// requests within its total capacity)?
bool Eligible(const WorkerView& w, const NodeNeeds& n);
// How many of the node's subtasks the worker can take now.
size_t Fits(const WorkerView& w, const NodeNeeds& n);
// Takes `count` subtasks' worth of the node's needs from the view's free capacity.
void Take(WorkerView& w, const NodeNeeds& n, uint32_t count);
// The most system failures a subtask may have had to be placed on this worker: the last
// system retry (system_failures == system_retries) only goes to non-interruptible workers.
int MaxSystemFailures(const WorkerView& w, int system_retries);
// Why the node cannot be placed on any of these workers (reason kNone when some worker could
// take it once it has free capacity).
Waiting WaitingFor(const std::vector<WorkerView>& workers, const NodeNeeds& n);

}  // namespace fanout
