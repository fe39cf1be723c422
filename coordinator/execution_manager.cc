#include "coordinator/execution_manager.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <utility>

#include "common/codec.h"
#include "common/json.h"
#include "common/spec_codec.h"
#include "coordinator/child_runs.h"
#include "coordinator/keys.h"
#include "coordinator/node_loader.h"

namespace fanout {
namespace {

// A list input longer than a node may be is refused at submission.
InputLimits InputLimitsOf(const Limits& limits) {
  InputLimits in;
  in.max_list_elements = std::min<uint64_t>(in.max_list_elements, limits.max_node_elements);
  return in;
}


// The spec of a stored top-level execution: its binary form, or for executions stored before
// there was one, its YAML.
Result<Spec> StoredSpec(const std::map<std::string, std::string>& f) {
  if (f.contains(keys::kFieldSpecBinary)) return DecodeSpec(FieldOf(f, keys::kFieldSpecBinary));
  return ParseSpec(FieldOf(f, keys::kFieldSpecText), FieldOf(f, keys::kFieldSpecName));
}

uint32_t EffectiveParallelism(const LaunchPlanDef& lp, const WorkflowDef& wf, int64_t requested) {
  if (requested >= 0) return static_cast<uint32_t>(std::min<int64_t>(requested, UINT32_MAX));
  return lp.max_parallelism.value_or(wf.max_parallelism.value_or(0));
}

// An execution of launch plan `plan` of `spec` with `given` inputs, before it meets the
// coordinator (no id, no nodes): what ParseSubmission and PrepareRecovery share.
Result<std::unique_ptr<Execution>> Resolve(std::shared_ptr<const Spec> spec, const std::string& plan, Map given,
                                           int64_t max_parallelism, const Limits& limits) {
  auto e = std::make_unique<Execution>();
  e->spec = std::move(spec);
  ASSIGN_OR_RETURN(LaunchPlanDef lp, e->spec->FindLaunchPlan(plan));
  e->launch_plan = lp.name;
  e->wf = &e->spec->workflows.at(lp.workflow);
  ASSIGN_OR_RETURN(Map inputs, ResolveLaunchPlanInputs(*e->spec, lp, std::move(given), InputLimitsOf(limits)));
  RETURN_IF_ERROR(CheckKnownMapLengths(*e->wf, inputs));
  for (const auto& [name, v] : inputs) e->values["inputs." + name] = EncodeMsgpack(v);
  e->max_parallelism = EffectiveParallelism(lp, *e->wf, max_parallelism);
  return e;
}

}  // namespace

ExecutionManager::ExecutionManager(ExecutionTable& execs, Store& store, CommitQueue& commits,
                                   Dispatcher& dispatcher, const Clock& clock, Options options, Hooks hooks)
    : execs_(execs),
      store_(store),
      commits_(commits),
      dispatcher_(dispatcher),
      clock_(clock),
      options_(options),
      hooks_(std::move(hooks)) {}

std::string ExecutionManager::NewId() {
  static std::mt19937_64 rng(std::random_device{}());
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuv";
  uint64_t t = static_cast<uint64_t>(clock_.WallMs());
  std::string id = "f";
  // 8 chars of time (sortable, ~1 year period at ms) + 4 random chars.
  for (int i = 7; i >= 0; --i) id.push_back(kAlphabet[(t >> (5 * i)) & 31]);
  uint64_t r = rng();
  for (int i = 0; i < 4; ++i) id.push_back(kAlphabet[(r >> (5 * i)) & 31]);
  return id;
}

Status ExecutionManager::Admit(Execution& e) {
  if (!store_.connected()) return Unavailable("the coordinator is not connected to Redis");
  if (Status room = RoomForAnother(); !room.ok()) return room;
  e.id = NewId();
  e.root = e.id;
  e.created_ms = clock_.WallMs();
  e.InitNodes();
  return Status::Ok();
}

Status ExecutionManager::RoomForAnother() const {
  uint64_t running = 0;
  execs_.ForEach([&](const Execution& e) { running += !e.is_child() && !IsTerminal(e.phase); });
  if (running < options_.limits.max_executions) return Status::Ok();
  return FailedPrecondition(fmt::format(
      "the coordinator runs {} executions, its limit (fanout-coordinator --max-executions {}): submit again when "
      "some have ended",
      running, options_.limits.max_executions));
}

Status ExecutionManager::TakeElements(Execution& e, uint64_t n) {
  const Limits& l = options_.limits;
  if (n > l.max_node_elements)
    return InvalidArgument(fmt::format("{} subtasks, more than the coordinator's limit of {} per node "
                                       "(fanout-coordinator --max-node-elements)",
                                       n, l.max_node_elements));
  if (e.elements + n > l.max_execution_elements)
    return InvalidArgument(fmt::format("{} subtasks, which with the execution's {} earlier ones is more than the "
                                       "coordinator's limit of {} per execution (fanout-coordinator "
                                       "--max-execution-elements)",
                                       n, e.elements, l.max_execution_elements));
  e.elements += n;
  return Status::Ok();
}

Result<std::unique_ptr<Execution>> ParseSubmission(const wire::SubmitRequest& req, const Limits& limits) {
  std::string name = req.spec_name.empty() ? "spec" : req.spec_name;
  ASSIGN_OR_RETURN(Spec spec, ParseSpec(req.spec_text, name));
  RETURN_IF_ERROR(ResolveWorkdirs(spec, name, req.spec_dir));
  Map given;
  if (!req.inputs_json.empty()) {
    ASSIGN_OR_RETURN(Value v, ParseJson(req.inputs_json));
    if (!v.is_map()) return Err(InvalidArgument("inputs must be a JSON object"));
    given = std::move(v.as_map());  // a large input is moved, never copied
  }
  ASSIGN_OR_RETURN(auto e, Resolve(std::make_shared<const Spec>(std::move(spec)), req.workflow, std::move(given),
                                   req.max_parallelism, limits));
  e->overwrite_cache = req.overwrite_cache;
  e->spec_name = req.spec_name;
  e->spec_text = req.spec_text;
  e->stored_inputs = e->InputsMsgpack();
  return e;
}

Result<std::unique_ptr<Execution>> ExecutionManager::PrepareRecovery(const std::string& source, const StoredFields& fields) {
  if (!store_.connected()) return Err(Unavailable("the coordinator is not connected to Redis"));
  if (!FieldOf(fields, keys::kFieldParent).empty())
    return Err(InvalidArgument("execution " + source + " is a child execution: recover its top-level execution " +
                               FieldOf(fields, keys::kFieldRoot) + " instead"));
  ASSIGN_OR_RETURN(Spec spec, StoredSpec(fields));
  auto inputs = DecodeMsgpack(FieldOf(fields, keys::kFieldInputs));
  if (!inputs || !inputs->is_map()) return Err(Internal("stored inputs of " + source + " are unreadable"));
  // The stored inputs are complete (defaults and fixed inputs applied): run the workflow.
  std::string plan = FieldOf(fields, keys::kFieldWorkflow);
  std::string mp = FieldOf(fields, keys::kFieldMaxParallelism);
  ASSIGN_OR_RETURN(auto e, Resolve(std::make_shared<const Spec>(std::move(spec)), plan, std::move(inputs->as_map()),
                                   mp.empty() ? -1 : std::atoll(mp.c_str()), options_.limits));
  RETURN_IF_ERROR(Admit(*e));
  std::string launch_plan = FieldOf(fields, keys::kFieldLaunchPlan);
  if (!launch_plan.empty()) e->launch_plan = launch_plan;
  e->spec_name = FieldOf(fields, keys::kFieldSpecName);
  e->spec_text = FieldOf(fields, keys::kFieldSpecText);
  e->recovered_from = source;
  return e;
}

Result<std::unique_ptr<Execution>> ExecutionManager::PrepareChild(const NodeRun& node, uint32_t index,
                                                                  uint32_t attempt) {
  const Execution& parent = *node.exec;
  ASSIGN_OR_RETURN(LaunchPlanDef lp, parent.spec->FindLaunchPlan(node.def->task));
  // The element's own inputs: mapped element `index` and bound values, by parameter name.
  Map given;
  std::vector<std::string_view> slices = node.inputs.ArgSlices(index);
  for (size_t k = 0; k < slices.size(); ++k) {
    ASSIGN_OR_RETURN(Value v, DecodeMsgpack(slices[k]));
    given.emplace(node.inputs.names[k], std::move(v));
  }
  auto e = std::make_unique<Execution>();
  e->spec = parent.spec;
  e->launch_plan = lp.name;
  e->wf = &e->spec->workflows.at(lp.workflow);
  ASSIGN_OR_RETURN(Map inputs, ResolveLaunchPlanInputs(*e->spec, lp, std::move(given), InputLimitsOf(options_.limits)));
  RETURN_IF_ERROR(CheckKnownMapLengths(*e->wf, inputs));
  for (const auto& [name, v] : inputs) e->values["inputs." + name] = EncodeMsgpack(v);
  // Not inherited from the parent (as Flyte's child executions): its own launch plan's.
  e->max_parallelism = EffectiveParallelism(lp, *e->wf, -1);
  e->id = ChildId(parent.id, node.id(), index, attempt);
  e->parent = parent.id;
  e->parent_node = node.id();
  e->parent_index = index;
  e->parent_attempt = attempt;
  e->root = parent.root;
  e->overwrite_cache = parent.overwrite_cache;
  // A recovered parent's child reuses what succeeded in the source's child of that element.
  if (!parent.recovered_from.empty()) e->recovered_from = ChildId(parent.recovered_from, node.id(), index, 0);
  e->created_ms = clock_.WallMs();
  e->InitNodes();
  return e;
}

void ExecutionManager::Accept(std::unique_ptr<Execution> owned, std::function<void(Status, const Execution*)> done) {
  Execution& e = execs_.Add(std::move(owned));
  // Stored before it is acknowledged: the execution survives a crash from here on.
  // Built by moves: a 1M-element input is megabytes, and each copy of it into fresh memory
  // held the loop for milliseconds (an initializer list copies every pair).
  ::fanout::Fields fields;
  fields.reserve(11);
  fields.emplace_back(keys::kFieldSpecText, e.spec_text);
  fields.emplace_back(keys::kFieldSpecName, e.spec_name);
  fields.emplace_back(keys::kFieldSpecBinary, EncodeSpec(*e.spec));
  fields.emplace_back(keys::kFieldWorkflow, e.wf->name);
  fields.emplace_back(keys::kFieldLaunchPlan, e.launch_plan);
  fields.emplace_back(keys::kFieldMaxParallelism, std::to_string(e.max_parallelism));
  fields.emplace_back(keys::kFieldInputs, e.stored_inputs.empty() ? e.InputsMsgpack() : std::move(e.stored_inputs));
  fields.emplace_back(keys::kFieldPhase, std::string(ExecPhaseName(ExecPhase::kRunning)));
  fields.emplace_back(keys::kFieldCreated, std::to_string(e.created_ms));
  if (!e.recovered_from.empty()) fields.emplace_back(keys::kFieldRecoveredFrom, e.recovered_from);
  if (e.overwrite_cache) fields.emplace_back(keys::kFieldOverwriteCache, "1");
  std::string id = e.id;
  store_.CreateExecution(id, e.created_ms, std::move(fields), [this, id, done](Status s) {
    Execution* e = execs_.Find(id);
    if (!s.ok()) {
      execs_.Remove(id);
      return done(Unavailable("cannot store the execution: " + s.message()), nullptr);
    }
    if (e == nullptr) return done(Internal("execution " + id + " vanished"), nullptr);
    spdlog::info("exec={} submitted{}", id, e->recovered_from.empty() ? "" : " (recovering " + e->recovered_from + ")");
    done(Status::Ok(), e);
    Advance(*e);
  });
}

void ExecutionManager::AcceptChild(std::unique_ptr<Execution> e,
                                   std::function<void(Result<std::optional<StoredFields>>)> done) {
  ::fanout::Fields fields = {{keys::kFieldWorkflow, e->wf->name},
                             {keys::kFieldLaunchPlan, e->launch_plan},
                             {keys::kFieldMaxParallelism, std::to_string(e->max_parallelism)},
                             {keys::kFieldInputs, e->InputsMsgpack()},
                             {keys::kFieldPhase, std::string(ExecPhaseName(ExecPhase::kRunning))},
                             {keys::kFieldCreated, std::to_string(e->created_ms)},
                             {keys::kFieldParent, e->parent},
                             {keys::kFieldParentNode, e->parent_node},
                             {keys::kFieldParentIndex, std::to_string(e->parent_index)},
                             {keys::kFieldParentAttempt, std::to_string(e->parent_attempt)},
                             {keys::kFieldRoot, e->root}};
  if (!e->recovered_from.empty()) fields.emplace_back(keys::kFieldRecoveredFrom, e->recovered_from);
  if (e->overwrite_cache) fields.emplace_back(keys::kFieldOverwriteCache, "1");
  std::string id = e->id;
  int64_t created = e->created_ms;
  auto owned = std::make_shared<std::unique_ptr<Execution>>(std::move(e));
  store_.CreateChildExecution(id, created, fields, [this, owned, done](Result<std::optional<StoredFields>> r) {
    if (!r || r->has_value()) return done(std::move(r));
    Execution& child = execs_.Add(std::move(*owned));
    done(std::optional<StoredFields>());
    Advance(child);
  });
}

Result<std::unique_ptr<Execution>> ExecutionManager::FromStored(const StoredExecution& stored,
                                                                std::shared_ptr<const Spec> spec) {
  const auto& f = stored.fields;
  auto e = std::make_unique<Execution>();
  e->id = stored.id;
  e->spec = std::move(spec);
  auto wf = e->spec->FindWorkflow(FieldOf(f, keys::kFieldWorkflow));
  if (!wf) return Err(wf.error());
  e->wf = *wf;
  e->launch_plan = FieldOf(f, keys::kFieldLaunchPlan).empty() ? e->wf->name : FieldOf(f, keys::kFieldLaunchPlan);
  auto inputs = DecodeMsgpack(FieldOf(f, keys::kFieldInputs));
  if (!inputs || !inputs->is_map()) return Err(Internal("stored inputs are unreadable"));
  for (const auto& [name, v] : inputs->as_map()) e->values["inputs." + name] = EncodeMsgpack(v);
  e->spec_name = FieldOf(f, keys::kFieldSpecName);
  e->spec_text = FieldOf(f, keys::kFieldSpecText);
  e->created_ms = std::atoll(FieldOf(f, keys::kFieldCreated).c_str());
  e->recovered_from = FieldOf(f, keys::kFieldRecoveredFrom);
  e->overwrite_cache = FieldOf(f, keys::kFieldOverwriteCache) == "1";
  e->max_parallelism = static_cast<uint32_t>(std::atoll(FieldOf(f, keys::kFieldMaxParallelism).c_str()));
  e->parent = FieldOf(f, keys::kFieldParent);
  e->parent_node = FieldOf(f, keys::kFieldParentNode);
  e->parent_index = static_cast<uint32_t>(std::atoll(FieldOf(f, keys::kFieldParentIndex).c_str()));
  e->parent_attempt = static_cast<uint32_t>(std::atoll(FieldOf(f, keys::kFieldParentAttempt).c_str()));
  e->root = e->parent.empty() ? e->id : FieldOf(f, keys::kFieldRoot);
  // Every node starts PENDING again: Advance restarts them in order, and a node that had
  // finished restores all its subtasks as succeeded and re-reads its outputs.
  e->InitNodes();
  for (NodeRun& node : e->nodes) {
    NodeOverride o;
    if (auto c = f.find(keys::NodeField(node.id(), "concurrency")); c != f.end())
      o.concurrency = static_cast<uint32_t>(std::atoll(c->second.c_str()));
    if (auto m = f.find(keys::NodeField(node.id(), "min_successes")); m != f.end())
      o.min_successes = std::atoll(m->second.c_str());
    if (o.concurrency || o.min_successes) e->overrides[node.id()] = o;
  }
  return e;
}

void ExecutionManager::Restore(const std::vector<StoredExecution>& snapshot) {
  auto give_up = [this](const std::string& id, const std::string& why, const char* phase) {
    spdlog::error("exec={}: cannot resume: {}", id, why);
    store_.FinishExecution(id, {{keys::kFieldPhase, phase}, {keys::kFieldError, why}}, nullptr);
  };
  // Top-level executions first: their children share their spec.
  for (bool children : {false, true}) {
    for (const StoredExecution& stored : snapshot) {
      bool is_child = !FieldOf(stored.fields, keys::kFieldParent).empty();
      if (is_child != children) continue;
      std::shared_ptr<const Spec> spec;
      if (!is_child) {
        auto s = StoredSpec(stored.fields);
        if (!s) {
          give_up(stored.id, "cannot resume after a restart: " + s.error().message(), "FAILED");
          continue;
        }
        spec = std::make_shared<const Spec>(std::move(*s));
      } else {
        Execution* root = execs_.Find(FieldOf(stored.fields, keys::kFieldRoot));
        if (root == nullptr) {
          give_up(stored.id, "aborted: its top-level execution " + FieldOf(stored.fields, keys::kFieldRoot) + " has ended",
                  "ABORTED");
          continue;
        }
        spec = root->spec;
      }
      auto e = FromStored(stored, std::move(spec));
      if (!e) {
        give_up(stored.id, "cannot resume after a restart: " + e.error().message(), "FAILED");
        continue;
      }
      execs_.Add(std::move(*e));
    }
  }
  for (const std::string& id : execs_.Ids())
    if (Execution* e = execs_.Find(id)) Advance(*e);
}

void ExecutionManager::Resume(const StoredExecution& stored) {
  if (execs_.Find(stored.id) != nullptr) return;
  Execution* root = execs_.Find(FieldOf(stored.fields, keys::kFieldRoot));
  auto e = root == nullptr ? Result<std::unique_ptr<Execution>>(Err(NotFound("its top-level execution has ended")))
                           : FromStored(stored, root->spec);
  if (!e) {
    spdlog::error("exec={}: cannot resume: {}", stored.id, e.error().message());
    store_.FinishExecution(stored.id, {{keys::kFieldPhase, "ABORTED"}, {keys::kFieldError, e.error().message()}},
                           nullptr);
    return;
  }
  Advance(execs_.Add(std::move(*e)));
}

void ExecutionManager::Advance(Execution& e) {
  if (IsTerminal(e.phase)) return;
  bool all_done = true;
  for (NodeRun& node : e.nodes) {
    if (node.phase != NodePhase::kSucceeded) all_done = false;
    if (node.phase != NodePhase::kPending || node.busy) continue;
    bool ready = true;
    for (const auto* list : {&node.def->inputs, &node.def->bind})
      for (const auto& [name, b] : *list)
        if (b.ref && !e.values.contains(ValueKey(*b.ref))) ready = false;
    if (ready) StartNode(e, node);
    if (IsTerminal(e.phase)) return;
  }
  if (!all_done) return;
  auto outputs = WorkflowOutputs(e);
  if (!outputs) return Finish(e, ExecPhase::kFailed, outputs.error().message());
  e.values["$outputs"] = std::move(*outputs);
  Finish(e, ExecPhase::kSucceeded, "");
}

ArrayNodePolicy ExecutionManager::PolicyOf(const Execution& e, const NodeRun& node, uint32_t n) const {
  ArrayNodePolicy policy;
  policy.concurrency = node.def->concurrency;
  policy.min_successes = MinSuccesses(*node.def, n);
  // A failed child execution is not retried (as in Flyte): its own tasks had their retries.
  policy.retries = node.def->target == NodeTarget::kTask ? e.spec->RetriesOf(*node.def) : 0;
  policy.system_retries = options_.system_retries;
  if (auto o = e.overrides.find(node.id()); o != e.overrides.end()) {
    if (o->second.concurrency) policy.concurrency = *o->second.concurrency;
    if (o->second.min_successes) policy.min_successes = std::min<int64_t>(*o->second.min_successes, n);
  }
  return policy;
}

void ExecutionManager::StartNode(Execution& e, NodeRun& node) {
  auto inputs = ResolveNodeInputs(*e.spec, *node.def, e.values);
  if (!inputs) return FailNode(node, inputs.error().message());
  node.inputs = std::move(*inputs);
  uint32_t n = node.inputs.size;
  if (Status s = TakeElements(e, n); !s.ok()) return FailNode(node, s.message());
  if (node.def->min_successes && *node.def->min_successes > static_cast<int64_t>(n))
    return FailNode(node, "min_successes " + std::to_string(*node.def->min_successes) + " is more than the " +
                              std::to_string(n) + " subtasks");
  node.array = std::make_unique<ArrayNode>(n, PolicyOf(e, node, n));
  if (node.def->target == NodeTarget::kTask) {
    node.desc = MakeTaskDesc(*e.spec, *node.def);
    node.desc.max_checkpoint_bytes = options_.max_checkpoint_bytes;
    node.interruptible = node.def->interruptible.value_or(node.task->interruptible);
    const CacheConfig& cache = e.spec->CacheOf(*node.def);
    node.cache = cache.enabled ? &cache : nullptr;
  }
  node.phase = NodePhase::kRunning;
  node.busy = true;
  loader_->Load(node);
}

void ExecutionManager::NodeReady(NodeRun& node) {
  node.busy = false;
  PersistNodePhase(node);
  if (node.def->target == NodeTarget::kLaunchPlan) children_->NodeReady(node);
  NodeChanged(node);
  hooks_.wake();
}

void ExecutionManager::NodeFailed(NodeRun& node, const std::string& why) {
  node.busy = false;
  spdlog::error("exec={} node={}: {}", node.exec->id, node.id(), why);
  Abort(*node.exec, why);
}

void ExecutionManager::StopAborted(NodeRun& node) {
  if (node.def->target == NodeTarget::kLaunchPlan) return children_->StopAborted(node);
  dispatcher_.StopAborted(node);
}

void ExecutionManager::NodeChanged(NodeRun& node) {
  if (!node.array) return;
  StopAborted(node);
  if (node.array->done() && node.phase == NodePhase::kRunning && !node.busy) CompleteNode(node);
}

void ExecutionManager::FailNode(NodeRun& node, std::string error) {
  node.phase = NodePhase::kFailed;
  node.error = std::move(error);
  PersistNodePhase(node);
  Finish(*node.exec, ExecPhase::kFailed, "node '" + node.id() + "' failed: " + node.error);
}

void ExecutionManager::CompleteNode(NodeRun& node) {
  const ArrayNode& array = *node.array;
  if (array.phase() != NodePhase::kSucceeded) {
    return FailNode(node, std::to_string(array.count(SubtaskPhase::kFailed)) + " of " +
                              std::to_string(array.size()) + " subtasks failed (" +
                              std::to_string(array.min_successes()) +
                              " successes needed): " + array.ErrorSummary());
  }
  node.busy = true;
  auto assembler = std::make_shared<OutputAssembler>(*node.def, *node.task, array.size());
  auto status = std::make_shared<Status>();
  auto lost = std::make_shared<std::vector<uint32_t>>();
  NodeUid uid = node.uid;
  const ArrayNode* records = node.array.get();
  store_.LoadOutputs(
      node.exec->id, node.id(), array.size(),
      [assembler, status, lost, records](uint32_t i, std::optional<std::string_view> out) {
        if (!out && static_cast<SubtaskPhase>(records->Record(i).phase) == SubtaskPhase::kSucceeded)
          lost->push_back(i);
        if (status->ok()) *status = assembler->Add(i, out);
      },
      [this, uid, assembler, status, lost](Status st) {
        NodeRun* node = execs_.Node(uid);
        if (node == nullptr) return;
        node->busy = false;
        if (st.ok() && !lost->empty()) {
          // The store lost some committed outputs (e.g. Redis crashed within appendfsync's
          // second): those subtasks run again, and the node completes when they are back.
          spdlog::warn("exec={} node={}: {} committed output(s) missing from the store; running them again",
                       node->exec->id, node->id(), lost->size());
          for (uint32_t i : *lost) node->array->Reopen(i);
          hooks_.wake();
          return;
        }
        if (!st.ok() || !status->ok())
          return FailNode(*node, "cannot assemble outputs: " + (!st.ok() ? st.message() : status->message()));
        Execution& e = *node->exec;
        for (auto& [k, v] : assembler->Finish()) e.values[k] = std::move(v);
        node->phase = NodePhase::kSucceeded;
        node->inputs = NodeInputs{};  // inputs are not held for finished subtasks
        PersistNodePhase(*node);
        spdlog::info("exec={} node={} succeeded ({} subtasks)", e.id, node->id(), node->array->size());
        Advance(e);
      });
}

void ExecutionManager::StopNodes(Execution& e) {
  for (NodeRun& node : e.nodes) {
    if (!node.array || node.phase != NodePhase::kRunning) continue;
    node.array->AbortAll();
    StopAborted(node);
    node.phase = NodePhase::kAborted;
    PersistNodePhase(node);
  }
}

void ExecutionManager::Abort(Execution& e, const std::string& why) { Finish(e, ExecPhase::kAborted, why); }

Status ExecutionManager::Update(Execution& e, const std::string& node_id, const NodeOverride& change,
                                Store::Done stored) {
  NodeRun* node = e.FindNode(node_id);
  if (node == nullptr) return NotFound("execution " + e.id + " has no node '" + node_id + "'");
  if (!node->def->is_map) return InvalidArgument("node '" + node_id + "' is not a map node");
  if (IsTerminal(e.phase) || IsTerminal(node->phase))
    return FailedPrecondition("node '" + node_id + "' has ended (" + std::string(NodePhaseName(node->phase)) + ")");
  if (node->array && change.min_successes && *change.min_successes > static_cast<int64_t>(node->array->size()))
    return InvalidArgument("min_successes " + std::to_string(*change.min_successes) + " is more than the node's " +
                           std::to_string(node->array->size()) + " subtasks");
  NodeOverride& o = e.overrides[node_id];
  ::fanout::Fields f;
  if (change.concurrency) {
    o.concurrency = change.concurrency;
    f.emplace_back(keys::NodeField(node_id, "concurrency"), std::to_string(*change.concurrency));
  }
  if (change.min_successes) {
    o.min_successes = change.min_successes;
    f.emplace_back(keys::NodeField(node_id, "min_successes"), std::to_string(*change.min_successes));
  }
  store_.SetExecFields(e.id, f, std::move(stored));
  if (node->array) {
    node->array->SetPolicy(PolicyOf(e, *node, node->array->size()));
    spdlog::info("exec={} node={}: updated: concurrency {} min_successes {}", e.id, node_id,
                 node->array->concurrency(), node->array->min_successes());
    NodeChanged(*node);
  }
  hooks_.wake();
  return Status::Ok();
}

void ExecutionManager::Finish(Execution& e, ExecPhase phase, std::string error) {
  if (IsTerminal(e.phase)) return;
  StopNodes(e);  // a failed node fails the workflow: stop the others (and their children)
  e.phase = phase;
  e.error = std::move(error);
  e.ended_ms = clock_.WallMs();
  ::fanout::Fields f = {{keys::kFieldPhase, std::string(ExecPhaseName(phase))},
                        {keys::kFieldEnded, std::to_string(e.ended_ms)},
                        {keys::kFieldError, e.error},
                        {keys::kFieldStatus, BuildStatus(e).ToJson().dump()}};
  if (auto out = e.values.find("$outputs"); out != e.values.end()) f.emplace_back(keys::kFieldOutputs, out->second);
  if (phase == ExecPhase::kSucceeded) {
    spdlog::info("exec={} SUCCEEDED in {} ms", e.id, e.ended_ms - e.created_ms);
  } else {
    spdlog::warn("exec={} {}: {}", e.id, ExecPhaseName(phase), e.error);
  }
  // Subtask writes first, so an execution is never terminal in the store before its results.
  commits_.Flush();
  StoreEnd(e, std::move(f));
}

void ExecutionManager::StoreEnd(const Execution& e, ::fanout::Fields f) {
  if (!options_.keep_checkpoints) store_.DeleteCheckpoints(e.id);
  for (const NodeRun& node : e.nodes)
    if (node.def->target == NodeTarget::kTask) store_.ClearUnclaimed(e.id, node.id());
  std::string id = e.id;
  store_.FinishExecution(id, f, [this, id, f](Status st) {
    if (!st.ok()) {
      // The end may not be in the store: the execution stays in memory, ended, and its end is
      // written again once the store answers (RetryUnstoredEnds). Dropping it here would leave
      // it active in the store and unknown to this coordinator until a restart.
      spdlog::warn("exec={}: cannot store its end yet ({}); it is written again when redis answers", id,
                   st.message());
      unstored_ends_.emplace(id, f);
      return;
    }
    if (Execution* e = execs_.Find(id)) {
      hooks_.ended(*e);
      if (e->is_child()) children_->ChildEnded(*e);
    }
    execs_.Remove(id);
  });
}

void ExecutionManager::RetryUnstoredEnds() {
  if (unstored_ends_.empty() || !store_.connected()) return;
  auto ends = std::exchange(unstored_ends_, {});
  for (auto& [id, f] : ends)
    if (const Execution* e = execs_.Find(id)) StoreEnd(*e, std::move(f));
}

void ExecutionManager::PersistNodePhase(const NodeRun& node) {
  ::fanout::Fields f = {{keys::NodeField(node.id(), "phase"), std::string(NodePhaseName(node.phase))}};
  if (node.array) f.emplace_back(keys::NodeField(node.id(), "size"), std::to_string(node.array->size()));
  if (!node.error.empty()) f.emplace_back(keys::NodeField(node.id(), "error"), node.error);
  store_.SetExecFields(node.exec->id, f, nullptr);
}

}  // namespace fanout
