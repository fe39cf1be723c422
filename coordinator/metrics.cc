#include "coordinator/metrics.h"

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace fanout {
namespace {

constexpr std::string_view kAttemptOutcomes[] = {"succeeded", "user_error", "non_retryable", "system_error",
                                                 "aborted"};
constexpr std::string_view kWriteOutcomes[] = {"applied", "already_applied", "refused", "not_durable"};

// Store round trips: from 100 µs (a pipelined GET on loopback) to 10 s (a stalled Redis).
std::vector<double> RoundTripBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// An attempt runs from a millisecond (a built-in) to an hour (a long command).
std::vector<double> AttemptLatencyBounds() { return {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600}; }

// Prometheus text for one number: integers as integers, others in the shortest form.
std::string Num(double v) { return fmt::format("{}", v); }

class Writer {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void Sample(std::string_view name, std::string_view labels, double v) {
    if (labels.empty()) {
      out_ += fmt::format("{} {}\n", name, Num(v));
    } else {
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, Num(v));
    }
  }
  void Sample(std::string_view name, std::string_view labels, uint64_t v) {
    if (labels.empty()) {
      out_ += fmt::format("{} {}\n", name, v);
    } else {
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, v);
    }
  }
  void Gauge(std::string_view name, std::string_view help, uint64_t v) {
    Family(name, "gauge", help);
    Sample(name, "", v);
  }
  void Counter(std::string_view name, std::string_view help, uint64_t v) {
    Family(name, "counter", help);
    Sample(name, "", v);
  }
  // The series of one histogram; `labels` without the le label ("" or `op="commit"`).
  void HistogramSeries(std::string_view name, std::string_view labels, const Histogram& h) {
    std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds().size(); ++i) {
      cumulative += h.counts()[i];
      Sample(std::string(name) + "_bucket", prefix + "le=\"" + Num(h.bounds()[i]) + "\"", cumulative);
    }
    cumulative += h.counts().back();
    Sample(std::string(name) + "_bucket", prefix + "le=\"+Inf\"", cumulative);
    Sample(std::string(name) + "_sum", labels, h.sum());
    Sample(std::string(name) + "_count", labels, h.count());
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string_view AttemptOutcomeName(AttemptOutcome o) {
  auto i = static_cast<size_t>(o);
  return i < std::size(kAttemptOutcomes) ? kAttemptOutcomes[i] : "unknown";
}

std::string PromLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::Observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v: le
  counts_[static_cast<size_t>(it - bounds_.begin())]++;
  sum_ += v;
  count_++;
}

Metrics::Metrics(std::function<int64_t()> now_us)
    : now_us_(std::move(now_us)), attempt_latency_(AttemptLatencyBounds()), loop_turn_(RoundTripBounds()) {
  if (!now_us_) {
    now_us_ = [] {
      return std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
}

void Metrics::Write(WriteOutcome o, bool cache_hit) {
  writes_[static_cast<int>(o)]++;
  if (cache_hit && (o == WriteOutcome::kApplied || o == WriteOutcome::kAlreadyApplied)) cache_hits_++;
}

void Metrics::StoreRoundTrip(std::string_view op, int64_t us) {
  auto it = store_round_trip_.find(op);
  if (it == store_round_trip_.end()) it = store_round_trip_.emplace(std::string(op), Histogram(RoundTripBounds())).first;
  it->second.Observe(static_cast<double>(std::max<int64_t>(us, 0)) / 1e6);
}

void Metrics::AttemptLatency(int64_t ms) {
  attempt_latency_.Observe(static_cast<double>(std::max<int64_t>(ms, 0)) / 1e3);
}

void Metrics::LoopTurn(int64_t us) { loop_turn_.Observe(static_cast<double>(std::max<int64_t>(us, 0)) / 1e6); }

const Histogram* Metrics::store_round_trip(std::string_view op) const {
  auto it = store_round_trip_.find(op);
  return it == store_round_trip_.end() ? nullptr : &it->second;
}

void ReadProcessMemory(Gauges& g) {
  struct mallinfo2 m = mallinfo2();
  g.heap_in_use_bytes = m.uordblks + m.hblkhd;
  g.heap_free_bytes = m.fordblks;
  unsigned long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) == 2)
      g.resident_bytes = static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    std::fclose(f);
  }
}

std::string Metrics::Render(const Gauges& g) const {
  Writer w;
  w.Gauge("fanout_ready", "1 when the coordinator has loaded its executions and serves workers and clients.",
          g.ready ? 1 : 0);
  w.Gauge("fanout_redis_connected", "1 while the coordinator's Redis connection is up.", g.redis_connected ? 1 : 0);
  w.Gauge("fanout_epoch", "The fencing epoch this coordinator took at start.", static_cast<uint64_t>(g.epoch));

  w.Family("fanout_workers", "gauge", "Connected workers, by state (draining workers take no new work).");
  w.Sample("fanout_workers", "state=\"active\"", g.workers - std::min(g.workers, g.draining_workers));
  w.Sample("fanout_workers", "state=\"draining\"", g.draining_workers);
  w.Family("fanout_slots", "gauge", "Subtask slots of the connected workers, used and free.");
  w.Sample("fanout_slots", "state=\"used\"", g.slots_used);
  w.Sample("fanout_slots", "state=\"free\"", g.slots_free);
  w.Gauge("fanout_attempts_in_flight", "Attempts dispatched to a worker whose result is not durable yet.",
          g.attempts_in_flight);

  w.Family("fanout_executions", "gauge", "Executions in the coordinator's memory, by phase.");
  for (int p = 0; p < kExecPhaseCount; ++p)
    w.Sample("fanout_executions", fmt::format("phase=\"{}\"", ExecPhaseName(static_cast<ExecPhase>(p))),
             g.executions[p]);
  w.Family("fanout_subtasks", "gauge",
           "Subtasks of the map nodes in memory, by phase (succeeded includes cached; see fanout_subtasks_cached).");
  for (int p = 0; p < kSubtaskPhaseCount; ++p)
    w.Sample("fanout_subtasks", fmt::format("phase=\"{}\"", SubtaskPhaseName(static_cast<SubtaskPhase>(p))),
             g.subtasks[p]);
  w.Gauge("fanout_subtasks_cached", "Subtasks of the map nodes in memory that succeeded from the cache.",
          g.subtasks_cached);
  w.Family("fanout_node_queue_depth", "gauge",
           "Subtasks of a running map node that could start now if a worker had room.");
  for (const Gauges::Node& n : g.nodes)
    w.Sample("fanout_node_queue_depth",
             fmt::format("execution=\"{}\",node=\"{}\"", PromLabel(n.execution), PromLabel(n.node)), n.queued);
  w.Family("fanout_node_running", "gauge", "Subtasks of a running map node started and not ended.");
  for (const Gauges::Node& n : g.nodes)
    w.Sample("fanout_node_running",
             fmt::format("execution=\"{}\",node=\"{}\"", PromLabel(n.execution), PromLabel(n.node)), n.running);
  w.Family("fanout_node_size", "gauge", "Subtasks of a running map node.");
  for (const Gauges::Node& n : g.nodes)
    w.Sample("fanout_node_size",
             fmt::format("execution=\"{}\",node=\"{}\"", PromLabel(n.execution), PromLabel(n.node)), n.size);

  w.Counter("fanout_subtasks_dispatched_total", "Subtask attempts sent to workers.", dispatched_);
  w.Family("fanout_attempts_total", "counter", "Attempts that ended, by outcome.");
  for (int o = 0; o < kAttemptOutcomeCount; ++o)
    w.Sample("fanout_attempts_total", fmt::format("outcome=\"{}\"", kAttemptOutcomes[o]), attempts_[o]);
  w.Family("fanout_retries_total", "counter", "Failed attempts that will run again, by kind of failure.");
  w.Sample("fanout_retries_total", "kind=\"user\"", user_retries_);
  w.Sample("fanout_retries_total", "kind=\"system\"", system_retries_);
  w.Counter("fanout_cache_hits_total", "Subtasks completed from the cache without running.", cache_hits_);
  w.Family("fanout_commits_total", "counter",
           "Subtask results and cache hits written to Redis, by what the store did with them.");
  for (int o = 0; o < kWriteOutcomeCount; ++o)
    w.Sample("fanout_commits_total", fmt::format("outcome=\"{}\"", kWriteOutcomes[o]), writes_[o]);
  w.Counter("fanout_commit_batches_total", "Fenced commit scripts sent to Redis (one per node per loop turn).",
            commit_batches_);
  w.Gauge("fanout_commit_batches_in_flight", "Commit scripts sent and not answered yet.", g.commits_in_flight);
  w.Counter("fanout_dropped_messages_total", "Messages dropped as malformed or unexpected.", g.dropped_messages);
  w.Counter("fanout_workers_joined_total", "Worker HELLOs (first joins and reconnects).", workers_joined_);
  w.Family("fanout_workers_left_total", "counter", "Workers removed: left after draining, or lost.");
  w.Sample("fanout_workers_left_total", "reason=\"drained\"", workers_left_);
  w.Sample("fanout_workers_left_total", "reason=\"lost\"", workers_lost_);

  w.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", g.resident_bytes);
  w.Family("fanout_heap_bytes", "gauge",
           "The coordinator's malloc heap: bytes in use, and bytes free but kept by the allocator.");
  w.Sample("fanout_heap_bytes", "state=\"in_use\"", g.heap_in_use_bytes);
  w.Sample("fanout_heap_bytes", "state=\"free\"", g.heap_free_bytes);

  static const Histogram kEmpty(RoundTripBounds());
  auto commit = store_round_trip_.find("commit");
  w.Family("fanout_commit_latency_seconds", "histogram",
           "Time from sending a fenced commit of a node's subtask writes to Redis until its reply.");
  w.HistogramSeries("fanout_commit_latency_seconds", "",
                    commit == store_round_trip_.end() ? kEmpty : commit->second);
  w.Family("fanout_redis_request_seconds", "histogram",
           "Redis round trip of the coordinator's store requests, by operation.");
  for (const auto& [op, h] : store_round_trip_)
    w.HistogramSeries("fanout_redis_request_seconds", fmt::format("op=\"{}\"", PromLabel(op)), h);
  w.Family("fanout_attempt_latency_seconds", "histogram",
           "Time from dispatching an attempt to its result reaching the coordinator (queued on the worker, run, "
           "sent back).");
  w.HistogramSeries("fanout_attempt_latency_seconds", "", attempt_latency_);
  w.Family("fanout_loop_turn_seconds", "histogram",
           "Time one turn of the coordinator's event loop kept it busy, from waking up until it waited again: the "
           "longest a worker's or client's message can wait to be looked at.");
  w.HistogramSeries("fanout_loop_turn_seconds", "", loop_turn_);
  return w.Take();
}

}  // namespace fanout
