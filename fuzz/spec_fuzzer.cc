// Fuzzes a submission's spec as the coordinator handles it (DESIGN §3.1, §7): ParseSpec, then
// for every workflow ResolveWorkflowInputs and CheckKnownMapLengths.
//
// Input: a YAML spec. A line "#inputs: JSON" (a YAML comment, so the parser sees the same
// document) gives the workflow inputs as `fanout run -i` would; without it, the defaults.
//
// Contracts checked:
// - ParseSpec never crashes or hangs; an error is InvalidArgument and starts with the file;
// - a parsed workflow lists its nodes in dependency order, every node's task exists, every
//   reference to a node output has a type;
// - resolved inputs pass their types and survive the coordinator's store-and-reload round
//   trip (msgpack, default decode limits).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/codec.h"
#include "common/json.h"
#include "common/spec.h"
#include "fuzz/fuzz_check.h"

namespace fanout::fuzz {
namespace {

constexpr std::string_view kFile = "fuzz.yaml";

Map GivenInputs(std::string_view text) {
  constexpr std::string_view kMarker = "#inputs:";
  size_t at = text.find(kMarker);
  if (at == std::string_view::npos) return {};
  std::string_view rest = text.substr(at + kMarker.size());
  rest = rest.substr(0, rest.find('\n'));
  auto v = ParseJson(rest);
  if (!v || !v->is_map()) return {};
  return v->as_map();
}

void CheckWorkflow(const Spec& spec, const WorkflowDef& wf, const Map& given) {
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < wf.nodes.size(); ++i) position[wf.nodes[i].id] = i;
  for (size_t i = 0; i < wf.nodes.size(); ++i) {
    const NodeDef& node = wf.nodes[i];
    // A node runs a task, or a launch plan or workflow (a child execution per element).
    if (node.target == NodeTarget::kTask) {
      FUZZ_CHECK(spec.tasks.count(node.task) == 1);
    } else {
      FUZZ_CHECK(spec.interfaces.count(node.task) == 1);
    }
    for (const std::string& dep : node.Dependencies()) {
      FUZZ_CHECK(position.count(dep) == 1);
      FUZZ_CHECK(position[dep] < i);
    }
    if (node.min_success_ratio && !node.min_successes) {
      int64_t m = MinSuccesses(node, 1000);
      FUZZ_CHECK(m >= 0 && m <= 1000);
    }
  }
  for (const auto& [name, b] : wf.outputs)
    if (b.ref) FUZZ_CHECK(spec.OutputType(wf, *b.ref).has_value());

  auto in = ResolveWorkflowInputs(wf, given);
  if (!in) {
    FUZZ_CHECK(in.error().code() == Code::kInvalidArgument);
    return;
  }
  for (const auto& def : wf.inputs) {
    FUZZ_CHECK(in->count(def.name) == 1);
    FUZZ_CHECK(def.type.Check(in->at(def.name)).ok());
  }
  auto stored = DecodeMsgpack(EncodeMsgpack(Value(*in)));
  FUZZ_CHECK(stored.has_value());
  FUZZ_CHECK(SameValue(*stored, Value(*in)));
  Status lengths = CheckKnownMapLengths(wf, *in);
  FUZZ_CHECK(lengths.ok() || lengths.code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace fanout::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fanout;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = ParseSpec(text, fuzz::kFile);
  if (!spec) {
    FUZZ_CHECK(spec.error().code() == Code::kInvalidArgument);
    FUZZ_CHECK(spec.error().message().rfind(fuzz::kFile, 0) == 0);
    return 0;
  }
  Map given = fuzz::GivenInputs(text);
  for (const auto& [name, wf] : spec->workflows) fuzz::CheckWorkflow(*spec, wf, given);
  return 0;
}
