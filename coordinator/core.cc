#include "coordinator/core.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace fanout {

CoordinatorCore::CoordinatorCore(Store& store, Outbox& outbox, const Clock& clock, CoreOptions o, Hooks hooks)
    : store_(store),
      clock_(clock),
      hooks_(std::move(hooks)),
      metered_(store, metrics_),
      workers_(clock, {o.heartbeat_ms, o.liveness, o.max_worker_slots}),
      recovery_(clock, o.heartbeat_ms * o.liveness),
      cache_(metered_, clock, 3 * o.heartbeat_ms),
      commits_(metered_, [this] { hooks_.fenced(); }),
      dispatcher_(execs_, workers_, recovery_, commits_, metered_, outbox, clock,
                  Dispatcher::Options{o.max_batch, 8u << 20, o.system_retries, o.heartbeat_ms,
                                      o.max_checkpoint_bytes, o.log_ttl_s, o.deadline_grace_ms},
                  Dispatcher::Hooks{[this](NodeRun& n) { manager_.NodeChanged(n); },
                                    [this](SubtaskId id) { cache_.Release(id); }, [this] { hooks_.wake(); }}),
      manager_(execs_, metered_, commits_, dispatcher_, clock,
               ExecutionManager::Options{o.system_retries, o.max_checkpoint_bytes, o.keep_checkpoints, o.limits},
               ExecutionManager::Hooks{[this](const Execution& e) { hooks_.ended(e); }, [this] { hooks_.wake(); }}),
      loader_(execs_, metered_, recovery_, cache_, dispatcher_,
              NodeLoader::Hooks{[this](NodeRun& n) { manager_.NodeReady(n); },
                                [this](NodeRun& n, const std::string& why) { manager_.NodeFailed(n, why); },
                                [this] { hooks_.fenced(); }, [this] { hooks_.wake(); },
                                [this](NodeRun& n, uint32_t i, uint32_t a) { children_.Adopt(n, i, a); }}),
      children_(execs_, manager_, metered_, commits_, ChildRuns::Hooks{[this] { hooks_.wake(); }}),
      api_(execs_, manager_, workers_, metered_, outbox, [this] {
        ClientApi::Health h = hooks_.health();
        h.dropped_messages = dropped_;
        return h;
      }, [this] { return first_tick_ms_ < 0 || clock_.NowMs() - first_tick_ms_ < startup_grace_ms_; },
      hooks_.offload),
      startup_grace_ms_(2 * o.heartbeat_ms * o.liveness) {
  manager_.set_rooms(&loader_, &children_);
  commits_.set_sink(this);
  dispatcher_.set_metrics(&metrics_);
}

void CoordinatorCore::OnCommitted(NodeUid node, const CommitOp& op, CommitOutcome outcome,
                                  const CommitOrigin& origin) {
  WriteOutcome w = WriteOutcome::kNotDurable;
  switch (outcome) {
    case CommitOutcome::kApplied: w = WriteOutcome::kApplied; break;
    case CommitOutcome::kAlreadyApplied: w = WriteOutcome::kAlreadyApplied; break;
    case CommitOutcome::kRefused: w = WriteOutcome::kRefused; break;
    case CommitOutcome::kNotDurable: w = WriteOutcome::kNotDurable; break;
  }
  if (origin.source == CommitOrigin::Source::kChild) return children_.OnCommitted(node, op, outcome);
  metrics_.Write(w, origin.source == CommitOrigin::Source::kCache);
  dispatcher_.OnCommitted(node, op, outcome, origin);
}

Gauges CoordinatorCore::ReadGauges() {
  Gauges g;
  g.ready = hooks_.health().ready;
  g.redis_connected = store_.connected();
  g.epoch = store_.epoch();
  g.workers = workers_.size();
  for (const WorkerView& v : workers_.Views())
    if (v.draining) g.draining_workers++;
  WorkerRegistry::SlotUse slots = workers_.Slots();
  g.slots_used = slots.used;
  g.slots_free = slots.free;
  g.attempts_in_flight = workers_.inflight();
  g.commits_in_flight = commits_.in_flight();
  g.dropped_messages = dropped_;
  execs_.ForEach([&](Execution& e) {
    g.executions[static_cast<int>(e.phase)]++;
    for (const NodeRun& n : e.nodes) {
      if (!n.array) continue;
      for (int p = 0; p < kSubtaskPhaseCount; ++p) g.subtasks[p] += n.array->count(static_cast<SubtaskPhase>(p));
      g.subtasks_cached += n.array->cached();
      if (n.phase == NodePhase::kRunning && n.def->is_map)
        g.nodes.push_back({e.id, n.id(), n.array->size(), n.array->Startable(), n.array->active()});
    }
  });
  return g;
}

void CoordinatorCore::StoreReconnected() {
  // Results that could not be committed while the store was away are still held by the
  // workers: every worker says HELLO again, which makes it re-send them.
  dispatcher_.AskAllToResend();
  manager_.RetryUnstoredEnds();
  hooks_.wake();
}

void CoordinatorCore::Drop(const std::string& why) {
  ++dropped_;
  // At most one line a second, with how many were dropped in all.
  int64_t now = clock_.NowMs();
  if (now - last_drop_log_ms_ < 1000) return;
  spdlog::warn("dropped a message: {} ({} dropped in all)", why, dropped_);
  last_drop_log_ms_ = now;
}

void CoordinatorCore::OnMessage(const std::string& identity, wire::Kind kind, std::string_view body,
                                std::shared_ptr<const void> keep) {
  if (wire::IsClientKind(kind)) return api_.OnRequest(identity, kind, body, std::move(keep));
  switch (kind) {
    case wire::Kind::kHello:
      if (auto hello = wire::DecodeBody<wire::Hello>(body)) return dispatcher_.OnHello(identity, *hello);
      return Drop("malformed HELLO");
    case wire::Kind::kHeartbeat:
    case wire::Kind::kBye:
      if (auto hb = wire::DecodeBody<wire::Heartbeat>(body))
        return dispatcher_.OnHeartbeat(identity, *hb, kind == wire::Kind::kBye);
      return Drop("malformed heartbeat");
    case wire::Kind::kCheckpoint:
      if (auto save = wire::DecodeBody<wire::CheckpointSave>(body)) return dispatcher_.OnCheckpoint(identity, *save);
      return Drop("malformed CHECKPOINT");
    case wire::Kind::kStarted:
      if (auto started = wire::DecodeBody<wire::StartedBatch>(body)) return dispatcher_.OnStarted(identity, *started);
      return Drop("malformed STARTED");
    case wire::Kind::kResult:
      if (auto batch = wire::DecodeBody<wire::ResultBatch>(body)) return dispatcher_.OnResults(identity, *batch);
      return Drop("malformed RESULT");
    default:
      return Drop(std::string("unexpected ") + wire::KindName(kind));
  }
}

void CoordinatorCore::EndOfTurn() {
  children_.Pump();
  dispatcher_.Pump();
  commits_.Flush();
  dispatcher_.FlushAcks();
}

void CoordinatorCore::Tick() {
  if (first_tick_ms_ < 0) first_tick_ms_ = clock_.NowMs();
  dispatcher_.Tick();
  children_.Tick();
  manager_.RetryUnstoredEnds();
  if (store_.connected()) loader_.TickCache();
  hooks_.wake();
}

}  // namespace fanout
