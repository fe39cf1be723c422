#include "common/spec.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <unordered_map>
#include <sstream>

namespace fanout {
namespace {

// Errors carry "FILE: FIELD: what" (and the YAML line when known).
class Ctx {
 public:
  Ctx(std::string_view file) : file_(file) {}
  Status Error(const std::string& field, const std::string& what) const {
    return InvalidArgument(file_ + ": " + field + ": " + what);
  }
  // With the node, the message also gives its line: "wf.yaml:12: field: what".
  Status Error(const std::string& field, const std::string& what, const YAML::Node& n) const {
    return Error(field, what, n.Mark());
  }
  Status Error(const std::string& field, const std::string& what, const YAML::Mark& mark) const {
    // Appended piecewise: `":" + std::to_string(...)` trips g++ 12's -Wrestrict false
    // positive at -O3 (GCC bug 105329).
    std::string where = file_;
    if (mark.line >= 0) {
      where += ':';
      where += std::to_string(mark.line + 1);
    }
    return InvalidArgument(where + ": " + field + ": " + what);
  }

 private:
  std::string file_;
};

// Walks a document's events, before any node is built, and records the first violation of
// SpecLimits: nodes counted with aliases expanded (an alias counts as the nodes of the subtree
// it names, remembered per anchor, so the walk stays linear in the text), the expansion
// factor, the nesting depth with aliases expanded, and aliases to a node that contains them
// (yaml-cpp builds those as cycles, which no walk of the tree would finish).
class YamlCounter : public YAML::EventHandler {
 public:
  // Thrown by the handler to stop the parser at the first violation.
  struct LimitReached {};

  explicit YamlCounter(const SpecLimits& limits) : limits_(limits) {}

  // Empty when the document is within the limits.
  const std::string& violation() const { return violation_; }
  const YAML::Mark& violation_mark() const { return violation_mark_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override { CheckExpansion(); }
  void OnAnchor(const YAML::Mark&, const std::string& name) override { anchor_name_ = name; }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { Leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    Leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return;  // yaml-cpp refuses unknown anchors itself
    const Anchored& a = it->second;
    if (!a.complete) Violate(mark, "the alias *" + a.name + " refers to a node that contains it");
    Count(mark, a.nodes, depth() + a.height);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Anchored {
    std::string name;
    uint64_t nodes = 1;   // with aliases expanded
    size_t height = 0;    // collections on the longest path down, itself included
    bool complete = false;
  };
  struct Frame {
    YAML::anchor_t anchor;
    uint64_t nodes_before;  // expanded_ when the collection opened
    size_t deepest;         // deepest depth reached inside, aliases expanded
  };

  size_t depth() const { return stack_.size(); }

  static uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
  }

  // A node of `nodes` expanded nodes whose deepest collection is at `reached`.
  void Count(const YAML::Mark& mark, uint64_t nodes, size_t reached) {
    expanded_ = SaturatingAdd(expanded_, nodes);
    if (!stack_.empty()) stack_.back().deepest = std::max(stack_.back().deepest, reached);
    if (first_alias_mark_.line < 0 && expanded_ > written_) first_alias_mark_ = mark;
    if (expanded_ > limits_.max_nodes)
      Violate(mark, "the document has more than " + std::to_string(limits_.max_nodes) +
                        " YAML nodes (the limit)" +
                        (expanded_ > written_ ? " once its aliases are expanded (" +
                                                    std::to_string(written_) + " written so far)"
                                              : ""));
    if (reached > limits_.max_depth)
      Violate(mark, "nested " + std::to_string(reached) + " levels deep" +
                        (expanded_ > written_ ? " (aliases expanded)" : "") +
                        ", more than the limit of " + std::to_string(limits_.max_depth));
  }

  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    ++written_;
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {TakeAnchorName(), 1, 0, true};
    Count(mark, 1, depth());
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    ++written_;
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {TakeAnchorName(), 0, 0, false};
    Count(mark, 1, depth() + 1);
    stack_.push_back({anchor, expanded_ - 1, depth() + 1});
  }

  void Close() {
    if (stack_.empty()) return;
    Frame f = stack_.back();
    stack_.pop_back();
    if (!stack_.empty()) stack_.back().deepest = std::max(stack_.back().deepest, f.deepest);
    if (f.anchor != YAML::NullAnchor) {
      Anchored& a = anchors_[f.anchor];
      a.nodes = expanded_ - f.nodes_before;
      a.height = f.deepest - depth();
      a.complete = true;
    }
  }

  void CheckExpansion() {
    if (expanded_ > limits_.alias_free_nodes &&
        static_cast<unsigned __int128>(written_) * limits_.max_alias_expansion < expanded_)
      Violate(first_alias_mark_,
              "YAML aliases expand the " + std::to_string(written_) + " nodes written in the file to " +
                  (expanded_ == UINT64_MAX ? "more than 10^19" : std::to_string(expanded_)) +
                  " (at most " + std::to_string(limits_.max_alias_expansion) +
                  " times as many are allowed once there are more than " +
                  std::to_string(limits_.alias_free_nodes) + ")");
  }

  std::string TakeAnchorName() {
    std::string n = std::move(anchor_name_);
    anchor_name_.clear();
    return n;
  }

  // Stops the walk: the exception leaves HandleNextDocument and is caught in ParseSpec.
  [[noreturn]] void Violate(const YAML::Mark& mark, std::string what) {
    violation_ = std::move(what);
    violation_mark_ = mark;
    throw LimitReached{};
  }

  const SpecLimits& limits_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
  std::string anchor_name_;
  uint64_t written_ = 0;
  uint64_t expanded_ = 0;
  YAML::Mark first_alias_mark_ = YAML::Mark::null_mark();
  std::string violation_;
  YAML::Mark violation_mark_ = YAML::Mark::null_mark();
};

bool IsIdentifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// A YAML scalar as a Value: quoted → str; plain: null, bool, int, float, else str.
Value ScalarValue(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return Value(s);  // quoted
  if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty()) return Value();
  if (s == "true" || s == "True" || s == "TRUE") return Value(true);
  if (s == "false" || s == "False" || s == "FALSE") return Value(false);
  {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (end != s.c_str() && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(v));
  }
  {
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    bool numeric = !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' ||
                                  s[0] == '+' || s[0] == '.');
    if (numeric && end != s.c_str() && *end == '\0') return Value(d);
    if (s == ".inf" || s == "+.inf") return Value(HUGE_VAL);
    if (s == "-.inf") return Value(-HUGE_VAL);
    if (s == ".nan") return Value(std::nan(""));
  }
  return Value(s);
}

Result<Value> YamlToValue(const YAML::Node& n, int depth = 0) {
  if (depth > 64) return Err(InvalidArgument("nesting too deep"));
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return Value();
    case YAML::NodeType::Scalar: return ScalarValue(n);
    case YAML::NodeType::Sequence: {
      List l;
      l.reserve(n.size());
      for (const auto& e : n) {
        ASSIGN_OR_RETURN(Value v, YamlToValue(e, depth + 1));
        l.push_back(std::move(v));
      }
      return Value(std::move(l));
    }
    case YAML::NodeType::Map: {
      Map m;
      for (const auto& kv : n) {
        ASSIGN_OR_RETURN(Value v, YamlToValue(kv.second, depth + 1));
        m.insert_or_assign(kv.first.Scalar(), std::move(v));
      }
      return Value(std::move(m));
    }
  }
  return Value();
}

// Field readers: each returns an error naming the field when the type is wrong.
struct Reader {
  const Ctx& ctx;

  Status Keys(const YAML::Node& n, const std::string& field,
              std::initializer_list<std::string_view> allowed) const {
    if (!n.IsMap()) return ctx.Error(field, "expected a mapping", n);
    for (const auto& kv : n) {
      const std::string& k = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return ctx.Error(field + "." + k, "unknown field (expected one of: " + list + ")", kv.first);
      }
    }
    return Status::Ok();
  }

  Result<std::string> Str(const YAML::Node& n, const std::string& field) const {
    if (!n.IsScalar()) return Err(ctx.Error(field, "expected a string", n));
    return n.Scalar();
  }

  Result<int64_t> Int(const YAML::Node& n, const std::string& field, int64_t min) const {
    Value v = n.IsScalar() ? ScalarValue(n) : Value();
    if (!v.is_int()) return Err(ctx.Error(field, "expected an integer", n));
    if (v.as_int() < min)
      return Err(ctx.Error(field, "expected an integer >= " + std::to_string(min) + ", got " +
                                      std::to_string(v.as_int()), n));
    return v.as_int();
  }

  Result<double> Number(const YAML::Node& n, const std::string& field) const {
    Value v = n.IsScalar() ? ScalarValue(n) : Value();
    if (v.is_int()) return static_cast<double>(v.as_int());
    if (v.is_float()) return v.as_float();
    return Err(ctx.Error(field, "expected a number", n));
  }

  Result<bool> Bool(const YAML::Node& n, const std::string& field) const {
    Value v = n.IsScalar() ? ScalarValue(n) : Value();
    if (!v.is_bool()) return Err(ctx.Error(field, "expected true or false", n));
    return v.as_bool();
  }

  Result<int64_t> Duration(const YAML::Node& n, const std::string& field) const {
    if (!n.IsScalar()) return Err(ctx.Error(field, "expected a duration like 30s", n));
    auto d = ParseDurationMs(n.Scalar());
    if (!d) return Err(ctx.Error(field, d.error().message(), n));
    return *d;
  }

  Result<std::vector<TypedName>> Params(const YAML::Node& n, const std::string& field) const {
    std::vector<TypedName> out;
    if (!n) return out;
    if (!n.IsMap()) return Err(ctx.Error(field, "expected a mapping of name: type", n));
    std::set<std::string> seen;
    for (const auto& kv : n) {
      std::string name = kv.first.Scalar();
      if (!IsIdentifier(name)) return Err(ctx.Error(field + "." + name, "not a valid name", kv.first));
      if (!seen.insert(name).second) return Err(ctx.Error(field + "." + name, "given twice", kv.first));
      if (!kv.second.IsScalar())
        return Err(ctx.Error(field + "." + name, "expected a type such as int or list<float>", kv.second));
      auto t = Type::Parse(kv.second.Scalar());
      if (!t) return Err(ctx.Error(field + "." + name, t.error().message(), kv.second));
      out.push_back({name, *t});
    }
    return out;
  }

  Result<Resources> Requests(const YAML::Node& n, const std::string& field, Resources base) const {
    RETURN_IF_ERROR(Keys(n, field, {"cpu", "mem", "memory"}));
    if (n["cpu"]) {
      ASSIGN_OR_RETURN(base.cpu, Number(n["cpu"], field + ".cpu"));
      if (base.cpu < 0) return Err(ctx.Error(field + ".cpu", "expected a number >= 0", n));
    }
    for (const char* k : {"mem", "memory"}) {
      if (!n[k]) continue;
      if (!n[k].IsScalar()) return Err(ctx.Error(field + "." + k, "expected a size like 256Mi", n[k]));
      auto b = ParseBytes(n[k].Scalar());
      if (!b) return Err(ctx.Error(field + "." + k, b.error().message(), n[k]));
      base.mem_bytes = *b;
    }
    return base;
  }

  Result<CacheConfig> Cache(const YAML::Node& n, const std::string& field, CacheConfig c) const {
    if (n.IsScalar()) {
      ASSIGN_OR_RETURN(c.enabled, Bool(n, field));
      return c;
    }
    RETURN_IF_ERROR(Keys(n, field, {"enabled", "version", "serialize", "ignore_inputs", "ttl"}));
    c.enabled = true;
    if (n["enabled"]) { ASSIGN_OR_RETURN(c.enabled, Bool(n["enabled"], field + ".enabled")); }
    if (n["version"]) { ASSIGN_OR_RETURN(c.version, Str(n["version"], field + ".version")); }
    if (n["serialize"]) { ASSIGN_OR_RETURN(c.serialize, Bool(n["serialize"], field + ".serialize")); }
    if (n["ttl"]) { ASSIGN_OR_RETURN(c.ttl_ms, Duration(n["ttl"], field + ".ttl")); }
    if (n["ignore_inputs"]) {
      const YAML::Node& ig = n["ignore_inputs"];
      if (!ig.IsSequence()) return Err(ctx.Error(field + ".ignore_inputs", "expected a list of input names", ig));
      c.ignore_inputs.clear();
      for (size_t i = 0; i < ig.size(); ++i) {
        ASSIGN_OR_RETURN(std::string name, Str(ig[i], field + ".ignore_inputs[" + std::to_string(i) + "]"));
        c.ignore_inputs.push_back(name);
      }
    }
    return c;
  }
};

Result<Binding> ParseBinding(const YAML::Node& n) {
  Binding b;
  // Quoted or not (JSON specs quote everything), "$..." is a reference and "$$..." a literal.
  if (n.IsScalar() && !n.Scalar().empty() && n.Scalar()[0] == '$') {
    const std::string& s = n.Scalar();
    if (s.size() > 1 && s[1] == '$') {
      b.literal = Value(s.substr(1));
      return b;
    }
    auto dot = s.find('.');
    if (dot == std::string::npos || dot == 1 || dot + 1 == s.size())
      return Err(InvalidArgument("expected a reference $inputs.NAME or $NODE.OUTPUT, got '" + s +
                                 "' (write $$ for a literal $)"));
    Reference r;
    std::string head = s.substr(1, dot - 1);
    r.workflow_input = head == "inputs";
    if (!r.workflow_input) r.node = head;
    r.name = s.substr(dot + 1);
    b.ref = r;
    return b;
  }
  ASSIGN_OR_RETURN(b.literal, YamlToValue(n));
  return b;
}

// Is a value of type `from` acceptable where `to` is expected?
bool Assignable(const Type& from, const Type& to) {
  using K = Type::Kind;
  if (to.kind() == K::kJson || from.kind() == K::kJson) return true;
  if (from == to) return true;
  if (from.kind() == K::kInt && to.kind() == K::kFloat) return true;
  if (to.kind() == K::kOptional) {
    if (from.kind() == K::kNone) return true;
    if (from.kind() == K::kOptional) return Assignable(from.elem(), to.elem());
    return Assignable(from, to.elem());
  }
  if (from.kind() == K::kList && to.kind() == K::kList) return Assignable(from.elem(), to.elem());
  if (from.kind() == K::kMap && to.kind() == K::kMap) return Assignable(from.elem(), to.elem());
  return false;
}

// The decimal digits of r as num/den, so that ceil(r × n) is exact (r = 0.8 → 8/10).
std::pair<int64_t, int64_t> DecimalFraction(double r) {
  // -0.0 passes the [0, 1] check and prints as "-0", whose '-' read as a digit made -3/1.
  if (!(r > 0)) return {0, 1};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", r);
  std::string s(buf);
  if (s.find('e') != std::string::npos) {  // tiny ratios: fall back to 1e-15 resolution
    return {static_cast<int64_t>(std::llround(r * 1e15)), 1000000000000000LL};
  }
  int64_t num = 0, den = 1;
  bool frac = false;
  for (char c : s) {
    if (c == '.') {
      frac = true;
      continue;
    }
    num = num * 10 + (c - '0');
    if (frac) den *= 10;
  }
  return {num, den};
}

}  // namespace

std::string Reference::ToString() const {
  return "$" + (workflow_input ? std::string("inputs") : node) + "." + name;
}

const TypedName* TaskDef::FindInput(std::string_view n) const {
  for (const auto& p : inputs)
    if (p.name == n) return &p;
  return nullptr;
}
const TypedName* TaskDef::FindOutput(std::string_view n) const {
  for (const auto& p : outputs)
    if (p.name == n) return &p;
  return nullptr;
}

bool NodeDef::ToleratesFailures() const {
  if (!is_map) return false;
  if (min_successes) return true;  // min_successes < N is only known at run time; treat as tolerant
  return min_success_ratio && *min_success_ratio < 1.0;
}

std::vector<std::string> NodeDef::Dependencies() const {
  std::vector<std::string> deps;
  std::set<std::string_view> seen;
  for (const auto* list : {&inputs, &bind})
    for (const auto& [name, b] : *list)
      if (b.ref && !b.ref->workflow_input && seen.insert(b.ref->node).second)
        deps.push_back(b.ref->node);
  return deps;
}

const NodeDef* WorkflowDef::FindNode(std::string_view id) const {
  for (const auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

int Spec::RetriesOf(const NodeDef& n) const { return n.retries.value_or(TaskOf(n).retries); }
int64_t Spec::TimeoutOf(const NodeDef& n) const { return n.timeout_ms.value_or(TaskOf(n).timeout_ms); }

namespace {

// The type of `$node.out` as other nodes see it (Spec::OutputType).
Type NodeOutputType(const NodeDef& node, const TypedName& out) {
  if (!node.is_map) return out.type;
  return Type::ListOf(node.ToleratesFailures() ? Type::OptionalOf(out.type) : out.type);
}

std::string NoOutputMessage(const NodeDef& node, const TaskDef& task, const std::string& name) {
  std::string names;
  for (const auto& o : task.outputs) names += (names.empty() ? "" : ", ") + o.name;
  return "node '" + node.id + "' has no output '" + name + "' (outputs: " + names + ")";
}

}  // namespace

Result<Type> Spec::OutputType(const WorkflowDef& wf, const Reference& ref) const {
  if (ref.workflow_input) {
    for (const auto& in : wf.inputs)
      if (in.name == ref.name) return in.type;
    return Err(InvalidArgument("no workflow input '" + ref.name + "'"));
  }
  const NodeDef* node = wf.FindNode(ref.node);
  if (node == nullptr) return Err(InvalidArgument("no node '" + ref.node + "'"));
  const TypedName* out = TaskOf(*node).FindOutput(ref.name);
  if (out == nullptr) return Err(InvalidArgument(NoOutputMessage(*node, TaskOf(*node), ref.name)));
  return NodeOutputType(*node, *out);
}

Result<LaunchPlanDef> Spec::FindLaunchPlan(std::string_view name) const {
  if (auto it = launch_plans.find(std::string(name)); it != launch_plans.end()) return it->second;
  if (!name.empty() && !workflows.count(std::string(name))) {
    std::string names;
    for (const auto& [n, w] : workflows) names += (names.empty() ? "" : ", ") + n;
    for (const auto& [n, l] : launch_plans) names += (names.empty() ? "" : ", ") + n;
    return Err(InvalidArgument("no workflow or launch plan '" + std::string(name) + "' (there are: " + names + ")"));
  }
  ASSIGN_OR_RETURN(const WorkflowDef* wf, FindWorkflow(name));
  LaunchPlanDef lp;
  lp.name = wf->name;
  lp.workflow = wf->name;
  return lp;
}

bool Spec::HasDefault(const LaunchPlanDef& lp, std::string_view name) const {
  if (lp.default_inputs.count(std::string(name)) || lp.fixed_inputs.count(std::string(name))) return true;
  auto wit = workflows.find(lp.workflow);
  if (wit == workflows.end()) return false;
  for (const auto& in : wit->second.inputs)
    if (in.name == name) return in.default_value.has_value() || in.type.kind() == Type::Kind::kOptional;
  return false;
}

namespace {

// Derives the interface of launch plan `name` (and first of every launch plan its workflow's
// nodes run). `stack`: the workflows being derived, to refuse a workflow that runs itself.
Status DeriveInterface(Spec& spec, const std::string& name, std::vector<std::string>& stack) {
  if (spec.interfaces.count(name)) return Status::Ok();
  auto lp = spec.FindLaunchPlan(name);
  if (!lp) return lp.error();
  const WorkflowDef& wf = spec.workflows.at(lp->workflow);
  if (std::find(stack.begin(), stack.end(), wf.name) != stack.end()) {
    std::string chain;
    for (const auto& w : stack) chain += w + " → ";
    return InvalidArgument("workflow '" + wf.name + "' runs itself (" + chain + wf.name +
                           "): a workflow cannot map over itself");
  }
  stack.push_back(wf.name);
  for (const NodeDef& node : wf.nodes) {
    if (node.target != NodeTarget::kLaunchPlan) continue;
    if (Status st = DeriveInterface(spec, node.task, stack); !st.ok()) return st;
  }
  stack.pop_back();
  TaskDef iface;
  iface.name = lp->name;
  for (const WorkflowInput& in : wf.inputs)
    if (!lp->fixed_inputs.count(in.name)) iface.inputs.push_back({in.name, in.type});
  for (const auto& [out, b] : wf.outputs) {
    Type t = Type::Scalar(Type::Kind::kJson);
    if (b.ref) {
      auto have = spec.OutputType(wf, *b.ref);
      if (!have) return have.error();
      t = *have;
    }
    iface.outputs.push_back({out, t});
  }
  spec.interfaces.emplace(name, std::move(iface));
  return Status::Ok();
}

}  // namespace

Status DeriveInterfaces(Spec& spec) {
  spec.interfaces.clear();
  std::vector<std::string> stack;
  for (const auto& [wname, wf] : spec.workflows) {
    for (const NodeDef& node : wf.nodes) {
      if (node.target != NodeTarget::kLaunchPlan) continue;
      if (Status st = DeriveInterface(spec, node.task, stack); !st.ok()) return st;
    }
  }
  return Status::Ok();
}

Result<const WorkflowDef*> Spec::FindWorkflow(std::string_view name) const {
  if (name.empty()) {
    if (workflows.size() == 1) return &workflows.begin()->second;
    std::string names;
    for (const auto& [n, w] : workflows) names += (names.empty() ? "" : ", ") + n;
    return Err(InvalidArgument("the spec has several workflows; name one of: " + names));
  }
  auto it = workflows.find(std::string(name));
  if (it == workflows.end()) {
    std::string names;
    for (const auto& [n, w] : workflows) names += (names.empty() ? "" : ", ") + n;
    return Err(InvalidArgument("no workflow '" + std::string(name) + "' (workflows: " + names + ")"));
  }
  return &it->second;
}

Result<int64_t> ParseDurationMs(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v < 0)
    return Err(InvalidArgument("expected a duration like 30s, 250ms, 2m or 1h, got '" + s + "'"));
  std::string unit(end);
  double mult;
  if (unit.empty() || unit == "s") mult = 1000;
  else if (unit == "ms") mult = 1;
  else if (unit == "m") mult = 60000;
  else if (unit == "h") mult = 3600000;
  else return Err(InvalidArgument("expected a duration like 30s, 250ms, 2m or 1h, got '" + s + "'"));
  if (!(v * mult < 9.2e18))  // inf, nan and overflow would round to INT64_MIN
    return Err(InvalidArgument("duration '" + s + "' is out of range"));
  return static_cast<int64_t>(std::llround(v * mult));
}

Result<int64_t> ParseBytes(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v < 0)
    return Err(InvalidArgument("expected a size like 256Mi or 2Gi, got '" + s + "'"));
  std::string unit(end);
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},          {"k", 1e3},       {"K", 1e3},       {"M", 1e6},
      {"G", 1e9},       {"T", 1e12},      {"Ki", 1024.0},   {"Mi", 1048576.0},
      {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}};
  for (const auto& [u, m] : kUnits) {
    if (unit != u) continue;
    if (!(v * m < 9.2e18))  // inf, nan and overflow would round to INT64_MIN
      return Err(InvalidArgument("size '" + s + "' is out of range"));
    return static_cast<int64_t>(std::llround(v * m));
  }
  return Err(InvalidArgument("expected a size like 256Mi or 2Gi, got '" + s + "'"));
}

int64_t MinSuccesses(const NodeDef& node, int64_t n) {
  if (node.min_successes) return std::min(*node.min_successes, n);
  double r = node.min_success_ratio.value_or(1.0);
  auto [num, den] = DecimalFraction(r);
  __int128 prod = static_cast<__int128>(num) * n;
  return static_cast<int64_t>((prod + den - 1) / den);
}

namespace {

// Orders a workflow's nodes so that each comes after the nodes it references, and otherwise as
// written: the order of repeated passes over the list, each placing every node whose
// references are already placed. A node's pass follows from its references' passes (one more
// than a reference's when the reference is written after it), computed once per node, so N
// nodes are ordered in O(N log N) rather than in up to N passes over N nodes. Errors: the
// first node (in written order) with a reference to an unknown node or to itself, and cycles.
Result<std::vector<NodeDef>> OrderNodes(std::vector<NodeDef> parsed, const Ctx& ctx,
                                        const std::string& wfield) {
  const size_t n = parsed.size();
  std::unordered_map<std::string_view, size_t> position;
  for (size_t i = 0; i < n; ++i) position.emplace(parsed[i].id, i);
  std::vector<std::vector<size_t>> deps(n);
  for (size_t i = 0; i < n; ++i) {
    for (const auto& dep : parsed[i].Dependencies()) {
      auto it = position.find(dep);
      if (it == position.end())
        return Err(ctx.Error(wfield + ".nodes[" + parsed[i].id + "]",
                             "references unknown node '" + dep + "'"));
      if (it->second == i)
        return Err(ctx.Error(wfield + ".nodes[" + parsed[i].id + "]", "references itself"));
      deps[i].push_back(it->second);
    }
  }
  // Depth-first, without recursion (a chain may be as long as the spec allows).
  enum : uint8_t { kNew, kOnStack, kDone };
  std::vector<uint8_t> state(n, kNew);
  std::vector<size_t> pass(n, 0);
  std::vector<std::pair<size_t, size_t>> stack;  // node, its next reference to visit
  for (size_t root = 0; root < n; ++root) {
    if (state[root] != kNew) continue;
    state[root] = kOnStack;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      const size_t i = stack.back().first;
      const size_t k = stack.back().second;
      if (k < deps[i].size()) {
        ++stack.back().second;
        const size_t d = deps[i][k];
        if (state[d] == kOnStack)
          return Err(ctx.Error(wfield + ".nodes", "the node references form a cycle"));
        if (state[d] == kNew) {
          state[d] = kOnStack;
          stack.emplace_back(d, 0);
        }
        continue;
      }
      size_t p = 1;
      for (size_t d : deps[i]) p = std::max(p, pass[d] + (d > i ? 1 : 0));
      pass[i] = p;
      state[i] = kDone;
      stack.pop_back();
    }
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return pass[a] < pass[b]; });
  std::vector<NodeDef> out;
  out.reserve(n);
  for (size_t i : order) out.push_back(std::move(parsed[i]));
  return out;
}

}  // namespace

Result<Spec> ParseSpec(std::string_view text, std::string_view file, const SpecLimits& limits) {
  Ctx ctx(file);
  Reader rd{ctx};
  if (text.size() > limits.max_bytes)
    return Err(ctx.Error("(file)", "the spec is " + std::to_string(text.size()) +
                                       " bytes, more than the limit of " +
                                       std::to_string(limits.max_bytes)));
  YAML::Node root;
  try {
    // Counted before it is built: YAML::Load shares an aliased node, but everything that
    // walks the tree afterwards (YamlToValue) expands it.
    std::string owned(text);
    {
      std::istringstream in(owned);
      YAML::Parser parser(in);
      YamlCounter counter(limits);
      try {
        parser.HandleNextDocument(counter);
      } catch (const YamlCounter::LimitReached&) {
        return Err(ctx.Error("(file)", counter.violation(), counter.violation_mark()));
      }
    }
    root = YAML::Load(owned);
  } catch (const YAML::Exception& e) {
    return Err(InvalidArgument(std::string(file) + ":" + std::to_string(e.mark.line + 1) + ":" +
                               std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg));
  }
  Spec spec;
  // Name lookups by index: validation makes one per binding, and linear scans made a spec of a
  // few thousand nodes or parameters take seconds. Keys point into `spec`, whose maps never
  // move their elements.
  struct TaskIndex {
    std::unordered_map<std::string_view, const TypedName*> inputs, outputs;
  };
  std::unordered_map<std::string_view, TaskIndex> task_index;
  try {
    if (!root.IsMap()) return Err(ctx.Error("(top level)", "expected a mapping with version, tasks, workflows"));
    RETURN_IF_ERROR(rd.Keys(root, "(top level)", {"version", "tasks", "workflows", "launch_plans"}));
    if (!root["version"]) return Err(ctx.Error("version", "missing (expected version: 1)"));
    ASSIGN_OR_RETURN(int64_t version, rd.Int(root["version"], "version", 1));
    if (version != 1) return Err(ctx.Error("version", "expected 1, got " + std::to_string(version), root["version"]));
    spec.version = 1;

    // Tasks.
    YAML::Node tasks = root["tasks"];
    if (!tasks || !tasks.IsMap() || tasks.size() == 0)
      return Err(ctx.Error("tasks", "expected a mapping of at least one task"));
    for (const auto& kv : tasks) {
      TaskDef t;
      t.name = kv.first.Scalar();
      std::string f = "tasks." + t.name;
      if (!IsIdentifier(t.name)) return Err(ctx.Error(f, "not a valid task name", kv.first));
      if (spec.tasks.count(t.name)) return Err(ctx.Error(f, "duplicate task name", kv.first));
      const YAML::Node& n = kv.second;
      RETURN_IF_ERROR(rd.Keys(n, f, {"function", "command", "inputs", "outputs", "retries",
                                     "timeout", "interruptible", "cache", "requests",
                                     "checkpoint_interval", "workdir"}));
      if (n["function"] && n["command"])
        return Err(ctx.Error(f, "give either function or command, not both", n));
      if (n["function"]) {
        ASSIGN_OR_RETURN(t.function, rd.Str(n["function"], f + ".function"));
        if (t.function.empty()) return Err(ctx.Error(f + ".function", "expected a function name", n));
      } else if (n["command"]) {
        const YAML::Node& c = n["command"];
        if (c.IsScalar()) {
          // A string command runs through the shell, like a Dockerfile's shell form.
          t.command = {"/bin/sh", "-c", c.Scalar()};
        } else if (c.IsSequence() && c.size() > 0) {
          for (size_t i = 0; i < c.size(); ++i) {
            ASSIGN_OR_RETURN(std::string a, rd.Str(c[i], f + ".command[" + std::to_string(i) + "]"));
            t.command.push_back(a);
          }
        } else {
          return Err(ctx.Error(f + ".command", "expected a non-empty list of arguments", c));
        }
      } else {
        return Err(ctx.Error(f, "expected a function or a command", n));
      }
      ASSIGN_OR_RETURN(t.inputs, rd.Params(n["inputs"], f + ".inputs"));
      ASSIGN_OR_RETURN(t.outputs, rd.Params(n["outputs"], f + ".outputs"));
      if (n["retries"]) {
        ASSIGN_OR_RETURN(int64_t r, rd.Int(n["retries"], f + ".retries", 0));
        if (r > 10) return Err(ctx.Error(f + ".retries", "expected at most 10", n["retries"]));
        t.retries = static_cast<int>(r);
      }
      if (n["timeout"]) { ASSIGN_OR_RETURN(t.timeout_ms, rd.Duration(n["timeout"], f + ".timeout")); }
      if (n["interruptible"]) { ASSIGN_OR_RETURN(t.interruptible, rd.Bool(n["interruptible"], f + ".interruptible")); }
      if (n["cache"]) {
        ASSIGN_OR_RETURN(t.cache, rd.Cache(n["cache"], f + ".cache", {}));
        std::set<std::string_view> names;
        for (const auto& p : t.inputs) names.insert(p.name);
        for (const auto& name : t.cache.ignore_inputs)
          if (!names.count(name))
            return Err(ctx.Error(f + ".cache.ignore_inputs", "task '" + t.name + "' has no input '" + name + "'", n["cache"]));
      }
      if (n["checkpoint_interval"]) {
        ASSIGN_OR_RETURN(t.checkpoint_interval_ms, rd.Duration(n["checkpoint_interval"], f + ".checkpoint_interval"));
      }
      if (n["requests"]) { ASSIGN_OR_RETURN(t.requests, rd.Requests(n["requests"], f + ".requests", {})); }
      if (n["workdir"]) {
        if (!t.is_command())
          return Err(ctx.Error(f + ".workdir", "a function task runs in its worker: workdir is for commands",
                               n["workdir"]));
        ASSIGN_OR_RETURN(t.workdir, rd.Str(n["workdir"], f + ".workdir"));
        if (t.workdir.empty())
          return Err(ctx.Error(f + ".workdir", "expected a directory (relative: from the spec file's)", n["workdir"]));
      }
      const TaskDef& placed = spec.tasks.emplace(t.name, std::move(t)).first->second;
      TaskIndex& index = task_index[placed.name];
      for (const auto& p : placed.inputs) index.inputs.emplace(p.name, &p);
      for (const auto& p : placed.outputs) index.outputs.emplace(p.name, &p);
    }

    // Workflows.
    YAML::Node wfs = root["workflows"];
    if (!wfs || !wfs.IsMap() || wfs.size() == 0)
      return Err(ctx.Error("workflows", "expected a mapping of at least one workflow"));
    // What a node may run besides a task: a declared launch plan, or a workflow (its own
    // default launch plan). Known by name before any workflow is parsed: a node may run a
    // workflow written after it.
    std::set<std::string> launchable;
    for (const auto& wkv : wfs) launchable.insert(wkv.first.Scalar());
    const YAML::Node lps = root["launch_plans"];
    if (lps) {
      if (!lps.IsMap()) return Err(ctx.Error("launch_plans", "expected a mapping of launch plans", lps));
      for (const auto& lkv : lps) {
        std::string name = lkv.first.Scalar();
        std::string f = "launch_plans." + name;
        if (!IsIdentifier(name)) return Err(ctx.Error(f, "not a valid launch plan name", lkv.first));
        if (!launchable.insert(name).second)
          return Err(ctx.Error(f, "a workflow has this name (every workflow is already its own default launch plan)",
                               lkv.first));
      }
    }
    for (const auto& wkv : wfs) {
      WorkflowDef wf;
      wf.name = wkv.first.Scalar();
      std::string wfield = "workflows." + wf.name;
      if (!IsIdentifier(wf.name)) return Err(ctx.Error(wfield, "not a valid workflow name", wkv.first));
      if (spec.workflows.count(wf.name)) return Err(ctx.Error(wfield, "duplicate workflow name", wkv.first));
      const YAML::Node& w = wkv.second;
      RETURN_IF_ERROR(rd.Keys(w, wfield, {"inputs", "nodes", "outputs", "max_parallelism"}));
      if (w["max_parallelism"]) {
        ASSIGN_OR_RETURN(int64_t mp, rd.Int(w["max_parallelism"], wfield + ".max_parallelism", 0));
        wf.max_parallelism = static_cast<uint32_t>(std::min<int64_t>(mp, UINT32_MAX));
      }
      if (w["inputs"]) {
        if (!w["inputs"].IsMap()) return Err(ctx.Error(wfield + ".inputs", "expected a mapping", w["inputs"]));
        std::set<std::string> input_names;
        for (const auto& ikv : w["inputs"]) {
          WorkflowInput in;
          in.name = ikv.first.Scalar();
          std::string f = wfield + ".inputs." + in.name;
          if (!IsIdentifier(in.name)) return Err(ctx.Error(f, "not a valid input name", ikv.first));
          if (!input_names.insert(in.name).second) return Err(ctx.Error(f, "given twice", ikv.first));
          const YAML::Node& d = ikv.second;
          std::string type_text;
          if (d.IsScalar()) {
            type_text = d.Scalar();
          } else {
            RETURN_IF_ERROR(rd.Keys(d, f, {"type", "default"}));
            if (!d["type"]) return Err(ctx.Error(f + ".type", "missing (expected a type such as list<int>)", d));
            ASSIGN_OR_RETURN(type_text, rd.Str(d["type"], f + ".type"));
          }
          auto t = Type::Parse(type_text);
          if (!t) return Err(ctx.Error(f + ".type", t.error().message(), d));
          in.type = *t;
          if (d.IsMap() && d["default"]) {
            auto v = YamlToValue(d["default"]);
            if (!v) return Err(ctx.Error(f + ".default", v.error().message(), d["default"]));
            Status st = in.type.Check(*v);
            if (!st.ok()) return Err(ctx.Error(f + ".default", st.message(), d["default"]));
            in.default_value = in.type.Coerce(std::move(*v));
          }
          wf.inputs.push_back(std::move(in));
        }
      }
      const YAML::Node& nodes = w["nodes"];
      if (!nodes || !nodes.IsSequence() || nodes.size() == 0)
        return Err(ctx.Error(wfield + ".nodes", "expected a list of at least one node", w));
      std::vector<NodeDef> parsed;
      std::set<std::string> ids;
      for (size_t i = 0; i < nodes.size(); ++i) {
        const YAML::Node& n = nodes[i];
        std::string f = wfield + ".nodes[" + std::to_string(i) + "]";
        RETURN_IF_ERROR(rd.Keys(n, f, {"id", "task", "map", "inputs", "bind", "concurrency",
                                       "min_success_ratio", "min_successes", "retries", "timeout",
                                       "interruptible", "cache", "overrides"}));
        NodeDef node;
        if (!n["id"]) return Err(ctx.Error(f + ".id", "missing (every node needs an id)", n));
        ASSIGN_OR_RETURN(node.id, rd.Str(n["id"], f + ".id"));
        if (!IsIdentifier(node.id) || node.id == "inputs")
          return Err(ctx.Error(f + ".id", "not a valid node id: '" + node.id + "'", n["id"]));
        if (!ids.insert(node.id).second)
          return Err(ctx.Error(f + ".id", "duplicate node id '" + node.id + "'", n["id"]));
        f = wfield + ".nodes[" + node.id + "]";
        if (n["task"] && n["map"]) return Err(ctx.Error(f, "give either task or map, not both", n));
        if (!n["task"] && !n["map"]) return Err(ctx.Error(f, "expected task: NAME or map: NAME", n));
        node.is_map = static_cast<bool>(n["map"]);
        std::string tf = f + (node.is_map ? ".map" : ".task");
        ASSIGN_OR_RETURN(node.task, rd.Str(node.is_map ? n["map"] : n["task"], tf));
        auto tit = spec.tasks.find(node.task);
        bool runs_plan = launchable.count(node.task) > 0;
        if (tit != spec.tasks.end() && runs_plan)
          return Err(ctx.Error(tf, "'" + node.task + "' names both a task and a workflow or launch plan; rename one", n));
        if (tit == spec.tasks.end() && !runs_plan) {
          std::string names;
          for (const auto& [tn, td] : spec.tasks) names += (names.empty() ? "" : ", ") + tn;
          std::string plans;
          for (const auto& ln : launchable) plans += (plans.empty() ? "" : ", ") + ln;
          return Err(ctx.Error(tf, "unknown task '" + node.task + "' (tasks: " + names +
                                       "; workflows and launch plans: " + plans + ")", n));
        }
        if (runs_plan) node.target = NodeTarget::kLaunchPlan;
        // A launch plan's interface is known once every workflow is parsed: its bindings are
        // checked then (CheckPlanBindings).
        const TaskDef* task = runs_plan ? nullptr : &tit->second;
        const TaskIndex* tindex = runs_plan ? nullptr : &task_index.at(task->name);
        std::map<std::string, std::string_view> given;  // input name → section
        for (const char* section : {"inputs", "bind"}) {
          const YAML::Node& b = n[section];
          if (!b) continue;
          std::string sf = f + "." + section;
          if (!b.IsMap()) return Err(ctx.Error(sf, "expected a mapping of input: value", b));
          if (std::string_view(section) == "bind" && !node.is_map)
            return Err(ctx.Error(sf, "bind is for map nodes; a task node takes all its values in inputs", b));
          for (const auto& bkv : b) {
            std::string name = bkv.first.Scalar();
            if (task != nullptr && !tindex->inputs.count(name)) {
              std::string names;
              for (const auto& p : task->inputs) names += (names.empty() ? "" : ", ") + p.name;
              return Err(ctx.Error(sf + "." + name, "task '" + task->name + "' has no input '" + name +
                                                        "' (inputs: " + names + ")", bkv.first));
            }
            auto bind = ParseBinding(bkv.second);
            if (!bind) return Err(ctx.Error(sf + "." + name, bind.error().message(), bkv.second));
            auto& dest = std::string_view(section) == "inputs" ? node.inputs : node.bind;
            auto [earlier, first] = given.emplace(name, section);
            if (!first)
              return Err(ctx.Error(sf + "." + name,
                                   earlier->second == section ? "given twice" : "given twice (in inputs and bind)",
                                   bkv.first));
            dest.emplace_back(name, std::move(*bind));
          }
        }
        for (const TypedName& p : task != nullptr ? task->inputs : std::vector<TypedName>{}) {
          if (!given.count(p.name))
            return Err(ctx.Error(f + ".inputs." + p.name,
                                 "missing: task '" + task->name + "' needs input '" + p.name +
                                     "' (" + p.type.ToString() + ")" +
                                     (node.is_map ? " in inputs (mapped) or bind" : ""), n));
        }
        if (n["concurrency"]) {
          ASSIGN_OR_RETURN(int64_t c, rd.Int(n["concurrency"], f + ".concurrency", 0));
          node.concurrency = static_cast<uint32_t>(std::min<int64_t>(c, UINT32_MAX));
        }
        if (n["min_success_ratio"] && n["min_successes"])
          return Err(ctx.Error(f, "give either min_success_ratio or min_successes, not both", n));
        if (n["min_success_ratio"]) {
          ASSIGN_OR_RETURN(double r, rd.Number(n["min_success_ratio"], f + ".min_success_ratio"));
          if (!(r >= 0.0 && r <= 1.0))
            return Err(ctx.Error(f + ".min_success_ratio", "expected a number in [0, 1]", n["min_success_ratio"]));
          node.min_success_ratio = r;
        }
        if (n["min_successes"]) {
          ASSIGN_OR_RETURN(node.min_successes, rd.Int(n["min_successes"], f + ".min_successes", 0));
        }
        if ((node.min_success_ratio || node.min_successes || node.concurrency) && !node.is_map)
          return Err(ctx.Error(f, "concurrency and min_success_* apply to map nodes only", n));
        if (n["retries"]) {
          ASSIGN_OR_RETURN(int64_t r, rd.Int(n["retries"], f + ".retries", 0));
          if (r > 10) return Err(ctx.Error(f + ".retries", "expected at most 10", n["retries"]));
          node.retries = static_cast<int>(r);
        }
        if (n["timeout"]) { ASSIGN_OR_RETURN(node.timeout_ms, rd.Duration(n["timeout"], f + ".timeout")); }
        if (n["interruptible"]) { ASSIGN_OR_RETURN(node.interruptible, rd.Bool(n["interruptible"], f + ".interruptible")); }
        if (task == nullptr) {
          for (const char* k : {"retries", "timeout", "interruptible", "cache", "overrides"})
            if (n[k])
              return Err(ctx.Error(f + "." + k, "applies to task nodes; a workflow or launch plan's tasks carry their own",
                                   n[k]));
        }
        if (n["cache"]) { ASSIGN_OR_RETURN(node.cache, rd.Cache(n["cache"], f + ".cache", task->cache)); }
        if (task != nullptr) node.requests = task->requests;
        if (n["overrides"]) {
          const YAML::Node& o = n["overrides"];
          RETURN_IF_ERROR(rd.Keys(o, f + ".overrides", {"requests", "limits"}));
          if (o["requests"]) {
            ASSIGN_OR_RETURN(node.requests, rd.Requests(o["requests"], f + ".overrides.requests", node.requests));
          }
        }
        parsed.push_back(std::move(node));
      }

      // Outputs.
      if (w["outputs"]) {
        if (!w["outputs"].IsMap()) return Err(ctx.Error(wfield + ".outputs", "expected a mapping", w["outputs"]));
        std::set<std::string> output_names;
        for (const auto& okv : w["outputs"]) {
          if (!output_names.insert(okv.first.Scalar()).second)
            return Err(ctx.Error(wfield + ".outputs." + okv.first.Scalar(), "given twice", okv.first));
          auto b = ParseBinding(okv.second);
          if (!b) return Err(ctx.Error(wfield + ".outputs." + okv.first.Scalar(), b.error().message(), okv.second));
          wf.outputs.emplace_back(okv.first.Scalar(), std::move(*b));
        }
      }

      ASSIGN_OR_RETURN(wf.nodes, OrderNodes(std::move(parsed), ctx, wfield));
      spec.workflows.emplace(wf.name, std::move(wf));
    }

    // Launch plans: their workflow, and defaults and fixed values checked against its inputs.
    if (lps) {
      for (const auto& lkv : lps) {
        LaunchPlanDef lp;
        lp.name = lkv.first.Scalar();
        std::string f = "launch_plans." + lp.name;
        const YAML::Node& l = lkv.second;
        RETURN_IF_ERROR(rd.Keys(l, f, {"workflow", "default_inputs", "fixed_inputs", "max_parallelism"}));
        if (!l["workflow"]) return Err(ctx.Error(f + ".workflow", "missing (expected the workflow it runs)", l));
        ASSIGN_OR_RETURN(lp.workflow, rd.Str(l["workflow"], f + ".workflow"));
        auto wit = spec.workflows.find(lp.workflow);
        if (wit == spec.workflows.end())
          return Err(ctx.Error(f + ".workflow", "no workflow '" + lp.workflow + "'", l["workflow"]));
        const WorkflowDef& wf = wit->second;
        for (const char* section : {"default_inputs", "fixed_inputs"}) {
          const YAML::Node& vals = l[section];
          if (!vals) continue;
          std::string sf = f + "." + section;
          if (!vals.IsMap()) return Err(ctx.Error(sf, "expected a mapping of input: value", vals));
          Map& dest = std::string_view(section) == "fixed_inputs" ? lp.fixed_inputs : lp.default_inputs;
          for (const auto& vkv : vals) {
            std::string name = vkv.first.Scalar();
            const WorkflowInput* in = nullptr;
            for (const auto& wi : wf.inputs)
              if (wi.name == name) in = &wi;
            if (in == nullptr)
              return Err(ctx.Error(sf + "." + name, "workflow '" + wf.name + "' has no input '" + name + "'", vkv.first));
            if (lp.fixed_inputs.count(name) || lp.default_inputs.count(name))
              return Err(ctx.Error(sf + "." + name, "given as both a default and a fixed input", vkv.first));
            auto v = YamlToValue(vkv.second);
            if (!v) return Err(ctx.Error(sf + "." + name, v.error().message(), vkv.second));
            Status st = in->type.Check(*v);
            if (!st.ok()) return Err(ctx.Error(sf + "." + name, st.message(), vkv.second));
            dest.emplace(name, in->type.Coerce(std::move(*v)));
          }
        }
        if (l["max_parallelism"]) {
          ASSIGN_OR_RETURN(int64_t mp, rd.Int(l["max_parallelism"], f + ".max_parallelism", 0));
          lp.max_parallelism = static_cast<uint32_t>(std::min<int64_t>(mp, UINT32_MAX));
        }
        spec.launch_plans.emplace(lp.name, std::move(lp));
      }
    }
    if (Status st = DeriveInterfaces(spec); !st.ok()) return Err(ctx.Error("workflows", st.message()));
    for (const auto& [name, iface] : spec.interfaces) {
      TaskIndex& index = task_index[iface.name];
      for (const auto& p : iface.inputs) index.inputs.emplace(p.name, &p);
      for (const auto& p : iface.outputs) index.outputs.emplace(p.name, &p);
    }
    // Bindings of nodes that run a launch plan: known inputs, never a fixed one, and every
    // input without a default given.
    for (const auto& [wname, wf] : spec.workflows) {
      for (const auto& node : wf.nodes) {
        if (node.target != NodeTarget::kLaunchPlan) continue;
        std::string f = "workflows." + wname + ".nodes[" + node.id + "]";
        LaunchPlanDef lp = *spec.FindLaunchPlan(node.task);
        const TaskIndex& tindex = task_index.at(node.task);
        std::set<std::string> bound;
        for (const auto* list : {&node.inputs, &node.bind}) {
          for (const auto& [name, b] : *list) {
            bound.insert(name);
            if (lp.fixed_inputs.count(name))
              return Err(ctx.Error(f + ".inputs." + name, "input '" + name + "' is fixed by launch plan '" + lp.name +
                                                               "' and cannot be given"));
            if (!tindex.inputs.count(name)) {
              std::string names;
              for (const auto& p : spec.interfaces.at(node.task).inputs) names += (names.empty() ? "" : ", ") + p.name;
              return Err(ctx.Error(f + ".inputs." + name, "launch plan '" + lp.name + "' has no input '" + name +
                                                               "' (inputs: " + names + ")"));
            }
          }
        }
        for (const auto& p : spec.interfaces.at(node.task).inputs)
          if (!bound.count(p.name) && !spec.HasDefault(lp, p.name))
            return Err(ctx.Error(f + ".inputs." + p.name, "missing: launch plan '" + lp.name + "' needs input '" +
                                                               p.name + "' (" + p.type.ToString() + ")" +
                                                               (node.is_map ? " in inputs (mapped) or bind" : "")));
      }
    }

    // Type-check every binding now that all node outputs are known.
    for (const auto& [wname, wf] : spec.workflows) {
      std::string wfield = "workflows." + wname;
      // Spec::OutputType, with lookups by index.
      std::unordered_map<std::string_view, const Type*> input_types;
      for (const auto& in : wf.inputs) input_types.emplace(in.name, &in.type);
      std::unordered_map<std::string_view, const NodeDef*> node_index;
      for (const auto& node : wf.nodes) node_index.emplace(node.id, &node);
      auto output_type = [&](const Reference& ref) -> Result<Type> {
        if (ref.workflow_input) {
          auto it = input_types.find(ref.name);
          if (it == input_types.end()) return Err(InvalidArgument("no workflow input '" + ref.name + "'"));
          return *it->second;
        }
        auto nit = node_index.find(ref.node);
        if (nit == node_index.end()) return Err(InvalidArgument("no node '" + ref.node + "'"));
        const NodeDef& node = *nit->second;
        const auto& outputs = task_index.at(node.task).outputs;
        auto oit = outputs.find(ref.name);
        if (oit == outputs.end())
          return Err(InvalidArgument(NoOutputMessage(node, spec.TaskOf(node), ref.name)));
        return NodeOutputType(node, *oit->second);
      };
      for (const auto& node : wf.nodes) {
        const TaskIndex& tindex = task_index.at(node.task);
        std::string f = wfield + ".nodes[" + node.id + "]";
        for (const char* section : {"inputs", "bind"}) {
          bool mapped = node.is_map && std::string_view(section) == "inputs";
          const auto& list = std::string_view(section) == "inputs" ? node.inputs : node.bind;
          for (const auto& [name, b] : list) {
            std::string bf = f + "." + section + "." + name;
            Type want = tindex.inputs.at(name)->type;
            if (mapped) want = Type::ListOf(want);
            if (b.ref) {
              auto have = output_type(*b.ref);
              if (!have) return Err(ctx.Error(bf, have.error().message()));
              if (!Assignable(*have, want))
                return Err(ctx.Error(bf, b.ref->ToString() + " is " + have->ToString() +
                                             ", expected " + want.ToString() +
                                             (mapped ? " (mapped inputs are lists)" : "")));
            } else {
              Status st = want.Check(b.literal);
              if (!st.ok()) return Err(ctx.Error(bf, st.message() + (mapped ? " (mapped inputs are lists)" : "")));
            }
          }
        }
      }
      for (const auto& [name, b] : wf.outputs) {
        if (b.ref) {
          auto have = output_type(*b.ref);
          if (!have) return Err(ctx.Error(wfield + ".outputs." + name, have.error().message()));
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return Err(InvalidArgument(std::string(file) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg));
  }
  return spec;
}

Status ResolveWorkdirs(Spec& spec, std::string_view file, const std::string& spec_dir) {
  for (auto& [name, t] : spec.tasks) {
    if (t.workdir.empty() || t.workdir.front() == '/') continue;
    if (spec_dir.empty() || spec_dir.front() != '/')
      return InvalidArgument(std::string(file) + ": tasks." + name + ".workdir: '" + t.workdir +
                             "' is relative, but the spec's directory is not known (it was not sent from a "
                             "file): give an absolute directory");
    t.workdir = (std::filesystem::path(spec_dir) / t.workdir).lexically_normal().string();
    if (t.workdir.size() > 1 && t.workdir.back() == '/') t.workdir.pop_back();
  }
  return Status::Ok();
}

Result<Spec> LoadSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err(InvalidArgument(path + ": cannot read the spec file"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSpec(ss.str(), path);
}

namespace {

std::string BytesText(size_t n) {
  std::string s = std::to_string(n) + " bytes";
  if (n >= (1u << 20) && n % (1u << 20) == 0) s += " (" + std::to_string(n >> 20) + " MiB)";
  return s;
}

// Checks one resolved input against `limits`; adds its encoded size to *total.
Status CheckInputLimits(const std::string& name, const Value& v, const InputLimits& limits,
                        size_t* total) {
  size_t depth = NestingDepth(v);
  if (depth > limits.max_depth)
    return InvalidArgument("input '" + name + "': nested " + std::to_string(depth) +
                           " levels deep, more than the limit of " +
                           std::to_string(limits.max_depth));
  if (!v.is_list()) {
    size_t bytes = EncodedMsgpackSize(v);
    if (bytes > limits.max_element_bytes)
      return InvalidArgument("input '" + name + "': " + BytesText(bytes) +
                             " encoded, more than the element limit of " +
                             BytesText(limits.max_element_bytes));
    *total += bytes;
    return Status::Ok();
  }
  const List& l = v.as_list();
  if (l.size() > limits.max_list_elements)
    return InvalidArgument("input '" + name + "': " + std::to_string(l.size()) +
                           " elements, more than the limit of " +
                           std::to_string(limits.max_list_elements) +
                           " per list (the subtasks of a map node: fanout-coordinator --max-node-elements)");
  size_t bytes = MsgpackArrayHeader(l.size()).size();
  for (size_t i = 0; i < l.size(); ++i) {
    size_t e = EncodedMsgpackSize(l[i]);
    if (e > limits.max_element_bytes)
      return InvalidArgument("input '" + name + "': element [" + std::to_string(i) + "] is " +
                             BytesText(e) + " encoded, more than the element limit of " +
                             BytesText(limits.max_element_bytes));
    bytes += e;
  }
  *total += bytes;
  return Status::Ok();
}

}  // namespace

Result<Map> ResolveWorkflowInputs(const WorkflowDef& wf, Map given,
                                  const InputLimits& limits) {
  Map out;
  std::set<std::string_view> declared;
  for (const auto& in : wf.inputs) declared.insert(in.name);
  for (const auto& [name, v] : given) {
    if (!declared.count(name)) {
      std::string names;
      for (const auto& in : wf.inputs) names += (names.empty() ? "" : ", ") + in.name;
      return Err(InvalidArgument("input '" + name + "': workflow '" + wf.name +
                                 "' has no such input (inputs: " + names + ")"));
    }
  }
  for (const auto& in : wf.inputs) {
    auto it = given.find(in.name);
    if (it != given.end()) {
      Status st = in.type.Check(it->second);
      if (!st.ok()) return Err(InvalidArgument("input '" + in.name + "': " + st.message()));
      out.emplace(in.name, in.type.Coerce(std::move(it->second)));
    } else if (in.default_value) {
      out.emplace(in.name, *in.default_value);
    } else if (in.type.kind() == Type::Kind::kOptional) {
      out.emplace(in.name, Value());
    } else {
      return Err(InvalidArgument("input '" + in.name + "' (" + in.type.ToString() +
                                 "): missing, and it has no default (give it with -i " + in.name +
                                 "=JSON)"));
    }
  }
  size_t total = 0;
  for (const auto& [name, v] : out) RETURN_IF_ERROR(CheckInputLimits(name, v, limits, &total));
  if (total > limits.max_total_bytes)
    return Err(InvalidArgument("inputs of workflow '" + wf.name + "': " + BytesText(total) +
                               " encoded together, more than the limit of " +
                               BytesText(limits.max_total_bytes)));
  return out;
}

Result<Map> ResolveLaunchPlanInputs(const Spec& spec, const LaunchPlanDef& lp, Map given,
                                    const InputLimits& limits) {
  auto wit = spec.workflows.find(lp.workflow);
  if (wit == spec.workflows.end()) return Err(InvalidArgument("no workflow '" + lp.workflow + "'"));
  Map merged = lp.default_inputs;
  for (auto& [name, v] : given) {
    if (lp.fixed_inputs.count(name))
      return Err(InvalidArgument("input '" + name + "' is fixed by launch plan '" + lp.name + "' and cannot be given"));
    merged.insert_or_assign(name, std::move(v));
  }
  for (const auto& [name, v] : lp.fixed_inputs) merged.insert_or_assign(name, v);
  return ResolveWorkflowInputs(wit->second, std::move(merged), limits);
}

Status CheckKnownMapLengths(const WorkflowDef& wf, const Map& inputs) {
  for (const auto& node : wf.nodes) {
    if (!node.is_map) continue;
    std::string first_name;
    size_t first_len = 0;
    bool have = false;
    for (const auto& [name, b] : node.inputs) {
      const Value* v = nullptr;
      if (!b.ref) v = &b.literal;
      else if (b.ref->workflow_input) {
        auto it = inputs.find(b.ref->name);
        if (it != inputs.end()) v = &it->second;
      }
      if (v == nullptr || !v->is_list()) continue;
      if (!have) {
        first_name = name;
        first_len = v->as_list().size();
        have = true;
      } else if (v->as_list().size() != first_len) {
        return InvalidArgument("node '" + node.id + "': mapped inputs have different lengths: '" +
                               first_name + "' has " + std::to_string(first_len) + " elements, '" +
                               name + "' has " + std::to_string(v->as_list().size()));
      }
    }
    // The size is known when every mapped input is (none mapped: one subtask).
    bool all_known = true;
    for (const auto& [name, b] : node.inputs)
      if (b.ref && !b.ref->workflow_input) all_known = false;
    size_t n = have ? first_len : (node.inputs.empty() ? 1 : 0);
    if (all_known && (have || node.inputs.empty()) && node.min_successes &&
        *node.min_successes > static_cast<int64_t>(n)) {
      return InvalidArgument("node '" + node.id + "': min_successes " +
                             std::to_string(*node.min_successes) + " is more than its " +
                             std::to_string(n) + " subtasks");
    }
  }
  return Status::Ok();
}

}  // namespace fanout
