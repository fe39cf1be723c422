// ArrayNode: the pure state machine of one map node (DESIGN §4, Flyte's ArrayNode).
//
// Events in (start requests, results), decisions out (which subtasks to start, which to
// abort, the node's phase). No sockets, no Redis, no clock: the caller executes decisions and
// persists Record(i) for every index an event touched, and for every index TakeAborts returns
// (the only records that change without an event naming them).
//
// Per subtask it keeps one packed record (phase, attempt, system failures, cache hit) in a
// CompactArray: a few bits, no heap object per subtask. Error messages are kept only for
// subtasks that failed for good, grouped by message.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/compact_array.h"
#include "coordinator/subtask_record.h"
#include "common/phases.h"

namespace fanout {

struct ArrayNodePolicy {
  uint32_t concurrency = 0;     // 0: unbounded
  int64_t min_successes = -1;   // -1: all (n)
  int retries = 0;              // user-error retries: retries + 1 attempts in all
  int system_retries = 3;       // separate budget for system errors
};

enum class FailureKind { kUser, kNonRetryable, kSystem };

class ArrayNode {
 public:
  struct Start {
    uint32_t index;
    uint32_t attempt;
  };
  struct Abort {
    uint32_t index;
    uint32_t attempt;
    bool was_running;  // RUNNING (stop it on its worker) or RETRYING (nothing runs)
  };

  ArrayNode(uint32_t n, const ArrayNodePolicy& policy);

  // Restores a subtask from its persisted record (coordinator restart). Terminal records and
  // counters are kept; a subtask waiting to retry is queued again; a running one stays RUNNING
  // with its attempt (a worker may still run it and report), and the reactor fails it as a
  // system error if no worker claims it within the grace period.
  void Restore(uint32_t index, const SubtaskRecord& rec);

  // Appends to `out` up to `max` subtasks to start now, honouring the concurrency limit,
  // retries first, then fresh indices in ascending order. They become RUNNING. Subtasks with
  // more than `max_system_failures` system failures are left for another placement (the last
  // system retry of an interruptible subtask goes to a non-interruptible worker).
  void Next(size_t max, std::vector<Start>* out, int max_system_failures = 0x7fffffff);
  // True when Next would return something given unlimited workers.
  bool HasStartable() const;
  // How many subtasks Next would return at most, given unlimited workers.
  uint64_t Startable() const;
  // How many subtasks waiting to retry have more than `n` system failures.
  uint64_t RetriesWithSystemFailuresAbove(int n) const;

  // A result for (index, attempt). Results for another attempt, or for a terminal subtask,
  // are stale: they change nothing and return false.
  bool OnSucceeded(uint32_t index, uint32_t attempt, bool cached = false);
  bool OnFailed(uint32_t index, uint32_t attempt, FailureKind kind, std::string_view message);
  // A subtask counted as succeeded whose output the store no longer has (Redis lost its last
  // writes): it runs again with the next attempt, and the node runs again if it had ended.
  bool Reopen(uint32_t index);
  // The store committed an output for this subtask (Redis is the truth), although in memory
  // it had moved on (e.g. re-queued when its worker was lost during the commit).
  bool OnCommitted(uint32_t index);
  // A queued (or cache-waiting) subtask whose result was found in the cache: it succeeds
  // without running.
  bool CompleteFromCache(uint32_t index);
  // Cache serialization: a queued subtask whose key another subtask is computing waits,
  // holding no slot, until the result is in the cache or the reservation is free again.
  bool WaitForCache(uint32_t index);
  // The reservation is ours now: the waiting subtask is queued again (ahead of fresh ones).
  bool ResumeFromCacheWait(uint32_t index);
  // Is (index, attempt) the live attempt of a non-terminal subtask?
  bool IsCurrent(uint32_t index, uint32_t attempt) const;

  // A new concurrency limit and success criterion while the node runs (`fanout update`):
  // lowering min_successes may let the node succeed once every subtask is terminal; raising it
  // may make it fail fast.
  void SetPolicy(const ArrayNodePolicy& policy);
  uint32_t concurrency() const { return policy_.concurrency; }

  // Stops the node (user abort): running and retrying subtasks become ABORTED.
  void AbortAll();
  // Subtasks aborted by fail-fast or AbortAll since the last call: every one needs its new
  // record stored, and the running ones stopped on their workers.
  std::vector<Abort> TakeAborts();

  NodePhase phase() const { return phase_; }
  bool done() const { return phase_ != NodePhase::kRunning; }
  uint32_t size() const { return n_; }
  int64_t min_successes() const { return min_successes_; }
  uint64_t count(SubtaskPhase p) const { return counts_[static_cast<int>(p)]; }
  uint64_t cached() const { return cached_; }
  uint64_t active() const { return active_; }
  SubtaskRecord Record(uint32_t index) const;

  // Failed indices grouped by message, as ranges: "[0-1][3]: exit code 1; [5]: timed out".
  // Capped at max_bytes.
  std::string ErrorSummary(size_t max_bytes = 100 * 1024) const;
  const std::map<std::string, std::vector<uint32_t>, std::less<>>& failures() const {
    return failures_;
  }
  // Bytes of per-subtask state held (the bench reports it).
  size_t StateBytes() const;

 private:
  void SetPhase(uint32_t index, SubtaskRecord rec, SubtaskPhase to);
  void Fail(uint32_t index, SubtaskRecord rec, std::string_view message);
  void Retry(uint32_t index, SubtaskRecord rec);
  void Evaluate();

  uint32_t n_;
  ArrayNodePolicy policy_;
  int64_t min_successes_;
  CompactArray records_;
  uint32_t cursor_ = 0;             // indices below it were all started at least once
  std::deque<uint32_t> retry_queue_;
  std::deque<uint32_t> requeued_;  // queued again behind the cursor (back from a cache wait)
  uint64_t counts_[kSubtaskPhaseCount] = {};
  uint64_t cached_ = 0;
  uint64_t active_ = 0;  // started and not terminal (running or waiting to retry)
  NodePhase phase_ = NodePhase::kRunning;
  std::vector<Abort> aborts_;
  std::map<std::string, std::vector<uint32_t>, std::less<>> failures_;
};

// "[0-1][3]" for sorted indices.
std::string FormatIndexRanges(const std::vector<uint32_t>& sorted, size_t max_bytes = 4096);

}  // namespace fanout
