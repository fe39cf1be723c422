#include "cli/format.h"

#include <gtest/gtest.h>

namespace fanout::cli {
namespace {

TEST(CliFormatTest, CompactJsonSeparatesListItemsWithCommaSpace) {
  EXPECT_EQ(CompactJson(Json::parse("[false, true,false]")), "[false, true, false]");
}

TEST(CliFormatTest, CompactJsonSeparatesObjectKeysWithColonSpaceInOrder) {
  EXPECT_EQ(CompactJson(Json::parse(R"({"b": [1,2], "a": {"x": null}})")),
            R"({"b": [1, 2], "a": {"x": null}})");
}

TEST(CliFormatTest, CompactJsonKeepsFloatsAndEscapesStrings) {
  EXPECT_EQ(CompactJson(Json::parse(R"([6.0, 1.5, "a\"b", -3])")), R"([6.0, 1.5, "a\"b", -3])");
  EXPECT_EQ(CompactJson(Json::array()), "[]");
  EXPECT_EQ(CompactJson(Json::object()), "{}");
}

TEST(CliFormatTest, FormatOutputsPrintsOneLinePerOutputInDocumentOrder) {
  Json outputs = Json::parse(R"({"o1": "x", "o0": [false, true, false]})");
  EXPECT_EQ(FormatOutputs(outputs), "o1: \"x\"\no0: [false, true, false]\n");
}

TEST(CliFormatTest, FormatDurationPicksAUnit) {
  EXPECT_EQ(FormatDurationMs(350), "350ms");
  EXPECT_EQ(FormatDurationMs(1234), "1.2s");
  EXPECT_EQ(FormatDurationMs(5000), "5s");
  EXPECT_EQ(FormatDurationMs(125'000), "2m05s");
  EXPECT_EQ(FormatDurationMs(3'720'000), "1h02m");
  EXPECT_EQ(FormatDurationMs(-1), "-");
}

TEST(CliFormatTest, FormatTableAlignsColumns) {
  EXPECT_EQ(FormatTable({{"ID", "PHASE"}, {"abcdef", "RUNNING"}, {"x", ""}}),
            "ID      PHASE\nabcdef  RUNNING\nx\n");
}

TEST(CliFormatTest, FormatStatusShowsNodesCountsAndFailedSubtasks) {
  Json status = Json::parse(R"({
    "execution": "e1", "workflow": "wf", "phase": "FAILED", "created_ms": 1000, "ended_ms": 2500,
    "error": "node totals: [0-1][3]: exit code 1",
    "nodes": [{"id": "totals", "kind": "map", "phase": "FAILED", "size": 10, "min_successes": 10,
               "counts": {"queued": 0, "running": 0, "succeeded": 7, "failed": 3, "aborted": 0,
                          "retrying": 0, "cached": 2, "waiting_for_cache": 0},
               "error": "",
               "failed": [{"index": 3, "attempts": 2, "error": "exit code 1"}]}]})");
  std::string s = FormatStatus(status, 0);
  EXPECT_NE(s.find("execution e1  workflow wf  FAILED  1.5s"), std::string::npos) << s;
  EXPECT_NE(s.find("totals  map   FAILED  10"), std::string::npos) << s;
  EXPECT_NE(s.find("succeeded 7  failed 3  cached 2"), std::string::npos) << s;
  EXPECT_EQ(s.find("running 0"), std::string::npos) << s;
  EXPECT_NE(s.find("[3] attempts 2: exit code 1"), std::string::npos) << s;
  EXPECT_NE(s.find("error: node totals: [0-1][3]: exit code 1"), std::string::npos) << s;
}

TEST(CliFormatTest, FormatStatusToleratesMissingFields) {
  std::string s = FormatStatus(Json::parse(R"({"execution": "e2"})"), 0);
  EXPECT_NE(s.find("execution e2"), std::string::npos);
}

TEST(CliFormatTest, FormatWorkersListsOneRowPerWorker) {
  Json w = Json::parse(R"({"workers": [{"id": "h-1-a", "host": "h", "pid": 1, "slots": 4,
    "running": 2, "functions": ["f", "g"], "interruptible": false, "heartbeat_age_ms": 300,
    "labels": []}]})");
  std::string s = FormatWorkers(w);
  EXPECT_NE(s.find("h-1-a"), std::string::npos) << s;
  EXPECT_NE(s.find("300ms ago"), std::string::npos) << s;
  EXPECT_NE(s.find("f,g"), std::string::npos) << s;
}

}  // namespace
}  // namespace fanout::cli

namespace fanout::cli {
namespace {

TEST(CliFormatTest, ToleratedFailuresAreSummarizedWithTheirErrors) {
  Json doc = Json::parse(R"({"phase": "SUCCEEDED", "failed_total": 3, "failed": [
    {"node": "m", "index": 2, "error": "exit code 1"}, {"node": "m", "index": 7, "error": "boom"},
    {"node": "m", "index": 9, "error": "boom"}]})");
  EXPECT_EQ(FormatToleratedFailures(doc, "E1", 2),
            "tolerated 3 failed subtasks (their outputs are null):\n"
            "  m[2]: exit code 1\n"
            "  m[7]: boom\n"
            "  ... 1 more: fanout status E1\n");
  EXPECT_EQ(FormatToleratedFailures(Json::parse(R"({"phase": "SUCCEEDED", "failed": []})"), "E1"), "");
}

TEST(CliFormatTest, TheLowestFailedSubtaskIsTheLowestIndexNotTheFirstListed) {
  Json status = Json::parse(R"({"nodes": [{"id": "price", "failed": []},
    {"id": "m", "failed": [{"index": 107}, {"index": 7}, {"index": 87}]}]})");
  auto lowest = LowestFailedSubtask(status);
  ASSERT_TRUE(lowest.has_value());
  EXPECT_EQ(lowest->first, "m");
  EXPECT_EQ(lowest->second, 7);
  EXPECT_FALSE(LowestFailedSubtask(Json::parse(R"({"nodes": []})")).has_value());
}

}  // namespace
}  // namespace fanout::cli
