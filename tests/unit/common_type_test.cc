// The spec's type system (common/type.h): parsing, printing, checking and coercion.
#include "common/type.h"

#include <gtest/gtest.h>

#include <string>

namespace fanout {
namespace {

using K = Type::Kind;

Type P(std::string_view text) {
  auto t = Type::Parse(text);
  EXPECT_TRUE(t.has_value()) << text << ": " << t.error().ToString();
  return t.value_or(Type());
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(TypeTest, ParsesEveryScalarKind) {
  struct Case {
    const char* text;
    K kind;
  };
  for (const Case& c : {Case{"none", K::kNone}, Case{"bool", K::kBool}, Case{"int", K::kInt},
                        Case{"float", K::kFloat}, Case{"str", K::kStr}, Case{"bytes", K::kBytes},
                        Case{"json", K::kJson}}) {
    Type t = P(c.text);
    EXPECT_EQ(t.kind(), c.kind) << c.text;
    EXPECT_EQ(t.ToString(), c.text);
  }
}

TEST(TypeTest, ParsesListMapAndOptional) {
  Type l = P("list<int>");
  ASSERT_EQ(l.kind(), K::kList);
  EXPECT_EQ(l.elem().kind(), K::kInt);
  Type m = P("map<float>");
  ASSERT_EQ(m.kind(), K::kMap);
  EXPECT_EQ(m.elem().kind(), K::kFloat);
  Type o = P("optional<str>");
  ASSERT_EQ(o.kind(), K::kOptional);
  EXPECT_EQ(o.elem().kind(), K::kStr);
}

TEST(TypeTest, ParsesNestedTypesAndPrintsThemBack) {
  for (const char* text : {"list<list<int>>", "map<optional<float>>", "optional<list<map<bytes>>>",
                           "list<json>", "map<map<list<bool>>>"}) {
    EXPECT_EQ(P(text).ToString(), text);
  }
}

TEST(TypeTest, AllowsWhitespaceAroundAndInsideBrackets) {
  EXPECT_EQ(P("  list< map< int > >  ").ToString(), "list<map<int>>");
  EXPECT_EQ(P("list <int>").ToString(), "list<int>");
}

TEST(TypeTest, CollapsesOptionalOfOptional) {
  EXPECT_EQ(P("optional<optional<int>>").ToString(), "optional<int>");
  EXPECT_EQ(Type::OptionalOf(Type::OptionalOf(Type::Scalar(K::kInt))),
            Type::OptionalOf(Type::Scalar(K::kInt)));
}

TEST(TypeTest, RejectsBadTypeNames) {
  for (const char* text : {"", "integer", "Int", "list", "list<>", "list<int", "list int>",
                           "lst<int>", "set<int>", "list<int>>", "map<str, int>", "<int>",
                           "optional<>", "list<list<int>"}) {
    auto t = Type::Parse(text);
    EXPECT_FALSE(t.has_value()) << "'" << text << "' parsed as " << t->ToString();
    if (!t) {
      EXPECT_EQ(t.error().code(), Code::kInvalidArgument);
      EXPECT_TRUE(Contains(t.error().message(), "unknown type")) << t.error().message();
    }
  }
}

TEST(TypeTest, BadTypeMessageListsTheValidTypes) {
  auto t = Type::Parse("integer");
  ASSERT_FALSE(t.has_value());
  EXPECT_TRUE(Contains(t.error().message(), "'integer'")) << t.error().message();
  EXPECT_TRUE(Contains(t.error().message(), "list<T>")) << t.error().message();
}

TEST(TypeTest, EqualityComparesElementTypes) {
  EXPECT_EQ(P("list<int>"), P("list<int>"));
  EXPECT_FALSE(P("list<int>") == P("list<float>"));
  EXPECT_FALSE(P("list<int>") == P("map<int>"));
  EXPECT_FALSE(P("int") == P("float"));
  EXPECT_EQ(Type(), P("none"));
}

TEST(TypeTest, ChecksScalarsOfTheRightKind) {
  EXPECT_TRUE(P("none").Check(Value()).ok());
  EXPECT_TRUE(P("bool").Check(Value(true)).ok());
  EXPECT_TRUE(P("int").Check(Value(3)).ok());
  EXPECT_TRUE(P("float").Check(Value(3.5)).ok());
  EXPECT_TRUE(P("str").Check(Value("s")).ok());
  EXPECT_TRUE(P("bytes").Check(Value(Bytes{"b"})).ok());
}

TEST(TypeTest, RejectsScalarsOfTheWrongKind) {
  EXPECT_FALSE(P("none").Check(Value(0)).ok());
  EXPECT_FALSE(P("bool").Check(Value(1)).ok());
  EXPECT_FALSE(P("int").Check(Value(1.0)).ok());
  EXPECT_FALSE(P("int").Check(Value("1")).ok());
  EXPECT_FALSE(P("float").Check(Value("1.0")).ok());
  EXPECT_FALSE(P("str").Check(Value(Bytes{"s"})).ok());
  EXPECT_FALSE(P("bytes").Check(Value("s")).ok());
}

TEST(TypeTest, AcceptsIntWhereFloatIsExpected) {
  EXPECT_TRUE(P("float").Check(Value(3)).ok());
  EXPECT_TRUE(P("list<float>").Check(Value(List{Value(1), Value(2.5)})).ok());
}

TEST(TypeTest, JsonAcceptsAnything) {
  Type j = P("json");
  for (const Value& v : {Value(), Value(1), Value("s"), Value(Bytes{"b"}),
                         Value(List{Value(1), Value("x")}), Value(Map{{"k", Value(List{})}})}) {
    EXPECT_TRUE(j.Check(v).ok());
  }
}

TEST(TypeTest, OptionalAcceptsNoneAndTheElementType) {
  Type o = P("optional<int>");
  EXPECT_TRUE(o.Check(Value()).ok());
  EXPECT_TRUE(o.Check(Value(4)).ok());
  EXPECT_FALSE(o.Check(Value("4")).ok());
}

TEST(TypeTest, CheckMessageNamesExpectedAndActualKinds) {
  Status s = P("int").Check(Value("x"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "expected int, got str");
}

TEST(TypeTest, CheckMessageNamesTheListIndex) {
  Status s = P("list<int>").Check(Value(List{Value(1), Value(2), Value(3), Value("four")}));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "[3]")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "expected int, got str")) << s.message();
}

TEST(TypeTest, CheckMessageNamesTheMapKey) {
  Status s = P("map<int>").Check(Value(Map{{"a", Value(1)}, {"bad", Value(true)}}));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), ".bad")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "got bool")) << s.message();
}

TEST(TypeTest, CheckMessageNamesTheNestedPath) {
  Value v(List{Value(Map{{"k", Value(List{Value(1)})}}),
               Value(Map{{"k", Value(List{Value(1), Value(2), Value(3.5)})}})});
  Status s = P("list<map<list<int>>>").Check(v);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "[1].k[2]")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "got float")) << s.message();
}

TEST(TypeTest, CheckRejectsNonListForListAndNonMapForMap) {
  EXPECT_FALSE(P("list<int>").Check(Value(1)).ok());
  EXPECT_FALSE(P("list<int>").Check(Value(Map{})).ok());
  EXPECT_FALSE(P("map<int>").Check(Value(List{})).ok());
  EXPECT_TRUE(P("list<int>").Check(Value(List{})).ok());
  EXPECT_TRUE(P("map<int>").Check(Value(Map{})).ok());
}

TEST(TypeTest, CheckOfListOfOptionalAllowsNullElements) {
  EXPECT_TRUE(P("list<optional<int>>").Check(Value(List{Value(1), Value(), Value(3)})).ok());
  EXPECT_FALSE(P("list<int>").Check(Value(List{Value(1), Value(), Value(3)})).ok());
}

TEST(TypeTest, CoercesIntToFloat) {
  Value v = P("float").Coerce(Value(3));
  ASSERT_TRUE(v.is_float());
  EXPECT_EQ(v.as_float(), 3.0);
}

TEST(TypeTest, CoercesIntToFloatInsideLists) {
  Value v = P("list<float>").Coerce(Value(List{Value(1), Value(2.5), Value(-3)}));
  EXPECT_EQ(v, Value(List{Value(1.0), Value(2.5), Value(-3.0)}));
}

TEST(TypeTest, CoercesIntToFloatInsideOptional) {
  Value v = P("optional<float>").Coerce(Value(7));
  ASSERT_TRUE(v.is_float());
  EXPECT_EQ(v.as_float(), 7.0);
  EXPECT_TRUE(P("optional<float>").Coerce(Value()).is_none());
}

TEST(TypeTest, CoercesIntToFloatInsideMapsAndNestedContainers) {
  Value v = P("map<list<optional<float>>>")
                .Coerce(Value(Map{{"a", Value(List{Value(1), Value()})}, {"b", Value(List{})}}));
  EXPECT_EQ(v, Value(Map{{"a", Value(List{Value(1.0), Value()})}, {"b", Value(List{})}}));
}

TEST(TypeTest, CoerceLeavesIntsAloneWhereIntOrJsonIsExpected) {
  EXPECT_TRUE(P("int").Coerce(Value(3)).is_int());
  EXPECT_TRUE(P("json").Coerce(Value(3)).is_int());
  EXPECT_EQ(P("list<json>").Coerce(Value(List{Value(1)})), Value(List{Value(1)}));
}

TEST(TypeTest, KindNamesOfValues) {
  EXPECT_STREQ(Value().kind_name(), "none");
  EXPECT_STREQ(Value(true).kind_name(), "bool");
  EXPECT_STREQ(Value(1).kind_name(), "int");
  EXPECT_STREQ(Value(1.0).kind_name(), "float");
  EXPECT_STREQ(Value("s").kind_name(), "str");
  EXPECT_STREQ(Value(Bytes{}).kind_name(), "bytes");
  EXPECT_STREQ(Value(List{}).kind_name(), "list");
  EXPECT_STREQ(Value(Map{}).kind_name(), "map");
}

}  // namespace
}  // namespace fanout
