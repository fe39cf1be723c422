#include "coordinator/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "coordinator/cache_key.h"
#include "coordinator/scheduler.h"

namespace fanout {
namespace {

FailureKind KindOf(wire::Outcome o) {
  switch (o) {
    case wire::Outcome::kNonRetryable: return FailureKind::kNonRetryable;
    case wire::Outcome::kUserError: return FailureKind::kUser;
    default: return FailureKind::kSystem;
  }
}

wire::SubtaskKey KeyOf(const NodeRun& node, uint32_t index, uint32_t attempt) {
  return wire::SubtaskKey{node.exec->id, node.id(), index, attempt};
}

bool Restored(const NodeRun* node) { return node != nullptr && node->array && !node->busy; }

AttemptOutcome MetricOf(wire::Outcome o) {
  switch (o) {
    case wire::Outcome::kSucceeded: return AttemptOutcome::kSucceeded;
    case wire::Outcome::kUserError: return AttemptOutcome::kUserError;
    case wire::Outcome::kNonRetryable: return AttemptOutcome::kNonRetryable;
    case wire::Outcome::kAborted: return AttemptOutcome::kAborted;
    default: return AttemptOutcome::kSystemError;
  }
}

}  // namespace

Dispatcher::Dispatcher(ExecutionTable& execs, WorkerRegistry& workers, Recovery& recovery,
                       CommitQueue& commits, Store& store, Outbox& outbox, const Clock& clock,
                       Options options, Hooks hooks)
    : execs_(execs),
      workers_(workers),
      recovery_(recovery),
      commits_(commits),
      store_(store),
      outbox_(outbox),
      clock_(clock),
      options_(options),
      hooks_(std::move(hooks)) {}

AttemptCost Dispatcher::CostOf(const NodeRun& node) const {
  return AttemptCost{node.def->requests.cpu, node.def->requests.mem_bytes, node.task->is_command()};
}

int64_t Dispatcher::DeadlineOf(const NodeRun& node) const {
  if (node.desc.timeout_ms <= 0) return 0;
  return clock_.NowMs() + node.desc.timeout_ms + options_.deadline_grace_ms;
}

// ---------------------------------------------------------------------------------------------
// Workers joining and leaving

void Dispatcher::OnHello(const std::string& identity, const wire::Hello& hello) {
  // What the worker still runs or holds results for: those attempts stay current, so a worker
  // reconnecting or a coordinator restarting costs no finished or running work.
  std::unordered_map<uint64_t, uint32_t> claims;
  std::vector<const wire::SubtaskKey*> held_back;  // of nodes not restored yet
  for (const auto* list : {&hello.running, &hello.held}) {
    for (const wire::SubtaskKey& k : *list) {
      NodeRun* node = execs_.Node(k.exec, k.node);
      if (Restored(node)) {
        if (k.index < node->array->size()) claims[node->Subtask(k.index).packed()] = k.attempt;
      } else {
        held_back.push_back(&k);  // not restored yet (or unknown: the claim expires unused)
      }
    }
  }
  WorkerRegistry::Joined joined = workers_.Join(identity, hello, claims);
  for (const wire::SubtaskKey* k : held_back)
    recovery_.HoldClaim(k->exec, k->node, k->index, k->attempt, joined.no);
  // Attempts restored as RUNNING after our own restart, claimed now.
  uint32_t adopted = 0;
  for (const auto& [packed, attempt] : claims) {
    SubtaskId id = SubtaskId::Unpack(packed);
    if (!recovery_.Claim(id, attempt)) continue;
    Adopt(*execs_.Node(id.node), id.index, attempt, joined.no);
    ++adopted;
  }
  spdlog::info("worker {} ({} slots, {} command slots, {} functions) joined; it claims {} attempt(s)",
               hello.worker_id, workers_.Get(joined.no)->hello.slots,
               workers_.Get(joined.no)->command_slots, hello.functions.size(), joined.kept + adopted);
  if (metrics_) metrics_->WorkerJoined();  // metrics
  outbox_.Send(identity, wire::Kind::kWelcome,
               wire::EncodeBody(wire::Welcome{store_.epoch(), options_.heartbeat_ms}));
  for (const AttemptRef& a : joined.lost) FailSystem(a, "worker " + hello.worker_id + " reconnected without it");
  HandBack(joined.unstarted, "worker " + hello.worker_id + " reconnected without it");
  hooks_.wake();
}

void Dispatcher::Adopt(NodeRun& node, uint32_t index, uint32_t attempt, WorkerNo worker) {
  workers_.Assign(worker, node.Subtask(index), attempt, CostOf(node), DeadlineOf(node));
  // Claimed as running (or queued: the HELLO does not say which): a loss charges it.
  workers_.MarkStarted(node.Subtask(index), attempt, worker);
  store_.ForgetUnclaimed(node.exec->id, node.id(), index);
}

void Dispatcher::OnHeartbeat(const std::string& identity, const wire::Heartbeat& hb, bool bye) {
  Worker* w = workers_.Find(identity);
  if (w == nullptr) {
    outbox_.Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
    return;
  }
  workers_.Heard(*w);
  if (bye) return LoseWorker(w->no, "worker left");
  if (hb.draining && !w->draining) spdlog::info("worker {} is draining", w->hello.worker_id);
  workers_.SetDraining(*w, hb.draining);
}

void Dispatcher::LoseWorker(WorkerNo no, const std::string& why) {
  const Worker* w = workers_.Get(no);
  if (w == nullptr) return;
  std::string worker_id = w->hello.worker_id;
  std::vector<AttemptRef> unstarted;
  std::vector<AttemptRef> lost = workers_.Remove(no, &unstarted);
  if (metrics_) metrics_->WorkerLeft(/*lost=*/why != "worker left");  // metrics
  if (why == "worker left") {
    spdlog::info("worker {} left after draining; {} attempt(s) re-queued, {} never started handed back",
                 worker_id, lost.size(), unstarted.size());
  } else {
    spdlog::warn("worker {} lost ({}): {} attempt(s) re-queued as system errors, {} never started handed back",
                 worker_id, why, lost.size(), unstarted.size());
  }
  for (const AttemptRef& a : lost) FailSystem(a, "worker " + worker_id + " lost (" + why + ")");
  HandBack(unstarted, "worker " + worker_id + " lost (" + why + ")");
  hooks_.wake();
}

void Dispatcher::HandBack(const std::vector<AttemptRef>& attempts, const std::string& why) {
  for (const AttemptRef& a : attempts) {
    NodeRun* node = execs_.Node(a.id.node);
    if (node == nullptr || !node->array || !node->array->IsCurrent(a.id.index, a.attempt)) continue;
    auto [it, fresh] = handed_back_once_.try_emplace(a.id.packed(), a.attempt);
    if (!fresh && it->second == a.attempt) {
      // Handed back once already: this time it counts (the task may kill its workers).
      FailSystem(a, why + ", a second time before it was reported started");
      continue;
    }
    it->second = a.attempt;
    recovery_.Forget(a.id);
    handed_back_[a.id.node].push_back({a.id.index, a.attempt});
  }
}

std::vector<ArrayNode::Start> Dispatcher::TakeHandedBack(NodeRun& node, uint32_t max) {
  std::vector<ArrayNode::Start> out;
  auto it = handed_back_.find(node.uid);
  if (it == handed_back_.end()) return out;
  auto& list = it->second;
  while (!list.empty() && out.size() < max) {
    ArrayNode::Start s = list.back();
    list.pop_back();
    // Still the live attempt, and nobody runs it (an abort, a restart may have moved it on).
    if (node.array->IsCurrent(s.index, s.attempt) && workers_.Holder(node.Subtask(s.index)) == nullptr)
      out.push_back(s);
  }
  if (list.empty()) handed_back_.erase(it);
  return out;
}

void Dispatcher::OnStarted(const std::string& identity, const wire::StartedBatch& started) {
  Worker* w = workers_.Find(identity);
  if (w == nullptr) return;
  workers_.Heard(*w);
  NodeRun* node = execs_.Node(started.exec, started.node);
  if (!Restored(node)) return;
  size_t n = std::min(started.indices.size(), started.attempts.size());
  for (size_t i = 0; i < n; ++i)
    if (started.indices[i] < node->array->size())
      workers_.MarkStarted(node->Subtask(started.indices[i]), started.attempts[i], w->no);
}

// ---------------------------------------------------------------------------------------------
// Work out

void Dispatcher::Pump() {
  if (!store_.connected()) return;  // hold dispatch while the store is away
  std::vector<WorkerView> views = workers_.Views();
  uint64_t free_slots = 0;
  for (const WorkerView& v : views) free_slots += v.free_slots;
  if (free_slots == 0) return;  // nothing can start (waiting reasons are kept until then)
  // With many executions (a map over a launch plan: one per child), a pump looks at a bounded
  // number of nodes, enough to fill the free slots, and the next pump goes on after the last
  // execution it looked at: round-robin, so every node gets its turn and a pump costs what it
  // can start rather than what exists.
  const size_t max_nodes = std::max<size_t>(kMinNodesPerPump, 2 * free_slots);
  std::vector<NodeRun*> runnable;
  std::vector<Demand> demands;
  pump_cursor_ = execs_.ForEachFrom(pump_cursor_, [&](Execution& e) {
    if (runnable.size() >= max_nodes) return false;
    if (IsTerminal(e.phase)) return true;
    size_t first = demands.size();
    for (NodeRun& node : e.nodes) {
      if (node.def->target != NodeTarget::kTask) continue;  // children start in ChildRuns
      if (node.phase != NodePhase::kRunning || node.busy || !node.array) continue;
      uint64_t startable = node.array->Startable();
      if (auto hb = handed_back_.find(node.uid); hb != handed_back_.end()) startable += hb->second.size();
      if (startable == 0) continue;
      NodeNeeds needs{node.task->is_command(), node.task->function, node.interruptible, node.def->requests};
      Demand d{node.uid, e.nodes.front().uid, node.array->active(), startable, needs, 0};
      // Last system retries go to non-interruptible workers only.
      if (node.interruptible) d.steady_only = node.array->RetriesWithSystemFailuresAbove(options_.system_retries - 1);
      demands.push_back(d);
      runnable.push_back(&node);
    }
    // max_parallelism: what is left of it is shared by the nodes, the ones running least first.
    uint64_t left = e.ParallelismLeft();
    if (left == UINT64_MAX || demands.size() == first) return true;
    std::vector<uint64_t> base, cap;
    for (size_t i = first; i < demands.size(); ++i) {
      base.push_back(demands[i].running);
      cap.push_back(demands[i].startable);
    }
    std::vector<uint64_t> share = WaterFill(base, cap, left);
    for (size_t i = first; i < demands.size(); ++i) demands[i].startable = share[i - first];
    return true;
  });
  std::erase_if(demands, [](const Demand& d) { return d.startable == 0; });
  if (demands.empty()) return UpdateWaiting(runnable);
  std::vector<Grant> grants = Schedule(std::move(views), demands, options_.max_batch, options_.system_retries);
  for (const Grant& g : grants) {
    NodeRun* node = execs_.Node(g.node);
    if (node != nullptr && node->array) StartGrant(*node, g.worker, g.count, g.max_system_failures);
  }
  UpdateWaiting(runnable);
}

void Dispatcher::UpdateWaiting(const std::vector<NodeRun*>& nodes) {
  std::vector<WorkerView> views;
  for (NodeRun* node : nodes) {
    if (!node->array->HasStartable()) {
      node->waiting = {};
      continue;
    }
    if (node->exec->ParallelismLeft() == 0) {
      node->waiting = {WaitReason::kMaxParallelism, "",
                       "the execution's max_parallelism (" + std::to_string(node->exec->max_parallelism) +
                           ") is reached"};
      continue;
    }
    if (views.empty()) views = workers_.Views();
    NodeNeeds needs{node->task->is_command(), node->task->function, node->interruptible, node->def->requests};
    node->waiting = WaitingFor(views, needs);
    if (node->waiting.reason == WaitReason::kNone && needs.interruptible &&
        node->array->RetriesWithSystemFailuresAbove(options_.system_retries - 1) > 0) {
      // Its last system retry may only go to a non-interruptible worker: is there one?
      needs.interruptible = false;
      if (WaitingFor(views, needs).reason != WaitReason::kNone)
        node->waiting = {WaitReason::kLastRetryNeedsNonInterruptible, "",
                         "the last system retry waits for a non-interruptible worker"};
    }
  }
}

uint32_t Dispatcher::StartGrant(NodeRun& node, WorkerNo worker, uint32_t count, int max_system_failures) {
  Worker* w = workers_.Get(worker);
  if (w == nullptr) return 0;
  // Attempts handed back by a lost worker first: same attempt, so no new record to store.
  std::vector<ArrayNode::Start> starts = TakeHandedBack(node, count);
  size_t handed_back = starts.size();
  if (starts.size() < count) node.array->Next(count - starts.size(), &starts, max_system_failures);
  if (starts.empty()) return 0;
  if (metrics_) metrics_->Dispatched(starts.size());  // metrics
  node.waiting = {};
  AttemptCost cost = CostOf(node);
  int64_t deadline = DeadlineOf(node);
  wire::WorkBatch batch;
  size_t batch_bytes = 0;
  auto send = [&] {
    if (batch.items.empty()) return;
    outbox_.Send(w->identity, wire::Kind::kWork, wire::EncodeBody(batch));
    batch.items.clear();
    batch_bytes = 0;
  };
  batch.exec = node.exec->id;
  batch.node = node.id();
  batch.task = node.desc;
  batch.items.reserve(starts.size());
  for (size_t k = 0; k < starts.size(); ++k) {
    const ArrayNode::Start& s = starts[k];
    workers_.Assign(worker, node.Subtask(s.index), s.attempt, cost, deadline);
    if (k >= handed_back)
      commits_.Add(node.uid, node.exec->id, node.id(),
                   CommitOp{CommitOp::kRecord, s.index, s.attempt, PackRecord(node.array->Record(s.index)), ""},
                   /*notify=*/false);
    wire::WorkItem item;
    item.index = s.index;
    item.attempt = s.attempt;
    item.args = node.inputs.ArgsFor(s.index);
    if (node.checkpointed.contains(s.index)) {
      SendWithCheckpoint(node, worker, std::move(item));
      continue;
    }
    batch_bytes += item.args.size();
    batch.items.push_back(std::move(item));
    if (batch_bytes >= options_.max_batch_bytes) send();
  }
  send();
  return static_cast<uint32_t>(starts.size());
}

void Dispatcher::SendWithCheckpoint(NodeRun& node, WorkerNo worker, wire::WorkItem item) {
  // Checkpoints live in the store only; this attempt waits for its bytes, holding its slot.
  NodeUid uid = node.uid;
  store_.GetCheckpoint(node.exec->id, node.id(), item.index,
                       [this, uid, worker, item = std::move(item)](Result<std::optional<std::string>> ck) mutable {
                         NodeRun* node = execs_.Node(uid);
                         const Worker* w = workers_.Get(worker);
                         const Inflight* held = node ? workers_.Holder(node->Subtask(item.index)) : nullptr;
                         if (node == nullptr || w == nullptr || held == nullptr || held->worker != worker ||
                             held->attempt != item.attempt)
                           return;  // the attempt moved on meanwhile
                         if (ck && *ck) {
                           item.has_checkpoint = true;
                           item.checkpoint = std::move(**ck);
                         } else if (!ck) {
                           spdlog::warn("exec={} node={} index={}: cannot read its checkpoint: {}; "
                                        "the attempt starts without it",
                                        node->exec->id, node->id(), item.index, ck.error().message());
                         }
                         wire::WorkBatch batch;
                         batch.exec = node->exec->id;
                         batch.node = node->id();
                         batch.task = node->desc;
                         batch.items.push_back(std::move(item));
                         outbox_.Send(w->identity, wire::Kind::kWork, wire::EncodeBody(batch));
                       });
}

// ---------------------------------------------------------------------------------------------
// Results in

void Dispatcher::OnResults(const std::string& identity, wire::ResultBatch& batch) {
  Worker* w = workers_.Find(identity);
  if (w == nullptr) {
    // Results from before our start: the worker holds them and re-sends after its HELLO.
    outbox_.Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
    return;
  }
  workers_.Heard(*w);
  for (wire::ResultItem& r : batch.results) OnResult(*w, r);
  hooks_.wake();
}

void Dispatcher::OnResult(Worker& w, wire::ResultItem& r) {
  const wire::SubtaskKey& k = r.key;
  NodeRun* node = execs_.Node(k.exec, k.node);
  if (node != nullptr && !Restored(node)) {
    // The node is being restored after our restart: the worker keeps the result and sends it
    // again when asked (next tick), when its record is known.
    resend_from_.insert(w.identity);
    return;
  }
  if (node == nullptr) {
    // Its execution has ended. If the attempt still held its slot (aborted), it is free now.
    if (auto uid = execs_.Retired(k.exec, k.node)) workers_.Release(SubtaskId{*uid, k.index}, k.attempt);
    return Ack(w.identity, k);
  }
  if (k.index >= node->array->size()) return Ack(w.identity, k);
  SubtaskId id = node->Subtask(k.index);
  const Inflight* held = workers_.Holder(id);
  bool holds = held != nullptr && held->worker == w.no && held->attempt == k.attempt;
  if (!holds || !node->array->IsCurrent(k.index, k.attempt)) {
    // A stale attempt (re-dispatched, aborted, given up) or a peer that never held it: nothing
    // to commit. An aborted attempt still held its slot until now.
    if (holds) workers_.Release(id, k.attempt);
    return Ack(w.identity, k);
  }
  auto outcome = static_cast<wire::Outcome>(r.outcome);
  if (outcome == wire::Outcome::kSystemError && !held->started) {
    // Handed back from the worker's queue (draining, preempted) without running.
    workers_.Release(id, k.attempt);
    HandBack({{id, k.attempt}}, "worker " + w.hello.worker_id + " handed it back: " + r.error);
    return Ack(w.identity, k);
  }
  if (outcome != wire::Outcome::kSystemError && outcome != wire::Outcome::kAborted)
    workers_.ObserveDuration(w, r.ended_ms - r.started_ms);
  if (metrics_) metrics_->AttemptLatency(clock_.NowMs() - held->dispatched_ms);
  recovery_.Forget(id);
  if (r.has_checkpoint) SaveCheckpoint(*node, k.index, std::move(r.checkpoint));
  if (!r.log.empty()) {
    // The coordinator's own bound on what it writes (the worker caps logs already).
    if (r.log.size() > wire::kMaxLogBytes) r.log.erase(0, r.log.size() - wire::kMaxLogBytes);
    store_.PutLog(k.exec, k.node, k.index, k.attempt, r.log, options_.log_ttl_s);
  }
  if (metrics_) metrics_->Attempt(MetricOf(outcome));
  CommitOrigin origin{CommitOrigin::Source::kWorker, w.no, w.identity};
  if (outcome == wire::Outcome::kSucceeded) {
    // Only successful results are cached; a reservation waiter takes it from there.
    // Under the build of the worker that ran it.
    if (node->cache != nullptr)
      store_.CachePut(CacheKey(*node->task, *node->cache, node->inputs.ArgSlices(k.index),
                               WorkerRegistry::BuildOf(w, node->task->function)),
                      r.outputs, node->cache->ttl_ms);
    // The slot stays taken until the commit is durable: dispatch never runs ahead of the store.
    SubtaskRecord rec = node->array->Record(k.index);
    rec.phase = static_cast<uint8_t>(SubtaskPhase::kSucceeded);
    commits_.Add(node->uid, k.exec, k.node,
                 CommitOp{CommitOp::kOutput, k.index, k.attempt, PackRecord(rec), std::move(r.outputs)},
                 /*notify=*/true, std::move(origin));
    return;
  }
  workers_.Release(id, k.attempt);
  handed_back_once_.erase(id.packed());
  if (outcome == wire::Outcome::kAborted && r.error.empty()) r.error = "aborted on the worker";
  spdlog::info("exec={} node={} index={} attempt={}: {}", k.exec, k.node, k.index, k.attempt, r.error);
  node->array->OnFailed(k.index, k.attempt, KindOf(outcome), r.error);
  SubtaskRecord rec = node->array->Record(k.index);
  if (metrics_ && !IsTerminal(static_cast<SubtaskPhase>(rec.phase))) metrics_->Retry(KindOf(outcome) == FailureKind::kSystem);  // metrics
  if (IsTerminal(static_cast<SubtaskPhase>(rec.phase))) {
    if (node->checkpointed.erase(k.index)) store_.DeleteCheckpoint(k.exec, k.node, k.index);
    hooks_.release_cache(id);  // a waiter takes over
  }
  commits_.Add(node->uid, k.exec, k.node, CommitOp{CommitOp::kError, k.index, k.attempt, PackRecord(rec), r.error},
               /*notify=*/true, std::move(origin));
  hooks_.node_changed(*node);
}

void Dispatcher::OnCheckpoint(const std::string& identity, wire::CheckpointSave& save) {
  Worker* w = workers_.Find(identity);
  NodeRun* node = execs_.Node(save.key.exec, save.key.node);
  if (w == nullptr || !Restored(node) || save.key.index >= node->array->size()) return;
  workers_.Heard(*w);
  const Inflight* held = workers_.Holder(node->Subtask(save.key.index));
  // Only the peer running the current attempt may save its checkpoint.
  if (held == nullptr || held->worker != w->no || held->attempt != save.key.attempt ||
      !node->array->IsCurrent(save.key.index, save.key.attempt))
    return;
  SaveCheckpoint(*node, save.key.index, std::move(save.checkpoint));
}

void Dispatcher::SaveCheckpoint(NodeRun& node, uint32_t index, std::string bytes) {
  if (static_cast<int64_t>(bytes.size()) > options_.max_checkpoint_bytes) {
    spdlog::warn("exec={} node={} index={}: checkpoint of {} bytes over the cap; not kept",
                 node.exec->id, node.id(), index, bytes.size());
    return;
  }
  store_.PutCheckpoint(node.exec->id, node.id(), index, bytes);
  node.checkpointed.insert(index);
}

void Dispatcher::CommitCached(NodeRun& node, uint32_t index, std::string outputs) {
  SubtaskRecord rec = node.array->Record(index);
  rec.phase = static_cast<uint8_t>(SubtaskPhase::kSucceeded);
  rec.cached = true;
  // Committed like a result (fenced, first output wins), then counted as a cached success.
  commits_.Add(node.uid, node.exec->id, node.id(),
               CommitOp{CommitOp::kOutput, index, rec.attempt, PackRecord(rec), std::move(outputs)},
               /*notify=*/true, CommitOrigin{CommitOrigin::Source::kCache, 0, ""});
  hooks_.wake();
}

void Dispatcher::OnCommitted(NodeUid uid, const CommitOp& op, CommitOutcome outcome,
                             const CommitOrigin& origin) {
  NodeRun* node = execs_.Node(uid);
  bool durable = outcome == CommitOutcome::kApplied || outcome == CommitOutcome::kAlreadyApplied;
  hooks_.wake();
  if (origin.source == CommitOrigin::Source::kCache) {
    if (node == nullptr || !node->array) return;
    if (durable && node->array->CompleteFromCache(op.index)) hooks_.node_changed(*node);
    if (!durable) node->array->ResumeFromCacheWait(op.index);  // run it after all
    return;
  }
  if (outcome == CommitOutcome::kNotDurable) {
    // The worker keeps the result; it is asked for it again once the store answers.
    resend_from_.insert(origin.identity);
    return;
  }
  if (node == nullptr) return;  // the execution has ended; the worker forgets it on the next HELLO
  wire::SubtaskKey key = KeyOf(*node, op.index, op.attempt);
  if (op.kind == CommitOp::kOutput) {
    SubtaskId id = node->Subtask(op.index);
    workers_.Release(id, op.attempt);
    handed_back_once_.erase(id.packed());
    if (durable && node->array) {
      if (!node->array->OnSucceeded(op.index, op.attempt) && node->array->OnCommitted(op.index))
        spdlog::info("exec={} node={} index={} attempt={}: committed after it was re-queued",
                     key.exec, key.node, op.index, op.attempt);
      if (node->checkpointed.erase(op.index)) store_.DeleteCheckpoint(key.exec, key.node, op.index);
      hooks_.release_cache(id);
      hooks_.node_changed(*node);
    } else if (node->array && node->array->IsCurrent(op.index, op.attempt)) {
      // The store disagrees about the attempt (e.g. it lost its last second of writes): run
      // the subtask again rather than leave it hanging.
      FailSystem({id, op.attempt}, "commit refused by the store");
    }
  }
  Ack(origin.identity, std::move(key));
}

void Dispatcher::Ack(const std::string& identity, wire::SubtaskKey key) {
  acks_[identity].push_back(std::move(key));
}

void Dispatcher::FlushAcks() {
  for (auto& [identity, keys] : acks_)
    outbox_.Send(identity, wire::Kind::kAck, wire::EncodeBody(wire::AckBatch{std::move(keys)}));
  acks_.clear();
}

// ---------------------------------------------------------------------------------------------
// Attempts that end without a result

void Dispatcher::FailSystem(AttemptRef a, const std::string& why) {
  workers_.Release(a.id, a.attempt);
  handed_back_once_.erase(a.id.packed());
  recovery_.Forget(a.id);
  NodeRun* node = execs_.Node(a.id.node);
  if (node == nullptr || !node->array) return;
  if (!node->array->OnFailed(a.id.index, a.attempt, FailureKind::kSystem, why)) return;
  spdlog::warn("exec={} node={} index={} attempt={}: system error: {}", node->exec->id, node->id(),
               a.id.index, a.attempt, why);
  SubtaskRecord rec = node->array->Record(a.id.index);
  if (metrics_) metrics_->Attempt(AttemptOutcome::kSystemError);  // metrics
  if (metrics_ && !IsTerminal(static_cast<SubtaskPhase>(rec.phase))) metrics_->Retry(/*system=*/true);  // metrics
  if (IsTerminal(static_cast<SubtaskPhase>(rec.phase))) hooks_.release_cache(a.id);
  commits_.Add(node->uid, node->exec->id, node->id(),
               CommitOp{CommitOp::kError, a.id.index, a.attempt, PackRecord(rec), why}, /*notify=*/false);
  hooks_.node_changed(*node);
  hooks_.wake();
}

void Dispatcher::StopAborted(NodeRun& node) {
  if (!node.array) return;
  std::map<WorkerNo, std::vector<wire::SubtaskKey>> by_worker;
  for (const ArrayNode::Abort& a : node.array->TakeAborts()) {
    SubtaskRecord rec = node.array->Record(a.index);
    commits_.Add(node.uid, node.exec->id, node.id(),
                 CommitOp{CommitOp::kRecord, a.index, a.attempt, PackRecord(rec), ""}, /*notify=*/false);
    SubtaskId id = node.Subtask(a.index);
    recovery_.Forget(id);
    hooks_.release_cache(id);
    // The attempt keeps its slot until its worker reports it stopped.
    if (const Inflight* held = workers_.Holder(id); held != nullptr && held->attempt == a.attempt)
      by_worker[held->worker].push_back(KeyOf(node, a.index, a.attempt));
  }
  for (auto& [no, keys] : by_worker)
    if (const Worker* w = workers_.Get(no))
      outbox_.Send(w->identity, wire::Kind::kAbort, wire::EncodeBody(wire::AckBatch{std::move(keys)}));
}

void Dispatcher::Tick() {
  for (WorkerNo no : workers_.Silent()) LoseWorker(no, "missed heartbeats");
  for (const std::string& identity : workers_.Identities())
    outbox_.Send(identity, wire::Kind::kHeartbeat, wire::EncodeBody(wire::Heartbeat{}));
  // Results whose commit failed: their workers still hold them; a HELLO makes them re-send.
  if (store_.connected()) {
    for (const std::string& identity : resend_from_)
      if (workers_.Find(identity) != nullptr)
        outbox_.Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
    resend_from_.clear();
  }
  // Restored attempts nobody claimed within the grace period run again, as system retries.
  for (const AttemptRef& a : recovery_.Expire()) {
    if (NodeRun* node = execs_.Node(a.id.node)) store_.ForgetUnclaimed(node->exec->id, node->id(), a.id.index);
    FailSystem(a, "no worker claimed it after a coordinator restart");
  }
  execs_.PruneRetired([this](NodeUid uid) { return workers_.InflightOf(uid) == 0; });
  std::erase_if(handed_back_, [this](const auto& kv) { return execs_.Node(kv.first) == nullptr; });
  // Attempts that overran their timeout by the grace: their worker did not enforce it.
  for (const AttemptRef& a : workers_.Overdue()) {
    NodeRun* node = execs_.Node(a.id.node);
    const Inflight* held = workers_.Holder(a.id);
    if (node != nullptr && held != nullptr)
      if (const Worker* w = workers_.Get(held->worker))
        outbox_.Send(w->identity, wire::Kind::kAbort,
                     wire::EncodeBody(wire::AckBatch{{KeyOf(*node, a.id.index, a.attempt)}}));
    FailSystem(a, "no result within its timeout and " + std::to_string(options_.deadline_grace_ms / 1000) +
                      " s of grace: the worker did not stop it");
  }
}

void Dispatcher::AskAllToResend() {
  for (const std::string& identity : workers_.Identities())
    outbox_.Send(identity, wire::Kind::kReconnect, wire::EncodeBody(wire::Heartbeat{}));
  resend_from_.clear();
}

}  // namespace fanout
