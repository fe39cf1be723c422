// Fuzzes the msgpack codec (common/codec.h), which decodes every value that crosses a process
// boundary: task arguments and outputs, stored inputs, outputs and cache entries.
//
// Contracts checked, for any bytes:
// - DecodeMsgpack never crashes; a value it returns re-encodes (EncodeMsgpack) to exactly
//   EncodedMsgpackSize bytes, which decode to the same value and re-encode to the same bytes;
// - a value accepted under tighter limits is accepted under the defaults, equal;
// - SplitMsgpackArray agrees with DecodeMsgpack on every array that decodes: same count, each
//   raw element decodes to the list's element, and the elements tile the document.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/codec.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fanout;
  using fuzz::SameValue;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto v = DecodeMsgpack(in);
  if (v) {
    std::string enc = EncodeMsgpack(*v);
    FUZZ_CHECK(EncodedMsgpackSize(*v) == enc.size());
    auto again = DecodeMsgpack(enc);
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(SameValue(*again, *v));
    FUZZ_CHECK(EncodeMsgpack(*again) == enc);
  }

  DecodeLimits tight;
  tight.max_bytes = 4096;
  tight.max_depth = 6;
  tight.max_array = 12;
  tight.max_map = 12;
  tight.max_str = 40;
  tight.max_bin = 40;
  auto t = DecodeMsgpack(in, tight);
  if (t) {
    FUZZ_CHECK(v.has_value());
    FUZZ_CHECK(SameValue(*t, *v));
    FUZZ_CHECK(NestingDepth(*t) <= tight.max_depth);
  }

  auto parts = SplitMsgpackArray(in);
  if (v && v->is_list()) {
    FUZZ_CHECK(parts.has_value());
    const List& list = v->as_list();
    FUZZ_CHECK(parts->size() == list.size());
    size_t end = in.size();
    for (size_t i = parts->size(); i-- > 0;) {
      std::string_view p = (*parts)[i];
      FUZZ_CHECK(p.data() + p.size() == in.data() + end);
      end -= p.size();
      auto e = DecodeMsgpack(p);
      FUZZ_CHECK(e.has_value());
      FUZZ_CHECK(SameValue(*e, list[i]));
    }
    FUZZ_CHECK(MsgpackArrayHeader(list.size()).size() <= end);
  }
  return 0;
}
