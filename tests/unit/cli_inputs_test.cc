#include "cli/inputs.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace fanout::cli {
namespace {

WorkflowDef Wf() {
  WorkflowDef wf;
  wf.name = "wf";
  wf.inputs.push_back({"data", Type::ListOf(Type::Scalar(Type::Kind::kInt)), std::nullopt});
  wf.inputs.push_back({"name", Type::Scalar(Type::Kind::kStr), std::nullopt});
  wf.inputs.push_back({"cfg", Type::Scalar(Type::Kind::kJson), std::nullopt});
  return wf;
}

TEST(CliInputsTest, SplitsNameAndJson) {
  Result<InputFlag> f = SplitInputFlag("data=[1, 2]");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "data");
  EXPECT_EQ(f->text, "[1, 2]");
  EXPECT_FALSE(f->from_file);
}

TEST(CliInputsTest, SplitsOnTheFirstEqualsSign) {
  Result<InputFlag> f = SplitInputFlag("cfg={\"a=b\": 1}");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "cfg");
  EXPECT_EQ(f->text, "{\"a=b\": 1}");
}

TEST(CliInputsTest, SplitsFileReference) {
  Result<InputFlag> f = SplitInputFlag("data=@in.json");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->from_file);
  EXPECT_EQ(f->text, "in.json");
}

TEST(CliInputsTest, RejectsFlagWithoutName) {
  EXPECT_FALSE(SplitInputFlag("=1"));
  EXPECT_FALSE(SplitInputFlag("data"));
  EXPECT_FALSE(SplitInputFlag("data=@"));
}

TEST(CliInputsTest, ParsesJsonValues) {
  Result<Map> m = ParseInputFlags({"data=[1,2,3]", "cfg={\"k\": true}"}, Wf());
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->at("data"), Value(List{1, 2, 3}));
  EXPECT_EQ(m->at("cfg"), Value(Map{{"k", Value(true)}}));
}

TEST(CliInputsTest, StrInputTakesBareWordsLiterally) {
  Result<Map> m = ParseInputFlags({"name=alice"}, Wf());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("name"), Value("alice"));
  m = ParseInputFlags({"name=\"quoted\""}, Wf());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("name"), Value("quoted"));
  m = ParseInputFlags({"name=0042"}, Wf());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("name"), Value("0042"));
}

TEST(CliInputsTest, InvalidJsonNamesTheInputAndItsType) {
  Result<Map> m = ParseInputFlags({"data=[1,x]"}, Wf());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Code::kInvalidArgument);
  EXPECT_NE(m.error().message().find("-i data"), std::string::npos);
  EXPECT_NE(m.error().message().find("list<int>"), std::string::npos);
}

TEST(CliInputsTest, UnknownInputListsTheKnownOnes) {
  Result<Map> m = ParseInputFlags({"dta=[1]"}, Wf());
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("inputs: data, name, cfg"), std::string::npos)
      << m.error().message();
}

TEST(CliInputsTest, RejectsDuplicates) {
  EXPECT_FALSE(ParseInputFlags({"data=[1]", "data=[2]"}, Wf()));
}

TEST(CliInputsTest, ReadsValueFromFile) {
  std::string path = ::testing::TempDir() + "/cli_inputs_test.json";
  std::ofstream(path) << "[4, 5]\n";
  Result<Map> m = ParseInputFlags({"data=@" + path}, Wf());
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->at("data"), Value(List{4, 5}));
  std::remove(path.c_str());
}

TEST(CliInputsTest, MissingFileIsAnInputError) {
  Result<Map> m = ParseInputFlags({"data=@/nonexistent/x.json"}, Wf());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), Code::kInvalidArgument);
  EXPECT_NE(m.error().message().find("/nonexistent/x.json"), std::string::npos);
}

TEST(CliInputsTest, InputsToJsonIsAnObjectOfTheGivenValues) {
  EXPECT_EQ(InputsToJson(Map{{"data", Value(List{1, 2})}, {"name", Value("a")}}),
            R"({"data":[1,2],"name":"a"})");
  EXPECT_EQ(InputsToJson(Map{}), "{}");
}

}  // namespace
}  // namespace fanout::cli
