// The workflow spec (common/spec.h): parsing, validation errors (each an exit-2 InvalidArgument
// naming the file and the field), input resolution and min_successes arithmetic.
#include "common/spec.h"

#include "common/codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace fanout {
namespace {

const char* const kFile = "wf.yaml";

// Tasks shared by most specs below.
const std::string kTasks = R"(version: 1
tasks:
  double:
    function: double
    inputs: {x: int}
    outputs: {o0: int}
  add:
    command: [python3, add.py]
    inputs: {a: float, b: float}
    outputs: {o0: float}
  one:
    function: one
    outputs: {o0: int}
  sum:
    function: sum
    inputs: {xs: "list<int>"}
    outputs: {o0: int}
)";

// A spec with kTasks and one workflow `wf` whose body (indented 4) is given.
std::string Wf(const std::string& body) { return kTasks + "workflows:\n  wf:\n" + body; }

Spec MustParse(const std::string& text) {
  auto spec = ParseSpec(text, kFile);
  EXPECT_TRUE(spec.has_value()) << spec.error().ToString() << "\n--- spec ---\n" << text;
  return spec ? std::move(*spec) : Spec{};
}

const WorkflowDef& OnlyWorkflow(const Spec& spec) {
  static const WorkflowDef kEmpty;
  auto wf = spec.FindWorkflow("");
  EXPECT_TRUE(wf.has_value());
  return wf ? **wf : kEmpty;
}

// Parsing fails with InvalidArgument; the message starts with the file name and contains
// every one of `parts`.
void ExpectSpecError(const std::string& text, std::initializer_list<std::string> parts) {
  auto spec = ParseSpec(text, kFile);
  ASSERT_FALSE(spec.has_value()) << "parsed, but expected an error containing " << *parts.begin()
                                 << "\n--- spec ---\n" << text;
  const Status& st = spec.error();
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_EQ(st.message().rfind(kFile, 0), 0u) << "message does not start with the file: "
                                              << st.message();
  for (const std::string& p : parts)
    EXPECT_NE(st.message().find(p), std::string::npos)
        << "message lacks '" << p << "': " << st.message();
}

std::filesystem::path SourceRoot() { return FANOUT_SOURCE_DIR; }

// ---------------------------------------------------------------------------------------
// The example spec.

TEST(SpecTest, ExampleSpecParsesWithEveryExampleWorkflowAndItsLaunchPlan) {
  auto spec = LoadSpecFile((SourceRoot() / "examples/map_tasks.yaml").string());
  ASSERT_TRUE(spec.has_value()) << spec.error().ToString();
  EXPECT_EQ(spec->version, 1);
  EXPECT_EQ(spec->tasks.size(), 4u);
  ASSERT_EQ(spec->workflows.size(), 11u);
  for (const char* name :
       {"map_workflow", "map_workflow_with_resource_overrides", "map_workflow_with_metadata",
        "map_workflow_with_additional_params", "multiple_inputs_map_workflow",
        "map_workflow_partial_with_task_output", "map_workflow_with_lists", "order_total",
        "map_over_launch_plan", "anomalies_of_batch", "map_over_workflow_of_maps"}) {
    EXPECT_TRUE(spec->FindWorkflow(name).has_value()) << name;
  }
  ASSERT_EQ(spec->launch_plans.size(), 1u);
  auto lp = spec->FindLaunchPlan("order_total_lp");
  ASSERT_TRUE(lp.has_value());
  EXPECT_EQ(lp->workflow, "order_total");
}

TEST(SpecTest, ExampleSpecDetailsAreParsed) {
  auto spec = LoadSpecFile((SourceRoot() / "examples/map_tasks.yaml").string());
  ASSERT_TRUE(spec.has_value()) << spec.error().ToString();

  const TaskDef& cached = spec->tasks.at("detect_anomalies_cached");
  EXPECT_EQ(cached.function, "detect_anomalies");
  EXPECT_EQ(cached.retries, 1);
  EXPECT_TRUE(cached.cache.enabled);
  EXPECT_EQ(cached.cache.version, "0.1");
  const TaskDef& multi = spec->tasks.at("multi_input_task");
  EXPECT_TRUE(multi.is_command());
  EXPECT_EQ(multi.command, (std::vector<std::string>{"python3", "examples/tasks/multi_input.py"}));
  ASSERT_EQ(multi.inputs.size(), 3u);
  EXPECT_EQ(multi.inputs[0].name, "quantity");
  EXPECT_EQ(multi.inputs[1].type.ToString(), "float");

  const WorkflowDef& mw = *spec->FindWorkflow("map_workflow").value();
  ASSERT_EQ(mw.inputs.size(), 1u);
  EXPECT_EQ(mw.inputs[0].type.ToString(), "list<int>");
  ASSERT_TRUE(mw.inputs[0].default_value.has_value());
  EXPECT_EQ(mw.inputs[0].default_value->as_list().size(), 10u);
  EXPECT_EQ(mw.inputs[0].default_value->as_list()[6], Value(100));
  ASSERT_EQ(mw.nodes.size(), 1u);
  EXPECT_TRUE(mw.nodes[0].is_map);
  EXPECT_EQ(mw.nodes[0].task, "detect_anomalies");
  ASSERT_EQ(mw.outputs.size(), 1u);
  EXPECT_EQ(mw.outputs[0].second.ref->ToString(), "$anomalies.o0");

  const WorkflowDef& ro = *spec->FindWorkflow("map_workflow_with_resource_overrides").value();
  EXPECT_EQ(ro.nodes[0].requests.mem_bytes, int64_t{2} << 30);

  const WorkflowDef& ap = *spec->FindWorkflow("map_workflow_with_additional_params").value();
  EXPECT_EQ(ap.nodes[0].concurrency, 1u);
  ASSERT_TRUE(ap.nodes[0].min_success_ratio.has_value());
  EXPECT_EQ(*ap.nodes[0].min_success_ratio, 0.75);
  EXPECT_TRUE(ap.nodes[0].ToleratesFailures());
  EXPECT_EQ(MinSuccesses(ap.nodes[0], 10), 8);
  auto out = spec->OutputType(ap, *ap.outputs[0].second.ref);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->ToString(), "list<optional<bool>>");

  const WorkflowDef& mi = *spec->FindWorkflow("multiple_inputs_map_workflow").value();
  const NodeDef& totals = mi.nodes[0];
  ASSERT_EQ(totals.inputs.size(), 1u);
  EXPECT_EQ(totals.inputs[0].first, "quantity");
  ASSERT_EQ(totals.bind.size(), 2u);
  // Float defaults written as 6.0 stay floats.
  EXPECT_EQ(*mi.inputs[1].default_value, Value(6.0));

  const WorkflowDef& pt = *spec->FindWorkflow("map_workflow_partial_with_task_output").value();
  ASSERT_EQ(pt.nodes.size(), 2u);
  EXPECT_EQ(pt.nodes[0].id, "price");
  EXPECT_FALSE(pt.nodes[0].is_map);
  EXPECT_EQ(pt.nodes[1].Dependencies(), std::vector<std::string>{"price"});

  const WorkflowDef& wl = *spec->FindWorkflow("map_workflow_with_lists").value();
  EXPECT_EQ(wl.nodes[0].inputs.size(), 2u);
  EXPECT_EQ(wl.nodes[0].bind.size(), 1u);
}

// A command's workdir: relative ones start at the spec file's directory (issue 13).
TEST(SpecTest, ACommandWorkdirIsResolvedFromTheSpecsDirectory) {
  const std::string spec = R"(version: 1
tasks:
  rel: {command: [python3, tasks/x.py], workdir: ., outputs: {o0: int}}
  up: {command: [sh, run.sh], workdir: ../scripts/, outputs: {o0: int}}
  abs: {command: [sh, run.sh], workdir: /opt/job, outputs: {o0: int}}
  none: {command: [sh, run.sh], outputs: {o0: int}}
workflows:
  wf:
    nodes: [{id: a, task: rel}, {id: b, task: up}, {id: c, task: abs}, {id: d, task: none}]
)";
  Spec s = MustParse(spec);
  EXPECT_EQ(s.tasks.at("rel").workdir, ".");
  ASSERT_TRUE(ResolveWorkdirs(s, kFile, "/home/u/proj/examples").ok());
  EXPECT_EQ(s.tasks.at("rel").workdir, "/home/u/proj/examples");
  EXPECT_EQ(s.tasks.at("up").workdir, "/home/u/proj/scripts");
  EXPECT_EQ(s.tasks.at("abs").workdir, "/opt/job");
  EXPECT_EQ(s.tasks.at("none").workdir, "");

  Spec unknown = MustParse(spec);
  Status st = ResolveWorkdirs(unknown, kFile, "");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("tasks.rel.workdir: '.' is relative"), std::string::npos) << st.message();
}

TEST(SpecTest, AWorkdirIsForCommandsOnly) {
  ExpectSpecError(R"(version: 1
tasks:
  f: {function: f, workdir: /tmp, outputs: {o0: int}}
workflows:
  wf: {nodes: [{id: a, task: f}]}
)",
                  {"tasks.f.workdir", "workdir is for commands"});
}

TEST(SpecTest, LoadSpecFileNamesAMissingFile) {
  auto spec = LoadSpecFile("/nonexistent/dir/spec.yaml");
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code(), Code::kInvalidArgument);
  EXPECT_NE(spec.error().message().find("/nonexistent/dir/spec.yaml"), std::string::npos);
}

TEST(SpecTest, FindWorkflowNeedsANameWhenThereAreSeveral) {
  auto spec = LoadSpecFile((SourceRoot() / "examples/map_tasks.yaml").string());
  ASSERT_TRUE(spec.has_value());
  auto none = spec->FindWorkflow("");
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("map_workflow_with_lists"), std::string::npos);
  auto bad = spec->FindWorkflow("nope");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("'nope'"), std::string::npos);
}

TEST(SpecTest, FindWorkflowPicksTheOnlyOneWithoutAName) {
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: o
        task: one
)"));
  auto wf = spec.FindWorkflow("");
  ASSERT_TRUE(wf.has_value());
  EXPECT_EQ((*wf)->name, "wf");
}

// ---------------------------------------------------------------------------------------
// Validation errors.

TEST(SpecErrorTest, UnknownTopLevelKey) {
  ExpectSpecError("version: 1\nfoo: 2\n" + Wf("").substr(11) + "    nodes: [{id: o, task: one}]\n",
                  {"foo", "unknown field"});
}

TEST(SpecErrorTest, MissingVersion) {
  ExpectSpecError(Wf("    nodes: [{id: o, task: one}]\n").substr(11), {"version", "missing"});
}

TEST(SpecErrorTest, UnsupportedVersion) {
  ExpectSpecError("version: 2\n" + Wf("    nodes: [{id: o, task: one}]\n").substr(11),
                  {"version", "expected 1, got 2"});
}

TEST(SpecErrorTest, TopLevelIsNotAMapping) {
  ExpectSpecError("- 1\n- 2\n", {"(top level)", "expected a mapping"});
}

TEST(SpecErrorTest, NoWorkflows) {
  ExpectSpecError(kTasks, {"workflows", "at least one workflow"});
}

TEST(SpecErrorTest, TaskWithNeitherFunctionNorCommand) {
  ExpectSpecError(R"(version: 1
tasks:
  t:
    inputs: {x: int}
workflows:
  wf:
    nodes: [{id: a, task: t, inputs: {x: 1}}]
)",
                  {"tasks.t", "expected a function or a command"});
}

TEST(SpecErrorTest, UnknownTaskField) {
  ExpectSpecError(R"(version: 1
tasks:
  t:
    function: f
    retry: 3
workflows:
  wf:
    nodes: [{id: a, task: t}]
)",
                  {"tasks.t.retry", "unknown field"});
}

TEST(SpecErrorTest, UnknownTaskInNode) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: detect
        inputs: {x: [1]}
)"),
                  {"workflows.wf.nodes[d].map", "unknown task 'detect'", "double"});
}

TEST(SpecErrorTest, UnknownTaskInput) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1], y: [2]}
)"),
                  {"workflows.wf.nodes[d].inputs.y", "has no input 'y'", "inputs: x"});
}

TEST(SpecErrorTest, MissingTaskInput) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: s
        map: add
        inputs: {a: [1.0, 2.0]}
)"),
                  {"workflows.wf.nodes[s].inputs.b", "missing", "needs input 'b'", "float"});
}

TEST(SpecErrorTest, BothTaskAndMap) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        task: double
        map: double
        inputs: {x: 1}
)"),
                  {"workflows.wf.nodes[d]", "either task or map"});
}

TEST(SpecErrorTest, NeitherTaskNorMap) {
  ExpectSpecError(Wf("    nodes:\n      - id: d\n"), {"workflows.wf.nodes[d]", "task: NAME or map: NAME"});
}

TEST(SpecErrorTest, BadWorkflowInputType) {
  ExpectSpecError(Wf(R"(    inputs:
      xs: {type: "lst<int>"}
    nodes: [{id: o, task: one}]
)"),
                  {"workflows.wf.inputs.xs.type", "unknown type 'lst<int>'"});
}

TEST(SpecErrorTest, BadTaskInputType) {
  ExpectSpecError(R"(version: 1
tasks:
  t:
    function: f
    inputs: {x: integer}
workflows:
  wf:
    nodes: [{id: a, task: t, inputs: {x: 1}}]
)",
                  {"tasks.t.inputs.x", "unknown type 'integer'"});
}

TEST(SpecErrorTest, DefaultNotMatchingType) {
  ExpectSpecError(Wf(R"(    inputs:
      xs: {type: "list<int>", default: [1, 2, "three"]}
    nodes: [{id: o, task: one}]
)"),
                  {"workflows.wf.inputs.xs.default", "expected int, got str", "[2]"});
}

TEST(SpecErrorTest, MinSuccessRatioAboveOne) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1, 2]}
        min_success_ratio: 1.5
)"),
                  {"workflows.wf.nodes[d].min_success_ratio", "[0, 1]"});
}

TEST(SpecErrorTest, NegativeMinSuccessRatio) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1, 2]}
        min_success_ratio: -0.1
)"),
                  {"min_success_ratio", "[0, 1]"});
}

TEST(SpecErrorTest, BothMinSuccessRatioAndMinSuccesses) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1, 2]}
        min_success_ratio: 0.5
        min_successes: 1
)"),
                  {"workflows.wf.nodes[d]", "either min_success_ratio or min_successes"});
}

TEST(SpecErrorTest, ConcurrencyOnATaskNode) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
        concurrency: 2
)"),
                  {"workflows.wf.nodes[o]", "map nodes only"});
}

TEST(SpecErrorTest, NegativeConcurrency) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1]}
        concurrency: -1
)"),
                  {"workflows.wf.nodes[d].concurrency", ">= 0"});
}

TEST(SpecErrorTest, ReferenceToUnknownNode) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: $zz.o0}
)"),
                  {"workflows.wf.nodes[d]", "unknown node 'zz'"});
}

TEST(SpecErrorTest, ReferenceToUnknownWorkflowInput) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: $inputs.nope}
)"),
                  {"workflows.wf.nodes[d].inputs.x", "no workflow input 'nope'"});
}

TEST(SpecErrorTest, WorkflowOutputReferencingUnknownNode) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
    outputs: {r: $ghost.o0}
)"),
                  {"workflows.wf.outputs.r", "no node 'ghost'"});
}

TEST(SpecErrorTest, CycleBetweenNodes) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: a
        task: double
        inputs: {x: $b.o0}
      - id: b
        task: double
        inputs: {x: $a.o0}
)"),
                  {"workflows.wf.nodes", "cycle"});
}

TEST(SpecErrorTest, NodeReferencingItself) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: a
        task: double
        inputs: {x: $a.o0}
)"),
                  {"workflows.wf.nodes[a]", "itself"});
}

TEST(SpecErrorTest, ReferenceToUnknownOutput) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
      - id: d
        task: double
        inputs: {x: $o.o9}
)"),
                  {"workflows.wf.nodes[d].inputs.x", "no output 'o9'", "outputs: o0"});
}

TEST(SpecErrorTest, MappedInputReferenceThatIsNotAList) {
  ExpectSpecError(Wf(R"(    inputs:
      n: int
    nodes:
      - id: d
        map: double
        inputs: {x: $inputs.n}
)"),
                  {"workflows.wf.nodes[d].inputs.x", "is int, expected list<int>",
                   "mapped inputs are lists"});
}

TEST(SpecErrorTest, MappedInputLiteralThatIsNotAList) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: 5}
)"),
                  {"workflows.wf.nodes[d].inputs.x", "expected list<int>, got int",
                   "mapped inputs are lists"});
}

TEST(SpecErrorTest, MappedInputFromATaskNodeScalarOutput) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
      - id: d
        map: double
        inputs: {x: $o.o0}
)"),
                  {"workflows.wf.nodes[d].inputs.x", "$o.o0 is int, expected list<int>"});
}

TEST(SpecErrorTest, BoundValueOfTheWrongType) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: s
        map: add
        inputs: {a: [1.0]}
        bind: {b: "text"}
)"),
                  {"workflows.wf.nodes[s].bind.b", "expected float, got str"});
}

TEST(SpecErrorTest, TolerantMapOutputIntoNonOptionalList) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1, 2]}
        min_success_ratio: 0.5
      - id: s
        task: sum
        inputs: {xs: $d.o0}
)"),
                  {"workflows.wf.nodes[s].inputs.xs", "list<optional<int>>"});
}

TEST(SpecErrorTest, InvalidYamlGivesTheLine) {
  std::string text = "version: 1\ntasks:\n  t: {function: f\nworkflows: {}\n";
  auto spec = ParseSpec(text, kFile);
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code(), Code::kInvalidArgument);
  const std::string& m = spec.error().message();
  EXPECT_EQ(m.rfind("wf.yaml:", 0), 0u) << m;
  EXPECT_NE(m.find("invalid YAML"), std::string::npos) << m;
  // "wf.yaml:LINE:COL: invalid YAML": the line is a number within the document.
  int line = std::atoi(m.c_str() + 8);
  EXPECT_GE(line, 3) << m;
  EXPECT_LE(line, 5) << m;
}

TEST(SpecErrorTest, InvalidYamlOnTheFirstLineSaysLineOne) {
  auto spec = ParseSpec("version: [1\n", kFile);
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("invalid YAML"), std::string::npos);
  EXPECT_EQ(spec.error().message().rfind("wf.yaml:", 0), 0u);
}

TEST(SpecErrorTest, FieldErrorsCarryTheYamlLine) {
  std::string text = Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1]}
        bogus: 1
)");
  auto spec = ParseSpec(text, kFile);
  ASSERT_FALSE(spec.has_value());
  // "bogus" is on the last line of the document.
  int last_line = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  EXPECT_EQ(spec.error().message().rfind("wf.yaml:" + std::to_string(last_line) + ":", 0), 0u)
      << spec.error().message();
  EXPECT_NE(spec.error().message().find("workflows.wf.nodes[0].bogus"), std::string::npos)
      << spec.error().message();
}

TEST(SpecErrorTest, DeeplyNestedYamlIsRefusedWithoutCrashing) {
  std::string text = Wf("    inputs:\n      j: {type: json, default: " + std::string(100000, '[') +
                        std::string(100000, ']') + "}\n    nodes: [{id: o, task: one}]\n");
  auto spec = ParseSpec(text, kFile);
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(spec.error().message().rfind(kFile, 0), 0u) << spec.error().message();
}

TEST(SpecErrorTest, InfiniteTimeout) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
        timeout: inf
)"),
                  {"workflows.wf.nodes[o].timeout", "out of range"});
}

TEST(SpecErrorTest, BindOnATaskNode) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        task: double
        bind: {x: 1}
)"),
                  {"workflows.wf.nodes[d].bind", "bind is for map nodes"});
}

TEST(SpecErrorTest, SameInputInInputsAndBind) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: s
        map: add
        inputs: {a: [1.0], b: [2.0]}
        bind: {b: 2.0}
)"),
                  {"workflows.wf.nodes[s].bind.b", "given twice"});
}

TEST(SpecErrorTest, DuplicateTaskName) {
  ExpectSpecError(kTasks + "  one:\n    function: two\nworkflows:\n  wf:\n    nodes: [{id: o, task: one}]\n",
                  {"tasks.one", "duplicate task name"});
}

TEST(SpecErrorTest, DuplicateWorkflowName) {
  ExpectSpecError(Wf("    nodes: [{id: o, task: one}]\n  wf:\n    nodes: [{id: p, task: one}]\n"),
                  {"workflows.wf", "duplicate workflow name"});
}

TEST(SpecErrorTest, DuplicateTaskParameter) {
  ExpectSpecError("version: 1\ntasks:\n  t: {function: t, inputs: {x: int, x: float}}\n"
                  "workflows:\n  wf:\n    nodes: [{id: o, task: t, inputs: {x: 1}}]\n",
                  {"tasks.t.inputs.x", "given twice"});
}

TEST(SpecErrorTest, DuplicateWorkflowInput) {
  ExpectSpecError(Wf("    inputs: {a: int, a: str}\n    nodes: [{id: o, task: one}]\n"),
                  {"workflows.wf.inputs.a", "given twice"});
}

TEST(SpecErrorTest, SameInputTwiceInBind) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: s
        map: add
        inputs: {a: [1.0]}
        bind: {b: 2.0, b: 3.0}
)"),
                  {"workflows.wf.nodes[s].bind.b", "given twice"});
}

TEST(SpecErrorTest, DuplicateWorkflowOutput) {
  ExpectSpecError(Wf("    nodes: [{id: o, task: one}]\n    outputs: {r: $o.o0, r: $o.o0}\n"),
                  {"workflows.wf.outputs.r", "given twice"});
}

TEST(SpecErrorTest, DuplicateNodeId) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
      - id: o
        task: one
)"),
                  {"workflows.wf.nodes[1].id", "duplicate node id 'o'"});
}

TEST(SpecErrorTest, NodeIdInputsIsReserved) {
  ExpectSpecError(Wf("    nodes: [{id: inputs, task: one}]\n"), {"nodes[0].id", "not a valid node id"});
}

TEST(SpecErrorTest, NodeWithoutId) {
  ExpectSpecError(Wf("    nodes: [{task: one}]\n"), {"workflows.wf.nodes[0].id", "missing"});
}

TEST(SpecErrorTest, EmptyNodeList) {
  ExpectSpecError(Wf("    nodes: []\n"), {"workflows.wf.nodes", "at least one node"});
}

TEST(SpecErrorTest, MalformedReference) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: $inputs}
)"),
                  {"workflows.wf.nodes[d].inputs.x", "expected a reference", "$$"});
}

TEST(SpecErrorTest, BadTimeout) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
        timeout: 10 minutes
)"),
                  {"workflows.wf.nodes[o].timeout", "expected a duration"});
}

TEST(SpecErrorTest, BadMemoryRequest) {
  ExpectSpecError(R"(version: 1
tasks:
  t:
    function: f
    requests: {mem: 2GB}
workflows:
  wf:
    nodes: [{id: a, task: t}]
)",
                  {"tasks.t.requests.mem", "expected a size"});
}

TEST(SpecErrorTest, TooManyRetries) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
        retries: 11
)"),
                  {"workflows.wf.nodes[o].retries", "at most 10"});
}

TEST(SpecErrorTest, RetriesThatIsNotAnInteger) {
  ExpectSpecError(Wf(R"(    nodes:
      - id: o
        task: one
        retries: two
)"),
                  {"workflows.wf.nodes[o].retries", "expected an integer"});
}

// ---------------------------------------------------------------------------------------
// Accepted specs.

TEST(SpecTest, OrdersALongChainWrittenInReverse) {
  // Ordering took one pass over every node per node placed: this 20,000-node spec (1 MB)
  // took hours; now it is linear in the nodes (up to a sort).
  const int n = 20000;
  std::string body = "    nodes:\n";
  for (int i = 0; i < n - 1; ++i)
    body += "      - {id: n" + std::to_string(i) + ", task: double, inputs: {x: $n" +
            std::to_string(i + 1) + ".o0}}\n";
  body += "      - {id: n" + std::to_string(n - 1) + ", task: one}\n";
  Spec spec = MustParse(Wf(body));
  const WorkflowDef& wf = OnlyWorkflow(spec);
  ASSERT_EQ(wf.nodes.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(wf.nodes[i].id, "n" + std::to_string(n - 1 - i));
}

TEST(SpecTest, OrdersNodesTopologicallyWhenDeclaredOutOfOrder) {
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: c
        task: add
        inputs: {a: $b.o0, b: $a.o0}
      - id: b
        task: double
        inputs: {x: $a.o0}
      - id: a
        task: one
      - id: z
        task: one
    outputs: {r: $c.o0}
)"));
  const WorkflowDef& wf = OnlyWorkflow(spec);
  std::vector<std::string> order;
  for (const auto& n : wf.nodes) order.push_back(n.id);
  ASSERT_EQ(order.size(), 4u);
  auto pos = [&](const std::string& id) {
    return std::find(order.begin(), order.end(), id) - order.begin();
  };
  EXPECT_LT(pos("a"), pos("b"));
  EXPECT_LT(pos("b"), pos("c"));
  EXPECT_LT(pos("a"), pos("c"));
  EXPECT_NE(wf.FindNode("z"), nullptr);
  // The order is that of repeated passes over the written list: pass 1 places a and z, pass 2
  // b (its reference a is placed), pass 3 c.
  EXPECT_EQ(order, (std::vector<std::string>{"a", "z", "b", "c"}));
}

TEST(SpecTest, DoubleDollarEscapesALiteralDollar) {
  Spec spec = MustParse(R"(version: 1
tasks:
  echo:
    function: echo
    inputs: {s: str}
    outputs: {o0: str}
workflows:
  wf:
    nodes:
      - id: e
        task: echo
        inputs: {s: "$$HOME.dir"}
)");
  const NodeDef& n = OnlyWorkflow(spec).nodes.at(0);
  ASSERT_EQ(n.inputs.size(), 1u);
  EXPECT_FALSE(n.inputs[0].second.ref.has_value());
  EXPECT_EQ(n.inputs[0].second.literal, Value("$HOME.dir"));
}

TEST(SpecTest, ParsesReferences) {
  Spec spec = MustParse(Wf(R"(    inputs:
      xs: "list<int>"
    nodes:
      - id: o
        task: one
      - id: d
        map: double
        inputs: {x: $inputs.xs}
      - id: s
        map: add
        inputs: {a: $d.o0}
        bind: {b: $o.o0}
)"));
  const WorkflowDef& wf = OnlyWorkflow(spec);
  const NodeDef* d = wf.FindNode("d");
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->inputs[0].second.ref.has_value());
  EXPECT_TRUE(d->inputs[0].second.ref->workflow_input);
  EXPECT_EQ(d->inputs[0].second.ref->name, "xs");
  const NodeDef* s = wf.FindNode("s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->inputs[0].second.ref->node, "d");
  EXPECT_EQ(s->bind[0].second.ref->ToString(), "$o.o0");
  auto deps = s->Dependencies();
  std::sort(deps.begin(), deps.end());
  EXPECT_EQ(deps, (std::vector<std::string>{"d", "o"}));
}

TEST(SpecTest, JsonSpecWithQuotedReferencesParses) {
  const char* text = R"({
  "version": 1,
  "tasks": {
    "double": {"function": "double", "inputs": {"x": "int"}, "outputs": {"o0": "int"}}
  },
  "workflows": {
    "wf": {
      "inputs": {"xs": {"type": "list<int>", "default": [1, 2, 3]}},
      "nodes": [
        {"id": "d", "map": "double", "inputs": {"x": "$inputs.xs"}, "concurrency": 2,
         "min_success_ratio": 0.5}
      ],
      "outputs": {"o0": "$d.o0"}
    }
  }
})";
  Spec spec = MustParse(text);
  const WorkflowDef& wf = OnlyWorkflow(spec);
  ASSERT_EQ(wf.nodes.size(), 1u);
  const NodeDef& d = wf.nodes[0];
  ASSERT_TRUE(d.inputs[0].second.ref.has_value());
  EXPECT_EQ(d.inputs[0].second.ref->ToString(), "$inputs.xs");
  EXPECT_EQ(d.concurrency, 2u);
  EXPECT_EQ(d.min_success_ratio, 0.5);
  EXPECT_EQ(*wf.inputs[0].default_value, Value(List{Value(1), Value(2), Value(3)}));
  ASSERT_TRUE(wf.outputs[0].second.ref.has_value());
  EXPECT_EQ(wf.outputs[0].second.ref->node, "d");
}

TEST(SpecTest, QuotedScalarsStayStrings) {
  Spec spec = MustParse(Wf(R"(    inputs:
      s: {type: str, default: "123"}
      t: {type: str, default: "true"}
    nodes: [{id: o, task: one}]
)"));
  const WorkflowDef& wf = OnlyWorkflow(spec);
  EXPECT_EQ(*wf.inputs[0].default_value, Value("123"));
  EXPECT_EQ(*wf.inputs[1].default_value, Value("true"));
}

TEST(SpecTest, IntDefaultsForFloatInputsAreCoerced) {
  Spec spec = MustParse(Wf(R"(    inputs:
      f: {type: float, default: 6}
      fs: {type: "list<float>", default: [1, 2.5]}
    nodes: [{id: o, task: one}]
)"));
  const WorkflowDef& wf = OnlyWorkflow(spec);
  ASSERT_TRUE(wf.inputs[0].default_value->is_float());
  EXPECT_EQ(*wf.inputs[1].default_value, Value(List{Value(1.0), Value(2.5)}));
}

TEST(SpecTest, TaskNodeOutputIsScalarMapNodeOutputIsList) {
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: o
        task: one
      - id: d
        map: double
        inputs: {x: [1, 2]}
      - id: t
        map: double
        inputs: {x: [1, 2]}
        min_successes: 1
)"));
  const WorkflowDef& wf = OnlyWorkflow(spec);
  EXPECT_EQ(spec.OutputType(wf, Reference{false, "o", "o0"})->ToString(), "int");
  EXPECT_EQ(spec.OutputType(wf, Reference{false, "d", "o0"})->ToString(), "list<int>");
  EXPECT_EQ(spec.OutputType(wf, Reference{false, "t", "o0"})->ToString(), "list<optional<int>>");
}

TEST(SpecTest, MapNodeMayConsumeAnotherMapNodesOutput) {
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: d1
        map: double
        inputs: {x: [1, 2]}
      - id: d2
        map: double
        inputs: {x: $d1.o0}
      - id: s
        task: sum
        inputs: {xs: $d2.o0}
)"));
  EXPECT_EQ(OnlyWorkflow(spec).nodes.size(), 3u);
}

TEST(SpecTest, BindMayPassAWholeListToAListParameter) {
  Spec spec = MustParse(Wf(R"(    inputs:
      xs: {type: "list<int>", default: [1]}
      ys: {type: "list<int>", default: [1, 2]}
    nodes:
      - id: s
        map: sum
        bind: {xs: $inputs.ys}
)"));
  const NodeDef& s = OnlyWorkflow(spec).nodes[0];
  EXPECT_TRUE(s.inputs.empty());
  EXPECT_EQ(s.bind.size(), 1u);
}

TEST(SpecTest, NodeOverridesTaskRetriesAndTimeout) {
  Spec spec = MustParse(R"(version: 1
tasks:
  t:
    function: f
    retries: 1
    timeout: 30s
    requests: {cpu: 1, mem: 256Mi}
workflows:
  wf:
    nodes:
      - id: a
        task: t
      - id: b
        task: t
        retries: 3
        timeout: 250ms
        overrides: {requests: {mem: 1Gi}}
)");
  const WorkflowDef& wf = OnlyWorkflow(spec);
  const NodeDef& a = *wf.FindNode("a");
  const NodeDef& b = *wf.FindNode("b");
  EXPECT_EQ(spec.RetriesOf(a), 1);
  EXPECT_EQ(spec.TimeoutOf(a), 30000);
  EXPECT_EQ(spec.RetriesOf(b), 3);
  EXPECT_EQ(spec.TimeoutOf(b), 250);
  EXPECT_EQ(a.requests.mem_bytes, 256 << 20);
  EXPECT_EQ(a.requests.cpu, 1.0);
  EXPECT_EQ(b.requests.mem_bytes, 1 << 30);
  EXPECT_EQ(b.requests.cpu, 1.0);  // not overridden: inherited from the task
}

TEST(SpecTest, StringCommandRunsThroughTheShell) {
  Spec spec = MustParse(R"(version: 1
tasks:
  t:
    command: "echo hi | wc -c"
    outputs: {o0: int}
workflows:
  wf:
    nodes: [{id: a, task: t}]
)");
  EXPECT_EQ(spec.tasks.at("t").command,
            (std::vector<std::string>{"/bin/sh", "-c", "echo hi | wc -c"}));
}

TEST(SpecTest, CacheShorthandAndNodeCacheOverride) {
  Spec spec = MustParse(R"(version: 1
tasks:
  t:
    function: f
    cache: true
  u:
    function: f
    cache: {version: "2", serialize: true}
workflows:
  wf:
    nodes:
      - id: a
        task: t
      - id: b
        task: u
        cache: {enabled: false}
)");
  EXPECT_TRUE(spec.tasks.at("t").cache.enabled);
  const TaskDef& u = spec.tasks.at("u");
  EXPECT_TRUE(u.cache.enabled);
  EXPECT_EQ(u.cache.version, "2");
  EXPECT_TRUE(u.cache.serialize);
  const NodeDef& b = *OnlyWorkflow(spec).FindNode("b");
  ASSERT_TRUE(b.cache.has_value());
  EXPECT_FALSE(b.cache->enabled);
  EXPECT_EQ(b.cache->version, "2");  // inherited from the task
}

TEST(SpecTest, MapNodeWithoutToleranceDoesNotTolerateFailures) {
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1]}
      - id: e
        map: double
        inputs: {x: [1]}
        min_success_ratio: 1
)"));
  EXPECT_FALSE(OnlyWorkflow(spec).FindNode("d")->ToleratesFailures());
  EXPECT_FALSE(OnlyWorkflow(spec).FindNode("e")->ToleratesFailures());
}

// ---------------------------------------------------------------------------------------
// Durations and sizes.

TEST(DurationTest, ParsesUnits) {
  EXPECT_EQ(ParseDurationMs("30s").value(), 30000);
  EXPECT_EQ(ParseDurationMs("250ms").value(), 250);
  EXPECT_EQ(ParseDurationMs("2m").value(), 120000);
  EXPECT_EQ(ParseDurationMs("1h").value(), 3600000);
  EXPECT_EQ(ParseDurationMs("1.5s").value(), 1500);
  EXPECT_EQ(ParseDurationMs("0").value(), 0);
}

TEST(DurationTest, BareNumberIsSeconds) { EXPECT_EQ(ParseDurationMs("5").value(), 5000); }

TEST(DurationTest, RejectsMalformedDurations) {
  for (const char* s : {"", "s", "ms", "10x", "10 s", "-1s", "1d", "ten"}) {
    auto d = ParseDurationMs(s);
    EXPECT_FALSE(d.has_value()) << "'" << s << "' parsed as " << *d;
    if (!d) {
      EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(DurationTest, RejectsNonFiniteAndOverflowingDurations) {
  for (const char* s : {"inf", "infs", "nan", "1e400s", "1e30h"}) {
    auto d = ParseDurationMs(s);
    EXPECT_FALSE(d.has_value()) << "'" << s << "' parsed as " << *d;
  }
}

TEST(BytesTest, ParsesUnits) {
  EXPECT_EQ(ParseBytes("256Mi").value(), int64_t{256} << 20);
  EXPECT_EQ(ParseBytes("2Gi").value(), int64_t{2} << 30);
  EXPECT_EQ(ParseBytes("1Ti").value(), int64_t{1} << 40);
  EXPECT_EQ(ParseBytes("4Ki").value(), 4096);
  EXPECT_EQ(ParseBytes("1G").value(), 1000000000);
  EXPECT_EQ(ParseBytes("512k").value(), 512000);
  EXPECT_EQ(ParseBytes("3M").value(), 3000000);
  EXPECT_EQ(ParseBytes("1.5Gi").value(), int64_t{3} << 29);
  EXPECT_EQ(ParseBytes("100").value(), 100);
}

TEST(BytesTest, RejectsMalformedSizes) {
  for (const char* s : {"", "Mi", "2GB", "10mb", "-1", "-1Mi", "1 Gi", "lots"}) {
    auto b = ParseBytes(s);
    EXPECT_FALSE(b.has_value()) << "'" << s << "' parsed as " << *b;
  }
}

TEST(BytesTest, RejectsNonFiniteAndOverflowingSizes) {
  for (const char* s : {"inf", "nan", "1e400", "1e30Ti"}) {
    auto b = ParseBytes(s);
    EXPECT_FALSE(b.has_value()) << "'" << s << "' parsed as " << *b;
  }
}

// ---------------------------------------------------------------------------------------
// Limits on the spec text (SpecLimits), checked before the document is built.

// A spec whose only workflow input `j` (type json) has `default_yaml` (indented 8, its first
// line after "default:") as its default.
std::string WithJsonDefault(const std::string& default_yaml) {
  return Wf("    inputs:\n      j:\n        type: json\n        default:\n" + default_yaml +
            "    nodes: [{id: o, task: one}]\n");
}

// The "billion laughs" of issue 10: seven levels of ten aliases, 11.1M values once expanded,
// in about 540 bytes.
std::string AliasBomb(int levels) {
  std::string d = "          l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int i = 1; i < levels; ++i) {
    std::string p = "*l" + std::to_string(i - 1);
    d += "          l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + p;
    for (int k = 1; k < 10; ++k) d += ", " + p;
    d += "]\n";
  }
  return WithJsonDefault(d);
}

TEST(SpecLimitsTest, RefusesTheAliasBombOfIssue10NamingTheLimitAndTheLine) {
  std::string text = AliasBomb(7);
  auto spec = ParseSpec(text, kFile);
  ASSERT_FALSE(spec.has_value()) << "the alias bomb was accepted";
  EXPECT_EQ(spec.error().code(), Code::kInvalidArgument);
  const std::string& m = spec.error().message();
  // The node limit is reached on one of the alias lines (the default starts on line 24).
  EXPECT_EQ(m.rfind("wf.yaml:", 0), 0u) << m;
  EXPECT_NE(m.find("1048576 YAML nodes"), std::string::npos) << m;
  EXPECT_NE(m.find("aliases are expanded"), std::string::npos) << m;
}

TEST(SpecLimitsTest, RefusesAliasesThatMultiplyTheDocumentBeyondTheExpansionFactor) {
  SpecLimits limits;
  limits.alias_free_nodes = 1000;
  limits.max_alias_expansion = 10;
  // Four levels: about 40 nodes written, 11,110 once expanded: under max_nodes, over 10x.
  auto spec = ParseSpec(AliasBomb(4), kFile, limits);
  ASSERT_FALSE(spec.has_value()) << "an alias expansion of ~250x was accepted";
  const std::string& m = spec.error().message();
  EXPECT_NE(m.find("YAML aliases expand the"), std::string::npos) << m;
  EXPECT_NE(m.find("at most 10 times"), std::string::npos) << m;
  // The line of the first alias (l1), not of the end of the document.
  EXPECT_EQ(m.rfind("wf.yaml:25:", 0), 0u) << m;
}

TEST(SpecLimitsTest, AcceptsAliasesThatReuseABlock) {
  Spec spec = MustParse(R"(version: 1
tasks:
  a:
    function: a
    outputs: {o0: int}
    requests: &req {cpu: 2, mem: 1Gi}
  b:
    function: b
    outputs: {o0: int}
    requests: *req
workflows:
  wf:
    nodes: [{id: x, task: a}, {id: y, task: b}]
)");
  ASSERT_EQ(spec.tasks.size(), 2u);
  EXPECT_EQ(spec.tasks.at("b").requests.cpu, 2.0);
  EXPECT_EQ(spec.tasks.at("b").requests.mem_bytes, int64_t{1} << 30);
}

TEST(SpecLimitsTest, RefusesAnAliasToTheNodeThatContainsIt) {
  // yaml-cpp builds this as a cycle; walking it would never end (two aliases per level).
  auto spec = ParseSpec(WithJsonDefault("          &loop [*loop, *loop]\n"), kFile);
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code(), Code::kInvalidArgument);
  EXPECT_NE(spec.error().message().find("the alias *loop refers to a node that contains it"),
            std::string::npos)
      << spec.error().message();
  EXPECT_EQ(spec.error().message().rfind("wf.yaml:24:", 0), 0u) << spec.error().message();
}

TEST(SpecLimitsTest, RefusesMoreNodesThanTheLimitWithoutAliases) {
  SpecLimits limits;
  limits.max_nodes = 100;
  std::string list = "          [";
  for (int i = 0; i < 200; ++i) list += (i ? ", " : "") + std::to_string(i);
  auto spec = ParseSpec(WithJsonDefault(list + "]\n"), kFile, limits);
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("more than 100 YAML nodes (the limit)"), std::string::npos)
      << spec.error().message();
  EXPECT_EQ(spec.error().message().find("aliases"), std::string::npos) << spec.error().message();
}

TEST(SpecLimitsTest, RefusesNestingDeeperThanTheLimitNamingIt) {
  // The default sits under six levels (root, workflows, wf, inputs, j, and itself).
  auto spec = ParseSpec(
      WithJsonDefault("          " + std::string(60, '[') + std::string(60, ']') + "\n"), kFile);
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("nested 65 levels deep, more than the limit of 64"),
            std::string::npos)
      << spec.error().message();
}

TEST(SpecLimitsTest, CountsNestingThroughAliases) {
  SpecLimits limits;
  limits.max_depth = 12;
  // Written, nothing is deeper than 10 levels; with *a expanded inside b, 13.
  auto spec = ParseSpec(WithJsonDefault("          a: &a [[[[1]]]]\n"
                                        "          b: [[[*a]]]\n"),
                        kFile, limits);
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("nested 13 levels deep (aliases expanded)"),
            std::string::npos)
      << spec.error().message();
}

TEST(SpecLimitsTest, RefusesATypeNestedDeeperThanTheLimitWithoutOverflowingTheStack) {
  // Type::Parse recursed once per level: 200k levels overflowed the stack.
  std::string type;
  for (int i = 0; i < 200000; ++i) type += "list<";
  type += "int" + std::string(200000, '>');
  ExpectSpecError(Wf("    inputs: {x: \"" + type + "\"}\n    nodes: [{id: o, task: one}]\n"),
                  {"workflows.wf.inputs.x.type", "type nested more than 64 levels deep"});
}

TEST(SpecLimitsTest, AcceptsATypeNestedAsDeepAsTheLimit) {
  std::string type;
  for (int i = 0; i < 64; ++i) type += "list<";
  type += "int" + std::string(64, '>');
  Spec spec = MustParse(Wf("    inputs: {x: \"" + type + "\"}\n    nodes: [{id: o, task: one}]\n"));
  EXPECT_EQ(OnlyWorkflow(spec).inputs[0].type.ToString(), type);
}

TEST(SpecLimitsTest, RefusesTextLargerThanTheLimitNamingBothSizes) {
  SpecLimits limits;
  limits.max_bytes = 100;
  std::string text = Wf("    nodes: [{id: o, task: one}]\n");
  auto spec = ParseSpec(text, kFile, limits);
  ASSERT_FALSE(spec.has_value());
  EXPECT_NE(spec.error().message().find("the spec is " + std::to_string(text.size()) +
                                        " bytes, more than the limit of 100"),
            std::string::npos)
      << spec.error().message();
}

TEST(SpecLimitsTest, DefaultLimitsAcceptTheExampleSpecs) {
  for (const auto& entry : std::filesystem::directory_iterator(SourceRoot() / "examples")) {
    if (entry.path().extension() != ".yaml") continue;
    auto spec = LoadSpecFile(entry.path().string());
    EXPECT_TRUE(spec.has_value()) << entry.path() << ": " << spec.error().ToString();
  }
}

// ---------------------------------------------------------------------------------------
// Inputs.

class ResolveInputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_ = MustParse(Wf(R"(    inputs:
      xs: {type: "list<int>", default: [1, 2, 3]}
      f: float
      o: "optional<str>"
      ys: "list<float>"
    nodes:
      - id: d
        map: double
        inputs: {x: $inputs.xs}
)"));
    wf_ = &OnlyWorkflow(spec_);
  }
  Spec spec_;
  const WorkflowDef* wf_ = nullptr;
};

TEST_F(ResolveInputsTest, FillsDefaultsAndOptionalNone) {
  auto in = ResolveWorkflowInputs(*wf_, Map{{"f", Value(1.5)}, {"ys", Value(List{})}});
  ASSERT_TRUE(in.has_value()) << in.error().ToString();
  EXPECT_EQ(in->at("xs"), Value(List{Value(1), Value(2), Value(3)}));
  EXPECT_TRUE(in->at("o").is_none());
  EXPECT_EQ(in->at("f"), Value(1.5));
  EXPECT_EQ(in->size(), 4u);
}

TEST_F(ResolveInputsTest, GivenValuesOverrideDefaults) {
  auto in = ResolveWorkflowInputs(
      *wf_, Map{{"xs", Value(List{Value(9)})}, {"f", Value(1.5)}, {"ys", Value(List{})}});
  ASSERT_TRUE(in.has_value()) << in.error().ToString();
  EXPECT_EQ(in->at("xs"), Value(List{Value(9)}));
}

TEST_F(ResolveInputsTest, CoercesIntToFloat) {
  auto in = ResolveWorkflowInputs(
      *wf_, Map{{"f", Value(2)}, {"ys", Value(List{Value(1), Value(2.5)})}});
  ASSERT_TRUE(in.has_value()) << in.error().ToString();
  ASSERT_TRUE(in->at("f").is_float());
  EXPECT_EQ(in->at("f").as_float(), 2.0);
  EXPECT_EQ(in->at("ys"), Value(List{Value(1.0), Value(2.5)}));
  EXPECT_TRUE(in->at("ys").as_list()[0].is_float());
}

TEST_F(ResolveInputsTest, RejectsUnknownInput) {
  auto in = ResolveWorkflowInputs(
      *wf_, Map{{"f", Value(1.0)}, {"ys", Value(List{})}, {"zz", Value(1)}});
  ASSERT_FALSE(in.has_value());
  EXPECT_EQ(in.error().code(), Code::kInvalidArgument);
  EXPECT_NE(in.error().message().find("'zz'"), std::string::npos) << in.error().message();
  EXPECT_NE(in.error().message().find("xs"), std::string::npos) << in.error().message();
}

TEST_F(ResolveInputsTest, RejectsMissingInputWithoutDefault) {
  auto in = ResolveWorkflowInputs(*wf_, Map{{"ys", Value(List{})}});
  ASSERT_FALSE(in.has_value());
  EXPECT_EQ(in.error().code(), Code::kInvalidArgument);
  EXPECT_NE(in.error().message().find("'f'"), std::string::npos) << in.error().message();
  EXPECT_NE(in.error().message().find("missing"), std::string::npos) << in.error().message();
  EXPECT_NE(in.error().message().find("-i f="), std::string::npos) << in.error().message();
}

TEST_F(ResolveInputsTest, RejectsValueOfTheWrongTypeNamingThePath) {
  auto in = ResolveWorkflowInputs(
      *wf_, Map{{"f", Value(1.0)}, {"ys", Value(List{})},
                {"xs", Value(List{Value(1), Value("two")})}});
  ASSERT_FALSE(in.has_value());
  EXPECT_EQ(in.error().code(), Code::kInvalidArgument);
  EXPECT_NE(in.error().message().find("input 'xs'"), std::string::npos) << in.error().message();
  EXPECT_NE(in.error().message().find("[1]"), std::string::npos) << in.error().message();
}

// Limits on the inputs (InputLimits), checked where they are resolved.

class InputLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_ = MustParse(Wf(R"(    inputs:
      ss: "list<str>"
      s: {type: str, default: "a default of 27 characters."}
      j: json
    nodes:
      - id: o
        task: one
)"));
    wf_ = &OnlyWorkflow(spec_);
  }
  // Resolves with `ss` and `j` given (s keeps its default unless given in `more`).
  Result<Map> Resolve(Value ss, const InputLimits& limits = {}, Map more = {}) {
    more.emplace("ss", std::move(ss));
    more.emplace("j", Value());
    return ResolveWorkflowInputs(*wf_, more, limits);
  }
  Spec spec_;
  const WorkflowDef* wf_ = nullptr;
};

void ExpectInputError(const Result<Map>& in, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(in.has_value()) << "accepted, expected an error containing " << *parts.begin();
  EXPECT_EQ(in.error().code(), Code::kInvalidArgument);
  for (const std::string& p : parts)
    EXPECT_NE(in.error().message().find(p), std::string::npos)
        << "message lacks '" << p << "': " << in.error().message();
}

TEST_F(InputLimitsTest, RefusesAListElementLargerThanTheElementLimitNamingInputIndexAndSize) {
  // 16 MiB of characters encode to 16 MiB + 5 bytes (a str32 header).
  std::string big(kMaxElementBytes, 'x');
  auto in = Resolve(Value(List{Value("small"), Value(std::move(big))}));
  ExpectInputError(in, {"input 'ss'", "element [1]", std::to_string(kMaxElementBytes + 5) + " bytes",
                        "element limit of 16777216 bytes (16 MiB)"});
}

TEST_F(InputLimitsTest, RefusesANonListInputLargerThanTheElementLimit) {
  InputLimits limits;
  limits.max_element_bytes = 20;
  auto in = Resolve(Value(List{}), limits);  // s keeps its 27-character default: 28 bytes
  ExpectInputError(in, {"input 's'", "28 bytes encoded", "element limit of 20 bytes"});
}

TEST_F(InputLimitsTest, AcceptsAnElementOfExactlyTheLimit) {
  InputLimits limits;
  limits.max_element_bytes = 28;
  auto in = Resolve(Value(List{Value(std::string(27, 'y'))}), limits);  // 1 + 27 bytes
  ASSERT_TRUE(in.has_value()) << in.error().ToString();
  auto over = Resolve(Value(List{Value(std::string(28, 'y'))}), limits);  // 1 + 28 bytes
  ExpectInputError(over, {"input 'ss'", "element [0] is 29 bytes"});
}

TEST_F(InputLimitsTest, RefusesAListWithMoreElementsThanTheLimit) {
  InputLimits limits;
  limits.max_list_elements = 3;
  ASSERT_TRUE(Resolve(Value(List(3, Value("e"))), limits).has_value());
  ExpectInputError(Resolve(Value(List(4, Value("e"))), limits),
                   {"input 'ss'", "4 elements, more than the limit of 3 per list"});
}

TEST_F(InputLimitsTest, RefusesAValueNestedDeeperThanTheStoredInputsCanBeDecoded) {
  // 64 nested lists decode alone, but not inside the map of inputs the coordinator stores.
  Value v = Value(1);
  for (int i = 0; i < 64; ++i) v = Value(List{std::move(v)});
  ASSERT_TRUE(DecodeMsgpack(EncodeMsgpack(v)).has_value());
  EXPECT_FALSE(DecodeMsgpack(EncodeMsgpack(Value(Map{{"j", v}}))).has_value());
  ExpectInputError(Resolve(Value(List{}), {}, Map{{"j", v}}),
                   {"input 'j'", "nested 64 levels deep, more than the limit of 63"});
}

TEST_F(InputLimitsTest, InputsWithinTheLimitsSurviveTheStoredInputsRoundTrip) {
  Value v = Value(1);
  for (int i = 0; i < 63; ++i) v = Value(List{std::move(v)});
  auto in = Resolve(Value(List{Value(std::string(1000, 'z'))}), {}, Map{{"j", v}});
  ASSERT_TRUE(in.has_value()) << in.error().ToString();
  auto stored = DecodeMsgpack(EncodeMsgpack(Value(*in)));
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_EQ(*stored, Value(*in));
}

TEST_F(InputLimitsTest, RefusesInputsLargerTogetherThanTheTotalLimit) {
  InputLimits limits;
  limits.max_total_bytes = 100;
  // ss: 1 + 2 × 42 bytes; s: 28 bytes; j: 1 byte. 114 in all.
  auto in = Resolve(Value(List(2, Value(std::string(40, 'w')))), limits);
  ExpectInputError(in, {"inputs of workflow 'wf'", "114 bytes encoded together",
                        "more than the limit of 100 bytes"});
}

TEST(InputLimitsSpecTest, RefusesADefaultOverTheElementLimit) {
  Spec spec = MustParse(Wf(R"(    inputs:
      xs: {type: "list<str>", default: [a, bbbbbbbbbbbbbbbbbbbb]}
    nodes:
      - id: o
        task: one
)"));
  InputLimits limits;
  limits.max_element_bytes = 10;
  ExpectInputError(ResolveWorkflowInputs(OnlyWorkflow(spec), {}, limits),
                   {"input 'xs'", "element [1] is 21 bytes"});
}

TEST(MapLengthsTest, AcceptsEqualLengths) {
  Spec spec = MustParse(Wf(R"(    inputs:
      as: "list<float>"
    nodes:
      - id: s
        map: add
        inputs: {a: $inputs.as, b: [1.0, 2.0]}
)"));
  EXPECT_TRUE(CheckKnownMapLengths(OnlyWorkflow(spec),
                                   Map{{"as", Value(List{Value(1.0), Value(2.0)})}})
                  .ok());
}

TEST(MapLengthsTest, RejectsDifferentLengthsNamingBoth) {
  Spec spec = MustParse(Wf(R"(    inputs:
      as: "list<float>"
    nodes:
      - id: s
        map: add
        inputs: {a: $inputs.as, b: [1.0, 2.0, 3.0]}
)"));
  Status st = CheckKnownMapLengths(
      OnlyWorkflow(spec), Map{{"as", Value(List{Value(1.0), Value(2.0), Value(3.0), Value(4.0),
                                                 Value(5.0)})}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("'s'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'a' has 5"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'b' has 3"), std::string::npos) << st.message();
}

TEST(MapLengthsTest, IgnoresLengthsOnlyKnownAtRunTime) {
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1, 2, 3]}
      - id: s
        map: add
        inputs: {a: $d.o0, b: [1.0]}
)"));
  EXPECT_TRUE(CheckKnownMapLengths(OnlyWorkflow(spec), Map{}).ok());
}

// ---------------------------------------------------------------------------------------
// min_successes arithmetic (DESIGN §4).

NodeDef MapNode(std::optional<double> ratio, std::optional<int64_t> min_successes = {}) {
  NodeDef n;
  n.id = "m";
  n.is_map = true;
  n.min_success_ratio = ratio;
  n.min_successes = min_successes;
  return n;
}

TEST(MinSuccessesTest, DefaultRatioIsOne) { EXPECT_EQ(MinSuccesses(MapNode({}), 10), 10); }

TEST(MinSuccessesTest, PointEightOfTenIsEight) { EXPECT_EQ(MinSuccesses(MapNode(0.8), 10), 8); }

TEST(MinSuccessesTest, PointSevenOfTenIsSeven) { EXPECT_EQ(MinSuccesses(MapNode(0.7), 10), 7); }

TEST(MinSuccessesTest, PointThreeOfTenIsThree) { EXPECT_EQ(MinSuccesses(MapNode(0.3), 10), 3); }

TEST(MinSuccessesTest, RoundsUpFractionalProducts) {
  EXPECT_EQ(MinSuccesses(MapNode(0.75), 10), 8);
  EXPECT_EQ(MinSuccesses(MapNode(0.1), 3), 1);
  EXPECT_EQ(MinSuccesses(MapNode(0.5), 7), 4);
}

TEST(MinSuccessesTest, ZeroRatioNeedsNone) { EXPECT_EQ(MinSuccesses(MapNode(0.0), 10), 0); }

TEST(MinSuccessesTest, RatioOneNeedsAll) {
  EXPECT_EQ(MinSuccesses(MapNode(1.0), 10), 10);
  EXPECT_EQ(MinSuccesses(MapNode(1.0), 1'000'000'007), 1'000'000'007);
}

TEST(MinSuccessesTest, ExactForLargeSizes) {
  EXPECT_EQ(MinSuccesses(MapNode(0.8), 1'000'000'000'000), 800'000'000'000);
  EXPECT_EQ(MinSuccesses(MapNode(0.7), 10'000'000), 7'000'000);
}

TEST(MinSuccessesTest, SizeZeroNeedsNone) { EXPECT_EQ(MinSuccesses(MapNode(0.8), 0), 0); }

TEST(MinSuccessesTest, MinSuccessesWinsOverRatio) {
  EXPECT_EQ(MinSuccesses(MapNode(0.9, 3), 10), 3);
  EXPECT_EQ(MinSuccesses(MapNode({}, 4), 10), 4);
}

TEST(MinSuccessesTest, NegativeZeroRatioNeedsNone) {
  // Found by review of the fuzz target's MinSuccesses check: "-0" was read as -3/1, so a
  // node of 10 needed -30 successes (fuzz/crashes/spec/crash-min-success-ratio-negative-zero).
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1]}
        min_success_ratio: -0.0
)"));
  EXPECT_EQ(MinSuccesses(OnlyWorkflow(spec).nodes[0], 10), 0);
}

TEST(MinSuccessesTest, ParsedRatioGivesExactCount) {
  Spec spec = MustParse(Wf(R"(    nodes:
      - id: d
        map: double
        inputs: {x: [1]}
        min_success_ratio: 0.7
)"));
  EXPECT_EQ(MinSuccesses(OnlyWorkflow(spec).nodes[0], 10), 7);
}

}  // namespace
}  // namespace fanout
