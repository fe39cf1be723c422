#include "common/status_doc.h"

namespace fanout {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kWaitReasons[] = {"",
                                             "no_workers",
                                             "function_not_offered",
                                             "only_interruptible_workers",
                                             "requests_fit_no_worker",
                                             "last_retry_needs_non_interruptible",
                                             "max_parallelism"};

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool Bool(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

template <typename T>
T Num(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<T>() : T{};
}

Result<NodeStatus> NodeFromJson(const Json& n) {
  if (!n.is_object()) return Err(InvalidArgument("status: a node is not an object"));
  NodeStatus s;
  s.id = Str(n, "id");
  s.is_map = Str(n, "kind") == "map";
  s.task = Str(n, "task");
  s.launch_plan = Str(n, "target") == "launch_plan";
  s.child_prefix = Str(n, "child_prefix");
  auto phase = ParseNodePhase(Str(n, "phase"));
  if (!phase) return Err(InvalidArgument("status: node '" + s.id + "' has an unknown phase"));
  s.phase = *phase;
  s.error = Str(n, "error");
  s.waiting.message = Str(n, "waiting");
  s.waiting.reason = ParseWaitReason(Str(n, "waiting_reason"));
  s.waiting.function = Str(n, "waiting_function");
  if (auto r = n.find("requests"); r != n.end() && r->is_object()) {
    s.cpu = Num<double>(*r, "cpu");
    s.mem_bytes = Num<int64_t>(*r, "mem_bytes");
  }
  if (auto c = n.find("counts"); c != n.end() && c->is_object()) {
    for (int p = 0; p < kSubtaskPhaseCount; ++p)
      s.counts[p] = Num<uint64_t>(*c, std::string(SubtaskPhaseName(static_cast<SubtaskPhase>(p))).c_str());
    s.cached = Num<uint64_t>(*c, "cached");
  }
  s.size = Num<uint64_t>(n, "size");
  s.min_successes = Num<int64_t>(n, "min_successes");
  s.concurrency = Num<uint32_t>(n, "concurrency");
  s.state_bytes = Num<uint64_t>(n, "state_bytes");
  if (auto f = n.find("failed"); f != n.end() && f->is_array()) {
    for (const Json& e : *f) {
      if (!e.is_object()) continue;
      FailedSubtask fs;
      fs.index = Num<uint32_t>(e, "index");
      fs.attempts = Num<uint32_t>(e, "attempts");
      fs.phase = ParseSubtaskPhase(Str(e, "phase")).value_or(SubtaskPhase::kFailed);
      fs.error = Str(e, "error");
      s.failed.push_back(std::move(fs));
    }
  }
  return s;
}

Json NodeToJson(const NodeStatus& s) {
  Json counts = Json::object();
  for (int p = 0; p < kSubtaskPhaseCount; ++p)
    counts[std::string(SubtaskPhaseName(static_cast<SubtaskPhase>(p)))] = s.counts[p];
  counts["cached"] = s.cached;
  Json failed = Json::array();
  for (const FailedSubtask& f : s.failed)
    failed.push_back({{"index", f.index},
                      {"attempts", f.attempts},
                      {"phase", SubtaskPhaseName(f.phase)},
                      {"error", f.error}});
  Json j{{"id", s.id},
         {"kind", s.is_map ? "map" : "task"},
         {"task", s.task},
         {"phase", NodePhaseName(s.phase)},
         {"error", s.error},
         {"waiting", s.waiting.message},
         {"requests", {{"cpu", s.cpu}, {"mem_bytes", s.mem_bytes}}},
         {"counts", counts},
         {"size", s.size},
         {"min_successes", s.min_successes},
         {"concurrency", s.concurrency},
         {"state_bytes", s.state_bytes},
         {"failed", failed}};
  j["target"] = s.launch_plan ? "launch_plan" : "task";
  if (!s.child_prefix.empty()) j["child_prefix"] = s.child_prefix;
  if (s.waiting.reason != WaitReason::kNone) j["waiting_reason"] = WaitReasonName(s.waiting.reason);
  if (!s.waiting.function.empty()) j["waiting_function"] = s.waiting.function;
  return j;
}

}  // namespace

std::string_view WaitReasonName(WaitReason r) {
  auto i = static_cast<size_t>(r);
  return i < std::size(kWaitReasons) ? kWaitReasons[i] : "";
}

WaitReason ParseWaitReason(std::string_view name) {
  for (size_t i = 1; i < std::size(kWaitReasons); ++i)
    if (kWaitReasons[i] == name) return static_cast<WaitReason>(i);
  return WaitReason::kNone;
}

Json ExecutionStatus::ToJson() const {
  Json nodes_json = Json::array();
  for (const NodeStatus& n : nodes) nodes_json.push_back(NodeToJson(n));
  Json j{{"execution", execution},
         {"workflow", workflow},
         {"phase", ExecPhaseName(phase)},
         {"created_ms", created_ms},
         {"ended_ms", ended_ms},
         {"error", error},
         {"nodes", nodes_json}};
  if (!recovered_from.empty()) j["recovered_from"] = recovered_from;
  if (!launch_plan.empty()) j["launch_plan"] = launch_plan;
  if (!parent.empty()) {
    j["parent"] = parent;
    j["parent_node"] = parent_node;
    j["parent_index"] = parent_index;
  }
  if (max_parallelism > 0) j["max_parallelism"] = max_parallelism;
  if (events_port > 0) j["events_port"] = events_port;
  return j;
}

Result<ExecutionStatus> ExecutionStatus::FromJson(const Json& j) {
  if (!j.is_object()) return Err(InvalidArgument("status: not a JSON object"));
  ExecutionStatus s;
  s.execution = Str(j, "execution");
  s.workflow = Str(j, "workflow");
  auto phase = ParseExecPhase(Str(j, "phase"));
  if (!phase) return Err(InvalidArgument("status: unknown execution phase '" + Str(j, "phase") + "'"));
  s.phase = *phase;
  s.created_ms = Num<int64_t>(j, "created_ms");
  s.ended_ms = Num<int64_t>(j, "ended_ms");
  s.error = Str(j, "error");
  s.recovered_from = Str(j, "recovered_from");
  s.launch_plan = Str(j, "launch_plan");
  s.parent = Str(j, "parent");
  s.parent_node = Str(j, "parent_node");
  s.parent_index = Num<uint32_t>(j, "parent_index");
  s.max_parallelism = Num<uint32_t>(j, "max_parallelism");
  s.events_port = Num<int>(j, "events_port");
  if (auto n = j.find("nodes"); n != j.end() && n->is_array()) {
    for (const Json& node : *n) {
      ASSIGN_OR_RETURN(NodeStatus ns, NodeFromJson(node));
      s.nodes.push_back(std::move(ns));
    }
  }
  return s;
}

void ExecutionOutputs::AddFailures(const ExecutionStatus& status) {
  failed.clear();
  failed_total = 0;
  for (const NodeStatus& n : status.nodes) {
    if (!n.is_map) continue;
    failed_total += n.count(SubtaskPhase::kFailed) + n.count(SubtaskPhase::kAborted);
    for (const FailedSubtask& f : n.failed) failed.push_back(FailedElement{n.id, f.index, f.error});
  }
}

Json ExecutionOutputs::ToJson() const {
  Json j{{"execution", execution}, {"phase", ExecPhaseName(phase)}, {"error", error}};
  if (has_outputs) j["outputs"] = outputs;
  Json f = Json::array();
  for (const FailedElement& e : failed) f.push_back({{"node", e.node}, {"index", e.index}, {"error", e.error}});
  j["failed"] = std::move(f);
  j["failed_total"] = failed_total;
  return j;
}

Result<ExecutionOutputs> ExecutionOutputs::FromJson(const Json& j) {
  if (!j.is_object()) return Err(InvalidArgument("outputs: not a JSON object"));
  ExecutionOutputs o;
  o.execution = Str(j, "execution");
  auto phase = ParseExecPhase(Str(j, "phase"));
  if (!phase) return Err(InvalidArgument("outputs: unknown execution phase '" + Str(j, "phase") + "'"));
  o.phase = *phase;
  o.error = Str(j, "error");
  if (auto it = j.find("outputs"); it != j.end() && !it->is_null()) {
    o.has_outputs = true;
    o.outputs = *it;
  }
  if (auto f = j.find("failed"); f != j.end() && f->is_array()) {
    for (const Json& e : *f)
      if (e.is_object()) o.failed.push_back(FailedElement{Str(e, "node"), Num<uint32_t>(e, "index"), Str(e, "error")});
  }
  o.failed_total = Num<uint64_t>(j, "failed_total");
  return o;
}

char SubtaskGrid::CharOf(SubtaskPhase p, bool cached) {
  if (cached && p == SubtaskPhase::kSucceeded) return kCachedChar;
  auto i = static_cast<size_t>(p);
  return i < kPhaseChars.size() ? kPhaseChars[i] : '?';
}

Json SubtaskGrid::ToJson() const {
  Json j{{"execution", execution}, {"node", node}, {"size", size}, {"offset", offset}, {"live", live}};
  if (has_indices) {
    j["indices"] = indices;
  } else {
    j["encoding"] = "one character per subtask: q queued, r running, y retrying, s succeeded, c cached, "
                    "f failed, a aborted, w waiting_for_cache";
    j["phases"] = phases;
  }
  return j;
}

Result<SubtaskGrid> SubtaskGrid::FromJson(const Json& j) {
  if (!j.is_object()) return Err(InvalidArgument("subtasks: not a JSON object"));
  SubtaskGrid g;
  g.execution = Str(j, "execution");
  g.node = Str(j, "node");
  g.size = Num<uint64_t>(j, "size");
  g.offset = Num<uint64_t>(j, "offset");
  g.phases = Str(j, "phases");
  g.live = Bool(j, "live");
  if (auto it = j.find("indices"); it != j.end() && it->is_array()) {
    g.has_indices = true;
    for (const Json& i : *it)
      if (i.is_number_unsigned()) g.indices.push_back(i.get<uint32_t>());
  }
  return g;
}

Json SubtaskDetail::ToJson() const {
  return Json{{"execution", execution},
              {"node", node},
              {"index", index},
              {"phase", SubtaskPhaseName(phase)},
              {"attempts", attempts},
              {"system_failures", system_failures},
              {"cached", cached},
              {"error", error},
              {"log", {{"found", log_found}, {"attempt", log_attempt}, {"tail", log_tail}, {"bytes", log_bytes}}},
              {"live", live}};
}

Result<SubtaskDetail> SubtaskDetail::FromJson(const Json& j) {
  if (!j.is_object()) return Err(InvalidArgument("subtask: not a JSON object"));
  SubtaskDetail d;
  d.execution = Str(j, "execution");
  d.node = Str(j, "node");
  d.index = Num<uint32_t>(j, "index");
  auto phase = ParseSubtaskPhase(Str(j, "phase"));
  if (!phase) return Err(InvalidArgument("subtask: unknown phase '" + Str(j, "phase") + "'"));
  d.phase = *phase;
  d.attempts = Num<uint32_t>(j, "attempts");
  d.system_failures = Num<uint32_t>(j, "system_failures");
  d.cached = Bool(j, "cached");
  d.error = Str(j, "error");
  if (auto l = j.find("log"); l != j.end() && l->is_object()) {
    d.log_found = Bool(*l, "found");
    d.log_attempt = Num<uint32_t>(*l, "attempt");
    d.log_tail = Str(*l, "tail");
    d.log_bytes = Num<uint64_t>(*l, "bytes");
  }
  d.live = Bool(j, "live");
  return d;
}

}  // namespace fanout
