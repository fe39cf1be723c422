#include "coordinator/execution_manager.h"

#include <spdlog/spdlog.h>

#include <random>

#include "common/codec.h"
#include "common/json.h"
#include "common/spec_codec.h"
#include "coordinator/keys.h"

namespace fanout {

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

Result<std::unique_ptr<Execution>> ExecutionManager::Build(std::unique_ptr<Spec> spec,
                                                           const std::string& workflow, const Map& given) {
  auto e = std::make_unique<Execution>();
  e->spec = std::move(spec);
  ASSIGN_OR_RETURN(e->wf, e->spec->FindWorkflow(workflow));
  ASSIGN_OR_RETURN(Map inputs, ResolveWorkflowInputs(*e->wf, given));
  RETURN_IF_ERROR(CheckKnownMapLengths(*e->wf, inputs));
  for (const auto& [name, v] : inputs) e->values["inputs." + name] = EncodeMsgpack(v);
  e->id = NewId();
  e->created_ms = clock_.WallMs();
  e->InitNodes();
  return e;
}

Result<std::unique_ptr<Execution>> ExecutionManager::Prepare(const wire::SubmitRequest& req) {
  if (!store_.connected()) return Err(Unavailable("the coordinator is not connected to Redis"));
  std::string name = req.spec_name.empty() ? "spec" : req.spec_name;
  ASSIGN_OR_RETURN(Spec spec, ParseSpec(req.spec_text, name));
  Map given;
  if (!req.inputs_json.empty()) {
    ASSIGN_OR_RETURN(Value v, ParseJson(req.inputs_json));
    if (!v.is_map()) return Err(InvalidArgument("inputs must be a JSON object"));
    given = v.as_map();
  }
  ASSIGN_OR_RETURN(auto e, Build(std::make_unique<Spec>(std::move(spec)), req.workflow, given));
  e->overwrite_cache = req.overwrite_cache;
  e->spec_name = req.spec_name;
  e->spec_text = req.spec_text;
  return e;
}

namespace {

// The spec of a stored execution: its binary form, or for executions stored before there was
// one, its YAML.
Result<Spec> StoredSpec(const std::map<std::string, std::string>& f) {
  auto get = [&](const char* k) {
    auto it = f.find(k);
    return it == f.end() ? std::string() : it->second;
  };
  if (f.contains(keys::kFieldSpecBinary)) return DecodeSpec(get(keys::kFieldSpecBinary));
  return ParseSpec(get(keys::kFieldSpecText), get(keys::kFieldSpecName));
}

std::string Field(const std::map<std::string, std::string>& f, const char* k) {
  auto it = f.find(k);
  return it == f.end() ? std::string() : it->second;
}

}  // namespace

Result<std::unique_ptr<Execution>> ExecutionManager::PrepareRecovery(
    const std::string& source, const std::map<std::string, std::string>& fields) {
  if (!store_.connected()) return Err(Unavailable("the coordinator is not connected to Redis"));
  ASSIGN_OR_RETURN(Spec spec, StoredSpec(fields));
  auto inputs = DecodeMsgpack(Field(fields, keys::kFieldInputs));
  if (!inputs || !inputs->is_map()) return Err(Internal("stored inputs of " + source + " are unreadable"));
  ASSIGN_OR_RETURN(auto e, Build(std::make_unique<Spec>(std::move(spec)), Field(fields, keys::kFieldWorkflow),
                                 inputs->as_map()));
  e->spec_name = Field(fields, keys::kFieldSpecName);
  e->spec_text = Field(fields, keys::kFieldSpecText);
  e->recovered_from = source;
  return e;
}

void ExecutionManager::Accept(std::unique_ptr<Execution> owned,
                              std::function<void(Status, const Execution*)> done) {
  Execution& e = execs_.Add(std::move(owned));
  // Stored before it is acknowledged: the execution survives a crash from here on.
  Fields fields = {{keys::kFieldSpecText, e.spec_text},
                   {keys::kFieldSpecName, e.spec_name},
                   {keys::kFieldSpecBinary, EncodeSpec(*e.spec)},
                   {keys::kFieldWorkflow, e.wf->name},
                   {keys::kFieldInputs, e.InputsMsgpack()},
                   {keys::kFieldPhase, std::string(ExecPhaseName(ExecPhase::kRunning))},
                   {keys::kFieldCreated, std::to_string(e.created_ms)}};
  if (!e.recovered_from.empty()) fields.emplace_back(keys::kFieldRecoveredFrom, e.recovered_from);
  if (e.overwrite_cache) fields.emplace_back(keys::kFieldOverwriteCache, "1");
  std::string id = e.id;
  store_.CreateExecution(id, e.created_ms, fields, [this, id, done](Status s) {
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

void ExecutionManager::Restore(const std::vector<StoredExecution>& snapshot) {
  for (const StoredExecution& stored : snapshot) {
    const auto& f = stored.fields;
    auto fail = [&](const std::string& why) {
      spdlog::error("exec={}: cannot resume: {}", stored.id, why);
      store_.FinishExecution(stored.id, {{keys::kFieldPhase, "FAILED"},
                                         {keys::kFieldError, "cannot resume after a restart: " + why}},
                             nullptr);
    };
    auto spec = StoredSpec(f);
    if (!spec) {
      fail(spec.error().message());
      continue;
    }
    auto e = std::make_unique<Execution>();
    e->id = stored.id;
    e->spec = std::make_unique<Spec>(std::move(*spec));
    auto wf = e->spec->FindWorkflow(Field(f, keys::kFieldWorkflow));
    if (!wf) {
      fail(wf.error().message());
      continue;
    }
    e->wf = *wf;
    auto inputs = DecodeMsgpack(Field(f, keys::kFieldInputs));
    if (!inputs || !inputs->is_map()) {
      fail("stored inputs are unreadable");
      continue;
    }
    for (const auto& [name, v] : inputs->as_map()) e->values["inputs." + name] = EncodeMsgpack(v);
    e->spec_name = Field(f, keys::kFieldSpecName);
    e->spec_text = Field(f, keys::kFieldSpecText);
    e->created_ms = std::atoll(Field(f, keys::kFieldCreated).c_str());
    e->recovered_from = Field(f, keys::kFieldRecoveredFrom);
    e->overwrite_cache = Field(f, keys::kFieldOverwriteCache) == "1";
    // Every node starts PENDING again: Advance restarts them in order, and a node that had
    // finished restores all its subtasks as succeeded and re-reads its outputs.
    e->InitNodes();
    execs_.Add(std::move(e));
  }
  for (const std::string& id : execs_.Ids())
    if (Execution* e = execs_.Find(id)) Advance(*e);
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

void ExecutionManager::StartNode(Execution& e, NodeRun& node) {
  auto inputs = ResolveNodeInputs(*e.spec, *node.def, e.values);
  if (!inputs) return FailNode(node, inputs.error().message());
  node.inputs = std::move(*inputs);
  uint32_t n = node.inputs.size;
  if (node.def->min_successes && *node.def->min_successes > static_cast<int64_t>(n))
    return FailNode(node, "min_successes " + std::to_string(*node.def->min_successes) + " is more than the " +
                              std::to_string(n) + " subtasks");
  ArrayNodePolicy policy;
  policy.concurrency = node.def->concurrency;
  policy.min_successes = MinSuccesses(*node.def, n);
  policy.retries = e.spec->RetriesOf(*node.def);
  policy.system_retries = options_.system_retries;
  node.array = std::make_unique<ArrayNode>(n, policy);
  node.desc = MakeTaskDesc(*e.spec, *node.def);
  node.desc.max_checkpoint_bytes = options_.max_checkpoint_bytes;
  node.interruptible = node.def->interruptible.value_or(node.task->interruptible);
  const CacheConfig& cache = e.spec->CacheOf(*node.def);
  node.cache = cache.enabled ? &cache : nullptr;
  node.phase = NodePhase::kRunning;
  node.busy = true;
  loader_->Load(node);
}

void ExecutionManager::NodeReady(NodeRun& node) {
  node.busy = false;
  PersistNodePhase(node);
  NodeChanged(node);
  hooks_.wake();
}

void ExecutionManager::NodeFailed(NodeRun& node, const std::string& why) {
  node.busy = false;
  spdlog::error("exec={} node={}: {}", node.exec->id, node.id(), why);
  Abort(*node.exec, why);
}

void ExecutionManager::NodeChanged(NodeRun& node) {
  if (!node.array) return;
  dispatcher_.StopAborted(node);
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
    dispatcher_.StopAborted(node);
    node.phase = NodePhase::kAborted;
    PersistNodePhase(node);
  }
}

void ExecutionManager::Abort(Execution& e, const std::string& why) { Finish(e, ExecPhase::kAborted, why); }

void ExecutionManager::Finish(Execution& e, ExecPhase phase, std::string error) {
  if (IsTerminal(e.phase)) return;
  StopNodes(e);  // a failed node fails the workflow: stop the others
  e.phase = phase;
  e.error = std::move(error);
  e.ended_ms = clock_.WallMs();
  Fields f = {{keys::kFieldPhase, std::string(ExecPhaseName(phase))},
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
  if (!options_.keep_checkpoints) store_.DeleteCheckpoints(e.id);
  for (const NodeRun& node : e.nodes) store_.ClearUnclaimed(e.id, node.id());
  std::string id = e.id;
  store_.FinishExecution(id, f, [this, id](Status st) {
    if (!st.ok()) spdlog::error("exec={}: cannot store its end: {}", id, st.message());
    if (Execution* e = execs_.Find(id)) hooks_.ended(*e);
    execs_.Remove(id);
  });
}

void ExecutionManager::PersistNodePhase(const NodeRun& node) {
  Fields f = {{keys::NodeField(node.id(), "phase"), std::string(NodePhaseName(node.phase))}};
  if (node.array) f.emplace_back(keys::NodeField(node.id(), "size"), std::to_string(node.array->size()));
  if (!node.error.empty()) f.emplace_back(keys::NodeField(node.id(), "error"), node.error);
  store_.SetExecFields(node.exec->id, f, nullptr);
}

}  // namespace fanout
