// Value <-> JSON (common/json.h), bytes as {"$bytes": base64}, and Base64.
#include "common/json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace fanout {
namespace {

Value JsonRoundTrip(const Value& v) {
  auto back = ParseJson(ToJson(v).dump());
  EXPECT_TRUE(back.has_value()) << back.error().ToString();
  return back.value_or(Value("<parse failed>"));
}

TEST(JsonTest, RoundTripsScalars) {
  EXPECT_TRUE(JsonRoundTrip(Value()).is_none());
  EXPECT_EQ(JsonRoundTrip(Value(true)), Value(true));
  EXPECT_EQ(JsonRoundTrip(Value(false)), Value(false));
  EXPECT_EQ(JsonRoundTrip(Value(-17)), Value(-17));
  EXPECT_EQ(JsonRoundTrip(Value(2.5)), Value(2.5));
  EXPECT_EQ(JsonRoundTrip(Value("h\u00e9llo \"q\"\n")), Value("h\u00e9llo \"q\"\n"));
}

TEST(JsonTest, RoundTripsInt64Extremes) {
  for (int64_t i : {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    Value back = JsonRoundTrip(Value(i));
    ASSERT_TRUE(back.is_int());
    EXPECT_EQ(back.as_int(), i);
  }
}

TEST(JsonTest, KeepsIntegralFloatsAsFloats) {
  Value back = JsonRoundTrip(Value(6.0));
  ASSERT_TRUE(back.is_float()) << back.kind_name();
  EXPECT_EQ(back.as_float(), 6.0);
}

TEST(JsonTest, RoundTripsNestedListsAndMaps) {
  Value v(Map{{"a", Value(List{Value(1), Value(List{Value("x"), Value()}), Value(Map{})})},
              {"b", Value(Map{{"c", Value(Map{{"d", Value(0.125)}})}})},
              {"e", Value(List{})}});
  EXPECT_EQ(JsonRoundTrip(v), v);
}

TEST(JsonTest, EncodesBytesAsBase64Object) {
  nlohmann::json j = ToJson(Value(Bytes{"hello"}));
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j["$bytes"], "aGVsbG8=");
}

TEST(JsonTest, RoundTripsBytesIncludingBinaryAndEmpty) {
  for (const std::string& raw : {std::string(), std::string("\x00\xff\x80\x7f", 4),
                                 std::string("abc"), std::string(1000, '\xfe')}) {
    Value back = JsonRoundTrip(Value(Bytes{raw}));
    ASSERT_TRUE(back.is_bytes());
    EXPECT_EQ(back.as_bytes().data, raw);
  }
}

TEST(JsonTest, RoundTripsBytesNestedInContainers) {
  Value v(List{Value(Map{{"blob", Value(Bytes{std::string("\x01\x02\x03", 3)})}})});
  EXPECT_EQ(JsonRoundTrip(v), v);
}

TEST(JsonTest, ParsesObjectWithBytesKeyAndOtherKeysAsMap) {
  auto v = ParseJson(R"({"$bytes": "AAAA", "other": 1})");
  ASSERT_TRUE(v.has_value());
  ASSERT_TRUE(v->is_map());
  EXPECT_EQ(v->as_map().size(), 2u);
}

TEST(JsonTest, ParsesBytesKeyWithNonStringValueAsMap) {
  auto v = ParseJson(R"({"$bytes": 5})");
  ASSERT_TRUE(v.has_value());
  ASSERT_TRUE(v->is_map());
  EXPECT_EQ(v->as_map().at("$bytes"), Value(5));
}

TEST(JsonTest, RejectsBytesObjectWithInvalidBase64) {
  auto v = ParseJson(R"({"$bytes": "not base64!"})");
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
}

TEST(JsonTest, RejectsUnsignedAboveInt64Max) {
  auto v = ParseJson("18446744073709551615");
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().message().find("int64"), std::string::npos);
  EXPECT_TRUE(ParseJson("9223372036854775807").has_value());
}

TEST(JsonTest, RejectsInvalidJson) {
  for (const char* text : {"", "{", "[1,]", "{'a': 1}", "nul", "[1] 2", "{\"a\" 1}"}) {
    auto v = ParseJson(text);
    EXPECT_FALSE(v.has_value()) << text;
    if (!v) {
      EXPECT_NE(v.error().message().find("invalid JSON"), std::string::npos);
    }
  }
}

TEST(JsonTest, RejectsTextLargerThanTheLimit) {
  auto v = ParseJson("[1, 2, 3]", 5);
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().message().find("too large"), std::string::npos);
  EXPECT_TRUE(ParseJson("[1, 2, 3]", 9).has_value());
}

TEST(JsonTest, AcceptsModerateNesting) {
  std::string text = std::string(50, '[') + "1" + std::string(50, ']');
  auto v = ParseJson(text);
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_TRUE(v->is_list());
}

TEST(JsonTest, AcceptsSixtyFourLevelsAndRejectsDeeper) {
  auto nested = [](size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_TRUE(ParseJson(nested(64)).has_value());
  EXPECT_FALSE(ParseJson(nested(100)).has_value());
}

// DESIGN §7: depth limits on JSON decoding. Without one, FromJson recurses once per level
// and deeply nested user input overflows the stack.
TEST(JsonTest, RejectsDeepNestingInsteadOfOverflowingTheStack) {
  const size_t depth = 1'000'000;
  std::string text = std::string(depth, '[') + std::string(depth, ']');
  auto v = ParseJson(text);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_NE(v.error().message().find("deep"), std::string::npos) << v.error().message();
}

TEST(JsonTest, FromJsonConvertsNumbersByKind) {
  EXPECT_TRUE(FromJson(nlohmann::json(3))->is_int());
  EXPECT_TRUE(FromJson(nlohmann::json(3u))->is_int());
  EXPECT_TRUE(FromJson(nlohmann::json(3.0))->is_float());
}

TEST(JsonTest, FromJsonConvertsNlohmannBinaryToBytes) {
  nlohmann::json j = nlohmann::json::binary({1, 2, 3});
  auto v = FromJson(j);
  ASSERT_TRUE(v.has_value());
  ASSERT_TRUE(v->is_bytes());
  EXPECT_EQ(v->as_bytes().data, std::string("\x01\x02\x03", 3));
}

TEST(Base64Test, EncodesRfc4648TestVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, DecodesRfc4648TestVectors) {
  EXPECT_EQ(Base64Decode("").value(), "");
  EXPECT_EQ(Base64Decode("Zg==").value(), "f");
  EXPECT_EQ(Base64Decode("Zm8=").value(), "fo");
  EXPECT_EQ(Base64Decode("Zm9v").value(), "foo");
  EXPECT_EQ(Base64Decode("Zm9vYg==").value(), "foob");
  EXPECT_EQ(Base64Decode("Zm9vYmE=").value(), "fooba");
  EXPECT_EQ(Base64Decode("Zm9vYmFy").value(), "foobar");
}

TEST(Base64Test, UsesTheStandardAlphabetWithPlusAndSlash) {
  EXPECT_EQ(Base64Encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
  EXPECT_EQ(Base64Decode("+/+/").value(), std::string("\xfb\xff\xbf", 3));
}

TEST(Base64Test, RoundTripsEveryByteValueAndEveryLengthModThree) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); ++len) {
    std::string in = all.substr(0, len);
    auto out = Base64Decode(Base64Encode(in));
    ASSERT_TRUE(out.has_value()) << len;
    ASSERT_EQ(*out, in) << len;
  }
}

TEST(Base64Test, RejectsLengthNotAMultipleOfFour) {
  for (const char* s : {"Z", "Zg", "Zg=", "Zm9vY"}) EXPECT_FALSE(Base64Decode(s).has_value()) << s;
}

TEST(Base64Test, RejectsCharactersOutsideTheAlphabet) {
  for (const char* s : {"Zm9!", "Zm 9", "Zm-_", "Zm9\n"}) {
    EXPECT_FALSE(Base64Decode(s).has_value()) << s;
  }
}

TEST(Base64Test, RejectsMisplacedPadding) {
  for (const char* s : {"====", "Z===", "=Zm9", "Zg==Zm9v", "Zm=v", "Zg=a"}) {
    EXPECT_FALSE(Base64Decode(s).has_value()) << s;
  }
}

}  // namespace
}  // namespace fanout

namespace fanout {
namespace {

// The other road to a Value: nlohmann's own parser builds a DOM, then FromJson walks it. The
// tokenizing, duplicate keys and which error wins differ between the roads, and must not.
Result<Value> ParseViaDom(const std::string& text) {
  try {
    return FromJson(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception& e) {
    return Err(InvalidArgument(std::string("invalid JSON: ") + e.what()));
  }
}

void ExpectSameAsDom(const std::string& text) {
  auto want = ParseViaDom(text);
  auto got = ParseJson(text);
  ASSERT_EQ(got.has_value(), want.has_value()) << text << "\n"
                                               << (got ? "accepted" : got.error().message()) << " / "
                                               << (want ? "accepted" : want.error().message());
  if (got) {
    EXPECT_EQ(*got, *want) << text;
  } else if (want.error().message().starts_with("invalid JSON")) {
    EXPECT_EQ(got.error().message(), want.error().message()) << text;  // a syntax error wins
  } else {  // errors of values: the DOM met them in key order, the parse in text order
    EXPECT_FALSE(got.error().message().starts_with("invalid JSON")) << text << ": " << got.error().message();
  }
}

TEST(JsonSaxTest, ParsesAsTheDomDidOnTheEdges) {
  std::string deep64, deep65;
  for (int i = 0; i < 64; ++i) deep64 += "[";
  deep64 += "1";
  for (int i = 0; i < 64; ++i) deep64 += "]";
  deep65 = "[" + deep64 + "]";
  for (const std::string& text :
       {std::string("{}"), std::string("[]"), std::string("null"), std::string("true"), std::string("-0"),
        std::string("1.5e3"), std::string("9223372036854775807"), std::string("9223372036854775808"),
        std::string("-9223372036854775808"), std::string("1e400"), std::string(R"("h\u00e9\ud83d\ude00")"),
        std::string(R"({"a": 1, "a": 2})"), std::string(R"({"$bytes": "AAEC"})"),
        std::string(R"({"$bytes": "AAEC", "$bytes": "AAAA"})"), std::string(R"({"$bytes": "bad!"})"),
        std::string(R"({"$bytes": 5})"), std::string(R"({"$bytes": "AAEC", "b": 1})"),
        std::string(R"([{"$bytes": ""}, {"x": {"$bytes": "AA=="}}])"), deep64, deep65,
        std::string("[1, 2"), std::string("[1,]"), std::string("{\"a\" 1}"), std::string("1 2"),
        std::string(""), std::string("nul"), std::string(R"({"xs": [1, 2.5, "s", null, [], {}]})")})
    ExpectSameAsDom(text);
}

TEST(JsonSaxTest, ParsesAsTheDomDidOnMutatedDocuments) {
  const std::vector<std::string> seeds = {
      R"({"xs": [1, -2, 3.25, "four", null, true, false], "m": {"k": [[], {}], "$bytes": "AAEC"}})",
      R"([{"$bytes": "AAEC"}, 18446744073709551615, 9223372036854775807, "\u00e9\n"])",
      R"({"a": {"b": {"c": {"d": [1, [2, [3, [4]]]]}}}, "a": 0})"};
  std::mt19937 rng(20261208);
  const std::string alphabet = "{}[]\",:0123456789.eE-+tfnul \\$abyes";
  for (int round = 0; round < 20000; ++round) {
    std::string doc = seeds[rng() % seeds.size()];
    for (int k = 1 + rng() % 3; k > 0; --k) {
      size_t at = rng() % (doc.size() + 1);
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: if (at < doc.size()) doc[at] = c; break;
        case 1: doc.insert(doc.begin() + at, c); break;
        default: if (at < doc.size()) doc.erase(at, 1);
      }
    }
    ExpectSameAsDom(doc);
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace fanout
