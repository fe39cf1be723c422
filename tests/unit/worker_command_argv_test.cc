// The argv of a command task (worker/command_argv.h): placeholders in shell scripts become
// positional parameters, never code.
#include <gtest/gtest.h>

#include "worker/command_argv.h"

namespace fanout::worker {
namespace {

wire::TaskDesc Task(std::vector<std::string> command, std::vector<wire::Param> inputs) {
  wire::TaskDesc t;
  t.name = "t";
  t.kind = static_cast<uint8_t>(wire::TaskKind::kCommand);
  t.command = std::move(command);
  t.inputs = std::move(inputs);
  return t;
}

using Argv = std::vector<std::string>;

Argv Build(Argv command, List args, std::vector<wire::Param> inputs = {{"name", "str"}}) {
  auto r = BuildCommandArgv(Task(std::move(command), std::move(inputs)), args);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r ? *r : Argv{};
}

TEST(ShellScriptIndexTest, FindsTheScriptOfShellInvocationsWithC) {
  EXPECT_EQ(ShellScriptIndex({"sh", "-c", "x"}), 2);
  EXPECT_EQ(ShellScriptIndex({"/bin/sh", "-c", "x"}), 2);
  EXPECT_EQ(ShellScriptIndex({"/usr/bin/bash", "-ec", "x", "a0"}), 2);
  EXPECT_EQ(ShellScriptIndex({"bash", "-o", "pipefail", "-c", "x"}), 4);
  EXPECT_EQ(ShellScriptIndex({"bash", "--norc", "-x", "-c", "x"}), 4);
  EXPECT_EQ(ShellScriptIndex({"dash", "-c", "--", "x"}), 3);
}

TEST(ShellScriptIndexTest, IgnoresOtherCommandsAndShellsWithoutC) {
  EXPECT_EQ(ShellScriptIndex({"python3", "-c", "x"}), -1);
  EXPECT_EQ(ShellScriptIndex({"sh", "script.sh", "-c"}), -1);
  EXPECT_EQ(ShellScriptIndex({"sh", "-e", "script.sh"}), -1);
  EXPECT_EQ(ShellScriptIndex({"sh", "-c"}), -1);
  EXPECT_EQ(ShellScriptIndex({"mysh", "-c", "x"}), -1);
}

TEST(CommandArgvTest, AnUnquotedPlaceholderBecomesAQuotedPositionalParameter) {
  EXPECT_EQ(Build({"sh", "-c", "echo hello {{inputs.name}}"}, {Value("x'; id > f; echo '")}),
            (Argv{"sh", "-c", "echo hello \"${1}\"", "sh", "x'; id > f; echo '"}));
}

TEST(CommandArgvTest, TheReferenceIsQuotedForWhereItStands) {
  List v = {Value("v")};
  EXPECT_EQ(Build({"sh", "-c", "echo \"a {{inputs.name}} b\""}, v)[2], "echo \"a ${1} b\"");
  EXPECT_EQ(Build({"sh", "-c", "echo 'a {{inputs.name}} b'"}, v)[2], "echo 'a '\"${1}\"' b'");
  EXPECT_EQ(Build({"bash", "-c", "echo $'a {{inputs.name}}'"}, v)[2],
            "echo $'a '\"${1}\"$''");
  EXPECT_EQ(Build({"sh", "-c", "echo \"$(echo {{inputs.name}})\""}, v)[2],
            "echo \"$(echo \"${1}\")\"");
  EXPECT_EQ(Build({"sh", "-c", "echo \\'{{inputs.name}}"}, v)[2], "echo \\'\"${1}\"");
  EXPECT_EQ(Build({"sh", "-c", "echo $(( {{inputs.n}} * 2 ))"}, {Value(int64_t{4})}, {{"n", "int"}})[2],
            "echo $(( ${1} * 2 ))");
}

TEST(CommandArgvTest, ParametersFollowTheScriptsOwnOperandsAndRepeatsShareOne) {
  auto argv = Build({"sh", "-c", "echo {{inputs.b}} {{inputs.a}} {{inputs.b}} \"$0\"", "zero"},
                    {Value("A"), Value(int64_t{2})}, {{"a", "str"}, {"b", "int"}});
  EXPECT_EQ(argv, (Argv{"sh", "-c", "echo \"${1}\" \"${2}\" \"${1}\" \"$0\"", "zero", "2", "A"}));
}

TEST(CommandArgvTest, OtherArgumentsGetTheValueItself) {
  // An operand after the script is data already; so is every argument of a non-shell command.
  EXPECT_EQ(Build({"sh", "-c", "printf %s \"$0\"", "{{inputs.name}}"}, {Value("a b")}),
            (Argv{"sh", "-c", "printf %s \"$0\"", "a b"}));
  EXPECT_EQ(Build({"python3", "tool.py", "--name={{inputs.name}}"}, {Value("a'b")}),
            (Argv{"python3", "tool.py", "--name=a'b"}));
}

TEST(CommandArgvTest, ScriptsWithoutPlaceholdersStillGetTheirDollarZero) {
  EXPECT_EQ(Build({"/bin/sh", "-c", "exit 3"}, {Value("x")}), (Argv{"/bin/sh", "-c", "exit 3", "sh"}));
}

TEST(CommandArgvTest, AnUnknownInputIsAnErrorNamingIt) {
  auto r = BuildCommandArgv(Task({"sh", "-c", "echo {{inputs.nope}}"}, {{"name", "str"}}),
                            {Value("x")});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("'nope'"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace fanout::worker
