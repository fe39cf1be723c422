// The workflow spec (DESIGN §3.1): parsing from YAML (JSON is YAML), validation, and input
// resolution. Every error names the file, the field and what was expected:
//   "wf.yaml: workflows.map_workflow.nodes[0].map: unknown task 'detect' (tasks: a, b)"
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/type.h"
#include "common/value.h"

namespace fanout {

// `$inputs.NAME` or `$NODE.OUTPUT`.
struct Reference {
  bool workflow_input = false;  // $inputs.NAME
  std::string node;             // when !workflow_input
  std::string name;             // input or output name
  std::string ToString() const;
};

// A node input: a literal value or a reference.
struct Binding {
  std::optional<Reference> ref;
  Value literal;
};

struct Resources {
  double cpu = 0;         // cores; 0 = no request
  int64_t mem_bytes = 0;  // 0 = no request
};

struct CacheConfig {
  bool enabled = false;
  std::string version;
  bool serialize = false;                  // one subtask per key computes it (reservations)
  std::vector<std::string> ignore_inputs;  // inputs left out of the cache key
  int64_t ttl_ms = 0;                      // 0: entries never expire
};

struct TypedName {
  std::string name;
  Type type;
};

struct TaskDef {
  std::string name;
  std::string function;              // a C++ function (plugin or builtin), or
  std::vector<std::string> command;  // a command
  std::vector<TypedName> inputs;
  std::vector<TypedName> outputs;
  int retries = 0;
  int64_t timeout_ms = 0;
  bool interruptible = false;
  CacheConfig cache;
  Resources requests;
  int64_t checkpoint_interval_ms = 0;  // commands: save $FANOUT_CHECKPOINT_DIR this often

  bool is_command() const { return !command.empty(); }
  const TypedName* FindInput(std::string_view n) const;
  const TypedName* FindOutput(std::string_view n) const;
};

struct NodeDef {
  std::string id;
  bool is_map = false;
  std::string task;
  std::vector<std::pair<std::string, Binding>> inputs;  // map node: mapped lists (zipped)
  std::vector<std::pair<std::string, Binding>> bind;    // map node: sent whole to every subtask
  uint32_t concurrency = 0;                             // 0: unbounded
  std::optional<double> min_success_ratio;
  std::optional<int64_t> min_successes;
  std::optional<int> retries;
  std::optional<int64_t> timeout_ms;
  std::optional<bool> interruptible;
  std::optional<CacheConfig> cache;
  Resources requests;  // task requests with `overrides.requests` applied

  // True when a failed subtask leaves null in the outputs instead of failing the node.
  bool ToleratesFailures() const;
  // Node ids this node references.
  std::vector<std::string> Dependencies() const;
};

struct WorkflowInput {
  std::string name;
  Type type;
  std::optional<Value> default_value;
};

struct WorkflowDef {
  std::string name;
  std::vector<WorkflowInput> inputs;
  std::vector<NodeDef> nodes;  // in a dependency order (validated: references point backwards
                               // or forwards, but never in a cycle; stored topologically sorted)
  std::vector<std::pair<std::string, Binding>> outputs;

  const NodeDef* FindNode(std::string_view id) const;
};

struct Spec {
  int version = 1;
  std::map<std::string, TaskDef> tasks;
  std::map<std::string, WorkflowDef> workflows;

  const TaskDef& TaskOf(const NodeDef& n) const { return tasks.at(n.task); }
  // The effective retries/timeout of a node (node override, else task default).
  int RetriesOf(const NodeDef& n) const;
  const CacheConfig& CacheOf(const NodeDef& n) const { return n.cache ? *n.cache : TaskOf(n).cache; }
  int64_t TimeoutOf(const NodeDef& n) const;
  // The type of `$node.output` as seen by other nodes: list<T> for map nodes
  // (list<optional<T>> when failures are tolerated), T for task nodes.
  Result<Type> OutputType(const WorkflowDef& wf, const Reference& ref) const;
  // Picks the workflow: by name, or the only one when name is empty.
  Result<const WorkflowDef*> FindWorkflow(std::string_view name) const;
};

// Parses and validates a spec. `file` is used in error messages only.
Result<Spec> ParseSpec(std::string_view text, std::string_view file);
Result<Spec> LoadSpecFile(const std::string& path);

// Builds the workflow's input map: given values (type-checked, coerced) plus defaults.
// Unknown names and missing inputs without default are errors.
Result<Map> ResolveWorkflowInputs(const WorkflowDef& wf, const Map& given);

// Checks, before anything runs, the lengths of mapped inputs that are known at submission
// (literals and workflow inputs): different lengths are an error naming both, and so is a
// min_successes larger than a size known at submission.
Status CheckKnownMapLengths(const WorkflowDef& wf, const Map& inputs);

// Parses "30s", "250ms", "2m", "1h", or a bare number of seconds.
Result<int64_t> ParseDurationMs(std::string_view text);
// Parses "256Mi", "2Gi", "1G", "512k", or a bare number of bytes.
Result<int64_t> ParseBytes(std::string_view text);

// The minimum number of successes for a node of size n (DESIGN §4): min_successes when set,
// else ceil(ratio × n) computed exactly in decimal (n=10, r=0.8 → 8).
int64_t MinSuccesses(const NodeDef& node, int64_t n);

}  // namespace fanout
