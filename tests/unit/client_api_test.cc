// The client API's answers that the CLI turns into messages and exit codes
// (coordinator/client_api.h): `fanout logs` errors, abort of an ended execution, and the
// tolerated failures in OUTPUTS. Driven through a CoordinatorCore on a FakeStore.
#include "coordinator/client_api.h"

#include <gtest/gtest.h>

#include "tests/unit/core_fixture.h"

namespace fanout::testing {
namespace {

using Kind = wire::Kind;

class ClientApiTest : public ::testing::Test {
 protected:
  struct Answer {
    uint8_t code = 255;
    std::string error;
    nlohmann::json doc;
  };
  Answer Ask(Kind kind, const std::string& body) {
    h_.core().OnMessage("client", kind, body);
    h_.Settle();
    auto replies = h_.out().Take<wire::Reply>("client", Kind::kReply);
    EXPECT_EQ(replies.size(), 1u);
    if (replies.empty()) return {};
    Answer a{replies[0].code, replies[0].error, nullptr};
    if (!replies[0].json.empty()) a.doc = nlohmann::json::parse(replies[0].json);
    return a;
  }
  Answer Logs(const std::string& exec, const std::string& node, uint32_t index, int64_t attempt) {
    return Ask(Kind::kLogs, wire::EncodeBody(wire::LogsRequest{5, exec, node, index, attempt}));
  }
  // A 4-subtask map tolerating failures (min_successes 2), run to its end: 1 and 3 fail.
  std::string RunWithTwoFailures() {
    std::string exec = h_.Submit(FunctionMapSpec(4, "", "        min_successes: 2\n"));
    h_.Hello("w1", 8);
    std::vector<wire::SubtaskKey> work = h_.Work("w1");
    EXPECT_EQ(work.size(), 4u);
    h_.SendResult("w1", work[3], wire::Outcome::kNonRetryable, 0, "bad three");
    h_.SendResult("w1", work[1], wire::Outcome::kNonRetryable, 0, "bad one");
    h_.Succeed("w1", work[0], 10);
    h_.Succeed("w1", work[2], 12);
    return exec;
  }

  FakeClock clock_;
  CoreHarness h_{clock_};
};

TEST_F(ClientApiTest, LogsOfAnUnknownNodeIsNotFoundAndListsTheNodes) {
  std::string exec = h_.Submit(FunctionMapSpec(2));
  Answer a = Logs(exec, "nope", 0, -1);
  EXPECT_EQ(a.code, static_cast<uint8_t>(Code::kNotFound));
  EXPECT_NE(a.error.find("has no node 'nope' (its nodes: m)"), std::string::npos) << a.error;
}

TEST_F(ClientApiTest, LogsOfAnIndexOutOfRangeSaysTheRange) {
  std::string exec = h_.Submit(FunctionMapSpec(2));
  h_.Hello("w1", 8);
  Answer a = Logs(exec, "m", 9, -1);
  EXPECT_EQ(a.code, static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_EQ(a.error, "index 9 is out of range: node 'm' has 2 subtask(s), 0 to 1");
}

TEST_F(ClientApiTest, LogsOfAnAttemptThatNeverRanSaysWhichAttemptsDid) {
  std::string exec = h_.Submit(FunctionMapSpec(2));
  h_.Hello("w1", 8);
  h_.Work("w1");
  Answer a = Logs(exec, "m", 1, 3);
  EXPECT_EQ(a.code, static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_EQ(a.error, "attempt 3 of m[1] never ran: its attempts are 0 to 0");
  Answer ok = Logs(exec, "m", 1, 0);  // ran, printed nothing (yet)
  EXPECT_EQ(ok.code, 0) << ok.error;
  EXPECT_EQ(ok.doc["found"], false);
  EXPECT_EQ(ok.doc["phase"], "running");
}

TEST_F(ClientApiTest, LogsAfterTheEndCheckTheNodeAndIndexAgainstTheStoredStatus) {
  std::string exec = RunWithTwoFailures();
  ASSERT_EQ(h_.core().executions().Find(exec), nullptr);  // ended: answered from the store
  EXPECT_EQ(Logs(exec, "nope", 0, -1).code, static_cast<uint8_t>(Code::kNotFound));
  Answer range = Logs(exec, "m", 4, -1);
  EXPECT_EQ(range.code, static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_EQ(range.error, "index 4 is out of range: node 'm' has 4 subtask(s), 0 to 3");
  Answer never = Logs(exec, "m", 1, 1);
  EXPECT_EQ(never.code, static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_EQ(never.error, "attempt 1 of m[1] never ran: its attempts are 0 to 0");
}

TEST_F(ClientApiTest, OutputsOfASuccessWithToleratedFailuresListThemInIndexOrder) {
  std::string exec = RunWithTwoFailures();
  Answer a = Ask(Kind::kOutputs, wire::EncodeBody(wire::QueryRequest{3, exec}));
  ASSERT_EQ(a.code, 0) << a.error;
  EXPECT_EQ(a.doc["phase"], "SUCCEEDED");
  EXPECT_EQ(a.doc["outputs"]["o0"], nlohmann::json::parse("[10, null, 12, null]"));
  EXPECT_EQ(a.doc["failed_total"], 2);
  EXPECT_EQ(a.doc["failed"], nlohmann::json::parse(
                                 R"([{"node":"m","index":1,"error":"bad one"},{"node":"m","index":3,"error":"bad three"}])"));
  auto typed = ExecutionOutputs::FromJson(a.doc);
  ASSERT_TRUE(typed.has_value());
  EXPECT_EQ(typed->failed.size(), 2u);
  EXPECT_EQ(typed->failed[1], (FailedElement{"m", 3, "bad three"}));
}

TEST_F(ClientApiTest, AbortOfAnEndedExecutionSaysItHadAlreadyEnded) {
  std::string exec = RunWithTwoFailures();
  Answer a = Ask(Kind::kAbortExec, wire::EncodeBody(wire::QueryRequest{4, exec}));
  ASSERT_EQ(a.code, 0) << a.error;
  EXPECT_EQ(a.doc["already_ended"], true);
  EXPECT_EQ(a.doc["aborted"], false);
  EXPECT_EQ(a.doc["phase"], "SUCCEEDED");
}

TEST_F(ClientApiTest, AbortOfARunningExecutionAbortsIt) {
  std::string exec = h_.Submit(FunctionMapSpec(2));
  Answer a = Ask(Kind::kAbortExec, wire::EncodeBody(wire::QueryRequest{4, exec}));
  EXPECT_EQ(a.doc["aborted"], true);
  EXPECT_EQ(a.doc["already_ended"], false);
}

}  // namespace
}  // namespace fanout::testing
