// Launch plans in the spec (common/spec.h): declared ones and every workflow's default one,
// nodes that run them (once, or mapped), their derived interfaces, inputs defaults and fixed
// values, max_parallelism, and the binary form that stores them.
#include <gtest/gtest.h>

#include "common/codec.h"
#include "common/spec.h"
#include "common/spec_codec.h"

namespace fanout {
namespace {

const std::string kSpec = R"(version: 1
tasks:
  mul: {function: mul, inputs: {x: int, y: int, z: int}, outputs: {o0: int}}
launch_plans:
  per_item_lp:
    workflow: per_item
    default_inputs: {y: 3}
    fixed_inputs: {z: 10}
    max_parallelism: 7
workflows:
  per_item:
    max_parallelism: 4
    inputs: {x: int, y: int, z: int}
    nodes:
      - {id: m, task: mul, inputs: {x: $inputs.x, y: $inputs.y, z: $inputs.z}}
    outputs: {o0: $m.o0}
  outer:
    inputs:
      data: {type: "list<int>", default: [1, 2, 3]}
    nodes:
      - id: each
        map: per_item_lp
        inputs: {x: $inputs.data}
        concurrency: 2
        min_success_ratio: 0.5
    outputs: {o0: $each.o0}
)";

Result<Spec> Parse(const std::string& text) { return ParseSpec(text, "lp.yaml"); }

void ExpectError(const std::string& text, const std::string& part) {
  auto spec = Parse(text);
  ASSERT_FALSE(spec.has_value()) << "parsed, expected: " << part;
  EXPECT_EQ(spec.error().code(), Code::kInvalidArgument);
  EXPECT_NE(spec.error().message().find(part), std::string::npos) << spec.error().message();
  EXPECT_EQ(spec.error().message().rfind("lp.yaml", 0), 0u) << spec.error().message();
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(LaunchPlanSpecTest, ADeclaredLaunchPlanKeepsItsDefaultsAndFixedInputs) {
  auto spec = Parse(kSpec);
  ASSERT_TRUE(spec) << spec.error().message();
  auto lp = spec->FindLaunchPlan("per_item_lp");
  ASSERT_TRUE(lp);
  EXPECT_EQ(lp->workflow, "per_item");
  EXPECT_EQ(lp->default_inputs.at("y"), Value(3));
  EXPECT_EQ(lp->fixed_inputs.at("z"), Value(10));
  EXPECT_EQ(lp->max_parallelism, 7u);
  EXPECT_EQ(spec->workflows.at("per_item").max_parallelism, 4u);
}

TEST(LaunchPlanSpecTest, EveryWorkflowIsItsOwnDefaultLaunchPlan) {
  auto spec = Parse(kSpec);
  ASSERT_TRUE(spec);
  auto lp = spec->FindLaunchPlan("outer");
  ASSERT_TRUE(lp);
  EXPECT_EQ(lp->workflow, "outer");
  EXPECT_TRUE(lp->default_inputs.empty());
  EXPECT_TRUE(lp->fixed_inputs.empty());
  auto missing = spec->FindLaunchPlan("nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("per_item_lp"), std::string::npos);
}

TEST(LaunchPlanSpecTest, AMapOverALaunchPlanHasItsWorkflowsInterface) {
  auto spec = Parse(kSpec);
  ASSERT_TRUE(spec);
  const NodeDef& each = spec->workflows.at("outer").nodes.at(0);
  EXPECT_EQ(each.target, NodeTarget::kLaunchPlan);
  const TaskDef& iface = spec->TaskOf(each);
  ASSERT_EQ(iface.inputs.size(), 2u);  // z is fixed: not part of it
  EXPECT_EQ(iface.inputs[0].name, "x");
  EXPECT_EQ(iface.inputs[1].name, "y");
  ASSERT_EQ(iface.outputs.size(), 1u);
  EXPECT_EQ(iface.outputs[0].type.ToString(), "int");
  // Tolerated failures: the node's output elements are optional.
  auto t = spec->OutputType(spec->workflows.at("outer"), Reference{false, "each", "o0"});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->ToString(), "list<optional<int>>");
}

TEST(LaunchPlanSpecTest, ABindingOfAFixedInputIsRefusedNamingIt) {
  ExpectError(Replace(kSpec, "inputs: {x: $inputs.data}", "inputs: {x: $inputs.data}\n        bind: {z: 5}"),
              "input 'z' is fixed by launch plan 'per_item_lp'");
}

TEST(LaunchPlanSpecTest, AnInputWithoutADefaultMustBeGiven) {
  ExpectError(Replace(kSpec, "map: per_item_lp\n        inputs: {x: $inputs.data}", "map: per_item\n        inputs: {x: $inputs.data}"),
              "missing: launch plan 'per_item' needs input 'y'");
}

TEST(LaunchPlanSpecTest, AnUnknownInputOfALaunchPlanIsRefused) {
  ExpectError(Replace(kSpec, "inputs: {x: $inputs.data}", "inputs: {x: $inputs.data, w: $inputs.data}"),
              "launch plan 'per_item_lp' has no input 'w'");
}

TEST(LaunchPlanSpecTest, AWorkflowCannotMapOverItself) {
  std::string text = Replace(kSpec, "      - {id: m, task: mul, inputs: {x: $inputs.x, y: $inputs.y, z: $inputs.z}}",
                             "      - {id: m, task: mul, inputs: {x: $inputs.x, y: $inputs.y, z: $inputs.z}}\n"
                             "      - {id: again, map: outer, inputs: {data: [[1]]}}");
  ExpectError(text, "runs itself");
}

TEST(LaunchPlanSpecTest, ALaunchPlanMayNotTakeAWorkflowsName) {
  ExpectError(Replace(kSpec, "  per_item_lp:\n    workflow: per_item", "  outer:\n    workflow: per_item"),
              "a workflow has this name");
}

TEST(LaunchPlanSpecTest, ANameOfBothATaskAndAWorkflowIsAmbiguous) {
  std::string text = Replace(kSpec, "  mul: {function: mul", "  per_item: {function: f, outputs: {o0: int}}\n  mul: {function: mul");
  text = Replace(text, "map: per_item_lp", "map: per_item");
  ExpectError(text, "names both a task and a workflow");
}

TEST(LaunchPlanSpecTest, DefaultsAndFixedInputsAreTypeChecked) {
  ExpectError(Replace(kSpec, "default_inputs: {y: 3}", "default_inputs: {y: three}"), "launch_plans.per_item_lp.default_inputs.y");
  ExpectError(Replace(kSpec, "fixed_inputs: {z: 10}", "fixed_inputs: {q: 10}"), "has no input 'q'");
}

TEST(LaunchPlanSpecTest, RunInputsTakeDefaultsThenTheGivenThenTheFixed) {
  auto spec = Parse(kSpec);
  ASSERT_TRUE(spec);
  auto lp = *spec->FindLaunchPlan("per_item_lp");
  auto in = ResolveLaunchPlanInputs(*spec, lp, Map{{"x", Value(1)}});
  ASSERT_TRUE(in) << in.error().message();
  EXPECT_EQ(in->at("y"), Value(3));
  EXPECT_EQ(in->at("z"), Value(10));
  auto overridden = ResolveLaunchPlanInputs(*spec, lp, Map{{"x", Value(1)}, {"y", Value(5)}});
  EXPECT_EQ(overridden->at("y"), Value(5));
  auto fixed = ResolveLaunchPlanInputs(*spec, lp, Map{{"x", Value(1)}, {"z", Value(5)}});
  ASSERT_FALSE(fixed);
  EXPECT_NE(fixed.error().message().find("'z' is fixed by launch plan 'per_item_lp'"), std::string::npos);
}

TEST(LaunchPlanSpecTest, TheBinaryFormKeepsLaunchPlansAndTargets) {
  auto spec = Parse(kSpec);
  ASSERT_TRUE(spec);
  std::string bytes = EncodeSpec(*spec);
  auto back = DecodeSpec(bytes);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(EncodeSpec(*back), bytes);
  EXPECT_EQ(back->workflows.at("outer").nodes.at(0).target, NodeTarget::kLaunchPlan);
  EXPECT_EQ(back->launch_plans.at("per_item_lp").fixed_inputs.at("z"), Value(10));
  EXPECT_EQ(back->TaskOf(back->workflows.at("outer").nodes.at(0)).inputs.size(), 2u);
}

TEST(LaunchPlanSpecTest, ANodeMayRunAWorkflowOnce) {
  std::string text = Replace(kSpec, "      - id: each\n        map: per_item_lp", "      - id: each\n        task: per_item_lp");
  text = Replace(text, "        concurrency: 2\n        min_success_ratio: 0.5\n", "");
  text = Replace(text, "inputs: {x: $inputs.data}", "inputs: {x: 4}");
  auto spec = Parse(text);
  ASSERT_TRUE(spec) << spec.error().message();
  auto t = spec->OutputType(spec->workflows.at("outer"), Reference{false, "each", "o0"});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->ToString(), "int");
}

}  // namespace
}  // namespace fanout
