#include "coordinator/execution.h"

#include "common/codec.h"

#include <algorithm>

namespace fanout {

std::string ValueKey(const Reference& ref) {
  return (ref.workflow_input ? std::string("inputs") : ref.node) + "." + ref.name;
}

std::string NodeInputs::ArgsFor(uint32_t index) const {
  std::string out = MsgpackArrayHeader(args.size());
  for (const ArgSource& a : args) {
    if (a.mapped) {
      out.append(a.bytes, a.offsets[index], a.offsets[index + 1] - a.offsets[index]);
    } else {
      out += a.bytes;
    }
  }
  return out;
}

std::vector<std::string_view> NodeInputs::ArgSlices(uint32_t index) const {
  std::vector<std::string_view> out;
  out.reserve(args.size());
  for (const ArgSource& a : args) {
    std::string_view all(a.bytes);
    out.push_back(a.mapped ? all.substr(a.offsets[index], a.offsets[index + 1] - a.offsets[index]) : all);
  }
  return out;
}

size_t NodeInputs::Bytes() const {
  size_t b = 0;
  for (const ArgSource& a : args) b += a.bytes.capacity() + a.offsets.capacity() * sizeof(uint32_t);
  for (const std::string& n : names) b += n.capacity();
  return b;
}

Result<NodeInputs> ResolveNodeInputs(const Spec& spec, const NodeDef& node,
                                     const std::map<std::string, std::string>& values) {
  const TaskDef& task = spec.TaskOf(node);
  NodeInputs out;
  bool have_mapped = false;
  std::string first_mapped;
  for (const TypedName& param : task.inputs) {
    const Binding* b = nullptr;
    bool mapped = false;
    for (const auto& [name, bind] : node.inputs)
      if (name == param.name) {
        b = &bind;
        mapped = node.is_map;
      }
    for (const auto& [name, bind] : node.bind)
      if (name == param.name) b = &bind;
    if (b == nullptr) {
      if (node.target == NodeTarget::kLaunchPlan) continue;  // the launch plan's default
      return Err(InvalidArgument("input '" + param.name + "' is not bound"));
    }
    ArgSource src;
    src.mapped = mapped;
    if (b->ref) {
      auto it = values.find(ValueKey(*b->ref));
      if (it == values.end())
        return Err(Internal("value " + b->ref->ToString() + " is not available yet"));
      src.bytes = it->second;
    } else {
      // Coerce literals to the parameter's type (int → float) before encoding.
      Type want = mapped ? Type::ListOf(param.type) : param.type;
      src.bytes = EncodeMsgpack(want.Coerce(b->literal));
    }
    if (mapped) {
      ASSIGN_OR_RETURN(src.offsets, MsgpackArrayOffsets(src.bytes));
      uint32_t n = static_cast<uint32_t>(src.offsets.size() - 1);
      if (have_mapped && n != out.size) {
        return Err(InvalidArgument("mapped inputs have different lengths: '" + first_mapped +
                                   "' has " + std::to_string(out.size) + " elements, '" +
                                   param.name + "' has " + std::to_string(n)));
      }
      if (!have_mapped) first_mapped = param.name;
      have_mapped = true;
      out.size = n;
    }
    out.args.push_back(std::move(src));
    out.names.push_back(param.name);
  }
  if (!have_mapped) out.size = 1;  // every input bound: one subtask
  return out;
}

OutputAssembler::OutputAssembler(const NodeDef& node, const TaskDef& task, uint32_t n)
    : node_(node), task_(task), n_(n), lists_(task.outputs.size()) {
  if (node_.is_map)
    for (auto& l : lists_) l = MsgpackArrayHeader(n_);
}

Status OutputAssembler::Add(uint32_t index, std::optional<std::string_view> outputs) {
  (void)index;
  if (!outputs) {
    for (auto& l : lists_) l.push_back(static_cast<char>(0xc0));  // nil
    return Status::Ok();
  }
  auto elems = SplitMsgpackArray(*outputs);
  if (!elems) return elems.error();
  if (elems->size() != lists_.size())
    return Internal("subtask " + std::to_string(index) + " has " + std::to_string(elems->size()) +
                    " outputs, expected " + std::to_string(lists_.size()));
  for (size_t k = 0; k < lists_.size(); ++k) lists_[k].append((*elems)[k]);
  return Status::Ok();
}

std::map<std::string, std::string> OutputAssembler::Finish() {
  std::map<std::string, std::string> out;
  for (size_t k = 0; k < lists_.size(); ++k) {
    std::string v = std::move(lists_[k]);
    if (!node_.is_map && v.empty()) v = std::string(1, static_cast<char>(0xc0));
    out.emplace(node_.id + "." + task_.outputs[k].name, std::move(v));
  }
  return out;
}

NodeRun* Execution::FindNode(std::string_view id) {
  for (auto& n : nodes)
    if (n.def->id == id) return &n;
  return nullptr;
}

void Execution::InitNodes() {
  nodes.clear();
  nodes.reserve(wf->nodes.size());
  for (const NodeDef& n : wf->nodes) {
    NodeRun run;
    run.exec = this;
    run.def = &n;
    run.task = &spec->TaskOf(n);
    nodes.push_back(std::move(run));
  }
}

std::string Execution::InputsMsgpack() const {
  // Each value is msgpack already: the map is put together from their bytes (decoding and
  // encoding a 1M-element input again held the loop for a quarter of a second).
  size_t n = 0, bytes = 0;
  for (const auto& [k, v] : values)
    if (k.starts_with("inputs.")) ++n, bytes += k.size() + v.size();
  std::string out = MsgpackMapHeader(n);
  out.reserve(out.size() + bytes + 8 * n);
  for (const auto& [k, v] : values) {
    if (!k.starts_with("inputs.")) continue;
    EncodeMsgpackTo(Value(k.substr(7)), &out);
    out += v;
  }
  return out;
}

uint64_t Execution::ParallelismLeft() const {
  if (max_parallelism == 0) return UINT64_MAX;
  uint64_t active = 0;
  for (const NodeRun& n : nodes)
    if (n.array && n.phase == NodePhase::kRunning) active += n.array->active();
  return active >= max_parallelism ? 0 : max_parallelism - active;
}

std::string ChildId(std::string_view parent, std::string_view node, uint32_t index, uint32_t attempt) {
  std::string id(parent);
  id.push_back('.');
  id.append(node);
  id.push_back('.');
  id.append(std::to_string(index));
  if (attempt > 0) id.append("~" + std::to_string(attempt));
  return id;
}

NodeRun* ExecutionTable::ParentNode(const Execution& child) {
  if (!child.is_child()) return nullptr;
  return Node(child.parent, child.parent_node);
}

Execution& ExecutionTable::Add(std::unique_ptr<Execution> e) {
  Execution& ref = *e;
  for (NodeRun& n : ref.nodes) {
    n.uid = next_uid_++;
    n.exec = &ref;
    nodes_[n.uid] = &n;
    if (n.def->target == NodeTarget::kLaunchPlan) parents_.insert(ref.id);
  }
  execs_[ref.id] = std::move(e);
  return ref;
}

void ExecutionTable::Remove(const std::string& id) {
  auto it = execs_.find(id);
  if (it == execs_.end()) return;
  for (NodeRun& n : it->second->nodes) {
    nodes_.erase(n.uid);
    retired_[RetiredKey(id, n.id())] = n.uid;
  }
  parents_.erase(id);
  execs_.erase(it);
}

std::string ExecutionTable::RetiredKey(std::string_view exec, std::string_view node) {
  std::string k(exec);
  k.push_back('\0');
  k.append(node);
  return k;
}

std::optional<NodeUid> ExecutionTable::Retired(std::string_view exec, std::string_view node) const {
  auto it = retired_.find(RetiredKey(exec, node));
  if (it == retired_.end()) return std::nullopt;
  return it->second;
}

Execution* ExecutionTable::Find(std::string_view id) {
  auto it = execs_.find(id);
  return it == execs_.end() ? nullptr : it->second.get();
}

NodeRun* ExecutionTable::Node(NodeUid uid) {
  auto it = nodes_.find(uid);
  return it == nodes_.end() ? nullptr : it->second;
}

NodeRun* ExecutionTable::Node(std::string_view exec, std::string_view node) {
  Execution* e = Find(exec);
  return e ? e->FindNode(node) : nullptr;
}

std::vector<std::string> ExecutionTable::Ids() const {
  std::vector<std::string> out;
  for (const auto& [id, e] : execs_) out.push_back(id);
  return out;
}

wire::TaskDesc MakeTaskDesc(const Spec& spec, const NodeDef& node) {
  const TaskDef& task = spec.TaskOf(node);
  wire::TaskDesc d;
  d.name = task.name;
  d.kind = static_cast<uint8_t>(task.is_command() ? wire::TaskKind::kCommand : wire::TaskKind::kFunction);
  d.function = task.function;
  d.command = task.command;
  for (const auto& p : task.inputs) d.inputs.push_back({p.name, p.type.ToString()});
  for (const auto& p : task.outputs) d.outputs.push_back({p.name, p.type.ToString()});
  d.timeout_ms = spec.TimeoutOf(node);
  d.checkpoint_interval_ms = task.checkpoint_interval_ms;
  d.workdir = task.workdir;
  return d;
}

ExecutionStatus BuildStatus(const Execution& e) {
  ExecutionStatus s;
  s.execution = e.id;
  s.workflow = e.wf ? e.wf->name : "";
  s.phase = e.phase;
  s.created_ms = e.created_ms;
  s.ended_ms = e.ended_ms;
  s.error = e.error;
  s.recovered_from = e.recovered_from;
  s.launch_plan = e.launch_plan;
  s.parent = e.parent;
  s.parent_node = e.parent_node;
  s.parent_index = e.parent_index;
  s.max_parallelism = e.max_parallelism;
  for (const NodeRun& n : e.nodes) {
    NodeStatus ns;
    ns.id = n.def->id;
    ns.is_map = n.def->is_map;
    ns.task = n.def->task;
    ns.launch_plan = n.def->target == NodeTarget::kLaunchPlan;
    if (ns.launch_plan) ns.child_prefix = e.id + "." + n.def->id + ".";
    ns.phase = n.phase;
    ns.error = n.error;
    ns.waiting = n.waiting;
    ns.cpu = n.def->requests.cpu;
    ns.mem_bytes = n.def->requests.mem_bytes;
    if (n.array) {
      for (int p = 0; p < kSubtaskPhaseCount; ++p) ns.counts[p] = n.array->count(static_cast<SubtaskPhase>(p));
      ns.cached = n.array->cached();
      ns.size = n.array->size();
      ns.min_successes = n.array->min_successes();
      ns.concurrency = n.array->concurrency();
      // Failed subtasks in index order, the first kMaxFailedShown.
      std::vector<std::pair<uint32_t, const std::string*>> failed;
      for (const auto& [msg, indices] : n.array->failures())
        for (uint32_t i : indices) failed.emplace_back(i, &msg);
      size_t shown = std::min(failed.size(), ExecutionStatus::kMaxFailedShown);
      std::partial_sort(failed.begin(), failed.begin() + static_cast<ptrdiff_t>(shown), failed.end());
      for (size_t k = 0; k < shown; ++k) {
        SubtaskRecord rec = n.array->Record(failed[k].first);
        ns.failed.push_back(FailedSubtask{failed[k].first, rec.attempt + 1u,
                                          static_cast<SubtaskPhase>(rec.phase), *failed[k].second});
      }
    } else {
      ns.size = n.phase == NodePhase::kPending ? 0 : n.inputs.size;
    }
    // Coordinator memory held for this node: subtask records plus the inputs still needed.
    ns.state_bytes = (n.array ? n.array->StateBytes() : 0) + n.inputs.Bytes();
    s.nodes.push_back(std::move(ns));
  }
  return s;
}

Result<std::string> WorkflowOutputs(const Execution& e) {
  std::string out;
  size_t n = e.wf->outputs.size();
  // msgpack map header
  if (n < 16) {
    out.push_back(static_cast<char>(0x80 | n));
  } else {
    out.push_back(static_cast<char>(0xde));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
  }
  for (const auto& [name, b] : e.wf->outputs) {
    out += EncodeMsgpack(Value(name));
    if (b.ref) {
      auto it = e.values.find(ValueKey(*b.ref));
      if (it == e.values.end()) return Err(Internal("output " + b.ref->ToString() + " has no value"));
      out += it->second;
    } else {
      out += EncodeMsgpack(b.literal);
    }
  }
  return out;
}

}  // namespace fanout
