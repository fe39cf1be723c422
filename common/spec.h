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

#include "common/codec.h"
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
  // Commands: the directory they run in. Relative in the YAML: from the spec file's directory
  // (ResolveWorkdirs, at submission). Empty: the worker's working directory.
  std::string workdir;

  bool is_command() const { return !command.empty(); }
  const TypedName* FindInput(std::string_view n) const;
  const TypedName* FindOutput(std::string_view n) const;
};

// What a node runs: a task, or a launch plan (a workflow with default and fixed inputs; every
// workflow is also its own default launch plan). A launch-plan node runs each element as a
// child execution of that workflow.
enum class NodeTarget : uint8_t { kTask, kLaunchPlan };

struct NodeDef {
  std::string id;
  bool is_map = false;
  std::string task;  // the target's name (a task, or a launch plan / workflow)
  NodeTarget target = NodeTarget::kTask;
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
  std::optional<uint32_t> max_parallelism;  // what runs at once across its nodes; 0: unbounded
  std::vector<WorkflowInput> inputs;
  std::vector<NodeDef> nodes;  // in a dependency order (validated: references point backwards
                               // or forwards, but never in a cycle; stored topologically sorted)
  std::vector<std::pair<std::string, Binding>> outputs;

  const NodeDef* FindNode(std::string_view id) const;
};

// A launch plan: a workflow with default inputs (a caller may override them) and fixed inputs
// (a caller may not). Every workflow W is also a launch plan W with neither.
struct LaunchPlanDef {
  std::string name;
  std::string workflow;
  Map default_inputs;  // type-checked and coerced against the workflow's inputs
  Map fixed_inputs;
  std::optional<uint32_t> max_parallelism;  // overrides the workflow's
};

struct Spec {
  int version = 1;
  std::map<std::string, TaskDef> tasks;
  std::map<std::string, WorkflowDef> workflows;
  std::map<std::string, LaunchPlanDef> launch_plans;  // declared ones; see FindLaunchPlan
  // The interface of every launch plan that a node targets, as a task: inputs are the
  // workflow's inputs minus the fixed ones, outputs the workflow's outputs with their types.
  // Derived (DeriveInterfaces), never written by hand.
  std::map<std::string, TaskDef> interfaces;

  const TaskDef& TaskOf(const NodeDef& n) const {
    return n.target == NodeTarget::kTask ? tasks.at(n.task) : interfaces.at(n.task);
  }
  // A declared launch plan, or the default launch plan of a workflow of that name (empty: the
  // only workflow, as FindWorkflow).
  Result<LaunchPlanDef> FindLaunchPlan(std::string_view name) const;
  // Whether input `name` of launch plan `lp` may be left out (a default, or optional).
  bool HasDefault(const LaunchPlanDef& lp, std::string_view name) const;
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

// Limits on a spec's text (DESIGN §7). The YAML event stream is walked and counted before any
// node is built, so a small hostile document (aliases that expand exponentially: "billion
// laughs", or aliases to the node that contains them) is refused before it allocates. Each
// violation is an InvalidArgument naming the file, the line when known, the limit and what
// was found.
struct SpecLimits {
  // The spec text. yaml-cpp builds about 1 MB/s of spec on this project's machines, and the
  // text is read twice (counted, then built): large data belongs in inputs (-i NAME=@FILE).
  size_t max_bytes = 4u << 20;
  // Nesting of sequences and mappings in the document, aliases expanded (the spec's own
  // structure takes about six levels above a workflow input's default).
  size_t max_depth = 64;
  // YAML nodes (scalars, sequences, mappings), each alias counted as the nodes it stands for.
  uint64_t max_nodes = 1u << 20;
  // Beyond `alias_free_nodes`, aliases may make the document at most `max_alias_expansion`
  // times larger than the nodes written in the text (the rule go-yaml adopted after
  // CVE-2019-11253): reusing a block is fine, multiplying one is refused.
  uint64_t alias_free_nodes = 100'000;
  uint64_t max_alias_expansion = 10;
};

// Fills spec.interfaces for every launch-plan node target, in dependency order; refuses a
// workflow that maps over itself (directly or through others). ParseSpec calls it; so does
// DecodeSpec, which stores only what is written.
Status DeriveInterfaces(Spec& spec);

// Parses and validates a spec. `file` is used in error messages only.
Result<Spec> ParseSpec(std::string_view text, std::string_view file, const SpecLimits& limits = {});
Result<Spec> LoadSpecFile(const std::string& path);
// Makes every relative command `workdir:` absolute, from `spec_dir` (the spec file's directory,
// absolute; empty when the spec did not come from a file, which makes a relative one an error
// naming `file` and the task).
Status ResolveWorkdirs(Spec& spec, std::string_view file, const std::string& spec_dir);

// Limits on the inputs of an execution (DESIGN §7), checked where they are resolved so that a
// value that would fail later (a worker decoding its arguments, a restarted coordinator
// decoding the stored inputs) is refused at submission, naming the input, the index and the
// size. Sizes are msgpack-encoded bytes, the form in which values travel and are stored.
struct InputLimits {
  // One element of a list input (what one subtask receives of a mapped input), or a whole
  // input that is not a list.
  size_t max_element_bytes = kMaxElementBytes;
  // Elements of one list input.
  size_t max_list_elements = 10'000'000;
  // Nesting of collections inside one input: one less than the decoders accept
  // (DecodeLimits::max_depth), because the stored inputs are one map around them.
  size_t max_depth = DecodeLimits{}.max_depth - 1;
  // All inputs together: the coordinator stores them as one msgpack map and decodes it with
  // the default DecodeLimits when it restarts.
  size_t max_total_bytes = DecodeLimits{}.max_bytes;
};

// Builds the workflow's input map: given values (type-checked, coerced) plus defaults.
// Unknown names, missing inputs without default and values over `limits` are errors
// (InvalidArgument). `given` is taken by value: moved in, a million-element list is not
// copied on its way to the result.
Result<Map> ResolveWorkflowInputs(const WorkflowDef& wf, Map given,
                                  const InputLimits& limits = {});

// The inputs a run of launch plan `lp` starts with: its defaults, then `given` (which may not
// name a fixed input: an error naming it), then its fixed inputs; resolved against its
// workflow as ResolveWorkflowInputs does.
Result<Map> ResolveLaunchPlanInputs(const Spec& spec, const LaunchPlanDef& lp, Map given,
                                    const InputLimits& limits = {});

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
