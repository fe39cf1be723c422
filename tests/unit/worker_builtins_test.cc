// The built-in functions (worker/builtins.h) and the worker's flag helpers (worker/config.h).
#include <gtest/gtest.h>

#include "common/codec.h"
#include "worker/builtins.h"
#include "worker/config.h"

namespace fanout::worker {
namespace {

wire::TaskDesc Builtin(std::string fn, std::vector<wire::Param> inputs,
                       std::vector<wire::Param> outputs = {{"o0", "int"}}) {
  wire::TaskDesc t;
  t.name = fn;
  t.function = std::move(fn);
  t.inputs = std::move(inputs);
  t.outputs = std::move(outputs);
  return t;
}

Value Single(const TaskOutcome& o) {
  auto v = DecodeMsgpack(o.outputs);
  EXPECT_TRUE(v.has_value());
  if (!v || !v->is_list() || v->as_list().size() != 1) return Value();
  return v->as_list()[0];
}

TEST(WorkerBuiltinTest, NoopReturnsItsInput) {
  auto o = RunInstantBuiltin(Builtin("builtin.noop", {{"x", "int"}}), {Value(int64_t{41})});
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded) << o.error;
  EXPECT_EQ(Single(o), Value(int64_t{41}));
}

TEST(WorkerBuiltinTest, FailIfFailsOnlyForValuesInTheList) {
  auto task = Builtin("builtin.fail_if", {{"fail", "list<int>"}, {"x", "int"}});
  List fail{Value(int64_t{2}), Value(int64_t{3})};
  auto ok = RunInstantBuiltin(task, {Value(fail), Value(int64_t{1})});
  ASSERT_EQ(ok.outcome, wire::Outcome::kSucceeded) << ok.error;
  EXPECT_EQ(Single(ok), Value(int64_t{1}));
  auto bad = RunInstantBuiltin(task, {Value(fail), Value(int64_t{3})});
  EXPECT_EQ(bad.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(bad.error, "x=3 is in the fail list");
}

TEST(WorkerBuiltinTest, EchoReturnsAnyJsonValue) {
  Value v(Map{{"a", Value(List{Value(int64_t{1}), Value("b")})}});
  auto o = RunInstantBuiltin(Builtin("builtin.echo", {{"value", "json"}}, {{"o0", "json"}}), {v});
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded) << o.error;
  EXPECT_EQ(Single(o), v);
}

TEST(WorkerBuiltinTest, AMissingInputNameExplainsWhatTheBuiltinExpects) {
  auto o = RunInstantBuiltin(Builtin("builtin.noop", {{"y", "int"}}), {Value(int64_t{1})});
  EXPECT_EQ(o.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(o.error, "builtin.noop expects an input named 'x' (x: int)");
}

TEST(WorkerBuiltinTest, AnInputOfTheWrongKindIsAUserError) {
  auto o = RunInstantBuiltin(Builtin("builtin.noop", {{"x", "str"}}), {Value("one")});
  EXPECT_EQ(o.outcome, wire::Outcome::kUserError);
  EXPECT_NE(o.error.find("to be an int"), std::string::npos) << o.error;
}

TEST(WorkerBuiltinTest, TheReturnValueIsCheckedAgainstTheDeclaredOutput) {
  auto o = RunInstantBuiltin(Builtin("builtin.noop", {{"x", "int"}}, {{"o0", "float"}}),
                             {Value(int64_t{2})});
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded);
  auto probe = DecodeMsgpack(EncodeMsgpack(Value(1.0)));
  bool codec_keeps_floats = probe && probe->is_float();  // see worker_task_io_test.cc
  if (codec_keeps_floats) {
    EXPECT_TRUE(Single(o).is_float());
  }
  auto bad = RunInstantBuiltin(Builtin("builtin.noop", {{"x", "int"}}, {{"o0", "str"}}),
                               {Value(int64_t{2})});
  EXPECT_EQ(bad.outcome, wire::Outcome::kUserError);
}

TEST(WorkerConfigTest, ParsesSizesWithUnits) {
  EXPECT_EQ(*ParseBytes("1024"), 1024);
  EXPECT_EQ(*ParseBytes("2Gi"), int64_t{2} << 30);
  EXPECT_EQ(*ParseBytes("256Mi"), int64_t{256} << 20);
  EXPECT_EQ(*ParseBytes("1G"), 1000000000);
  EXPECT_FALSE(ParseBytes("lots").has_value());
  EXPECT_FALSE(ParseBytes("3Xi").has_value());
  EXPECT_FALSE(ParseBytes("99999999999999999999").has_value());
}

}  // namespace
}  // namespace fanout::worker
