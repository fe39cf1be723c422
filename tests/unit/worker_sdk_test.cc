// The plugin SDK (sdk/include/fanout/task.h) as the worker calls it: argument conversion,
// return values checked against declared outputs, errors (worker/function_runner.h).
#include <fanout/task.h>
#include <gtest/gtest.h>

#include <atomic>

#include "common/codec.h"
#include "worker/function_runner.h"

namespace fanout::worker {
namespace {

std::string Describe(int64_t i, double d, bool b, std::string s, std::vector<int64_t> v,
                     std::optional<std::string> o, std::map<std::string, double> m) {
  std::string out =
      std::to_string(i) + "|" + std::to_string(d) + "|" + (b ? "T" : "F") + "|" + s + "|";
  for (auto x : v) out += std::to_string(x) + ",";
  out += "|" + o.value_or("none") + "|";
  for (const auto& [k, x] : m) out += k + "=" + std::to_string(x) + ",";
  return out;
}

int64_t AttemptPlus(TaskContext& ctx, int64_t x) {
  ctx.checkpoint("ckpt-" + std::to_string(x));
  if (ctx.previous_checkpoint().has_value()) return -1;
  return ctx.cancelled() ? -2 : ctx.attempt() + x;
}

int64_t Refuse(int64_t) { throw NonRetryable("bad record"); }
int64_t Throw(int64_t) { throw std::runtime_error("flaky"); }
std::vector<int64_t> Ints(int64_t n) { return std::vector<int64_t>(static_cast<size_t>(n), 1); }
std::string Text(int64_t) { return "seven"; }
void Nothing() {}

wire::TaskDesc Task(std::vector<std::string> input_types, std::vector<wire::Param> outputs) {
  wire::TaskDesc t;
  t.name = "t";
  for (size_t i = 0; i < input_types.size(); ++i) {
    t.inputs.push_back({"a" + std::to_string(i), input_types[i]});
  }
  t.outputs = std::move(outputs);
  return t;
}

TaskOutcome Call(void (*invoke)(const fanout_call*), const wire::TaskDesc& task, List args,
                 uint32_t attempt = 0, bool cancelled = false) {
  std::atomic<bool> flag{cancelled};
  CallResult r = InvokeFunction(invoke, EncodeMsgpack(Value(std::move(args))), attempt, &flag);
  return ToOutcome(task, r);
}

List Outputs(const TaskOutcome& o) {
  auto v = DecodeMsgpack(o.outputs);
  EXPECT_TRUE(v.has_value());
  return v && v->is_list() ? v->as_list() : List{};
}

TEST(SdkTest, ConvertsArgumentsOfEverySupportedType) {
  auto task = Task({"int", "float", "bool", "str", "list<int>", "optional<str>", "map<float>"},
                   {{"o0", "str"}});
  auto o = Call(
      &sdk_detail::Invoke<&Describe>, task,
      {Value(int64_t{-3}), Value(int64_t{2}) /* int accepted as float */, Value(true), Value("hi"),
       Value(List{Value(int64_t{1}), Value(int64_t{2})}), Value(), Value(Map{{"k", Value(0.5)}})});
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded) << o.error;
  EXPECT_EQ(Outputs(o), List{Value("-3|2.000000|T|hi|1,2,|none|k=0.500000,")});
}

TEST(SdkTest, PassesTheContextWithAttemptCancellationAndCheckpoints) {
  auto task = Task({"int"}, {{"o0", "int"}});
  auto o = Call(&sdk_detail::Invoke<&AttemptPlus>, task, {Value(int64_t{10})}, /*attempt=*/2);
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded) << o.error;
  EXPECT_EQ(Outputs(o), List{Value(int64_t{12})});

  auto c = Call(&sdk_detail::Invoke<&AttemptPlus>, task, {Value(int64_t{10})}, 0,
                /*cancelled=*/true);
  EXPECT_EQ(Outputs(c), List{Value(int64_t{-2})});

  std::atomic<bool> flag{false};
  CallResult r = InvokeFunction(&sdk_detail::Invoke<&AttemptPlus>,
                                EncodeMsgpack(Value(List{Value(int64_t{4})})), 0, &flag);
  EXPECT_EQ(r.checkpoint, std::optional<std::string>("ckpt-4"));
}

TEST(SdkTest, NonRetryableBecomesANonRetryableFailure) {
  auto o = Call(&sdk_detail::Invoke<&Refuse>, Task({"int"}, {{"o0", "int"}}), {Value(int64_t{1})});
  EXPECT_EQ(o.outcome, wire::Outcome::kNonRetryable);
  EXPECT_EQ(o.error, "bad record");
}

TEST(SdkTest, AnyOtherExceptionIsAUserErrorWithItsMessage) {
  auto o = Call(&sdk_detail::Invoke<&Throw>, Task({"int"}, {{"o0", "int"}}), {Value(int64_t{1})});
  EXPECT_EQ(o.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(o.error, "flaky");
}

TEST(SdkTest, AnArgumentOfTheWrongTypeIsAUserErrorNamingIt) {
  auto o = Call(&sdk_detail::Invoke<&Describe>,
                Task({"int", "float", "bool", "str", "list<int>", "optional<str>", "map<float>"},
                     {{"o0", "str"}}),
                {Value(int64_t{1}), Value(1.0), Value("not a bool"), Value("s"), Value(List{}),
                 Value(), Value(Map{})});
  EXPECT_EQ(o.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(o.error, "argument 3: expected bool");
}

TEST(SdkTest, AWrongNumberOfArgumentsIsAUserError) {
  auto o = Call(&sdk_detail::Invoke<&Throw>, Task({"int", "int"}, {{"o0", "int"}}),
                {Value(int64_t{1}), Value(int64_t{2})});
  EXPECT_EQ(o.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(o.error, "function takes 1 argument(s), got 2");
}

TEST(SdkTest, ReturnValuesAreCoercedToTheDeclaredOutputType) {
  auto o =
      Call(&sdk_detail::Invoke<&Ints>, Task({"int"}, {{"o0", "list<float>"}}), {Value(int64_t{2})});
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded) << o.error;
  List out = Outputs(o);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].is_list());
  EXPECT_EQ(out[0].as_list().size(), 2u);
  // Integral doubles stay floats (msgpack-cxx alone would pack 1.0 as an int).
  EXPECT_EQ(out[0], Value(List{Value(1.0), Value(1.0)}));
}

TEST(SdkTest, AReturnValueOfTheWrongTypeIsAUserErrorNamingTheOutput) {
  auto o = Call(&sdk_detail::Invoke<&Text>, Task({"int"}, {{"o0", "int"}}), {Value(int64_t{1})});
  EXPECT_EQ(o.outcome, wire::Outcome::kUserError);
  EXPECT_EQ(o.error, "output 'o0': expected int, got str");
}

TEST(SdkTest, AVoidFunctionHasNoOutputs) {
  auto o = Call(&sdk_detail::Invoke<&Nothing>, Task({}, {}), {});
  ASSERT_EQ(o.outcome, wire::Outcome::kSucceeded) << o.error;
  EXPECT_TRUE(Outputs(o).empty());
}

FANOUT_TASK(sdk_test_attempt_plus, AttemptPlus);

TEST(SdkTest, FanoutTaskRegistersTheFunctionInThePluginTable) {
  const fanout_plugin* table = fanout_plugin_v1();
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->abi_version, FANOUT_PLUGIN_ABI_VERSION);
  bool found = false;
  for (uint32_t i = 0; i < table->count; ++i) {
    found = found || std::string(table->entries[i].name) == "sdk_test_attempt_plus";
  }
  EXPECT_TRUE(found);
}

FANOUT_TASK(sdk_test_describe, Describe);
FANOUT_TASK(sdk_test_nothing, Nothing);

// The worker advertises these (wire::FunctionInfo::signature); the coordinator checks specs
// against them. A TaskContext parameter is not an argument.
TEST(SdkTest, EveryRegisteredFunctionHasItsSignatureInSpecTypes) {
  const fanout_plugin* table = fanout_plugin_v1();
  const char* const* signatures = fanout_plugin_signatures_v1();
  ASSERT_NE(signatures, nullptr);
  std::map<std::string, std::string> by_name;
  for (uint32_t i = 0; i < table->count; ++i) by_name[table->entries[i].name] = signatures[i];
  EXPECT_EQ(by_name["sdk_test_attempt_plus"], "int->int");
  EXPECT_EQ(by_name["sdk_test_describe"], "int,float,bool,str,list<int>,optional<str>,map<float>->str");
  EXPECT_EQ(by_name["sdk_test_nothing"], "->");
}

}  // namespace
}  // namespace fanout::worker
