#include "coordinator/child_runs.h"

#include <spdlog/spdlog.h>

#include "common/codec.h"
#include "coordinator/keys.h"

namespace fanout {
namespace {

// A child's outputs (a msgpack map by name) as its element's outputs: the array of the
// launch plan's outputs in their declared order.
Result<std::string> ElementOutputs(const TaskDef& iface, const std::string& outputs) {
  Map by_name;
  if (!outputs.empty()) {
    ASSIGN_OR_RETURN(Value v, DecodeMsgpack(outputs));
    if (!v.is_map()) return Err(Internal("the child's outputs are not a map"));
    by_name = std::move(v.as_map());
  }
  List list;
  for (const TypedName& out : iface.outputs) {
    auto it = by_name.find(out.name);
    list.push_back(it == by_name.end() ? Value() : it->second);
  }
  return EncodeMsgpack(Value(std::move(list)));
}

}  // namespace

ChildRuns::ChildRuns(ExecutionTable& execs, ExecutionManager& manager, Store& store, CommitQueue& commits, Hooks hooks)
    : execs_(execs), manager_(manager), store_(store), commits_(commits), hooks_(std::move(hooks)) {}

void ChildRuns::Record(NodeRun& node, uint32_t index, uint32_t attempt) {
  commits_.Add(node.uid, node.exec->id, node.id(),
               CommitOp{CommitOp::kRecord, index, attempt, PackRecord(node.array->Record(index)), ""},
               /*notify=*/false);
}

void ChildRuns::Pump() {
  std::vector<NodeRun*> ready;
  execs_.ForEachParent([&](Execution& e) {
    if (IsTerminal(e.phase)) return;
    for (NodeRun& node : e.nodes)
      if (node.def->target == NodeTarget::kLaunchPlan && node.phase == NodePhase::kRunning && !node.busy &&
          node.array && node.array->HasStartable())
        ready.push_back(&node);
  });
  for (NodeRun* node : ready) {
    uint64_t n = std::min(node->array->Startable(), node->exec->ParallelismLeft());
    if (n == 0) continue;
    std::vector<ArrayNode::Start> starts;
    node->array->Next(static_cast<size_t>(std::min<uint64_t>(n, 4096)), &starts);
    for (const ArrayNode::Start& s : starts) {
      Record(*node, s.index, s.attempt);
      Start(*node, s.index, s.attempt);
    }
  }
}

void ChildRuns::Start(NodeRun& node, uint32_t index, uint32_t attempt) {
  auto child = manager_.PrepareChild(node, index, attempt);
  if (!child) return Fail(node, index, attempt, FailureKind::kNonRetryable, "cannot start: " + child.error().message());
  NodeUid uid = node.uid;
  std::string id = (*child)->id;
  manager_.AcceptChild(std::move(*child), [this, uid, index, attempt, id](auto existing) {
    NodeRun* node = execs_.Node(uid);
    if (node == nullptr || !node->array) return;
    if (!existing) {
      return Fail(*node, index, attempt, FailureKind::kSystem,
                  "cannot store child execution " + id + ": " + existing.error().message());
    }
    if (!existing->has_value()) return;  // created and started
    // It existed (a restarted parent started it again): carry on with what it is.
    const auto& f = **existing;
    auto phase = ParseExecPhase(FieldOf(f, keys::kFieldPhase));
    if (phase && IsTerminal(*phase)) {
      return Take(*node, End{index, attempt, *phase, FieldOf(f, keys::kFieldOutputs), FieldOf(f, keys::kFieldError), id});
    }
    if (execs_.Find(id) == nullptr) manager_.Resume(StoredExecution{id, f});
  });
}

void ChildRuns::Adopt(NodeRun& node, uint32_t index, uint32_t attempt) {
  std::string id = ChildId(node.exec->id, node.id(), index, attempt);
  if (execs_.Find(id) != nullptr) return;  // restored with the snapshot: its end will come
  // Not active: ended, or never created (the coordinator died between the record and the
  // creation). Starting it again finds out which: creation is idempotent.
  Start(node, index, attempt);
}

void ChildRuns::StopAborted(NodeRun& node) {
  if (!node.array) return;
  for (const ArrayNode::Abort& a : node.array->TakeAborts()) {
    Record(node, a.index, a.attempt);
    if (!a.was_running) continue;
    Execution* child = execs_.Find(ChildId(node.exec->id, node.id(), a.index, a.attempt));
    if (child != nullptr && !IsTerminal(child->phase))
      manager_.Abort(*child, "aborted: node '" + node.id() + "' of execution " + node.exec->id + " stopped");
  }
}

void ChildRuns::ChildEnded(const Execution& child) {
  NodeRun* node = execs_.ParentNode(child);
  if (node == nullptr || !node->array) return;
  auto out = child.values.find("$outputs");
  Take(*node, End{child.parent_index, child.parent_attempt, child.phase,
                  out == child.values.end() ? std::string() : out->second, child.error, child.id});
}

void ChildRuns::Take(NodeRun& node, End end) {
  if (node.busy) {
    pending_[node.uid].push_back(std::move(end));
    return;
  }
  Deliver(node, std::move(end));
}

void ChildRuns::NodeReady(NodeRun& node) {
  auto it = pending_.find(node.uid);
  if (it == pending_.end()) return;
  std::vector<End> ends = std::move(it->second);
  pending_.erase(it);
  for (End& e : ends) Deliver(node, std::move(e));
}

void ChildRuns::Deliver(NodeRun& node, End end) {
  if (!node.array->IsCurrent(end.index, end.attempt)) return;  // aborted, or already taken
  if (end.phase != ExecPhase::kSucceeded) {
    std::string why = "child execution " + end.child + " " + std::string(ExecPhaseName(end.phase));
    if (!end.error.empty()) why += ": " + end.error;
    return Fail(node, end.index, end.attempt, FailureKind::kNonRetryable, why);
  }
  auto outputs = ElementOutputs(*node.task, end.outputs);
  if (!outputs) return Fail(node, end.index, end.attempt, FailureKind::kNonRetryable, outputs.error().message());
  SubtaskRecord rec = node.array->Record(end.index);
  rec.phase = static_cast<uint8_t>(SubtaskPhase::kSucceeded);
  committing_[node.Subtask(end.index).packed()] = end;
  CommitOrigin origin;
  origin.source = CommitOrigin::Source::kChild;
  commits_.Add(node.uid, node.exec->id, node.id(),
               CommitOp{CommitOp::kOutput, end.index, end.attempt, PackRecord(rec), std::move(*outputs)},
               /*notify=*/true, std::move(origin));
  hooks_.wake();
}

void ChildRuns::OnCommitted(NodeUid uid, const CommitOp& op, CommitOutcome outcome) {
  NodeRun* node = execs_.Node(uid);
  auto it = committing_.find(SubtaskId{uid, op.index}.packed());
  if (it == committing_.end()) return;
  End end = std::move(it->second);
  committing_.erase(it);
  if (node == nullptr || !node->array) return;
  switch (outcome) {
    case CommitOutcome::kApplied:
    case CommitOutcome::kAlreadyApplied:
      if (node->array->OnSucceeded(op.index, op.attempt) || node->array->OnCommitted(op.index))
        manager_.NodeChanged(*node);
      break;
    case CommitOutcome::kRefused:
      if (node->array->IsCurrent(op.index, op.attempt))
        Fail(*node, op.index, op.attempt, FailureKind::kSystem, "commit refused by the store");
      break;
    case CommitOutcome::kNotDurable:
      retry_.emplace_back(uid, std::move(end));
      break;
  }
  hooks_.wake();
}

void ChildRuns::Tick() {
  auto retry = std::move(retry_);
  retry_.clear();
  for (auto& [uid, end] : retry)
    if (NodeRun* node = execs_.Node(uid)) Take(*node, std::move(end));
}

void ChildRuns::Fail(NodeRun& node, uint32_t index, uint32_t attempt, FailureKind kind, const std::string& why) {
  if (!node.array->OnFailed(index, attempt, kind, why)) return;
  spdlog::info("exec={} node={} index={} attempt={}: {}", node.exec->id, node.id(), index, attempt, why);
  SubtaskRecord rec = node.array->Record(index);
  commits_.Add(node.uid, node.exec->id, node.id(), CommitOp{CommitOp::kError, index, attempt, PackRecord(rec), why},
               /*notify=*/false);
  manager_.NodeChanged(node);
  hooks_.wake();
}

}  // namespace fanout
