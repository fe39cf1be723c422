// Execution: one run of a workflow, as the coordinator holds it in memory, and the pure
// helpers that turn node bindings into per-subtask arguments and subtask outputs into node
// values. Values travel as msgpack bytes end to end: a mapped list is kept as its encoded
// bytes plus element offsets, and a subtask's arguments are spliced from those slices
// without decoding, so the coordinator holds a few bytes per subtask, not Value objects.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/spec.h"
#include "common/wire.h"
#include "coordinator/array_node.h"
#include "coordinator/phases.h"

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

struct NodeRun {
  const NodeDef* def = nullptr;
  const TaskDef* task = nullptr;
  NodePhase phase = NodePhase::kPending;
  bool busy = false;  // an async step (start, collect) is under way
  std::unique_ptr<ArrayNode> array;
  NodeInputs inputs;
  wire::TaskDesc desc;
  std::string error;
  std::string waiting;  // why startable subtasks cannot be placed right now, or ""
  bool interruptible = false;
  const CacheConfig* cache = nullptr;  // set when caching is enabled for this node
  // Latest checkpoint of each non-terminal subtask that saved one; handed to its next attempt.
  std::unordered_map<uint32_t, std::string> checkpoints;
};

struct Execution {
  std::string id;
  std::string spec_name;
  std::string spec_text;
  std::unique_ptr<Spec> spec;
  const WorkflowDef* wf = nullptr;
  ExecPhase phase = ExecPhase::kRunning;
  int64_t created_ms = 0;
  int64_t ended_ms = 0;
  std::string error;
  std::string recovered_from;  // `fanout recover`: reuse this execution's succeeded subtasks
  bool overwrite_cache = false;  // `fanout run --overwrite-cache`: no lookups, entries replaced
  std::map<std::string, std::string> values;  // ValueKey → msgpack
  std::vector<NodeRun> nodes;

  NodeRun* FindNode(std::string_view id);
  // One PENDING NodeRun per node of the workflow (spec and wf must be set).
  void InitNodes();
};

// The task description sent with every WORK batch of a node.
wire::TaskDesc MakeTaskDesc(const Spec& spec, const NodeDef& node);

// The STATUS document (see cli/ and DESIGN §3.2).
nlohmann::json StatusJson(const Execution& e);

// Workflow outputs as one msgpack map, from the execution's values.
Result<std::string> WorkflowOutputs(const Execution& e);

}  // namespace fanout
