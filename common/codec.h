// msgpack encoding of Values, with decode limits for untrusted bytes (DESIGN §5, §7).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "common/status.h"
#include "common/value.h"


namespace fanout {

// The largest element (one subtask's share of a mapped input, an output, a bound value that is
// not a list), msgpack-encoded (DESIGN §7). Strings and binaries decode up to this size.
inline constexpr size_t kMaxElementBytes = 16u << 20;

struct DecodeLimits {
  size_t max_bytes = 64u << 20;        // whole document
  size_t max_depth = 64;               // nesting of arrays/maps
  size_t max_array = 16u << 20;        // elements of one array
  size_t max_map = 1u << 20;           // entries of one map
  size_t max_str = kMaxElementBytes;   // bytes of one string
  size_t max_bin = kMaxElementBytes;   // bytes of one binary
};

// Encodes v as msgpack: int → int, float → float64, bytes → bin, map → map with str keys.
std::string EncodeMsgpack(const Value& v);
void EncodeMsgpackTo(const Value& v, std::string* out);

// The exact size of EncodeMsgpack(v), computed without encoding.
size_t EncodedMsgpackSize(const Value& v);

// Decodes exactly one msgpack document; trailing bytes, over-limit sizes, non-string map
// keys and ext types are errors.
Result<Value> DecodeMsgpack(std::string_view bytes, const DecodeLimits& limits = {});

// Converts a decoded msgpack object (already size-limited) into a Value.
Result<Value> ValueFromObject(const msgpack::object& o, size_t depth_left = 64);

// Splits a msgpack array into the raw bytes of its elements without converting them.
// Each returned view points into `bytes`.
Result<std::vector<std::string_view>> SplitMsgpackArray(std::string_view bytes,
                                                       const DecodeLimits& limits = {});

// Where each element of a msgpack array starts, then the array's end (n + 1 offsets into
// `bytes`): SplitMsgpackArray without a view per element.
Result<std::vector<uint32_t>> MsgpackArrayOffsets(std::string_view bytes, const DecodeLimits& limits = {});

// The header bytes of a msgpack array of n elements (fixarray / array16 / array32).
std::string MsgpackArrayHeader(size_t n);
// The header bytes of a msgpack map of n pairs (fixmap / map16 / map32).
std::string MsgpackMapHeader(size_t n);

}  // namespace fanout
