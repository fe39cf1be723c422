// msgpack encoding of Values (common/codec.h): round trips, malformed and over-limit input.
#include "common/codec.h"

#include <gtest/gtest.h>

#include <msgpack.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace fanout {
namespace {

std::string Raw(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

Value RoundTrip(const Value& v) {
  auto decoded = DecodeMsgpack(EncodeMsgpack(v));
  EXPECT_TRUE(decoded.has_value()) << decoded.error().ToString();
  return decoded.value_or(Value("<decode failed>"));
}

// n arrays nested inside each other, the innermost holding one int.
std::string NestedArrays(size_t n) {
  std::string s(n, static_cast<char>(0x91));
  s.push_back(0x01);
  return s;
}

TEST(CodecTest, RoundTripsNone) { EXPECT_TRUE(RoundTrip(Value()).is_none()); }

TEST(CodecTest, RoundTripsBools) {
  EXPECT_EQ(RoundTrip(Value(true)), Value(true));
  EXPECT_EQ(RoundTrip(Value(false)), Value(false));
}

TEST(CodecTest, RoundTripsIntsAcrossEveryEncodingWidth) {
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{127}, int64_t{128}, int64_t{255},
                    int64_t{256}, int64_t{65535}, int64_t{65536}, int64_t{4294967295},
                    int64_t{4294967296}, int64_t{-1}, int64_t{-32}, int64_t{-33}, int64_t{-128},
                    int64_t{-129}, int64_t{-32768}, int64_t{-32769},
                    std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    Value back = RoundTrip(Value(i));
    ASSERT_TRUE(back.is_int()) << i;
    EXPECT_EQ(back.as_int(), i);
  }
}

TEST(CodecTest, RoundTripsFloatsExactly) {
  for (double d : {0.0, -0.0, 1.5, -2.25, 0.1, 1e300, -1e-300,
                   std::numeric_limits<double>::infinity()}) {
    Value back = RoundTrip(Value(d));
    ASSERT_TRUE(back.is_float()) << d;
    EXPECT_EQ(back.as_float(), d);
    EXPECT_EQ(std::signbit(back.as_float()), std::signbit(d));
  }
  Value nan = RoundTrip(Value(std::nan("")));
  ASSERT_TRUE(nan.is_float());
  EXPECT_TRUE(std::isnan(nan.as_float()));
}

TEST(CodecTest, EncodesFloatAsFloat64EvenWhenIntegral) {
  std::string enc = EncodeMsgpack(Value(6.0));
  ASSERT_EQ(enc.size(), 9u);
  EXPECT_EQ(static_cast<uint8_t>(enc[0]), 0xcb);
  EXPECT_TRUE(RoundTrip(Value(6.0)).is_float());
}

TEST(CodecTest, DecodesFloat32AsFloat) {
  // 0xca + IEEE754 single 1.5 = 0x3fc00000
  auto v = DecodeMsgpack(Raw({0xca, 0x3f, 0xc0, 0x00, 0x00}));
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  ASSERT_TRUE(v->is_float());
  EXPECT_EQ(v->as_float(), 1.5);
}

TEST(CodecTest, RoundTripsStringsWithEmbeddedNulAndUtf8) {
  std::string s("a\0b\xc3\xa9", 5);
  EXPECT_EQ(RoundTrip(Value(s)), Value(s));
  EXPECT_EQ(RoundTrip(Value("")), Value(""));
  std::string long_str(70000, 'x');  // str32
  EXPECT_EQ(RoundTrip(Value(long_str)), Value(long_str));
}

TEST(CodecTest, RoundTripsBytesAsBinNotStr) {
  Bytes b{std::string("\x00\xff\x10", 3)};
  std::string enc = EncodeMsgpack(Value(b));
  EXPECT_EQ(static_cast<uint8_t>(enc[0]), 0xc4);  // bin8
  Value back = RoundTrip(Value(b));
  ASSERT_TRUE(back.is_bytes());
  EXPECT_EQ(back.as_bytes(), b);
  EXPECT_FALSE(RoundTrip(Value("abc")).is_bytes());
}

TEST(CodecTest, RoundTripsEmptyListAndMap) {
  EXPECT_EQ(RoundTrip(Value(List{})), Value(List{}));
  EXPECT_EQ(RoundTrip(Value(Map{})), Value(Map{}));
}

TEST(CodecTest, RoundTripsDeeplyNestedMixedValue) {
  Value v(Map{
      {"none", Value()},
      {"flag", Value(true)},
      {"n", Value(int64_t{-42})},
      {"x", Value(3.25)},
      {"s", Value("hello")},
      {"b", Value(Bytes{"\x01\x02"})},
      {"list", Value(List{Value(1), Value("two"), Value(List{Value(3.0), Value()}),
                          Value(Map{{"k", Value(Bytes{"z"})}})})},
      {"map", Value(Map{{"inner", Value(Map{{"deeper", Value(List{Value(false)})}})}})},
  });
  EXPECT_EQ(RoundTrip(v), v);
}

TEST(CodecTest, EncodeMsgpackToAppendsToExistingBuffer) {
  std::string out = "prefix";
  EncodeMsgpackTo(Value(1), &out);
  EncodeMsgpackTo(Value(2), &out);
  EXPECT_EQ(out, "prefix" + EncodeMsgpack(Value(1)) + EncodeMsgpack(Value(2)));
}

TEST(CodecTest, RejectsEmptyInput) {
  auto v = DecodeMsgpack("");
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
}

TEST(CodecTest, RejectsTrailingBytes) {
  std::string enc = EncodeMsgpack(Value(List{Value(1), Value(2)})) + Raw({0x01});
  auto v = DecodeMsgpack(enc);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_NE(v.error().message().find("trailing"), std::string::npos) << v.error().message();
}

TEST(CodecTest, RejectsEveryTruncationOfAValidDocument) {
  std::string enc = EncodeMsgpack(Value(Map{
      {"a", Value(List{Value(1), Value(int64_t{1} << 40), Value("str")})},
      {"b", Value(Bytes{"xyz"})},
      {"c", Value(2.5)}}));
  for (size_t n = 0; n < enc.size(); ++n) {
    auto v = DecodeMsgpack(std::string_view(enc).substr(0, n));
    EXPECT_FALSE(v.has_value()) << "prefix of " << n << " bytes decoded";
    if (!v) {
      EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(CodecTest, RejectsNonStringMapKeys) {
  // {1: 2}
  auto v = DecodeMsgpack(Raw({0x81, 0x01, 0x02}));
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().message().find("map key"), std::string::npos) << v.error().message();
  // {"a": {nil: 1}} nested
  auto nested = DecodeMsgpack(Raw({0x81, 0xa1, 'a', 0x81, 0xc0, 0x01}));
  EXPECT_FALSE(nested.has_value());
}

TEST(CodecTest, RejectsBinaryMapKeys) {
  auto v = DecodeMsgpack(Raw({0x81, 0xc4, 0x01, 'a', 0x01}));
  EXPECT_FALSE(v.has_value());
}

TEST(CodecTest, RejectsExtTypes) {
  EXPECT_FALSE(DecodeMsgpack(Raw({0xd4, 0x01, 0x00})).has_value());                 // fixext1
  EXPECT_FALSE(DecodeMsgpack(Raw({0xc7, 0x00, 0x05})).has_value());                 // ext8, empty
  EXPECT_FALSE(DecodeMsgpack(Raw({0x91, 0xd5, 0x01, 0x00, 0x00})).has_value());     // in an array
}

TEST(CodecTest, RejectsNeverUsedByte0xc1) {
  EXPECT_FALSE(DecodeMsgpack(Raw({0xc1})).has_value());
}

TEST(CodecTest, RejectsUint64AboveInt64Max) {
  auto v = DecodeMsgpack(Raw({0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}));
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().message().find("int64"), std::string::npos) << v.error().message();
  EXPECT_FALSE(DecodeMsgpack(Raw({0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})).has_value());
}

TEST(CodecTest, AcceptsUint64EqualToInt64Max) {
  auto v = DecodeMsgpack(Raw({0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(v->as_int(), std::numeric_limits<int64_t>::max());
}

TEST(CodecTest, RejectsDocumentLargerThanMaxBytes) {
  DecodeLimits limits;
  limits.max_bytes = 10;
  std::string enc = EncodeMsgpack(Value(std::string(20, 'a')));
  auto v = DecodeMsgpack(enc, limits);
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().message().find("exceeds"), std::string::npos) << v.error().message();
  limits.max_bytes = enc.size();
  EXPECT_TRUE(DecodeMsgpack(enc, limits).has_value());
}

TEST(CodecTest, RejectsArrayLongerThanMaxArray) {
  DecodeLimits limits;
  limits.max_array = 3;
  List four(4, Value(1));
  EXPECT_FALSE(DecodeMsgpack(EncodeMsgpack(Value(four)), limits).has_value());
  List three(3, Value(1));
  EXPECT_TRUE(DecodeMsgpack(EncodeMsgpack(Value(three)), limits).has_value());
}

TEST(CodecTest, RejectsArrayHeaderClaimingMoreElementsThanTheLimit) {
  // array32 of 0xffffffff elements in 5 bytes: refused by the limit before any allocation.
  auto v = DecodeMsgpack(Raw({0xdd, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_FALSE(v.has_value());
}

TEST(CodecTest, RejectsMapLargerThanMaxMap) {
  DecodeLimits limits;
  limits.max_map = 1;
  EXPECT_FALSE(
      DecodeMsgpack(EncodeMsgpack(Value(Map{{"a", Value(1)}, {"b", Value(2)}})), limits)
          .has_value());
  EXPECT_TRUE(DecodeMsgpack(EncodeMsgpack(Value(Map{{"a", Value(1)}})), limits).has_value());
}

TEST(CodecTest, RejectsStringLongerThanMaxStr) {
  DecodeLimits limits;
  limits.max_str = 4;
  EXPECT_FALSE(DecodeMsgpack(EncodeMsgpack(Value("abcde")), limits).has_value());
  EXPECT_TRUE(DecodeMsgpack(EncodeMsgpack(Value("abcd")), limits).has_value());
}

TEST(CodecTest, RejectsBinLongerThanMaxBin) {
  DecodeLimits limits;
  limits.max_bin = 2;
  EXPECT_FALSE(DecodeMsgpack(EncodeMsgpack(Value(Bytes{"abc"})), limits).has_value());
  EXPECT_TRUE(DecodeMsgpack(EncodeMsgpack(Value(Bytes{"ab"})), limits).has_value());
}

TEST(CodecTest, AcceptsNestingUpToMaxDepth) {
  DecodeLimits limits;
  limits.max_depth = 5;
  auto v = DecodeMsgpack(NestedArrays(5), limits);
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  const Value* cur = &*v;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(cur->is_list());
    cur = &cur->as_list()[0];
  }
  EXPECT_EQ(*cur, Value(1));
}

TEST(CodecTest, RejectsNestingBeyondMaxDepth) {
  DecodeLimits limits;
  limits.max_depth = 5;
  EXPECT_FALSE(DecodeMsgpack(NestedArrays(6), limits).has_value());
}

TEST(CodecTest, RejectsHugeNestingWithDefaultLimitsWithoutCrashing) {
  EXPECT_FALSE(DecodeMsgpack(NestedArrays(100000)).has_value());
}

TEST(CodecTest, ValueFromObjectStopsAtItsDepthBudget) {
  std::string two = NestedArrays(2);
  msgpack::object_handle oh = msgpack::unpack(two.data(), two.size());
  EXPECT_FALSE(ValueFromObject(oh.get(), 2).has_value());
  EXPECT_TRUE(ValueFromObject(oh.get(), 3).has_value());
}

TEST(CodecTest, DecodesRandomGarbageWithoutCrashing) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  DecodeLimits limits;
  limits.max_array = 1000;
  limits.max_map = 1000;
  limits.max_str = 1000;
  limits.max_bin = 1000;
  for (int i = 0; i < 5000; ++i) {
    std::string s(1 + next() % 32, '\0');
    for (char& c : s) c = static_cast<char>(next());
    auto v = DecodeMsgpack(s, limits);
    if (v) {
      // Whatever decodes must re-encode to something that decodes to the same value.
      auto again = DecodeMsgpack(EncodeMsgpack(*v));
      ASSERT_TRUE(again.has_value());
      if (!(v->is_float() && std::isnan(v->as_float()))) {
        EXPECT_EQ(*again, *v);
      }
    }
  }
}

TEST(CodecTest, EncodedSizeMatchesTheEncodingAtEveryIntWidthBoundary) {
  for (int64_t x : {std::numeric_limits<int64_t>::min(), int64_t{-2147483649}, int64_t{-2147483648},
                    int64_t{-32769}, int64_t{-32768}, int64_t{-129}, int64_t{-128}, int64_t{-33},
                    int64_t{-32}, int64_t{-1}, int64_t{0}, int64_t{127}, int64_t{128}, int64_t{255},
                    int64_t{256}, int64_t{65535}, int64_t{65536}, int64_t{4294967295},
                    int64_t{4294967296}, std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(EncodedMsgpackSize(Value(x)), EncodeMsgpack(Value(x)).size()) << x;
  }
}

TEST(CodecTest, EncodedSizeMatchesTheEncodingAtEveryLengthBoundary) {
  for (size_t n : {0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536}) {
    Value str(std::string(n, 's'));
    EXPECT_EQ(EncodedMsgpackSize(str), EncodeMsgpack(str).size()) << "str " << n;
    Value bin(Bytes{std::string(n, 'b')});
    EXPECT_EQ(EncodedMsgpackSize(bin), EncodeMsgpack(bin).size()) << "bin " << n;
    Value list(List(n, Value()));
    EXPECT_EQ(EncodedMsgpackSize(list), EncodeMsgpack(list).size()) << "list " << n;
    Map m;
    for (size_t i = 0; i < n; ++i) m.emplace(std::to_string(i), Value(true));
    EXPECT_EQ(EncodedMsgpackSize(Value(m)), EncodeMsgpack(Value(m)).size()) << "map " << n;
  }
}

TEST(CodecTest, EncodedSizeOfNestedValuesAddsUp) {
  Value v(Map{{"a", Value(List{Value(1.5), Value(std::string(40, 'k')), Value()})},
              {std::string(33, 'K'), Value(Map{{"", Value(false)}})}});
  EXPECT_EQ(EncodedMsgpackSize(v), EncodeMsgpack(v).size());
}

TEST(CodecTest, NestingDepthCountsCollections) {
  EXPECT_EQ(NestingDepth(Value(1)), 0u);
  EXPECT_EQ(NestingDepth(Value(List{})), 1u);
  EXPECT_EQ(NestingDepth(Value(Map{{"k", Value(List{Value(List{})})}})), 3u);
  EXPECT_EQ(NestingDepth(Value(List{Value(1), Value(List{Value(Map{})}), Value(List{})})), 3u);
}

TEST(CodecTest, DefaultLimitsDecodeStringsUpToTheElementLimit) {
  EXPECT_EQ(DecodeLimits{}.max_str, kMaxElementBytes);
  EXPECT_EQ(DecodeLimits{}.max_bin, kMaxElementBytes);
}

TEST(CodecTest, SplitsArrayIntoRawElements) {
  List elems{Value(1), Value("two"), Value(List{Value(3), Value(4)}), Value(Map{{"k", Value()}})};
  std::string enc = EncodeMsgpack(Value(elems));
  auto parts = SplitMsgpackArray(enc);
  ASSERT_TRUE(parts.has_value()) << parts.error().ToString();
  ASSERT_EQ(parts->size(), elems.size());
  for (size_t i = 0; i < elems.size(); ++i) {
    EXPECT_EQ(std::string((*parts)[i]), EncodeMsgpack(elems[i])) << i;
    // Views point into the input.
    EXPECT_GE((*parts)[i].data(), enc.data());
    EXPECT_LE((*parts)[i].data() + (*parts)[i].size(), enc.data() + enc.size());
  }
}

TEST(CodecTest, SplitsEmptyArray) {
  auto parts = SplitMsgpackArray(Raw({0x90}));
  ASSERT_TRUE(parts.has_value());
  EXPECT_TRUE(parts->empty());
}

TEST(CodecTest, SplitsArray16AndArray32Headers) {
  List l(20, Value(7));
  std::string body;
  for (const Value& v : l) body += EncodeMsgpack(v);
  for (std::string header : {MsgpackArrayHeader(20), Raw({0xdd, 0, 0, 0, 20})}) {
    std::string doc = header + body;  // the parts are views into it
    auto parts = SplitMsgpackArray(doc);
    ASSERT_TRUE(parts.has_value()) << parts.error().ToString();
    ASSERT_EQ(parts->size(), 20u);
    EXPECT_EQ(std::string(parts->back()), EncodeMsgpack(Value(7)));
  }
}

TEST(CodecTest, SplitRejectsNonArray) {
  EXPECT_FALSE(SplitMsgpackArray(EncodeMsgpack(Value(Map{}))).has_value());
  EXPECT_FALSE(SplitMsgpackArray(EncodeMsgpack(Value(1))).has_value());
  EXPECT_FALSE(SplitMsgpackArray("").has_value());
}

TEST(CodecTest, SplitRejectsTruncatedHeaders) {
  EXPECT_FALSE(SplitMsgpackArray(Raw({0xdc, 0x00})).has_value());
  EXPECT_FALSE(SplitMsgpackArray(Raw({0xdd, 0x00, 0x00, 0x00})).has_value());
}

TEST(CodecTest, SplitRejectsCountLargerThanTheDocument) {
  EXPECT_FALSE(SplitMsgpackArray(Raw({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01})).has_value());
  EXPECT_FALSE(SplitMsgpackArray(Raw({0x93, 0x01, 0x02})).has_value());
}

TEST(CodecTest, SplitRejectsTruncatedElement) {
  // [1, uint16 missing a byte]
  EXPECT_FALSE(SplitMsgpackArray(Raw({0x92, 0x01, 0xcd, 0x01})).has_value());
  // [uint16 consuming everything, <nothing>]
  EXPECT_FALSE(SplitMsgpackArray(Raw({0x93, 0xcd, 0x00, 0x01})).has_value());
}

TEST(CodecTest, SplitRejectsTrailingBytes) {
  auto parts = SplitMsgpackArray(Raw({0x91, 0x01, 0x02}));
  ASSERT_FALSE(parts.has_value());
  EXPECT_NE(parts.error().message().find("trailing"), std::string::npos);
}

TEST(CodecTest, SplitRespectsLimits) {
  DecodeLimits limits;
  limits.max_array = 2;
  EXPECT_FALSE(SplitMsgpackArray(EncodeMsgpack(Value(List(3, Value(1)))), limits).has_value());
  limits = {};
  limits.max_bytes = 3;
  EXPECT_FALSE(SplitMsgpackArray(EncodeMsgpack(Value(List(3, Value(1)))), limits).has_value());
  limits = {};
  limits.max_str = 2;
  EXPECT_FALSE(SplitMsgpackArray(EncodeMsgpack(Value(List{Value("abc")})), limits).has_value());
}

TEST(CodecTest, ArrayHeaderForZeroIsFixarray) {
  EXPECT_EQ(MsgpackArrayHeader(0), Raw({0x90}));
}

TEST(CodecTest, ArrayHeaderFor15IsFixarray) {
  EXPECT_EQ(MsgpackArrayHeader(15), Raw({0x9f}));
}

TEST(CodecTest, ArrayHeaderFor16IsArray16) {
  EXPECT_EQ(MsgpackArrayHeader(16), Raw({0xdc, 0x00, 0x10}));
}

TEST(CodecTest, ArrayHeaderFor65535IsArray16) {
  EXPECT_EQ(MsgpackArrayHeader(65535), Raw({0xdc, 0xff, 0xff}));
}

TEST(CodecTest, ArrayHeaderFor65536IsArray32) {
  EXPECT_EQ(MsgpackArrayHeader(65536), Raw({0xdd, 0x00, 0x01, 0x00, 0x00}));
}

// What SplitMsgpackArray did before it skipped elements by hand: msgpack::unpack per element,
// with the limits DecodeMsgpack gives msgpack (ToUnpackLimit in codec.cc).
std::optional<std::vector<std::string_view>> SplitByUnpacking(std::string_view bytes, const DecodeLimits& l) {
  if (bytes.empty()) return std::nullopt;
  auto b = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  size_t n = 0, off = 0;
  uint8_t h = b(0);
  if ((h & 0xf0) == 0x90) {
    n = h & 0x0f, off = 1;
  } else if (h == 0xdc && bytes.size() >= 3) {
    n = (size_t{b(1)} << 8) | b(2), off = 3;
  } else if (h == 0xdd && bytes.size() >= 5) {
    n = (size_t{b(1)} << 24) | (size_t{b(2)} << 16) | (size_t{b(3)} << 8) | b(4), off = 5;
  } else {
    return std::nullopt;
  }
  if (n > l.max_array || n > bytes.size() - off) return std::nullopt;
  msgpack::unpack_limit limit(std::min(l.max_array, bytes.size()), std::min(l.max_map, bytes.size() / 2),
                              l.max_str, l.max_bin, 0, l.max_depth);
  std::vector<std::string_view> out;
  try {
    for (size_t i = 0; i < n; ++i) {
      size_t start = off;
      msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
      out.push_back(bytes.substr(start, off - start));
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (off != bytes.size()) return std::nullopt;
  return out;
}

// The hand-written skip agrees with msgpack's own parser, element by element, on documents
// made by flipping, inserting and dropping bytes of valid ones (and under tight limits).
TEST(CodecTest, SplitAgreesWithMsgpackUnpackOnMutatedDocuments) {
  std::vector<std::string> seeds;
  Map m{{"a", Value(1)}, {"b", Value(List{Value("x"), Value(2.5), Value()})}};
  seeds.push_back(EncodeMsgpack(Value(List{Value(1), Value(-200), Value(int64_t{1} << 40), Value("str"),
                                           Value(true), Value(), Value(1.5), Value(Bytes{"\x01\x02"})})));
  seeds.push_back(EncodeMsgpack(Value(List{Value(m), Value(List{Value(List{Value(List{})})}), Value(std::string(40, 'z')),
                                           Value(std::string(300, 'y'))})));
  seeds.push_back(EncodeMsgpack(Value(List(20, Value(m)))));
  seeds.push_back(EncodeMsgpack(Value(List{Value(List{Value(List{Value(1)})}), Value(m)})));  // at the tight limits
  seeds.push_back(EncodeMsgpack(Value(List{Value(Bytes{std::string(70000, 'b')})})));
  std::mt19937 rng(20261208);
  DecodeLimits tight;
  tight.max_depth = 2, tight.max_array = 5, tight.max_map = 3, tight.max_str = 50, tight.max_bin = 100;
  size_t agreed_ok = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string doc = seeds[rng() % seeds.size()];
    for (int k = 1 + rng() % 3; k > 0; --k) {
      size_t at = rng() % (doc.size() + 1);
      switch (rng() % 3) {
        case 0: if (at < doc.size()) doc[at] = static_cast<char>(rng()); break;
        case 1: doc.insert(doc.begin() + at, static_cast<char>(rng())); break;
        default: if (at < doc.size()) doc.erase(at, 1);
      }
    }
    for (const DecodeLimits& limits : {DecodeLimits{}, tight}) {
      auto want = SplitByUnpacking(doc, limits);
      auto got = SplitMsgpackArray(doc, limits);
      ASSERT_EQ(got.has_value(), want.has_value()) << "round " << round << ": "
                                                   << (got ? "accepted" : got.error().message());
      if (!got) continue;
      ASSERT_EQ(*got, *want) << "round " << round;
      auto offsets = MsgpackArrayOffsets(doc, limits);  // the same walk, as offsets
      ASSERT_TRUE(offsets.has_value()) << "round " << round;
      ASSERT_EQ(offsets->size(), got->size() + 1);
      for (size_t i = 0; i < got->size(); ++i)
        ASSERT_EQ(doc.substr((*offsets)[i], (*offsets)[i + 1] - (*offsets)[i]), (*got)[i]) << "round " << round;
      ++agreed_ok;
    }
  }
  EXPECT_GT(agreed_ok, 1000u);  // the mutations left many documents valid
}

TEST(CodecTest, MapHeaderTakesTheFixMap16AndMap32Forms) {
  EXPECT_EQ(MsgpackMapHeader(0), Raw({0x80}));
  EXPECT_EQ(MsgpackMapHeader(15), Raw({0x8f}));
  EXPECT_EQ(MsgpackMapHeader(16), Raw({0xde, 0x00, 0x10}));
  EXPECT_EQ(MsgpackMapHeader(65536), Raw({0xdf, 0x00, 0x01, 0x00, 0x00}));
}

TEST(CodecTest, MapHeaderPlusEncodedPairsDecodesAsTheMap) {
  for (size_t n : {size_t{0}, size_t{15}, size_t{16}, size_t{65536}}) {
    std::string doc = MsgpackMapHeader(n);
    Map want;
    for (size_t i = 0; i < n; ++i) {
      std::string key = "k" + std::to_string(i);
      EncodeMsgpackTo(Value(key), &doc);
      EncodeMsgpackTo(Value(static_cast<int64_t>(i)), &doc);
      want.emplace(key, Value(static_cast<int64_t>(i)));
    }
    auto v = DecodeMsgpack(doc);
    ASSERT_TRUE(v.has_value()) << n << ": " << v.error().ToString();
    EXPECT_EQ(*v, Value(std::move(want))) << n;
  }
}

TEST(CodecTest, ArrayHeaderPlusEncodedElementsDecodesAsTheList) {
  for (size_t n : {size_t{0}, size_t{15}, size_t{16}, size_t{65535}, size_t{65536}}) {
    std::string doc = MsgpackArrayHeader(n);
    for (size_t i = 0; i < n; ++i) EncodeMsgpackTo(Value(static_cast<int64_t>(i % 100)), &doc);
    auto v = DecodeMsgpack(doc);
    ASSERT_TRUE(v.has_value()) << n << ": " << v.error().ToString();
    ASSERT_TRUE(v->is_list());
    ASSERT_EQ(v->as_list().size(), n);
    if (n > 0) {
      EXPECT_EQ(v->as_list()[n - 1], Value(static_cast<int64_t>((n - 1) % 100)));
    }
  }
}

}  // namespace
}  // namespace fanout
