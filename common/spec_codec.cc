#include "common/spec_codec.h"

#include "common/codec.h"

namespace fanout {
namespace {

Value Str(const std::string& s) { return Value(s); }

Value OptInt(const std::optional<int64_t>& v) { return v ? Value(*v) : Value(); }

Value EncodeResources(const Resources& r) { return Map{{"cpu", r.cpu}, {"mem", r.mem_bytes}}; }

Value EncodeCache(const CacheConfig& c) {
  List ignore;
  for (const auto& s : c.ignore_inputs) ignore.emplace_back(s);
  return Map{{"enabled", c.enabled}, {"version", c.version}, {"serialize", c.serialize},
             {"ignore", std::move(ignore)}, {"ttl", c.ttl_ms}};
}

Value EncodeTypedNames(const std::vector<TypedName>& names) {
  List out;
  for (const auto& n : names) out.emplace_back(List{Str(n.name), Str(n.type.ToString())});
  return out;
}

Value EncodeBinding(const Binding& b) {
  if (b.ref) return Map{{"ref", List{b.ref->workflow_input, b.ref->node, b.ref->name}}};
  return Map{{"lit", b.literal}};
}

Value EncodeBindings(const std::vector<std::pair<std::string, Binding>>& bs) {
  List out;
  for (const auto& [name, b] : bs) out.emplace_back(List{Str(name), EncodeBinding(b)});
  return out;
}

Value EncodeTask(const TaskDef& t) {
  List command;
  for (const auto& a : t.command) command.emplace_back(a);
  return Map{{"name", t.name},
             {"function", t.function},
             {"command", std::move(command)},
             {"inputs", EncodeTypedNames(t.inputs)},
             {"outputs", EncodeTypedNames(t.outputs)},
             {"retries", int64_t{t.retries}},
             {"timeout", t.timeout_ms},
             {"interruptible", t.interruptible},
             {"cache", EncodeCache(t.cache)},
             {"requests", EncodeResources(t.requests)},
             {"ckpt_interval", t.checkpoint_interval_ms},
             {"workdir", t.workdir}};
}

Value EncodeNode(const NodeDef& n) {
  Map m{{"id", n.id},
        {"map", n.is_map},
        {"task", n.task},
        {"target", int64_t{static_cast<int64_t>(n.target)}},
        {"inputs", EncodeBindings(n.inputs)},
        {"bind", EncodeBindings(n.bind)},
        {"concurrency", int64_t{n.concurrency}},
        {"min_successes", OptInt(n.min_successes)},
        {"retries", n.retries ? Value(int64_t{*n.retries}) : Value()},
        {"timeout", OptInt(n.timeout_ms)},
        {"interruptible", n.interruptible ? Value(*n.interruptible) : Value()},
        {"cache", n.cache ? EncodeCache(*n.cache) : Value()},
        {"requests", EncodeResources(n.requests)}};
  if (n.min_success_ratio) m["min_success_ratio"] = *n.min_success_ratio;
  return m;
}

Value EncodeWorkflow(const WorkflowDef& w) {
  List inputs;
  for (const auto& in : w.inputs) {
    Map m{{"name", in.name}, {"type", in.type.ToString()}};
    if (in.default_value) m["default"] = *in.default_value;
    inputs.emplace_back(std::move(m));
  }
  List nodes;
  for (const auto& n : w.nodes) nodes.push_back(EncodeNode(n));
  Map m{{"name", w.name}, {"inputs", std::move(inputs)}, {"nodes", std::move(nodes)},
        {"outputs", EncodeBindings(w.outputs)}};
  if (w.max_parallelism) m["max_parallelism"] = int64_t{*w.max_parallelism};
  return m;
}

Value EncodeLaunchPlan(const LaunchPlanDef& lp) {
  Map m{{"name", lp.name}, {"workflow", lp.workflow}, {"defaults", lp.default_inputs}, {"fixed", lp.fixed_inputs}};
  if (lp.max_parallelism) m["max_parallelism"] = int64_t{*lp.max_parallelism};
  return m;
}

// Decoding: every accessor checks the kind it expects and says where it was not found.
class Reader {
 public:
  explicit Reader(const Map& m, std::string where) : m_(m), where_(std::move(where)) {}

  Result<const Value*> Field(const char* key) const {
    auto it = m_.find(key);
    if (it == m_.end()) return Err(Bad(key, "missing"));
    return &it->second;
  }
  Result<std::string> String(const char* key) const {
    ASSIGN_OR_RETURN(const Value* v, Field(key));
    if (!v->is_str()) return Err(Bad(key, "not a string"));
    return v->as_str();
  }
  Result<int64_t> Int(const char* key) const {
    ASSIGN_OR_RETURN(const Value* v, Field(key));
    if (!v->is_int()) return Err(Bad(key, "not an int"));
    return v->as_int();
  }
  Result<double> Float(const char* key) const {
    ASSIGN_OR_RETURN(const Value* v, Field(key));
    if (v->is_int()) return static_cast<double>(v->as_int());
    if (!v->is_float()) return Err(Bad(key, "not a number"));
    return v->as_float();
  }
  Result<bool> Bool(const char* key) const {
    ASSIGN_OR_RETURN(const Value* v, Field(key));
    if (!v->is_bool()) return Err(Bad(key, "not a bool"));
    return v->as_bool();
  }
  Result<const List*> ListOf(const char* key) const {
    ASSIGN_OR_RETURN(const Value* v, Field(key));
    if (!v->is_list()) return Err(Bad(key, "not a list"));
    return &v->as_list();
  }
  Result<Reader> Sub(const char* key) const {
    ASSIGN_OR_RETURN(const Value* v, Field(key));
    if (!v->is_map()) return Err(Bad(key, "not a map"));
    return Reader(v->as_map(), where_ + "." + key);
  }
  // nullopt when the field is nil.
  Result<std::optional<int64_t>> OptionalInt(const char* key) const {
    ASSIGN_OR_RETURN(const Value* v, Field(key));
    if (v->is_none()) return std::optional<int64_t>();
    if (!v->is_int()) return Err(Bad(key, "not an int"));
    return std::optional<int64_t>(v->as_int());
  }
  bool Has(const char* key) const {
    auto it = m_.find(key);
    return it != m_.end() && !it->second.is_none();
  }
  Status Bad(const char* key, const char* what) const {
    return InvalidArgument("stored spec: " + where_ + "." + key + ": " + what);
  }
  const std::string& where() const { return where_; }

 private:
  const Map& m_;
  std::string where_;
};

Result<Resources> DecodeResources(const Reader& r) {
  Resources out;
  ASSIGN_OR_RETURN(out.cpu, r.Float("cpu"));
  ASSIGN_OR_RETURN(out.mem_bytes, r.Int("mem"));
  return out;
}

Result<CacheConfig> DecodeCache(const Reader& r) {
  CacheConfig c;
  ASSIGN_OR_RETURN(c.enabled, r.Bool("enabled"));
  ASSIGN_OR_RETURN(c.version, r.String("version"));
  ASSIGN_OR_RETURN(c.serialize, r.Bool("serialize"));
  ASSIGN_OR_RETURN(const List* ignore, r.ListOf("ignore"));
  for (const Value& v : *ignore) {
    if (!v.is_str()) return Err(r.Bad("ignore", "holds a non-string"));
    c.ignore_inputs.push_back(v.as_str());
  }
  ASSIGN_OR_RETURN(c.ttl_ms, r.Int("ttl"));
  return c;
}

Result<std::vector<TypedName>> DecodeTypedNames(const Reader& r, const char* key) {
  ASSIGN_OR_RETURN(const List* list, r.ListOf(key));
  std::vector<TypedName> out;
  for (const Value& v : *list) {
    if (!v.is_list() || v.as_list().size() != 2 || !v.as_list()[0].is_str() || !v.as_list()[1].is_str())
      return Err(r.Bad(key, "holds a malformed parameter"));
    ASSIGN_OR_RETURN(Type t, Type::Parse(v.as_list()[1].as_str()));
    out.push_back(TypedName{v.as_list()[0].as_str(), std::move(t)});
  }
  return out;
}

Result<std::vector<std::pair<std::string, Binding>>> DecodeBindings(const Reader& r, const char* key) {
  ASSIGN_OR_RETURN(const List* list, r.ListOf(key));
  std::vector<std::pair<std::string, Binding>> out;
  for (const Value& v : *list) {
    if (!v.is_list() || v.as_list().size() != 2 || !v.as_list()[0].is_str() || !v.as_list()[1].is_map())
      return Err(r.Bad(key, "holds a malformed binding"));
    const Map& b = v.as_list()[1].as_map();
    Binding binding;
    if (auto ref = b.find("ref"); ref != b.end()) {
      const Value& rv = ref->second;
      if (!rv.is_list() || rv.as_list().size() != 3 || !rv.as_list()[0].is_bool() ||
          !rv.as_list()[1].is_str() || !rv.as_list()[2].is_str())
        return Err(r.Bad(key, "holds a malformed reference"));
      binding.ref = Reference{rv.as_list()[0].as_bool(), rv.as_list()[1].as_str(), rv.as_list()[2].as_str()};
    } else if (auto lit = b.find("lit"); lit != b.end()) {
      binding.literal = lit->second;
    } else {
      return Err(r.Bad(key, "holds a binding with neither ref nor lit"));
    }
    out.emplace_back(v.as_list()[0].as_str(), std::move(binding));
  }
  return out;
}

Result<TaskDef> DecodeTask(const Reader& r) {
  TaskDef t;
  ASSIGN_OR_RETURN(t.name, r.String("name"));
  ASSIGN_OR_RETURN(t.function, r.String("function"));
  ASSIGN_OR_RETURN(const List* command, r.ListOf("command"));
  for (const Value& a : *command) {
    if (!a.is_str()) return Err(r.Bad("command", "holds a non-string"));
    t.command.push_back(a.as_str());
  }
  ASSIGN_OR_RETURN(t.inputs, DecodeTypedNames(r, "inputs"));
  ASSIGN_OR_RETURN(t.outputs, DecodeTypedNames(r, "outputs"));
  ASSIGN_OR_RETURN(int64_t retries, r.Int("retries"));
  t.retries = static_cast<int>(retries);
  ASSIGN_OR_RETURN(t.timeout_ms, r.Int("timeout"));
  ASSIGN_OR_RETURN(t.interruptible, r.Bool("interruptible"));
  ASSIGN_OR_RETURN(Reader cache, r.Sub("cache"));
  ASSIGN_OR_RETURN(t.cache, DecodeCache(cache));
  ASSIGN_OR_RETURN(Reader requests, r.Sub("requests"));
  ASSIGN_OR_RETURN(t.requests, DecodeResources(requests));
  ASSIGN_OR_RETURN(t.checkpoint_interval_ms, r.Int("ckpt_interval"));
  if (r.Has("workdir")) { ASSIGN_OR_RETURN(t.workdir, r.String("workdir")); }  // absent before it existed
  return t;
}

Result<NodeDef> DecodeNode(const Reader& r) {
  NodeDef n;
  ASSIGN_OR_RETURN(n.id, r.String("id"));
  ASSIGN_OR_RETURN(n.is_map, r.Bool("map"));
  ASSIGN_OR_RETURN(n.task, r.String("task"));
  if (r.Has("target")) {
    ASSIGN_OR_RETURN(int64_t target, r.Int("target"));
    if (target != 0 && target != 1) return Err(r.Bad("target", "not a known node target"));
    n.target = static_cast<NodeTarget>(target);
  }
  ASSIGN_OR_RETURN(n.inputs, DecodeBindings(r, "inputs"));
  ASSIGN_OR_RETURN(n.bind, DecodeBindings(r, "bind"));
  ASSIGN_OR_RETURN(int64_t concurrency, r.Int("concurrency"));
  n.concurrency = static_cast<uint32_t>(concurrency);
  ASSIGN_OR_RETURN(n.min_successes, r.OptionalInt("min_successes"));
  if (r.Has("min_success_ratio")) {
    ASSIGN_OR_RETURN(double ratio, r.Float("min_success_ratio"));
    n.min_success_ratio = ratio;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> retries, r.OptionalInt("retries"));
  if (retries) n.retries = static_cast<int>(*retries);
  ASSIGN_OR_RETURN(n.timeout_ms, r.OptionalInt("timeout"));
  if (r.Has("interruptible")) {
    ASSIGN_OR_RETURN(bool b, r.Bool("interruptible"));
    n.interruptible = b;
  }
  if (r.Has("cache")) {
    ASSIGN_OR_RETURN(Reader cache, r.Sub("cache"));
    ASSIGN_OR_RETURN(CacheConfig c, DecodeCache(cache));
    n.cache = std::move(c);
  }
  ASSIGN_OR_RETURN(Reader requests, r.Sub("requests"));
  ASSIGN_OR_RETURN(n.requests, DecodeResources(requests));
  return n;
}

Result<WorkflowDef> DecodeWorkflow(const Reader& r) {
  WorkflowDef w;
  ASSIGN_OR_RETURN(w.name, r.String("name"));
  ASSIGN_OR_RETURN(const List* inputs, r.ListOf("inputs"));
  for (const Value& v : *inputs) {
    if (!v.is_map()) return Err(r.Bad("inputs", "holds a non-map"));
    Reader in(v.as_map(), r.where() + ".inputs");
    WorkflowInput wi;
    ASSIGN_OR_RETURN(wi.name, in.String("name"));
    ASSIGN_OR_RETURN(std::string type, in.String("type"));
    ASSIGN_OR_RETURN(wi.type, Type::Parse(type));
    if (in.Has("default")) {
      ASSIGN_OR_RETURN(const Value* d, in.Field("default"));
      wi.default_value = *d;
    }
    w.inputs.push_back(std::move(wi));
  }
  ASSIGN_OR_RETURN(const List* nodes, r.ListOf("nodes"));
  for (const Value& v : *nodes) {
    if (!v.is_map()) return Err(r.Bad("nodes", "holds a non-map"));
    ASSIGN_OR_RETURN(NodeDef n, DecodeNode(Reader(v.as_map(), r.where() + ".nodes")));
    w.nodes.push_back(std::move(n));
  }
  ASSIGN_OR_RETURN(w.outputs, DecodeBindings(r, "outputs"));
  if (r.Has("max_parallelism")) {
    ASSIGN_OR_RETURN(int64_t mp, r.Int("max_parallelism"));
    w.max_parallelism = static_cast<uint32_t>(mp);
  }
  return w;
}

Result<LaunchPlanDef> DecodeLaunchPlan(const Reader& r) {
  LaunchPlanDef lp;
  ASSIGN_OR_RETURN(lp.name, r.String("name"));
  ASSIGN_OR_RETURN(lp.workflow, r.String("workflow"));
  for (const char* key : {"defaults", "fixed"}) {
    ASSIGN_OR_RETURN(const Value* v, r.Field(key));
    if (!v->is_map()) return Err(r.Bad(key, "not a map"));
    (std::string_view(key) == "fixed" ? lp.fixed_inputs : lp.default_inputs) = v->as_map();
  }
  if (r.Has("max_parallelism")) {
    ASSIGN_OR_RETURN(int64_t mp, r.Int("max_parallelism"));
    lp.max_parallelism = static_cast<uint32_t>(mp);
  }
  return lp;
}

}  // namespace

std::string EncodeSpec(const Spec& spec) {
  Map tasks, workflows, plans;
  for (const auto& [name, t] : spec.tasks) tasks.emplace(name, EncodeTask(t));
  for (const auto& [name, w] : spec.workflows) workflows.emplace(name, EncodeWorkflow(w));
  for (const auto& [name, lp] : spec.launch_plans) plans.emplace(name, EncodeLaunchPlan(lp));
  // Interfaces are derived again on decoding, not stored.
  return EncodeMsgpack(Map{{"codec", int64_t{kSpecCodecVersion}},
                           {"version", int64_t{spec.version}},
                           {"tasks", std::move(tasks)},
                           {"workflows", std::move(workflows)},
                           {"launch_plans", std::move(plans)}});
}

Result<Spec> DecodeSpec(std::string_view bytes) {
  auto v = DecodeMsgpack(bytes);
  if (!v || !v->is_map()) return Err(InvalidArgument("stored spec: not an encoded spec"));
  Reader root(v->as_map(), "spec");
  ASSIGN_OR_RETURN(int64_t codec, root.Int("codec"));
  if (codec != kSpecCodecVersion)
    return Err(InvalidArgument("stored spec: codec version " + std::to_string(codec) +
                               " is not known to this coordinator (it knows " +
                               std::to_string(kSpecCodecVersion) + ")"));
  Spec spec;
  ASSIGN_OR_RETURN(int64_t version, root.Int("version"));
  spec.version = static_cast<int>(version);
  ASSIGN_OR_RETURN(Reader tasks, root.Sub("tasks"));
  ASSIGN_OR_RETURN(const Value* tasks_v, root.Field("tasks"));
  for (const auto& [name, t] : tasks_v->as_map()) {
    if (!t.is_map()) return Err(tasks.Bad(name.c_str(), "not a map"));
    ASSIGN_OR_RETURN(TaskDef task, DecodeTask(Reader(t.as_map(), "spec.tasks." + name)));
    spec.tasks.emplace(name, std::move(task));
  }
  ASSIGN_OR_RETURN(Reader workflows, root.Sub("workflows"));
  ASSIGN_OR_RETURN(const Value* wfs_v, root.Field("workflows"));
  for (const auto& [name, w] : wfs_v->as_map()) {
    if (!w.is_map()) return Err(workflows.Bad(name.c_str(), "not a map"));
    ASSIGN_OR_RETURN(WorkflowDef wf, DecodeWorkflow(Reader(w.as_map(), "spec.workflows." + name)));
    spec.workflows.emplace(name, std::move(wf));
  }
  if (root.Has("launch_plans")) {
    ASSIGN_OR_RETURN(const Value* plans, root.Field("launch_plans"));
    if (!plans->is_map()) return Err(root.Bad("launch_plans", "not a map"));
    for (const auto& [name, l] : plans->as_map()) {
      if (!l.is_map()) return Err(root.Bad("launch_plans", "holds a non-map"));
      ASSIGN_OR_RETURN(LaunchPlanDef lp, DecodeLaunchPlan(Reader(l.as_map(), "spec.launch_plans." + name)));
      spec.launch_plans.emplace(name, std::move(lp));
    }
  }
  RETURN_IF_ERROR(DeriveInterfaces(spec));
  return spec;
}

}  // namespace fanout
