// WorkerRegistry: the one owner of what the coordinator knows about workers (DESIGN §5):
// who is connected (by ROUTER identity and by worker id), their capacity and what is left of
// it (slots, command slots, cpu, memory), liveness, and which attempt runs where.
//
// Credit: a worker's slots come from its HELLO (capped); Assign takes one, Release gives it
// back. A worker that reports the attempts it starts (Hello::reports_started) gets `prefetch`
// credit beyond its slots: that work waits in its queue, so it never idles for a round trip.
// The prefetch adapts to the worker's task durations (ObserveDuration): deep for tasks of
// microseconds, none for tasks of a second and more (queued work on one worker would delay the
// end of a map while another worker idles). Every slot/cpu/memory change happens in this file
// and nowhere else.
// Timed rules (liveness, attempt deadlines) read the injected Clock. Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/spec.h"
#include "common/wire.h"
#include "coordinator/ids.h"
#include "coordinator/placement.h"

namespace fanout {

// What one running attempt holds on its worker.
struct AttemptCost {
  double cpu = 0;
  int64_t mem = 0;
  bool command = false;
};

struct Inflight {
  WorkerNo worker = 0;
  uint32_t attempt = 0;
  AttemptCost cost;
  int64_t deadline_ms = 0;  // Clock::NowMs after which the coordinator gives up on it; 0: none
  // The worker said it started it (or cannot say: a worker without reports_started). An
  // attempt that never started may wait in the worker's queue: losing the worker loses no run.
  bool started = true;
  int64_t dispatched_ms = 0;  // Clock::NowMs when it was assigned (fanout_attempt_latency_seconds)
};

struct Worker {
  WorkerNo no = 0;
  std::string identity;  // ROUTER identity of its current connection
  wire::Hello hello;     // as announced (slots capped)
  uint32_t command_slots = 0;  // commands it runs at once (≤ slots)
  bool draining = false;
  int64_t last_seen_ms = 0;
  uint32_t free_slots = 0;
  uint32_t free_command_slots = 0;
  double free_cpu = 0;
  int64_t free_mem = 0;
  uint32_t running = 0;  // attempts in flight on it
  uint32_t prefetch = 0;  // credit beyond slots (reports_started workers only)
  double task_ms = -1;    // moving average of its attempts' run times; < 0: none seen yet
};

class WorkerRegistry {
 public:
  struct Options {
    int64_t heartbeat_ms = 1000;
    int liveness = 3;           // silent intervals before a worker is lost
    uint32_t max_slots = 4096;  // HELLO's slots are capped here
    // Prefetch: at most this much credit beyond slots, sized so that the queued work lasts
    // about queue_ms at the observed task duration (slots × queue_ms / task ms).
    uint32_t max_prefetch = 1024;
    double queue_ms = 20;
  };

  WorkerRegistry(const Clock& clock, Options options);

  struct Joined {
    WorkerNo no = 0;
    std::vector<AttemptRef> lost;  // attempts of earlier incarnations it did not claim
    std::vector<AttemptRef> unstarted;  // of those, the ones never reported started
    uint32_t kept = 0;             // attempts of earlier incarnations it claimed and keeps
  };
  // A HELLO from `identity`. Earlier incarnations of the same worker (same worker id, or the
  // same identity) are replaced: attempts they held that the new HELLO claims (`claims`:
  // SubtaskId::packed → attempt) carry on under the new connection, the others are returned
  // as lost (the caller fails them as system errors).
  Joined Join(const std::string& identity, const wire::Hello& hello,
              const std::unordered_map<uint64_t, uint32_t>& claims);
  // Removes a worker (lost or left); returns the attempts it held that had started. Those it
  // never reported started go to `unstarted` when given (else they are returned too).
  std::vector<AttemptRef> Remove(WorkerNo no, std::vector<AttemptRef>* unstarted = nullptr);

  Worker* Find(const std::string& identity);
  Worker* Get(WorkerNo no);
  const Worker* Get(WorkerNo no) const;
  size_t size() const { return workers_.size(); }
  std::vector<std::string> Identities() const;
  // Any message counts as a sign of life.
  void Heard(Worker& w) { w.last_seen_ms = clock_.NowMs(); }
  void SetDraining(Worker& w, bool draining) { w.draining = draining; }
  // Workers silent for longer than the liveness window.
  std::vector<WorkerNo> Silent() const;

  // An attempt starts on a worker: it takes the attempt's cost from the worker's capacity.
  // deadline_ms: see Inflight (0: none).
  void Assign(WorkerNo worker, SubtaskId id, uint32_t attempt, const AttemptCost& cost,
              int64_t deadline_ms);
  // Where (id, attempt) runs, or nullptr.
  const Inflight* Holder(SubtaskId id) const;
  // `worker` reports that it starts (id, attempt). False when it does not hold that attempt.
  bool MarkStarted(SubtaskId id, uint32_t attempt, WorkerNo worker);
  // An attempt of the worker ran `ms` (its own clock): the prefetch follows the average.
  void ObserveDuration(Worker& w, int64_t ms);
  // The attempt is over (its result is durable, it failed, it was aborted or given up): its
  // cost goes back to its worker. False when (id, attempt) was not in flight.
  bool Release(SubtaskId id, uint32_t attempt);
  // Attempts whose deadline has passed.
  std::vector<AttemptRef> Overdue() const;
  size_t inflight() const { return inflight_.size(); }
  // Attempts of one node in flight.
  uint32_t InflightOf(NodeUid node) const;

  // Capacity views for the scheduler and for placement explanations.
  std::vector<WorkerView> Views() const;
  // The connected workers' slots, in use and free (slots, not credit: attempts queued on a
  // worker beyond its slots are not slots in use).
  struct SlotUse {
    uint64_t used = 0;
    uint64_t free = 0;
  };
  SlotUse Slots() const;
  // The WORKERS document.
  nlohmann::json ToJson() const;

  // The distinct builds of `function` (wire::FunctionInfo::build) that the workers taking new
  // work offer, sorted; "" stands for a worker that does not say.
  std::vector<std::string> BuildsOf(std::string_view function) const;
  // The build of `function` on `w`: "" when it does not say.
  static std::string BuildOf(const Worker& w, std::string_view function);

 private:
  void Charge(Worker& w, const AttemptCost& c);
  void Refund(Worker& w, const AttemptCost& c);
  // free_slots from slots + prefetch and what runs.
  static void UpdateFree(Worker& w);

  const Clock& clock_;
  Options options_;
  WorkerNo next_no_ = 1;
  std::map<WorkerNo, Worker> workers_;  // ordered: iteration (and so dispatch) is stable
  std::unordered_map<std::string, WorkerNo> by_identity_;
  std::unordered_map<uint64_t, Inflight> inflight_;  // SubtaskId::packed → attempt in flight
  std::unordered_map<NodeUid, uint32_t> per_node_;   // how many of inflight_ each node has
  void Count(SubtaskId id, int delta);
};

}  // namespace fanout
