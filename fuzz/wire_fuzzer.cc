// Fuzzes a message as the coordinator and the worker receive it from the network (DESIGN §5):
// frame 0 through wire::ParseHeader, frame 1 through wire::DecodeBody<T> for the body of
// that kind, and the msgpack payloads inside (WorkItem::args, ResultItem::outputs) through
// the codec as the receivers do.
//
// Input: the first two bytes are frame 0, the rest is frame 1.
// Contracts checked: decoding never crashes; a body that decodes re-encodes to bytes that
// decode again and re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/codec.h"
#include "common/wire.h"
#include "fuzz/fuzz_check.h"

namespace fanout::fuzz {
namespace {

template <typename T>
Result<T> DecodeAndRoundTrip(std::string_view body) {
  auto decoded = wire::DecodeBody<T>(body);
  if (!decoded) return decoded;
  std::string once = wire::EncodeBody(*decoded);
  auto again = wire::DecodeBody<T>(once);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(wire::EncodeBody(*again) == once);
  return decoded;
}

// The worker decodes a WorkItem's args as one msgpack array of values.
void DecodePayloads(const wire::WorkBatch& batch) {
  for (const auto& item : batch.items) {
    auto args = DecodeMsgpack(item.args);
    if (args) FUZZ_CHECK(DecodeMsgpack(EncodeMsgpack(*args)).has_value());
  }
}

// The coordinator splits a succeeded ResultItem's outputs into raw elements.
void DecodePayloads(const wire::ResultBatch& batch) {
  for (const auto& r : batch.results) {
    auto parts = SplitMsgpackArray(r.outputs);
    if (!parts) continue;
    for (std::string_view p : *parts) FUZZ_CHECK(!p.empty());
  }
}

void DecodeFor(wire::Kind kind, std::string_view body) {
  using K = wire::Kind;
  switch (kind) {
    case K::kHello: DecodeAndRoundTrip<wire::Hello>(body); return;
    case K::kResult:
      if (auto b = DecodeAndRoundTrip<wire::ResultBatch>(body)) DecodePayloads(*b);
      return;
    case K::kHeartbeat:
    case K::kBye:
    case K::kReconnect: DecodeAndRoundTrip<wire::Heartbeat>(body); return;
    case K::kCheckpoint: DecodeAndRoundTrip<wire::CheckpointSave>(body); return;
    case K::kWork:
      if (auto b = DecodeAndRoundTrip<wire::WorkBatch>(body)) DecodePayloads(*b);
      return;
    case K::kAck:
    case K::kAbort: DecodeAndRoundTrip<wire::AckBatch>(body); return;
    case K::kWelcome: DecodeAndRoundTrip<wire::Welcome>(body); return;
    case K::kSubmit: DecodeAndRoundTrip<wire::SubmitRequest>(body); return;
    case K::kStatus:
    case K::kOutputs:
    case K::kList:
    case K::kWorkers:
    case K::kHealth:
    case K::kAbortExec:
    case K::kRecover: DecodeAndRoundTrip<wire::QueryRequest>(body); return;
    case K::kCacheClear: DecodeAndRoundTrip<wire::CacheClearRequest>(body); return;
    case K::kLogs: DecodeAndRoundTrip<wire::LogsRequest>(body); return;
    case K::kUpdate: DecodeAndRoundTrip<wire::UpdateRequest>(body); return;
    case K::kStarted: DecodeAndRoundTrip<wire::StartedBatch>(body); return;
    case K::kReply: DecodeAndRoundTrip<wire::Reply>(body); return;
    case K::kProgress: DecodeAndRoundTrip<wire::ProgressEvent>(body); return;
  }
  FUZZ_CHECK(false && "ParseHeader returned a kind without a body");
}

}  // namespace
}  // namespace fanout::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fanout;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The whole input as frame 0 too: a header of any other length must be refused.
  if (size != 2) FUZZ_CHECK(!wire::ParseHeader(in).has_value());
  if (size < 2) return 0;
  auto kind = wire::ParseHeader(in.substr(0, 2));
  if (!kind) return 0;
  FUZZ_CHECK(wire::Header(*kind) == in.substr(0, 2));
  fuzz::DecodeFor(*kind, in.substr(2));
  return 0;
}
