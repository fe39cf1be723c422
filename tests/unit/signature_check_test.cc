// The submit-time check of a spec's functions against the connected workers' offers
// (coordinator/signature_check.h, DESIGN §3.3), alone and through the client API.
#include "coordinator/signature_check.h"

#include <gtest/gtest.h>

#include "tests/unit/core_fixture.h"

namespace fanout::testing {
namespace {

Spec Parse(const std::string& yaml) {
  auto s = ParseSpec(yaml, "test.yaml");
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
  return s.value_or(Spec{});
}

std::string TwoTasks(const std::string& function) {
  return "version: 1\ntasks:\n  t:\n    function: " + function +
         "\n    inputs: {x: int}\n    outputs: {o0: int}\n"
         "  c:\n    command: [\"true\"]\n    inputs: {x: int}\n    outputs: {o0: int}\n"
         "workflows:\n  w:\n    inputs:\n      xs: {type: \"list<int>\", default: [1, 2]}\n"
         "    nodes:\n      - id: m\n        map: t\n        inputs: {x: $inputs.xs}\n"
         "      - id: n\n        map: c\n        inputs: {x: $inputs.xs}\n    outputs: {o0: $m.o0}\n";
}

Status Check(const std::string& function, const std::vector<WorkerOffer>& offers, SignatureCheckOptions o = {}) {
  Spec spec = Parse(TwoTasks(function));
  return CheckFunctions(spec, spec.workflows.begin()->second, offers, o);
}

TEST(SignatureCheckTest, AFunctionEveryWorkerOffersPasses) {
  EXPECT_TRUE(Check("detect", {{"w1", {"builtin.noop", "detect"}, {}, false}}).ok());
}

TEST(SignatureCheckTest, AFunctionNoWorkerOffersIsRefusedNamingTheTaskTheFunctionAndTheOffers) {
  Status s = Check("detect", {{"w1", {"builtin.noop", "builtin.echo"}, {}, false}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("task 't' (node 'm'): no connected worker offers function 'detect'"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("the 1 connected worker(s) offer: builtin.echo, builtin.noop"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("--wait-for-workers"), std::string::npos) << s.message();
}

TEST(SignatureCheckTest, ATypoNamesTheClosestFunction) {
  Status s = Check("detect_anomalise", {{"w1", {"detect_anomalies", "builtin.noop"}, {}, false}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("did you mean 'detect_anomalies'?"), std::string::npos) << s.message();
}

TEST(SignatureCheckTest, WaitingForWorkersAcceptsAFunctionNoWorkerOffersYet) {
  EXPECT_TRUE(Check("detect", {{"w1", {"builtin.noop"}, {}, false}}, {.wait_for_workers = true}).ok());
}

TEST(SignatureCheckTest, NoWorkerWhileTheClusterStartsIsAccepted) {
  EXPECT_TRUE(Check("detect", {}, {.cluster_starting = true}).ok());
}

TEST(SignatureCheckTest, NoWorkerOnceTheClusterRunsIsRefused) {
  Status s = Check("detect", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no worker is connected"), std::string::npos) << s.message();
}

TEST(SignatureCheckTest, ADrainingWorkersOffersDoNotCount) {
  EXPECT_FALSE(Check("detect", {{"w1", {"detect"}, {}, true}, {"w2", {"builtin.noop"}, {}, false}}).ok());
}

TEST(SignatureCheckTest, AnAdvertisedSignatureThatDiffersIsRefusedEvenWhenWaiting) {
  WorkerOffer w{"w1", {"detect"}, {{"detect", FunctionSignature{{"str"}, {"int"}}}}, false};
  Status s = Check("detect", {w}, {.wait_for_workers = true});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("function 'detect' of worker w1 takes (str) -> (int), but the spec declares (int) -> (int)"),
            std::string::npos)
      << s.message();
  w.signatures["detect"] = FunctionSignature{{"int"}, {"int"}};
  EXPECT_TRUE(Check("detect", {w}).ok());
}

TEST(SignatureCheckTest, AWorkersSignatureStringIsParsedIntoSpecTypes) {
  auto s = ParseSignature("int,list<str>,map<optional<float>>->bool");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->inputs, (std::vector<std::string>{"int", "list<str>", "map<optional<float>>"}));
  EXPECT_EQ(s->outputs, std::vector<std::string>{"bool"});
  auto v = ParseSignature("->");
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->inputs.empty() && v->outputs.empty());
  EXPECT_FALSE(ParseSignature("").has_value());  // a built-in says nothing
  EXPECT_FALSE(ParseSignature("int,an unsupported type->bool").has_value());
  EXPECT_FALSE(ParseSignature("int,->bool").has_value());
}

// A spec fits a function the way the SDK converts values (msgpack) and the coordinator checks
// outputs (Type::Check).
TEST(SignatureCheckTest, ASpecFitsAFunctionByTheConversionsTheWorkerMakes) {
  auto fits = [](FunctionSignature spec, FunctionSignature fn) { return Fits(spec, fn); };
  EXPECT_TRUE(fits({{"int"}, {"bool"}}, {{"int"}, {"bool"}}));
  EXPECT_TRUE(fits({{"int"}, {"float"}}, {{"float"}, {"int"}}));   // int → double, int output as float
  EXPECT_FALSE(fits({{"float"}, {"int"}}, {{"int"}, {"int"}}));    // a float argument is not an int
  EXPECT_FALSE(fits({{"int"}, {"int"}}, {{"int"}, {"float"}}));    // nor a float result
  EXPECT_TRUE(fits({{"list<int>"}, {}}, {{"list<float>"}, {"str"}}));  // no output declared: dropped
  EXPECT_TRUE(fits({{"int"}, {"optional<int>"}}, {{"optional<int>"}, {}}));  // void: none fits optional
  EXPECT_FALSE(fits({{"optional<int>"}, {}}, {{"int"}, {}}));      // none would not convert to int
  EXPECT_FALSE(fits({{"int"}, {"int"}}, {{"int"}, {}}));           // a void function declared an int
  EXPECT_FALSE(fits({{"int", "int"}, {}}, {{"int"}, {}}));         // the argument count
  EXPECT_TRUE(fits({{"json"}, {"json"}}, {{"map<int>"}, {"list<str>"}}));  // json is not judged
  EXPECT_TRUE(fits({{"bytes"}, {}}, {{"str"}, {}}));
}

// A map over a launch plan: the child workflow's task function is what the workers must offer.
const char* kMapOverLaunchPlan = R"(version: 1
tasks:
  t: {function: FN, inputs: {x: int}, outputs: {o0: int}}
launch_plans:
  lp: {workflow: inner}
workflows:
  inner:
    inputs: {xs: "list<int>"}
    nodes:
      - {id: m, map: t, inputs: {x: $inputs.xs}}
    outputs: {o0: $m.o0}
  w:
    inputs:
      data: {type: "list<list<int>>", default: [[1, 2], [3]]}
    nodes:
      - {id: each, map: lp, inputs: {xs: $inputs.data}}
    outputs: {o0: $each.o0}
)";

Status CheckLaunchPlanSpec(const std::string& function, const std::vector<WorkerOffer>& offers) {
  std::string yaml = kMapOverLaunchPlan;
  yaml.replace(yaml.find("FN"), 2, function);
  Spec spec = Parse(yaml);
  return CheckFunctions(spec, spec.workflows.at("w"), offers, {});
}

TEST(SignatureCheckTest, AMapOverALaunchPlanPassesWhenTheChildWorkflowsFunctionIsOffered) {
  Status s = CheckLaunchPlanSpec("detect", {{"w1", {"detect"}, {}, false}});
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(SignatureCheckTest, AMapOverALaunchPlanIsRefusedWhenTheChildWorkflowsFunctionIsMissing) {
  Status s = CheckLaunchPlanSpec("detekt", {{"w1", {"detect"}, {}, false}});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("node 'm'): no connected worker offers function 'detekt'"), std::string::npos)
      << s.message();
}

class SubmitCheckTest : public ::testing::Test {
 protected:
  // A submission through the client API; the reply's code and error.
  std::pair<uint8_t, std::string> Submit(const std::string& yaml, bool wait_for_workers) {
    wire::SubmitRequest req;
    req.rid = 7;
    req.spec_name = "test.yaml";
    req.spec_text = yaml;
    req.workflow = "w";
    req.wait_for_workers = wait_for_workers;
    h_.core().OnMessage("client", wire::Kind::kSubmit, wire::EncodeBody(req));
    h_.Settle();
    auto replies = h_.out().Take<wire::Reply>("client", wire::Kind::kReply);
    EXPECT_EQ(replies.size(), 1u);
    return replies.empty() ? std::pair<uint8_t, std::string>{255, ""} : std::pair{replies[0].code, replies[0].error};
  }

  FakeClock clock_;
  CoreHarness h_{clock_};
};

TEST_F(SubmitCheckTest, ASubmissionForAFunctionTheConnectedWorkersLackIsRefused) {
  h_.Hello("w1", 4);  // offers "f"
  auto [code, error] = Submit(TwoTasks("g"), false);
  EXPECT_EQ(code, static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_NE(error.find("no connected worker offers function 'g'"), std::string::npos) << error;
  EXPECT_NE(error.find("offer: f"), std::string::npos) << error;
}

TEST_F(SubmitCheckTest, WaitForWorkersQueuesItUntilAWorkerWithTheFunctionJoins) {
  h_.Hello("w1", 4);
  auto [code, error] = Submit(TwoTasks("g"), true);
  EXPECT_EQ(code, 0) << error;
}

TEST_F(SubmitCheckTest, NoWorkerIsCheckedOnlyOnceTheStartupGraceIsOver) {
  h_.core().Tick();
  EXPECT_EQ(Submit(TwoTasks("g"), false).first, 0);  // workers may still be joining
  clock_.Advance(60'000);
  h_.core().Tick();
  auto [code, error] = Submit(TwoTasks("g"), false);
  EXPECT_EQ(code, static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_NE(error.find("no worker is connected"), std::string::npos) << error;
}

}  // namespace
}  // namespace fanout::testing
