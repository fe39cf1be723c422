// Fuzzes JSON inputs as a submission carries them (`fanout run -i NAME=JSON`, the inputs
// document of SUBMIT, a command task's outputs): common/json and the type checks of
// common/type, up to ResolveWorkflowInputs.
//
// Input: the first line is a type ("list<int>"), the rest a JSON document. Without a newline
// the whole input is the JSON document and the type is json.
//
// Contracts checked:
// - ParseJson never crashes; a value it returns survives ToJson/FromJson, the JSON text (when
//   every float is finite: JSON has no inf/nan) and msgpack unchanged;
// - a type that parses prints as text that parses to the same type;
// - a value that passes Check still passes it after Coerce, and Coerce is idempotent;
// - an input ResolveWorkflowInputs accepts passes its type and survives the round trip the
//   coordinator makes when it stores the inputs and reads them back after a restart.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/codec.h"
#include "common/json.h"
#include "common/spec.h"
#include "common/type.h"
#include "fuzz/fuzz_check.h"

namespace fanout::fuzz {
namespace {

bool AllFloatsFinite(const Value& v) {
  if (v.is_float()) return std::isfinite(v.as_float());
  if (v.is_list()) {
    for (const Value& e : v.as_list())
      if (!AllFloatsFinite(e)) return false;
  }
  if (v.is_map()) {
    for (const auto& [k, e] : v.as_map())
      if (!AllFloatsFinite(e)) return false;
  }
  return true;
}

void CheckValue(const Value& v) {
  auto back = FromJson(ToJson(v));
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(SameValue(*back, v));
  if (AllFloatsFinite(v)) {
    auto text = ParseJson(ToJson(v).dump());
    FUZZ_CHECK(text.has_value());
    FUZZ_CHECK(SameValue(*text, v));
  }
  auto m = DecodeMsgpack(EncodeMsgpack(v));
  FUZZ_CHECK(m.has_value());
  FUZZ_CHECK(SameValue(*m, v));
}

void CheckTyped(const Type& type, const Value& v) {
  auto reparsed = Type::Parse(type.ToString());
  FUZZ_CHECK(reparsed.has_value());
  FUZZ_CHECK(*reparsed == type);
  if (type.Check(v).ok()) {
    Value c = type.Coerce(v);
    FUZZ_CHECK(type.Check(c).ok());
    FUZZ_CHECK(SameValue(type.Coerce(c), c));
  }
  WorkflowDef wf;
  wf.name = "fuzz";
  wf.inputs.push_back({"x", type, std::nullopt});
  auto in = ResolveWorkflowInputs(wf, Map{{"x", v}});
  if (!in) {
    FUZZ_CHECK(in.error().code() == Code::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(type.Check(in->at("x")).ok());
  auto stored = DecodeMsgpack(EncodeMsgpack(Value(*in)));
  FUZZ_CHECK(stored.has_value());
  FUZZ_CHECK(SameValue(*stored, Value(*in)));
}

}  // namespace
}  // namespace fanout::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fanout;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view type_text = "json", json = in;
  if (auto nl = in.find('\n'); nl != std::string_view::npos) {
    type_text = in.substr(0, nl);
    json = in.substr(nl + 1);
  }
  auto type = Type::Parse(type_text);
  auto v = ParseJson(json);
  if (!v) {
    FUZZ_CHECK(v.error().code() == Code::kInvalidArgument);
    return 0;
  }
  fuzz::CheckValue(*v);
  if (type) fuzz::CheckTyped(*type, *v);
  return 0;
}
