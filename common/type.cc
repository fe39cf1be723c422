#include "common/type.h"

#include <cctype>

namespace fanout {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Deeper types could describe no value the decoders accept (DecodeLimits::max_depth), and
// parsing, printing, comparing and destroying a type all recurse once per level.
constexpr int kMaxTypeDepth = 64;

}  // namespace

Result<Type> Type::Parse(std::string_view text) { return ParseAt(text, 0); }

Result<Type> Type::ParseAt(std::string_view text, int depth) {
  if (depth > kMaxTypeDepth)
    return Err(InvalidArgument("type nested more than " + std::to_string(kMaxTypeDepth) +
                               " levels deep"));
  std::string_view t = Trim(text);
  struct Scalar {
    std::string_view name;
    Kind kind;
  };
  static constexpr Scalar kScalars[] = {
      {"none", Kind::kNone}, {"bool", Kind::kBool},   {"int", Kind::kInt},
      {"float", Kind::kFloat}, {"str", Kind::kStr}, {"bytes", Kind::kBytes},
      {"json", Kind::kJson}};
  for (const auto& s : kScalars) {
    if (t == s.name) return Type::Scalar(s.kind);
  }
  auto open = t.find('<');
  if (open != std::string_view::npos && t.back() == '>') {
    std::string_view head = Trim(t.substr(0, open));
    ASSIGN_OR_RETURN(Type inner, ParseAt(t.substr(open + 1, t.size() - open - 2), depth + 1));
    if (head == "list") return ListOf(std::move(inner));
    if (head == "map") return MapOf(std::move(inner));
    if (head == "optional") return OptionalOf(std::move(inner));
  }
  return Err(InvalidArgument("unknown type '" + std::string(t) +
                             "' (expected none, bool, int, float, str, bytes, json, list<T>, "
                             "map<T> or optional<T>)"));
}

std::string Type::ToString() const {
  switch (kind_) {
    case Kind::kNone: return "none";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kStr: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kJson: return "json";
    case Kind::kList: return "list<" + elem_->ToString() + ">";
    case Kind::kMap: return "map<" + elem_->ToString() + ">";
    case Kind::kOptional: return "optional<" + elem_->ToString() + ">";
  }
  return "?";
}

bool Type::operator==(const Type& o) const {
  if (kind_ != o.kind_) return false;
  if (!elem_ || !o.elem_) return !elem_ && !o.elem_;
  return *elem_ == *o.elem_;
}

Status Type::Check(const Value& v) const { return CheckAt(v, ""); }

Status Type::CheckAt(const Value& v, const std::string& path) const {
  auto mismatch = [&] {
    std::string where = path.empty() ? "" : " at " + path;
    return InvalidArgument("expected " + ToString() + ", got " + v.kind_name() + where);
  };
  switch (kind_) {
    case Kind::kJson: return Status::Ok();
    case Kind::kNone: return v.is_none() ? Status::Ok() : mismatch();
    case Kind::kBool: return v.is_bool() ? Status::Ok() : mismatch();
    case Kind::kInt: return v.is_int() ? Status::Ok() : mismatch();
    case Kind::kFloat: return (v.is_float() || v.is_int()) ? Status::Ok() : mismatch();
    case Kind::kStr: return v.is_str() ? Status::Ok() : mismatch();
    case Kind::kBytes: return v.is_bytes() ? Status::Ok() : mismatch();
    case Kind::kOptional: return v.is_none() ? Status::Ok() : elem_->CheckAt(v, path);
    case Kind::kList: {
      if (!v.is_list()) return mismatch();
      const List& l = v.as_list();
      for (size_t i = 0; i < l.size(); ++i) {
        Status s = elem_->CheckAt(l[i], path + "[" + std::to_string(i) + "]");
        if (!s.ok()) return s;
      }
      return Status::Ok();
    }
    case Kind::kMap: {
      if (!v.is_map()) return mismatch();
      for (const auto& [k, e] : v.as_map()) {
        Status s = elem_->CheckAt(e, path + "." + k);
        if (!s.ok()) return s;
      }
      return Status::Ok();
    }
  }
  return mismatch();
}

Value Type::Coerce(Value v) const {
  switch (kind_) {
    case Kind::kFloat:
      if (v.is_int()) return Value(static_cast<double>(v.as_int()));
      return v;
    case Kind::kOptional:
      return v.is_none() ? v : elem_->Coerce(std::move(v));
    case Kind::kList:
      if (v.is_list()) {
        for (Value& e : v.as_list()) e = elem_->Coerce(std::move(e));
      }
      return v;
    case Kind::kMap:
      if (v.is_map()) {
        for (auto& [k, e] : v.as_map()) e = elem_->Coerce(std::move(e));
      }
      return v;
    default:
      return v;
  }
}

}  // namespace fanout
