#include "coordinator/worker_registry.h"

#include <algorithm>

namespace fanout {

WorkerRegistry::WorkerRegistry(const Clock& clock, Options options)
    : clock_(clock), options_(options) {}

void WorkerRegistry::UpdateFree(Worker& w) {
  uint32_t credit = w.hello.slots + w.prefetch;
  w.free_slots = credit > w.running ? credit - w.running : 0;
}

void WorkerRegistry::Charge(Worker& w, const AttemptCost& c) {
  w.running++;
  UpdateFree(w);
  if (c.command) w.free_command_slots = w.free_command_slots > 0 ? w.free_command_slots - 1 : 0;
  w.free_cpu -= c.cpu;
  w.free_mem -= c.mem;
}

void WorkerRegistry::Refund(Worker& w, const AttemptCost& c) {
  w.running = w.running > 0 ? w.running - 1 : 0;
  UpdateFree(w);
  if (c.command) w.free_command_slots = std::min(w.free_command_slots + 1, w.command_slots);
  w.free_cpu += c.cpu;
  w.free_mem += c.mem;
}

WorkerRegistry::Joined WorkerRegistry::Join(const std::string& identity, const wire::Hello& hello,
                                            const std::unordered_map<uint64_t, uint32_t>& claims) {
  Joined out;
  std::vector<WorkerNo> old;
  for (const auto& [no, w] : workers_)
    if (w.hello.worker_id == hello.worker_id || w.identity == identity) old.push_back(no);

  Worker w;
  w.no = out.no = next_no_++;
  w.identity = identity;
  w.hello = hello;
  w.hello.slots = std::clamp<uint32_t>(hello.slots, 1, options_.max_slots);
  w.command_slots = hello.command_slots == 0 ? w.hello.slots : std::min(hello.command_slots, w.hello.slots);
  // Before any duration is known, one slot's worth of queue each.
  w.prefetch = hello.reports_started ? std::min(w.hello.slots, options_.max_prefetch) : 0;
  UpdateFree(w);
  w.free_command_slots = w.command_slots;
  w.free_cpu = hello.cpu;
  w.free_mem = hello.mem_bytes;
  w.last_seen_ms = clock_.NowMs();
  Worker& nw = workers_.emplace(w.no, std::move(w)).first->second;

  // What earlier incarnations held: kept when claimed with the same attempt, else lost.
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    Inflight& inf = it->second;
    if (std::find(old.begin(), old.end(), inf.worker) == old.end()) {
      ++it;
      continue;
    }
    auto c = claims.find(it->first);
    if (c != claims.end() && c->second == inf.attempt) {
      inf.worker = nw.no;
      // Claimed as running or queued there: which, the HELLO does not say. Counted as started
      // (a loss charges it), the safe side.
      inf.started = true;
      Charge(nw, inf.cost);
      ++out.kept;
      ++it;
    } else {
      (inf.started ? out.lost : out.unstarted).push_back({SubtaskId::Unpack(it->first), inf.attempt});
      Count(SubtaskId::Unpack(it->first), -1);
      it = inflight_.erase(it);
    }
  }
  for (WorkerNo no : old) {
    by_identity_.erase(workers_.at(no).identity);
    workers_.erase(no);
  }
  by_identity_[identity] = nw.no;
  return out;
}

std::vector<AttemptRef> WorkerRegistry::Remove(WorkerNo no, std::vector<AttemptRef>* unstarted) {
  std::vector<AttemptRef> lost;
  auto w = workers_.find(no);
  if (w == workers_.end()) return lost;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (it->second.worker == no) {
      bool to_unstarted = unstarted != nullptr && !it->second.started;
      (to_unstarted ? *unstarted : lost).push_back({SubtaskId::Unpack(it->first), it->second.attempt});
      Count(SubtaskId::Unpack(it->first), -1);
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  by_identity_.erase(w->second.identity);
  workers_.erase(w);
  return lost;
}

Worker* WorkerRegistry::Find(const std::string& identity) {
  auto it = by_identity_.find(identity);
  return it == by_identity_.end() ? nullptr : Get(it->second);
}

Worker* WorkerRegistry::Get(WorkerNo no) {
  auto it = workers_.find(no);
  return it == workers_.end() ? nullptr : &it->second;
}

const Worker* WorkerRegistry::Get(WorkerNo no) const {
  auto it = workers_.find(no);
  return it == workers_.end() ? nullptr : &it->second;
}

std::vector<std::string> WorkerRegistry::Identities() const {
  std::vector<std::string> out;
  out.reserve(workers_.size());
  for (const auto& [no, w] : workers_) out.push_back(w.identity);
  return out;
}

std::vector<WorkerNo> WorkerRegistry::Silent() const {
  std::vector<WorkerNo> out;
  int64_t now = clock_.NowMs();
  for (const auto& [no, w] : workers_)
    if (now - w.last_seen_ms > options_.heartbeat_ms * options_.liveness) out.push_back(no);
  return out;
}

void WorkerRegistry::Assign(WorkerNo worker, SubtaskId id, uint32_t attempt, const AttemptCost& cost,
                            int64_t deadline_ms) {
  Worker* w = Get(worker);
  if (w == nullptr) return;
  auto [it, fresh] = inflight_.try_emplace(id.packed());
  if (!fresh) {
    // A new attempt replaces an old one still listed (its result will be stale).
    if (Worker* prev = Get(it->second.worker)) Refund(*prev, it->second.cost);
  } else {
    Count(id, +1);
  }
  it->second = Inflight{worker, attempt, cost, deadline_ms, !w->hello.reports_started, clock_.NowMs()};
  Charge(*w, cost);
}

bool WorkerRegistry::MarkStarted(SubtaskId id, uint32_t attempt, WorkerNo worker) {
  auto it = inflight_.find(id.packed());
  if (it == inflight_.end() || it->second.attempt != attempt || it->second.worker != worker) return false;
  it->second.started = true;
  return true;
}

void WorkerRegistry::ObserveDuration(Worker& w, int64_t ms) {
  if (!w.hello.reports_started) return;
  // Milliseconds of the worker's wall clock: a sub-millisecond task reads 0.
  double x = std::max<double>(0, static_cast<double>(ms));
  w.task_ms = w.task_ms < 0 ? x : 0.9 * w.task_ms + 0.1 * x;
  double want = w.hello.slots * options_.queue_ms / std::max(w.task_ms, 0.02);
  w.prefetch = static_cast<uint32_t>(std::min<double>(want, options_.max_prefetch));
  UpdateFree(w);
}

const Inflight* WorkerRegistry::Holder(SubtaskId id) const {
  auto it = inflight_.find(id.packed());
  return it == inflight_.end() ? nullptr : &it->second;
}

bool WorkerRegistry::Release(SubtaskId id, uint32_t attempt) {
  auto it = inflight_.find(id.packed());
  if (it == inflight_.end() || it->second.attempt != attempt) return false;
  if (Worker* w = Get(it->second.worker)) Refund(*w, it->second.cost);
  inflight_.erase(it);
  Count(id, -1);
  return true;
}

void WorkerRegistry::Count(SubtaskId id, int delta) {
  uint32_t& n = per_node_[id.node];
  n = static_cast<uint32_t>(static_cast<int64_t>(n) + delta);
  if (n == 0) per_node_.erase(id.node);
}

uint32_t WorkerRegistry::InflightOf(NodeUid node) const {
  auto it = per_node_.find(node);
  return it == per_node_.end() ? 0 : it->second;
}

std::vector<AttemptRef> WorkerRegistry::Overdue() const {
  std::vector<AttemptRef> out;
  int64_t now = clock_.NowMs();
  for (const auto& [key, inf] : inflight_)
    if (inf.deadline_ms > 0 && now >= inf.deadline_ms) out.push_back({SubtaskId::Unpack(key), inf.attempt});
  return out;
}

WorkerRegistry::SlotUse WorkerRegistry::Slots() const {
  SlotUse s;
  for (const auto& [no, w] : workers_) {
    uint32_t used = std::min(w.running, w.hello.slots);
    s.used += used;
    s.free += w.hello.slots - used;
  }
  return s;
}

std::vector<WorkerView> WorkerRegistry::Views() const {
  std::vector<WorkerView> out;
  out.reserve(workers_.size());
  for (const auto& [no, w] : workers_) {
    WorkerView v;
    v.no = no;
    v.draining = w.draining;
    v.interruptible = w.hello.interruptible;
    v.cpu = w.hello.cpu;
    v.mem_bytes = w.hello.mem_bytes;
    v.free_slots = w.free_slots;
    v.free_command_slots = w.free_command_slots;
    v.free_cpu = w.free_cpu;
    v.free_mem = w.free_mem;
    v.functions = &w.hello.functions;
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> WorkerRegistry::BuildsOf(std::string_view function) const {
  std::vector<std::string> builds;
  for (const auto& [no, w] : workers_) {
    if (w.draining) continue;
    if (std::find(w.hello.functions.begin(), w.hello.functions.end(), function) == w.hello.functions.end())
      continue;
    std::string b = BuildOf(w, function);
    if (std::find(builds.begin(), builds.end(), b) == builds.end()) builds.push_back(std::move(b));
  }
  std::sort(builds.begin(), builds.end());
  return builds;
}

std::string WorkerRegistry::BuildOf(const Worker& w, std::string_view function) {
  for (const wire::FunctionInfo& f : w.hello.function_info)
    if (f.name == function) return f.build;
  return "";
}

nlohmann::json WorkerRegistry::ToJson() const {
  nlohmann::json arr = nlohmann::json::array();
  int64_t now = clock_.NowMs();
  for (const auto& [no, w] : workers_) {
    arr.push_back({{"id", w.hello.worker_id},
                   {"host", w.hello.host},
                   {"pid", w.hello.pid},
                   {"slots", w.hello.slots},
                   {"command_slots", w.command_slots},
                   {"running", w.running},
                   {"prefetch", w.prefetch},
                   {"functions", w.hello.functions},
                   {"labels", w.hello.labels},
                   {"interruptible", w.hello.interruptible},
                   {"draining", w.draining},
                   {"heartbeat_age_ms", now - w.last_seen_ms}});
  }
  return nlohmann::json{{"workers", arr}};
}

}  // namespace fanout
