// Execution: one run of a workflow, as the coordinator holds it in memory, and the pure
// helpers that turn node bindings into per-subtask arguments and subtask outputs into node
// values. Values travel as msgpack bytes end to end: a mapped list is kept as its encoded
// bytes plus element offsets, and a subtask's arguments are spliced from those slices
// without decoding, so the coordinator holds a few bytes per subtask, not Value objects.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/phases.h"
#include "common/spec.h"
#include "common/status_doc.h"
#include "common/wire.h"
#include "coordinator/array_node.h"
#include "coordinator/ids.h"

namespace fanout {

// One task input of a node: the same bytes for every subtask (bound), or one element per
// subtask (mapped).
struct ArgSource {
  bool mapped = false;
  std::string bytes;              // msgpack: the bound value, or the whole mapped list
  std::vector<uint32_t> offsets;  // mapped: element i is bytes[offsets[i], offsets[i+1])
};

// A node's resolved inputs, in the task's declared input order.
struct NodeInputs {
  uint32_t size = 1;
  std::vector<ArgSource> args;
  // The parameter each of args is for. A task node binds every input; a launch-plan node may
  // leave out inputs with defaults.
  std::vector<std::string> names;
  // The msgpack array of subtask i's arguments.
  std::string ArgsFor(uint32_t index) const;
  // The msgpack encoding of each argument of subtask i (views into this object).
  std::vector<std::string_view> ArgSlices(uint32_t index) const;
  size_t Bytes() const;
};

// Resolves a node's bindings against the values known so far ("inputs.NAME", "NODE.OUT" →
// msgpack). Mapped lists of different lengths are an error naming both.
Result<NodeInputs> ResolveNodeInputs(const Spec& spec, const NodeDef& node,
                                     const std::map<std::string, std::string>& values);

// The value key of a reference: "inputs.NAME" or "NODE.OUTPUT".
std::string ValueKey(const Reference& ref);

// Builds a node's output values from its subtasks' output arrays, fed in index order.
class OutputAssembler {
 public:
  OutputAssembler(const NodeDef& node, const TaskDef& task, uint32_t n);
  // `outputs`: the msgpack array a subtask returned, or nullopt (failed: null elements).
  Status Add(uint32_t index, std::optional<std::string_view> outputs);
  // "NODE.OUTPUT" → msgpack value (list for map nodes).
  std::map<std::string, std::string> Finish();

 private:
  const NodeDef& node_;
  const TaskDef& task_;
  uint32_t n_;
  std::vector<std::string> lists_;  // one per task output
};

struct Execution;

struct NodeRun {
  NodeUid uid = 0;               // set by ExecutionTable
  Execution* exec = nullptr;     // the execution it belongs to
  const NodeDef* def = nullptr;
  const TaskDef* task = nullptr;
  NodePhase phase = NodePhase::kPending;
  bool busy = false;  // an async step (start, collect) is under way
  std::unique_ptr<ArrayNode> array;
  NodeInputs inputs;
  wire::TaskDesc desc;
  std::string error;
  Waiting waiting;  // why startable subtasks cannot be placed right now
  bool interruptible = false;
  const CacheConfig* cache = nullptr;  // set when caching is enabled for this node
  // Non-terminal subtasks with a checkpoint in the store: their next attempt gets it. The
  // bytes stay in the store (fetched at dispatch), never in coordinator memory.
  std::unordered_set<uint32_t> checkpointed;

  const std::string& id() const { return def->id; }
  SubtaskId Subtask(uint32_t index) const { return SubtaskId{uid, index}; }
};

// A node's policy changed while it runs (`fanout update`), kept with the execution.
struct NodeOverride {
  std::optional<uint32_t> concurrency;
  std::optional<int64_t> min_successes;
};

struct Execution {
  std::string id;
  std::string spec_name;  // the submitted file name and text (top-level executions only)
  std::string spec_text;
  std::shared_ptr<const Spec> spec;  // shared by an execution and all its children
  std::string launch_plan;           // what runs (a workflow is its own default launch plan)
  const WorkflowDef* wf = nullptr;
  uint32_t max_parallelism = 0;  // subtasks and children in flight across its nodes; 0: no bound
  ExecPhase phase = ExecPhase::kRunning;
  int64_t created_ms = 0;
  int64_t ended_ms = 0;
  std::string error;
  std::string recovered_from;  // `fanout recover`: reuse this execution's succeeded subtasks
  bool overwrite_cache = false;
  uint64_t elements = 0;  // subtasks of the map nodes started so far (Limits::max_execution_elements)  // `fanout run --overwrite-cache`: no lookups, entries replaced
  std::map<std::string, std::string> values;  // ValueKey → msgpack
  std::vector<NodeRun> nodes;
  std::map<std::string, NodeOverride> overrides;  // node id → `fanout update`
  // A child execution runs element `parent_index` (attempt `parent_attempt`) of node
  // `parent_node` of execution `parent`, a map over a launch plan. `root` is the top-level
  // execution (its own id for a top-level one).
  std::string parent, parent_node, root;
  uint32_t parent_index = 0, parent_attempt = 0;

  bool is_child() const { return !parent.empty(); }
  NodeRun* FindNode(std::string_view id);
  // One PENDING NodeRun per node of the workflow (spec and wf must be set).
  void InitNodes();
  // The workflow inputs as one msgpack map (from values "inputs.NAME").
  std::string InputsMsgpack() const;
  // InputsMsgpack() made off the loop for a submission (ParseSubmission); Accept moves it into
  // the store. Empty: Accept makes it.
  std::string stored_inputs;
  // How many more subtasks and children may start across its nodes (max_parallelism minus
  // what is in flight); UINT64_MAX when unbounded.
  uint64_t ParallelismLeft() const;
};

// The id of the child execution that runs element `index` (attempt `attempt`) of node `node`
// of execution `parent`: "PARENT.NODE.INDEX", and "…~ATTEMPT" after the first attempt.
// Deterministic, so that a restarted coordinator finds the child it had started.
std::string ChildId(std::string_view parent, std::string_view node, uint32_t index, uint32_t attempt);

// Every execution in memory (the non-terminal ones, and each ended one until its end is
// stored), by id and each of its nodes by NodeUid.
class ExecutionTable {
 public:
  // Takes the execution and gives each of its nodes a NodeUid (after InitNodes).
  Execution& Add(std::unique_ptr<Execution> e);
  void Remove(const std::string& id);
  Execution* Find(std::string_view id);
  NodeRun* Node(NodeUid uid);
  NodeRun* Node(std::string_view exec, std::string_view node);
  size_t size() const { return execs_.size(); }
  template <typename F>
  void ForEach(F&& f) {
    for (auto& [id, e] : execs_) f(*e);
  }
  // Visits executions in id order starting after `after` (from the first when it is empty or
  // the last), wrapping around once, until `f` returns false. Returns the id visited last, so
  // that a caller that stops early can go on from there next time.
  template <typename F>
  std::string ForEachFrom(const std::string& after, F&& f) {
    std::string last;
    auto start = after.empty() ? execs_.begin() : execs_.upper_bound(after);
    for (size_t seen = 0, n = execs_.size(); seen < n; ++seen, ++start) {
      if (start == execs_.end()) start = execs_.begin();
      last = start->first;
      if (!f(*start->second)) break;
    }
    return last;
  }
  // The live executions with nodes that run launch plans (the parents of child executions).
  template <typename F>
  void ForEachParent(F&& f) {
    for (const std::string& id : parents_)
      if (auto it = execs_.find(id); it != execs_.end()) f(*it->second);
  }
  std::vector<std::string> Ids() const;
  // The node of a live execution that a child execution runs an element of (nullptr: gone).
  NodeRun* ParentNode(const Execution& child);
  // The uid a node had before its execution left memory (attempts of it may still be in
  // flight on workers and must be released when they report).
  std::optional<NodeUid> Retired(std::string_view exec, std::string_view node) const;
  // Forgets retired uids for which `done(uid)` holds.
  template <typename F>
  void PruneRetired(F&& done) {
    std::erase_if(retired_, [&](const auto& kv) { return done(kv.second); });
  }

 private:
  static std::string RetiredKey(std::string_view exec, std::string_view node);
  std::map<std::string, std::unique_ptr<Execution>, std::less<>> execs_;
  std::set<std::string, std::less<>> parents_;
  std::unordered_map<std::string, NodeUid> retired_;
  std::unordered_map<NodeUid, NodeRun*> nodes_;
  NodeUid next_uid_ = 1;
};

// The task description sent with every WORK batch of a node.
wire::TaskDesc MakeTaskDesc(const Spec& spec, const NodeDef& node);

// The STATUS document (common/status_doc.h).
ExecutionStatus BuildStatus(const Execution& e);

// Workflow outputs as one msgpack map, from the execution's values.
Result<std::string> WorkflowOutputs(const Execution& e);

}  // namespace fanout
