// Metrics: the coordinator's counters and histograms, and their Prometheus text form (text
// exposition format 0.0.4) together with the gauges read from the rooms when it is rendered.
//
// Loop thread only, no atomics: the rooms call the hooks (one line each, where the event
// happens); the reactor renders the text on the loop and hands it to the HTTP thread inside an
// immutable snapshot (http_backend.h). Counters only grow while the process lives; Prometheus'
// rate() handles the reset a restart causes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/phases.h"

namespace fanout {

// What became of one attempt that reported (or was given up).
enum class AttemptOutcome : uint8_t {
  kSucceeded = 0,
  kUserError,     // the task failed (exit code, exception, timeout): retried within `retries`
  kNonRetryable,  // exit 42 / fanout::NonRetryable
  kSystemError,   // worker lost, never claimed, overdue, shut down
  kAborted,       // stopped on its worker
};
inline constexpr int kAttemptOutcomeCount = 5;
std::string_view AttemptOutcomeName(AttemptOutcome o);  // "succeeded", "user_error", ...

// What the store did with one subtask write (mirrors CommitOutcome, commit_queue.h).
enum class WriteOutcome : uint8_t { kApplied = 0, kAlreadyApplied, kRefused, kNotDurable };
inline constexpr int kWriteOutcomeCount = 4;

// A cumulative histogram with fixed upper bounds (Prometheus `le`), plus +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // counts()[i]: observations <= bounds()[i] (not cumulative); counts().back(): above all.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Gauges: read from the rooms at render time (CoordinatorCore::ReadGauges), never kept.
struct Gauges {
  bool ready = false;
  bool redis_connected = false;
  int64_t epoch = 0;
  uint64_t workers = 0;
  uint64_t draining_workers = 0;
  uint64_t slots_used = 0;
  uint64_t slots_free = 0;
  uint64_t attempts_in_flight = 0;
  uint64_t commits_in_flight = 0;
  uint64_t dropped_messages = 0;  // a counter kept by the core; shown as one
  std::array<uint64_t, kExecPhaseCount> executions{};  // in memory, by phase
  std::array<uint64_t, kSubtaskPhaseCount> subtasks{};  // of the nodes in memory, by phase
  uint64_t subtasks_cached = 0;                          // succeeded from the cache, of those
  struct Node {
    std::string execution, node;
    uint64_t size = 0;
    uint64_t queued = 0;   // could start now given free workers (ArrayNode::Startable)
    uint64_t running = 0;  // started and not terminal
  };
  std::vector<Node> nodes;  // running map nodes
  // The process, not the rooms (ReadProcessMemory): its resident set, and malloc's heap, in
  // use (what the coordinator holds) and free but kept by the allocator.
  uint64_t resident_bytes = 0;
  uint64_t heap_in_use_bytes = 0;
  uint64_t heap_free_bytes = 0;
};

// Fills the process fields of `g` (/proc/self/statm and mallinfo2).
void ReadProcessMemory(Gauges& g);

class Metrics {
 public:
  // now_us: a monotonic clock in microseconds for round-trip times (default: steady_clock).
  explicit Metrics(std::function<int64_t()> now_us = {});

  // --- Hooks (one call where the event happens) ---
  void Dispatched(uint64_t attempts) { dispatched_ += attempts; }
  void Attempt(AttemptOutcome o) { attempts_[static_cast<int>(o)]++; }
  // A failed attempt will run again (user-error retry, or system retry).
  void Retry(bool system) { (system ? system_retries_ : user_retries_)++; }
  // A commit outcome delivered to the dispatcher; cache_hit: it stored a cached result.
  void Write(WriteOutcome o, bool cache_hit);
  void CommitBatch() { commit_batches_++; }
  // A store request answered after `us` microseconds (`op`: "commit", "get_log", ...).
  void StoreRoundTrip(std::string_view op, int64_t us);
  // An attempt's result reached the coordinator `ms` after its dispatch (queued on the worker,
  // run, sent back).
  void AttemptLatency(int64_t ms);
  // One turn of the event loop kept it busy `us` microseconds (from waking up until it waits
  // again): what a worker or client waits at most for its message to be looked at.
  void LoopTurn(int64_t us);
  void WorkerJoined() { workers_joined_++; }
  void WorkerLeft(bool lost) { (lost ? workers_lost_ : workers_left_)++; }

  int64_t NowUs() const { return now_us_(); }

  // --- Reading ---
  uint64_t dispatched() const { return dispatched_; }
  uint64_t attempts(AttemptOutcome o) const { return attempts_[static_cast<int>(o)]; }
  uint64_t cache_hits() const { return cache_hits_; }
  const Histogram* store_round_trip(std::string_view op) const;

  // The Prometheus text of every metric, with `g` for the gauges. Deterministic order.
  std::string Render(const Gauges& g) const;

 private:
  std::function<int64_t()> now_us_;
  uint64_t dispatched_ = 0;
  std::array<uint64_t, kAttemptOutcomeCount> attempts_{};
  uint64_t user_retries_ = 0, system_retries_ = 0;
  std::array<uint64_t, kWriteOutcomeCount> writes_{};
  uint64_t cache_hits_ = 0;
  uint64_t commit_batches_ = 0;
  uint64_t workers_joined_ = 0, workers_left_ = 0, workers_lost_ = 0;
  std::map<std::string, Histogram, std::less<>> store_round_trip_;  // by op
  Histogram attempt_latency_;
  Histogram loop_turn_;
};

// A Prometheus label value, escaped (backslash, double quote, newline).
std::string PromLabel(std::string_view v);

}  // namespace fanout
