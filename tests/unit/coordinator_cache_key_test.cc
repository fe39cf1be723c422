// What a cache key covers (coordinator/cache_key.h).
#include "coordinator/cache_key.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TaskDef Task(std::vector<std::string> command, std::string function = "") {
  TaskDef t;
  t.name = "t";
  t.command = std::move(command);
  t.function = std::move(function);
  t.inputs = {{"x", *Type::Parse("int")}};
  t.outputs = {{"o0", *Type::Parse("int")}};
  return t;
}

CacheConfig Cache() {
  CacheConfig c;
  c.enabled = true;
  c.version = "1";
  return c;
}

const std::vector<std::string_view> kArgs = {std::string_view("\x01", 1)};

// Issue 10, row 11: spec A caches `echo 999` under task name t; spec B (`echo 1`, same name and
// interface) must not read A's entries.
TEST(CacheKeyTest, TwoCommandsUnderOneTaskNameAndInterfaceHaveDifferentKeys) {
  EXPECT_NE(CacheKey(Task({"sh", "-c", "echo 999"}), Cache(), kArgs, ""),
            CacheKey(Task({"sh", "-c", "echo 1"}), Cache(), kArgs, ""));
}

TEST(CacheKeyTest, ArgvBoundariesArePartOfTheKey) {
  EXPECT_NE(CacheKey(Task({"sh", "-c", "echo 1"}), Cache(), kArgs, ""),
            CacheKey(Task({"sh", "-c echo", "1"}), Cache(), kArgs, ""));
}

TEST(CacheKeyTest, TheWorkdirOfACommandIsPartOfTheKey) {
  // `sh run.sh` in two directories runs two scripts.
  TaskDef a = Task({"sh", "run.sh"}), b = Task({"sh", "run.sh"});
  a.workdir = "/srv/a";
  b.workdir = "/srv/b";
  EXPECT_NE(CacheKey(a, Cache(), kArgs, ""), CacheKey(b, Cache(), kArgs, ""));
  EXPECT_NE(CacheKey(a, Cache(), kArgs, ""), CacheKey(Task({"sh", "run.sh"}), Cache(), kArgs, ""));
}

TEST(CacheKeyTest, TwoFunctionsUnderOneTaskNameHaveDifferentKeys) {
  EXPECT_NE(CacheKey(Task({}, "builtin.noop"), Cache(), kArgs, ""), CacheKey(Task({}, "builtin.echo"), Cache(), kArgs, ""));
}

TEST(CacheKeyTest, TheSameTaskAndInputsHaveTheSameKeyNamedByTaskAndVersion) {
  std::string a = CacheKey(Task({"sh", "-c", "echo 1"}), Cache(), kArgs, "");
  EXPECT_EQ(a, CacheKey(Task({"sh", "-c", "echo 1"}), Cache(), kArgs, ""));
  EXPECT_TRUE(a.starts_with("t:1:")) << a;
}

// Issue 10: a function's key names the build of its plugin, so a rebuilt plugin is not served
// the old build's results; a command's key has no build.
TEST(CacheKeyTest, TheBuildOfAFunctionIsPartOfItsKey) {
  TaskDef f = Task({}, "detect");
  EXPECT_NE(CacheKey(f, Cache(), kArgs, "b2:aa"), CacheKey(f, Cache(), kArgs, "b2:bb"));
  EXPECT_EQ(CacheKey(f, Cache(), kArgs, "b2:aa"), CacheKey(f, Cache(), kArgs, "b2:aa"));
  TaskDef c = Task({"sh", "-c", "echo 1"});
  EXPECT_EQ(CacheKey(c, Cache(), kArgs, "b2:aa"), CacheKey(c, Cache(), kArgs, "b2:bb"));
}

}  // namespace
}  // namespace fanout
