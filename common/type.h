// Type: the spec's type system (DESIGN §3.1): none bool int float str bytes, list<T>, map<T>
// (string keys), optional<T>, json (any JSON document).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/value.h"

namespace fanout {

class Type {
 public:
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kBytes, kList, kMap, kOptional, kJson };

  Type() = default;  // none
  static Type Scalar(Kind k) { return Type(k, nullptr); }
  static Type ListOf(Type elem) { return Type(Kind::kList, std::make_shared<Type>(std::move(elem))); }
  static Type MapOf(Type elem) { return Type(Kind::kMap, std::make_shared<Type>(std::move(elem))); }
  static Type OptionalOf(Type elem) {
    if (elem.kind() == Kind::kOptional) return elem;
    return Type(Kind::kOptional, std::make_shared<Type>(std::move(elem)));
  }

  // Parses "int", "list<int>", "map<optional<float>>"... Whitespace inside <> is allowed.
  // Types nested more than 64 levels deep are refused.
  static Result<Type> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  const Type& elem() const { return *elem_; }
  std::string ToString() const;

  // Checks that v conforms, with int accepted where float is expected. On failure the
  // message names the path inside the value ("[3]", ".key") and what was expected.
  Status Check(const Value& v) const;
  // Returns v converted to this type's canonical form (int → float where float is expected).
  // Call only on a value that passed Check.
  Value Coerce(Value v) const;

  bool operator==(const Type& o) const;

 private:
  Type(Kind k, std::shared_ptr<const Type> e) : kind_(k), elem_(std::move(e)) {}
  static Result<Type> ParseAt(std::string_view text, int depth);
  Status CheckAt(const Value& v, const std::string& path) const;

  Kind kind_ = Kind::kNone;
  std::shared_ptr<const Type> elem_;
};

}  // namespace fanout
