// Every example of examples/map_tasks.yaml through the real CLI on a real cluster
// (redis-server, fanout-coordinator, two fanout-worker processes), checked against the
// outputs the README states. Also the CLI's exit codes for bad specs and unreachable clusters.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace fanout::testing {
namespace {

class ExamplesTest : public SharedClusterTest<ExamplesTest> {
 protected:
  // Runs a workflow of the example spec with -o json and returns its outputs.o0.
  nlohmann::json RunExample(const std::string& workflow, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", "examples/map_tasks.yaml", workflow, "-o", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = cluster_->Fanout(args);
    EXPECT_EQ(r.exit_code, 0) << r;
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r;
    if (doc.is_discarded()) return nullptr;
    EXPECT_EQ(doc.value("phase", ""), "SUCCEEDED") << r;
    return doc["outputs"]["o0"];
  }

};

const nlohmann::json kAnomalies = {false, true, false, false, true, true, true, false, true, false};

TEST_F(ExamplesTest, MapWorkflowDetectsAnomalies) {
  EXPECT_EQ(RunExample("map_workflow"), kAnomalies);
}

TEST_F(ExamplesTest, MapWorkflowWithResourceOverridesGivesTheSameOutputs) {
  EXPECT_EQ(RunExample("map_workflow_with_resource_overrides"), kAnomalies);
}

TEST_F(ExamplesTest, MapWorkflowWithMetadataGivesTheSameOutputs) {
  EXPECT_EQ(RunExample("map_workflow_with_metadata"), kAnomalies);
}

TEST_F(ExamplesTest, MapWorkflowWithAdditionalParamsGivesTheSameOutputs) {
  EXPECT_EQ(RunExample("map_workflow_with_additional_params"), kAnomalies);
}

TEST_F(ExamplesTest, MapWorkflowTakesInputsFromTheCommandLine) {
  EXPECT_EQ(RunExample("map_workflow", {"-i", "data=[1, 20, 11, 12]"}),
            (nlohmann::json{false, true, false, true}));
}

TEST_F(ExamplesTest, MultipleInputsMapWorkflowBindsPriceAndShipping) {
  nlohmann::json out = RunExample("multiple_inputs_map_workflow");
  ASSERT_TRUE(out.is_array());
  std::vector<double> got = out.get<std::vector<double>>();
  std::vector<double> want;
  for (int q = 1; q <= 5; ++q) want.push_back(q * 6.0 * 7.0);
  EXPECT_EQ(got, want);
  for (const auto& v : out) EXPECT_TRUE(v.is_number_float()) << out;
}

TEST_F(ExamplesTest, PartialWithTaskOutputBindsAnUpstreamTaskOutput) {
  nlohmann::json out = RunExample("map_workflow_partial_with_task_output");
  ASSERT_TRUE(out.is_array());
  std::vector<double> want;
  for (int q = 1; q <= 5; ++q) want.push_back(q * 7.0 * 6.0);
  EXPECT_EQ(out.get<std::vector<double>>(), want);
}

TEST_F(ExamplesTest, MapWorkflowWithListsZipsTwoLists) {
  nlohmann::json out = RunExample("map_workflow_with_lists");
  ASSERT_TRUE(out.is_array());
  std::vector<int> q = {1, 2, 3, 4, 5};
  std::vector<double> p = {6.0, 9.0, 8.7, 6.5, 1.2};
  std::vector<double> want;
  for (size_t i = 0; i < q.size(); ++i) want.push_back(q[i] * p[i] * 6.0);  // as Python computes it
  EXPECT_EQ(out.get<std::vector<double>>(), want);
}

TEST_F(ExamplesTest, MapOverLaunchPlanUsesTheDefaultPriceAndTheFixedShipping) {
  nlohmann::json out = RunExample("map_over_launch_plan");
  ASSERT_TRUE(out.is_array());
  std::vector<double> want;
  for (int q = 1; q <= 5; ++q) want.push_back(q * 7.0 * 6.0);
  EXPECT_EQ(out.get<std::vector<double>>(), want);
}

TEST_F(ExamplesTest, MapOverWorkflowOfMapsRunsAMapPerBatch) {
  EXPECT_EQ(RunExample("map_over_workflow_of_maps"),
            (nlohmann::json{{false, true, false}, {false, true}, {true, true, false, true, false}}));
}

TEST_F(ExamplesTest, TheLaunchPlanRunsAloneAndRefusesItsFixedInput) {
  RunResult r = cluster_->Fanout("run", "examples/map_tasks.yaml", "order_total_lp", "-i",
                                 "quantity=2", "-o", "json");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(nlohmann::json::parse(r.out)["outputs"]["o0"], 84.0) << r;
  r = cluster_->Fanout("run", "examples/map_tasks.yaml", "order_total_lp", "-i", "quantity=2",
                       "-i", "shipping=1.0");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("'shipping' is fixed by launch plan 'order_total_lp'"), std::string::npos) << r;
}

TEST_F(ExamplesTest, HumanOutputPrintsTheListAsTheReadmeShows) {
  RunResult r = cluster_->Fanout("run", "examples/map_tasks.yaml", "map_workflow");
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.out.find("[false, true, false, false, true, true, true, false, true, false]"),
            std::string::npos)
      << r;
}

TEST_F(ExamplesTest, ZippedListsOfDifferentLengthsExitTwoNamingBothLengths) {
  RunResult r = cluster_->Fanout("run", "examples/map_tasks.yaml", "map_workflow_with_lists", "-i",
                                 "list_q=[1, 2, 3]");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("3"), std::string::npos) << r;
  EXPECT_NE(r.err.find("5"), std::string::npos) << r;
}

TEST_F(ExamplesTest, SpecErrorExitsTwoAndNamesTheFileAndField) {
  std::string path = cluster_->dir().WriteFile("bad.yaml", R"(version: 1
tasks:
  t: {function: builtin.noop, inputs: {x: int}, outputs: {o0: int}}
workflows:
  w:
    nodes:
      - id: n
        map: t
        inputs: {x: [1, 2]}
        min_success_ratio: 1.5
)");
  RunResult r = cluster_->Fanout("run", path);
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("bad.yaml"), std::string::npos) << r;
  EXPECT_NE(r.err.find("min_success_ratio"), std::string::npos) << r;
}

TEST_F(ExamplesTest, BadInputValueExitsTwoNamingTheInput) {
  RunResult r = cluster_->Fanout("run", "examples/map_tasks.yaml", "map_workflow", "-i",
                                 "data=[1, \"x\"]");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_NE(r.err.find("data"), std::string::npos) << r;
}

TEST_F(ExamplesTest, UnreachableClusterExitsThreeWithAClearMessage) {
  TempDir home;
  int port = FreePort();  // nothing listens there
  RunResult r = fanout::testing::Run({BinDir() + "/fanout", "run", "examples/map_tasks.yaml", "map_workflow",
                     "--coordinator", "tcp://127.0.0.1:" + std::to_string(port), "--timeout", "1s"},
                    {{"FANOUT_HOME", home.path()}}, SourceDir(), std::chrono::milliseconds(30000));
  EXPECT_EQ(r.exit_code, 3) << r;
  EXPECT_NE(r.err.find("cannot reach the coordinator"), std::string::npos) << r;
}

TEST_F(ExamplesTest, StatusReportsPerNodeCounts) {
  std::string exec = cluster_->Submit({"examples/map_tasks.yaml", "map_workflow"});
  ASSERT_FALSE(exec.empty());
  nlohmann::json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = cluster_->Status(exec);
        return status.is_object() && status.value("phase", "") == "SUCCEEDED";
      },
      std::chrono::milliseconds(30000), std::chrono::milliseconds(100)));
  ASSERT_EQ(status["nodes"].size(), 1u);
  EXPECT_EQ(status["nodes"][0]["size"], 10);
  EXPECT_EQ(status["nodes"][0]["counts"]["succeeded"], 10);
  EXPECT_EQ(status["nodes"][0]["counts"]["failed"], 0);
}

}  // namespace
}  // namespace fanout::testing
