// Value: a dynamically typed datum of the spec's type system (DESIGN §3.1).
// none | bool | int | float | str | bytes | list | map (string keys).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace fanout {

struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

class Value;
using List = std::vector<Value>;
using Map = std::map<std::string, Value>;

class Value {
 public:
  using Storage = std::variant<std::monostate, bool, int64_t, double, std::string, Bytes, List, Map>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t{i}) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(Bytes b) : v_(std::move(b)) {}
  Value(List l) : v_(std::move(l)) {}
  Value(Map m) : v_(std::move(m)) {}

  bool is_none() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_str() const { return std::holds_alternative<std::string>(v_); }
  bool is_bytes() const { return std::holds_alternative<Bytes>(v_); }
  bool is_list() const { return std::holds_alternative<List>(v_); }
  bool is_map() const { return std::holds_alternative<Map>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_str() const { return std::get<std::string>(v_); }
  const Bytes& as_bytes() const { return std::get<Bytes>(v_); }
  const List& as_list() const { return std::get<List>(v_); }
  List& as_list() { return std::get<List>(v_); }
  const Map& as_map() const { return std::get<Map>(v_); }
  Map& as_map() { return std::get<Map>(v_); }

  const Storage& storage() const { return v_; }
  // A short name of the dynamic kind, for error messages: "int", "list", ...
  const char* kind_name() const;

  bool operator==(const Value& o) const { return v_ == o.v_; }

 private:
  Storage v_;
};

// The nesting of collections in v: 0 for a scalar, 1 for a list or map of scalars, and so on
// (the depth msgpack and JSON decoding limit).
size_t NestingDepth(const Value& v);

}  // namespace fanout
