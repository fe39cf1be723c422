#include "coordinator/signature_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/type.h"

namespace fanout {
namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string Show(const FunctionSignature& s) {
  return "(" + Join(s.inputs) + ") -> (" + Join(s.outputs) + ")";
}

// Whether a value of type `from` converts to `to` on its way into a function argument (msgpack
// conversion in the SDK) or into a declared output (Type::Check).
bool Converts(const Type& from, const Type& to) {
  using K = Type::Kind;
  if (from.kind() == K::kJson || to.kind() == K::kJson) return true;  // not judged
  if (to.kind() == K::kOptional) {
    if (from.kind() == K::kNone) return true;
    return Converts(from.kind() == K::kOptional ? from.elem() : from, to.elem());
  }
  if (from.kind() != to.kind()) {
    return (from.kind() == K::kInt && to.kind() == K::kFloat) ||
           (from.kind() == K::kBytes && to.kind() == K::kStr);
  }
  if (from.kind() == K::kList || from.kind() == K::kMap) return Converts(from.elem(), to.elem());
  return true;
}

bool Converts(const std::string& from, const std::string& to) {
  auto f = Type::Parse(from);
  auto t = Type::Parse(to);
  return !f || !t || Converts(*f, *t);  // an unknown name is not judged
}

}  // namespace

std::optional<FunctionSignature> ParseSignature(std::string_view text) {
  size_t arrow = text.find("->");
  if (arrow == std::string_view::npos) return std::nullopt;
  FunctionSignature s;
  auto add = [](std::vector<std::string>& to, std::string_view type) {
    auto t = Type::Parse(type);
    if (!t) return false;
    to.push_back(t->ToString());
    return true;
  };
  std::string_view in = text.substr(0, arrow);
  while (!in.empty()) {
    size_t comma = in.find(',');
    if (!add(s.inputs, in.substr(0, comma))) return std::nullopt;
    in = comma == std::string_view::npos ? std::string_view() : in.substr(comma + 1);
    if (comma != std::string_view::npos && in.empty()) return std::nullopt;
  }
  std::string_view out = text.substr(arrow + 2);
  if (!out.empty() && !add(s.outputs, out)) return std::nullopt;
  return s;
}

bool Fits(const FunctionSignature& spec, const FunctionSignature& fn) {
  if (spec.inputs.size() != fn.inputs.size()) return false;
  for (size_t i = 0; i < spec.inputs.size(); ++i)
    if (!Converts(spec.inputs[i], fn.inputs[i])) return false;
  // The single result is the single declared output; with none declared it is dropped.
  if (spec.outputs.empty()) return true;
  if (spec.outputs.size() > 1) return false;
  return Converts(fn.outputs.empty() ? std::string("none") : fn.outputs[0], spec.outputs[0]);
}

FunctionSignature SignatureOf(const TaskDef& task) {
  FunctionSignature s;
  for (const TypedName& p : task.inputs) s.inputs.push_back(p.type.ToString());
  for (const TypedName& p : task.outputs) s.outputs.push_back(p.type.ToString());
  return s;
}

Status CheckFunctions(const Spec& spec, const WorkflowDef& wf, const std::vector<WorkerOffer>& offers,
                      const SignatureCheckOptions& options) {
  std::set<std::string> offered;
  size_t live = 0;
  for (const WorkerOffer& w : offers) {
    if (w.draining) continue;
    ++live;
    offered.insert(w.functions.begin(), w.functions.end());
  }
  // The nodes of this workflow and of every workflow its launch-plan nodes reach (their child
  // executions run those nodes on the same workers).
  std::vector<const NodeDef*> nodes;
  std::set<std::string> seen_workflows{wf.name};
  std::vector<const WorkflowDef*> todo{&wf};
  while (!todo.empty()) {
    const WorkflowDef* w = todo.back();
    todo.pop_back();
    for (const NodeDef& node : w->nodes) {
      if (node.target == NodeTarget::kTask) {
        nodes.push_back(&node);
        continue;
      }
      auto lp = spec.FindLaunchPlan(node.task);
      if (!lp || !seen_workflows.insert(lp->workflow).second) continue;
      if (auto child = spec.FindWorkflow(lp->workflow)) todo.push_back(*child);
    }
  }
  std::set<std::string> checked;
  for (const NodeDef* node_ptr : nodes) {
    const NodeDef& node = *node_ptr;
    const TaskDef& task = spec.TaskOf(node);
    if (task.is_command() || !checked.insert(task.name).second) continue;
    const std::string& f = task.function;
    if (!offered.contains(f)) {
      if (options.wait_for_workers || (live == 0 && options.cluster_starting)) continue;
      std::string msg = fmt::format("task '{}' (node '{}'): no connected worker offers function '{}'", task.name,
                                    node.id, f);
      if (live == 0) {
        msg += "; no worker is connected";
      } else {
        std::vector<std::string> names(offered.begin(), offered.end());
        std::string closest;
        size_t best = 3;  // a typo: at most 2 edits away
        for (const std::string& n : names)
          if (size_t d = EditDistance(f, n); d < best) best = d, closest = n;
        if (!closest.empty()) msg += fmt::format(" (did you mean '{}'?)", closest);
        if (names.size() > 20) {
          names.resize(20);
          names.push_back("...");
        }
        msg += fmt::format("; the {} connected worker(s) offer: {}", live, Join(names));
      }
      msg += ". A worker offers the functions of the plugins it loads (--plugin PATH.so). To submit anyway and "
             "wait until such a worker joins: fanout run --wait-for-workers";
      return InvalidArgument(msg);
    }
    // Signatures, from the workers that advertise them.
    FunctionSignature want = SignatureOf(task);
    for (const WorkerOffer& w : offers) {
      auto it = w.signatures.find(f);
      if (w.draining || it == w.signatures.end() || Fits(want, it->second)) continue;
      return InvalidArgument(fmt::format("task '{}' (node '{}'): function '{}' of worker {} takes {}, but the spec "
                                         "declares {}",
                                         task.name, node.id, f, w.worker_id, Show(it->second), Show(want)));
    }
  }
  return Status::Ok();
}

}  // namespace fanout
