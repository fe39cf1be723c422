// The worker's task data contract (worker/task_io.h, worker/command_runner.h): placeholders,
// command output parsing and coercion, command outcomes.
#include <gtest/gtest.h>

#include "common/codec.h"
#include "worker/command_runner.h"
#include "worker/task_io.h"

namespace fanout::worker {
namespace {

wire::TaskDesc Task(std::vector<wire::Param> inputs, std::vector<wire::Param> outputs) {
  wire::TaskDesc t;
  t.name = "t";
  t.kind = static_cast<uint8_t>(wire::TaskKind::kCommand);
  t.inputs = std::move(inputs);
  t.outputs = std::move(outputs);
  return t;
}

// Decodes the msgpack array of outputs.
List Outputs(const std::string& bytes) {
  auto v = DecodeMsgpack(bytes);
  EXPECT_TRUE(v.has_value());
  if (!v || !v->is_list()) return {};
  return v->as_list();
}

TEST(CommandPlaceholderTest, ReplacesStringsRawAndOtherValuesAsCompactJson) {
  auto task = Task({{"name", "str"}, {"n", "int"}, {"xs", "list<float>"}}, {});
  List args{Value("a b"), Value(int64_t{7}), Value(List{Value(1.5), Value(int64_t{2})})};
  EXPECT_EQ(*SubstitutePlaceholders("--name={{inputs.name}}", task, args), "--name=a b");
  EXPECT_EQ(*SubstitutePlaceholders("{{inputs.n}}-{{ inputs.n }}", task, args), "7-7");
  EXPECT_EQ(*SubstitutePlaceholders("{{inputs.xs}}", task, args), "[1.5,2]");
  EXPECT_EQ(*SubstitutePlaceholders("plain", task, args), "plain");
}

TEST(CommandPlaceholderTest, KeepsBracesThatAreNotInputPlaceholders) {
  auto task = Task({{"n", "int"}}, {});
  List args{Value(int64_t{1})};
  EXPECT_EQ(*SubstitutePlaceholders("{{other}} {{inputs.n}} {{", task, args), "{{other}} 1 {{");
}

TEST(CommandPlaceholderTest, RefusesAnUnknownInputNamingIt) {
  auto task = Task({{"n", "int"}}, {});
  auto r = SubstitutePlaceholders("{{inputs.missing}}", task, {Value(int64_t{1})});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("'missing'"), std::string::npos) << r.error().message();
}

TEST(CommandOutputTest, ParsesStdoutAsTheSingleOutputAndCoercesIntToFloat) {
  auto r = ParseCommandOutputs({{"o0", "float"}}, std::nullopt, "  42\n");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  List out = Outputs(*r);
  ASSERT_EQ(out.size(), 1u);
  // An integral float must stay a float across the codec (msgpack-cxx alone packs 42.0 as
  // an int; common/codec.cc writes float64 itself).
  ASSERT_TRUE(out[0].is_float()) << out[0].kind_name();
  EXPECT_EQ(out[0].as_float(), 42.0);
}

TEST(CommandOutputTest, PrefersTheOutputsFileOverStdout) {
  auto r = ParseCommandOutputs({{"o0", "int"}, {"o1", "list<float>"}},
                               std::string(R"({"o1": [1, 2.5], "o0": 3})"), "ignored");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  List out = Outputs(*r);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], Value(int64_t{3}));
  ASSERT_TRUE(out[1].is_list());
  ASSERT_EQ(out[1].as_list().size(), 2u);
  EXPECT_EQ(out[1].as_list()[1], Value(2.5));
  EXPECT_EQ(out[1], Value(List{Value(1.0), Value(2.5)}));
}

TEST(CommandOutputTest, RejectsAnOutputOfTheWrongTypeNamingOutputAndType) {
  auto r = ParseCommandOutputs({{"o0", "int"}}, std::nullopt, "\"seven\"");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("'o0'"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("int"), std::string::npos) << r.error().message();
}

TEST(CommandOutputTest, RejectsAFloatWhereAnIntIsDeclared) {
  auto r = ParseCommandOutputs({{"o0", "int"}}, std::string(R"({"o0": 1.5})"), "");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("expected int"), std::string::npos) << r.error().message();
}

TEST(CommandOutputTest, RequiresEveryDeclaredOutputInTheFile) {
  auto r = ParseCommandOutputs({{"o0", "int"}, {"o1", "int"}}, std::string(R"({"o0": 1})"), "");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("'o1' is missing"), std::string::npos) << r.error().message();
}

TEST(CommandOutputTest, RejectsAnOutputsFileThatIsNotAnObject) {
  auto r = ParseCommandOutputs({{"o0", "int"}}, std::string("[1]"), "");
  ASSERT_FALSE(r.has_value());
}

TEST(CommandOutputTest, NeedsTheFileWhenSeveralOutputsAreDeclared) {
  auto r = ParseCommandOutputs({{"o0", "int"}, {"o1", "int"}}, std::nullopt, "1");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("$FANOUT_OUTPUTS"), std::string::npos);
}

TEST(CommandOutputTest, GivesAnEmptyArrayWhenNoOutputIsDeclared) {
  auto r = ParseCommandOutputs({}, std::nullopt, "whatever is printed");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(Outputs(*r).empty());
}

TEST(CommandOutputTest, ReportsEmptyOrInvalidStdout) {
  EXPECT_FALSE(ParseCommandOutputs({{"o0", "int"}}, std::nullopt, " \n").has_value());
  EXPECT_FALSE(ParseCommandOutputs({{"o0", "int"}}, std::nullopt, "1 2").has_value());
}

TEST(CommandOutputTest, DecodesBytesFromTheirJsonForm) {
  auto r = ParseCommandOutputs({{"o0", "bytes"}}, std::nullopt, R"({"$bytes": "aGk="})");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(Outputs(*r)[0], Value(Bytes{"hi"}));
}

TEST(CommandOutcomeTest, MapsExitCodesAndSignals) {
  auto task = Task({}, {{"o0", "int"}});
  auto ok = CommandOutcome(task, 0, 0, std::nullopt, "5", "");
  EXPECT_EQ(ok.outcome, wire::Outcome::kSucceeded);
  EXPECT_EQ(Outputs(ok.outputs), List{Value(int64_t{5})});

  auto nr = CommandOutcome(task, 42, 0, std::nullopt, "", "");
  EXPECT_EQ(nr.outcome, wire::Outcome::kNonRetryable);
  EXPECT_EQ(nr.error, "exit code 42");

  auto user = CommandOutcome(task, 3, 0, std::nullopt, "", "starting\nboom: bad input\n\n");
  EXPECT_EQ(user.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(user.error, "exit code 3: boom: bad input");

  auto plain = CommandOutcome(task, 1, 0, std::nullopt, "", "");
  EXPECT_EQ(plain.error, "exit code 1");

  auto sig = CommandOutcome(task, 0, 9, std::nullopt, "", "");
  EXPECT_EQ(sig.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(sig.error, "killed by signal 9");
}

TEST(CommandOutcomeTest, CapsTheStderrLineAt200Characters) {
  auto task = Task({}, {});
  auto r = CommandOutcome(task, 1, 0, std::nullopt, "", std::string(500, 'x'));
  EXPECT_EQ(r.error, "exit code 1: " + std::string(200, 'x'));
}

TEST(CommandLogTest, IsStderrAloneWhenStdoutWasTheOutput) {
  EXPECT_EQ(CommandLog("42\n", "warming up\n", /*stdout_is_output=*/true), "warming up\n");
  EXPECT_EQ(CommandLog("42\n", "", true), "");
}

TEST(CommandLogTest, HeadsBothStreamsWhenBothHaveText) {
  EXPECT_EQ(CommandLog("step 1\nstep 2", "boom\n", false), "[stdout]\nstep 1\nstep 2\n[stderr]\nboom\n");
  EXPECT_EQ(CommandLog("only out\n", "", false), "only out\n");
}

TEST(CommandLogTest, KeepsTheEndOfLongOutputFromALineStartWithinTheCap) {
  std::string err;
  for (int i = 0; i < 20000; ++i) err += "line " + std::to_string(i) + "\n";
  std::string log = CommandLog("", err, false);
  EXPECT_LE(log.size(), wire::kMaxLogBytes);
  EXPECT_EQ(log.rfind("[... ", 0), 0u) << log.substr(0, 40);
  EXPECT_TRUE(log.ends_with("line 19999\n"));
  // After the "cut" line comes a whole line.
  size_t first = log.find('\n') + 1;
  EXPECT_EQ(log.compare(first, 5, "line "), 0) << log.substr(first, 20);

  std::string both = CommandLog(err, err, false);
  EXPECT_LE(both.size(), wire::kMaxLogBytes);
  EXPECT_NE(both.find("[stderr]\n[... "), std::string::npos);
}

TEST(CommandInputsTest, BuildsTheInputsObjectWithBytesAsBase64) {
  auto task = Task({{"q", "int"}, {"b", "bytes"}}, {});
  auto j = InputsJson(task, {Value(int64_t{2}), Value(Bytes{"hi"})});
  EXPECT_EQ(j.dump(), R"({"b":{"$bytes":"aGk="},"q":2})");
}

TEST(CommandInputsTest, DecodesArgsAndChecksTheirCount) {
  auto task = Task({{"q", "int"}}, {});
  auto ok = DecodeArgs(task, EncodeMsgpack(Value(List{Value(int64_t{4})})));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, List{Value(int64_t{4})});
  EXPECT_FALSE(DecodeArgs(task, EncodeMsgpack(Value(List{}))).has_value());
  EXPECT_FALSE(DecodeArgs(task, "\xc1").has_value());
}

}  // namespace
}  // namespace fanout::worker
