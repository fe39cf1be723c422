#include "common/codec.h"

#include <algorithm>

#include <msgpack.hpp>

#include <cstring>

namespace fanout {
namespace {

void Pack(msgpack::packer<msgpack::sbuffer>& pk, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, bool>) {
          x ? pk.pack_true() : pk.pack_false();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          pk.pack_int64(x);
        } else if constexpr (std::is_same_v<T, double>) {
          // Not pk.pack_double: msgpack-cxx >= 4 packs integral doubles (6.0, -0.0) as ints,
          // which would decode as int. A float always travels as float64.
          uint64_t bits;
          std::memcpy(&bits, &x, sizeof bits);
          char f64[9] = {static_cast<char>(0xcb)};
          for (int i = 0; i < 8; ++i) f64[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
          pk.pack_str_body(f64, sizeof f64);  // appends raw bytes
        } else if constexpr (std::is_same_v<T, std::string>) {
          pk.pack_str(static_cast<uint32_t>(x.size()));
          pk.pack_str_body(x.data(), static_cast<uint32_t>(x.size()));
        } else if constexpr (std::is_same_v<T, Bytes>) {
          pk.pack_bin(static_cast<uint32_t>(x.data.size()));
          pk.pack_bin_body(x.data.data(), static_cast<uint32_t>(x.data.size()));
        } else if constexpr (std::is_same_v<T, List>) {
          pk.pack_array(static_cast<uint32_t>(x.size()));
          for (const Value& e : x) Pack(pk, e);
        } else {
          pk.pack_map(static_cast<uint32_t>(x.size()));
          for (const auto& [k, e] : x) {
            pk.pack_str(static_cast<uint32_t>(k.size()));
            pk.pack_str_body(k.data(), static_cast<uint32_t>(k.size()));
            Pack(pk, e);
          }
        }
      },
      v.storage());
}

// msgpack-cxx reserves a whole array as soon as it reads its header, so an element count is
// capped by the bytes that could possibly hold it (one byte per element at least).
msgpack::unpack_limit ToUnpackLimit(const DecodeLimits& l, size_t document_bytes) {
  return msgpack::unpack_limit(std::min(l.max_array, document_bytes),
                               std::min(l.max_map, document_bytes / 2), l.max_str, l.max_bin, 0,
                               l.max_depth);
}

}  // namespace

namespace {

// Header bytes of a str (and of the map keys, which are strs), a bin, an array or a map of n.
size_t StrHeaderSize(size_t n) { return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5; }
size_t BinHeaderSize(size_t n) { return n < 256 ? 2 : n < 65536 ? 3 : 5; }
size_t CollectionHeaderSize(size_t n) { return n < 16 ? 1 : n < 65536 ? 3 : 5; }

// msgpack-cxx's pack_int64 picks the shortest form (pack_imp_int64).
size_t IntSize(int64_t x) {
  if (x < -(int64_t{1} << 5)) {
    if (x < -(int64_t{1} << 31)) return 9;
    if (x < -(int64_t{1} << 15)) return 5;
    if (x < -(int64_t{1} << 7)) return 3;
    return 2;
  }
  if (x < (int64_t{1} << 7)) return 1;
  if (x < (int64_t{1} << 8)) return 2;
  if (x < (int64_t{1} << 16)) return 3;
  if (x < (int64_t{1} << 32)) return 5;
  return 9;
}

}  // namespace

size_t EncodedMsgpackSize(const Value& v) {
  return std::visit(
      [](const auto& x) -> size_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate> || std::is_same_v<T, bool>) {
          return 1;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return IntSize(x);
        } else if constexpr (std::is_same_v<T, double>) {
          return 9;
        } else if constexpr (std::is_same_v<T, std::string>) {
          return StrHeaderSize(x.size()) + x.size();
        } else if constexpr (std::is_same_v<T, Bytes>) {
          return BinHeaderSize(x.data.size()) + x.data.size();
        } else if constexpr (std::is_same_v<T, List>) {
          size_t n = CollectionHeaderSize(x.size());
          for (const Value& e : x) n += EncodedMsgpackSize(e);
          return n;
        } else {
          size_t n = CollectionHeaderSize(x.size());
          for (const auto& [k, e] : x) n += StrHeaderSize(k.size()) + k.size() + EncodedMsgpackSize(e);
          return n;
        }
      },
      v.storage());
}

void EncodeMsgpackTo(const Value& v, std::string* out) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  Pack(pk, v);
  out->append(buf.data(), buf.size());
}

std::string EncodeMsgpack(const Value& v) {
  std::string out;
  EncodeMsgpackTo(v, &out);
  return out;
}

Result<Value> ValueFromObject(const msgpack::object& o, size_t depth_left) {
  if (depth_left == 0) return Err(InvalidArgument("msgpack nesting too deep"));
  switch (o.type) {
    case msgpack::type::NIL: return Value();
    case msgpack::type::BOOLEAN: return Value(o.via.boolean);
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX))
        return Err(InvalidArgument("integer out of int64 range"));
      return Value(static_cast<int64_t>(o.via.u64));
    case msgpack::type::NEGATIVE_INTEGER: return Value(o.via.i64);
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return Value(o.via.f64);
    case msgpack::type::STR: return Value(std::string(o.via.str.ptr, o.via.str.size));
    case msgpack::type::BIN: return Value(Bytes{std::string(o.via.bin.ptr, o.via.bin.size)});
    case msgpack::type::ARRAY: {
      List l;
      l.reserve(o.via.array.size);
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        ASSIGN_OR_RETURN(Value e, ValueFromObject(o.via.array.ptr[i], depth_left - 1));
        l.push_back(std::move(e));
      }
      return Value(std::move(l));
    }
    case msgpack::type::MAP: {
      Map m;
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) return Err(InvalidArgument("map key is not a string"));
        ASSIGN_OR_RETURN(Value e, ValueFromObject(kv.val, depth_left - 1));
        m.insert_or_assign(std::string(kv.key.via.str.ptr, kv.key.via.str.size), std::move(e));
      }
      return Value(std::move(m));
    }
    case msgpack::type::EXT: return Err(InvalidArgument("msgpack ext types are not supported"));
  }
  return Err(InvalidArgument("unknown msgpack type"));
}

Result<Value> DecodeMsgpack(std::string_view bytes, const DecodeLimits& limits) {
  if (bytes.size() > limits.max_bytes)
    return Err(InvalidArgument("msgpack document of " + std::to_string(bytes.size()) +
                               " bytes exceeds the limit of " + std::to_string(limits.max_bytes)));
  if (bytes.empty()) return Err(InvalidArgument("empty msgpack document"));
  try {
    size_t off = 0;
    msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr,
                                                nullptr, ToUnpackLimit(limits, bytes.size()));
    if (off != bytes.size()) return Err(InvalidArgument("trailing bytes after msgpack document"));
    return ValueFromObject(oh.get(), limits.max_depth + 1);
  } catch (const std::exception& e) {
    return Err(InvalidArgument(std::string("malformed msgpack: ") + e.what()));
  }
}

namespace {

// Moves *off past the msgpack object that starts there, checking it as msgpack::unpack with
// ToUnpackLimit(limits, bytes.size()) does, but building nothing: SplitMsgpackArray ran
// msgpack::unpack per element, whose zone allocations held the loop for a tenth of a second
// on a 1M-element input. `open` is scratch space: the items still to read in each collection
// open around *off, the outermost first.
Status SkipMsgpackObject(std::string_view bytes, size_t* off, const DecodeLimits& limits,
                         std::vector<size_t>* open) {
  const size_t max_array = std::min(limits.max_array, bytes.size());
  const size_t max_map = std::min(limits.max_map, bytes.size() / 2);
  auto at = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  // The big-endian unsigned number of `width` bytes after the header byte.
  auto length = [&](size_t width) {
    size_t v = 0;
    for (size_t k = 1; k <= width; ++k) v = (v << 8) | at(*off + k);
    return v;
  };
  open->assign(1, 1);
  while (!open->empty()) {
    if (open->back() == 0) {
      open->pop_back();
      continue;
    }
    --open->back();
    if (*off >= bytes.size()) return InvalidArgument("insufficient bytes");
    const uint8_t h = at(*off);
    size_t head = 1, body = 0;        // bytes of the header, then of the payload
    size_t items = 0;                 // a collection's elements (a map's keys and values)
    bool collection = false;
    auto sized = [&](size_t width, size_t limit, const char* what) -> Status {
      head = 1 + width;
      if (bytes.size() - *off < head) return InvalidArgument("insufficient bytes");
      body = length(width);
      if (body > limit) return InvalidArgument(std::string(what) + " size overflow");
      return Status::Ok();
    };
    auto counted = [&](size_t width, size_t n_limit, bool map) -> Status {
      head = 1 + width;
      if (bytes.size() - *off < head) return InvalidArgument("insufficient bytes");
      size_t n = width == 0 ? (h & 0x0f) : length(width);
      if (n > n_limit) return InvalidArgument(map ? "map size overflow" : "array size overflow");
      collection = true;
      items = map ? 2 * n : n;
      return Status::Ok();
    };
    Status st;
    if (h <= 0x7f || h >= 0xe0) {
      // positive or negative fixint
    } else if (h <= 0x8f) {
      st = counted(0, max_map, true);
    } else if (h <= 0x9f) {
      st = counted(0, max_array, false);
    } else if (h <= 0xbf) {
      body = h & 0x1f;
      if (body > limits.max_str) st = InvalidArgument("str size overflow");
    } else {
      switch (h) {
        case 0xc0: case 0xc2: case 0xc3: break;  // nil, false, true
        case 0xc4: st = sized(1, limits.max_bin, "bin"); break;
        case 0xc5: st = sized(2, limits.max_bin, "bin"); break;
        case 0xc6: st = sized(4, limits.max_bin, "bin"); break;
        case 0xca: body = 4; break;  // float32
        case 0xcb: body = 8; break;  // float64
        case 0xcc: case 0xd0: body = 1; break;
        case 0xcd: case 0xd1: body = 2; break;
        case 0xce: case 0xd2: body = 4; break;
        case 0xcf: case 0xd3: body = 8; break;
        case 0xd9: st = sized(1, limits.max_str, "str"); break;
        case 0xda: st = sized(2, limits.max_str, "str"); break;
        case 0xdb: st = sized(4, limits.max_str, "str"); break;
        case 0xdc: st = counted(2, max_array, false); break;
        case 0xdd: st = counted(4, max_array, false); break;
        case 0xde: st = counted(2, max_map, true); break;
        case 0xdf: st = counted(4, max_map, true); break;
        // ext (0xc7-0xc9, 0xd4-0xd8): the limit for ext objects is 0, as in ToUnpackLimit.
        case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
          st = InvalidArgument("ext size overflow");
          break;
        default: st = InvalidArgument("parse error");  // 0xc1, never used
      }
    }
    if (!st.ok()) return st;
    if (bytes.size() - *off - head < body) return InvalidArgument("insufficient bytes");
    *off += head + body;
    if (collection) {
      if (open->size() > limits.max_depth) return InvalidArgument("depth size overflow");
      open->push_back(items);
    }
  }
  return Status::Ok();
}

// Calls count(n) with the array's length, then element(start, end) for each element of the
// msgpack array `bytes`, in order; an error when it is not one well-formed array within
// `limits`.
template <typename C, typename F>
Status ForEachArrayElement(std::string_view bytes, const DecodeLimits& limits, C&& count, F&& element) {
  if (bytes.empty()) return InvalidArgument("empty msgpack document");
  if (bytes.size() > limits.max_bytes) return InvalidArgument("msgpack document too large");
  auto b = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  size_t n = 0, off = 0;
  uint8_t h = b(0);
  if ((h & 0xf0) == 0x90) {
    n = h & 0x0f;
    off = 1;
  } else if (h == 0xdc && bytes.size() >= 3) {
    n = (size_t{b(1)} << 8) | b(2);
    off = 3;
  } else if (h == 0xdd && bytes.size() >= 5) {
    n = (size_t{b(1)} << 24) | (size_t{b(2)} << 16) | (size_t{b(3)} << 8) | b(4);
    off = 5;
  } else {
    return InvalidArgument("expected a msgpack array");
  }
  if (n > limits.max_array || n > bytes.size() - off)
    return InvalidArgument("msgpack array length exceeds the document");
  count(n);
  std::vector<size_t> open;  // SkipMsgpackObject's stack, reused for every element
  for (size_t i = 0; i < n; ++i) {
    size_t start = off;
    if (Status st = SkipMsgpackObject(bytes, &off, limits, &open); !st.ok())
      return InvalidArgument("malformed msgpack array: " + st.message());
    element(start, off);
  }
  if (off != bytes.size()) return InvalidArgument("trailing bytes after msgpack array");
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string_view>> SplitMsgpackArray(std::string_view bytes,
                                                       const DecodeLimits& limits) {
  std::vector<std::string_view> out;
  Status st = ForEachArrayElement(
      bytes, limits, [&](size_t n) { out.reserve(n); },
      [&](size_t start, size_t end) { out.push_back(bytes.substr(start, end - start)); });
  if (!st.ok()) return Err(std::move(st));
  return out;
}

Result<std::vector<uint32_t>> MsgpackArrayOffsets(std::string_view bytes, const DecodeLimits& limits) {
  if (bytes.size() > UINT32_MAX) return Err(InvalidArgument("msgpack document too large for offsets"));
  std::vector<uint32_t> out;
  Status st = ForEachArrayElement(
      bytes, limits, [&](size_t n) { out.reserve(n + 1); },
      [&](size_t start, size_t) { out.push_back(static_cast<uint32_t>(start)); });
  if (!st.ok()) return Err(std::move(st));
  out.push_back(static_cast<uint32_t>(bytes.size()));
  return out;
}

namespace {

// A fix form (`fix_tag | n` below 16), else the 16- or 32-bit form, big-endian.
std::string CollectionHeader(size_t n, uint8_t fix_tag, uint8_t tag16, uint8_t tag32) {
  std::string h;
  if (n < 16) {
    h.push_back(static_cast<char>(fix_tag | n));
  } else if (n <= 0xffff) {
    h = {static_cast<char>(tag16), static_cast<char>(n >> 8), static_cast<char>(n & 0xff)};
  } else {
    h = {static_cast<char>(tag32), static_cast<char>((n >> 24) & 0xff),
         static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 8) & 0xff),
         static_cast<char>(n & 0xff)};
  }
  return h;
}

}  // namespace

std::string MsgpackArrayHeader(size_t n) { return CollectionHeader(n, 0x90, 0xdc, 0xdd); }

std::string MsgpackMapHeader(size_t n) { return CollectionHeader(n, 0x80, 0xde, 0xdf); }

}  // namespace fanout
