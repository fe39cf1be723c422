#include "common/json.h"

namespace fanout {

nlohmann::json ToJson(const Value& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, Bytes>) {
          return nlohmann::json{{"$bytes", Base64Encode(x.data)}};
        } else if constexpr (std::is_same_v<T, List>) {
          nlohmann::json a = nlohmann::json::array();
          for (const Value& e : x) a.push_back(ToJson(e));
          return a;
        } else if constexpr (std::is_same_v<T, Map>) {
          nlohmann::json o = nlohmann::json::object();
          for (const auto& [k, e] : x) o[k] = ToJson(e);
          return o;
        } else {
          return x;
        }
      },
      v.storage());
}

namespace {

// Same nesting limit as msgpack decoding (DecodeLimits::max_depth): nlohmann parses any
// depth, and a Value that deep would be built and destroyed by recursion.
constexpr size_t kMaxJsonDepth = 64;

// Builds a Value from nlohmann's SAX events, from text (ParseJson: no DOM in between, which
// for a 1M-element input was a second copy of it, and a quarter of the submit's time) or from
// a DOM (FromJson, through Walk). The rules live here alone: the depth limit, the last of
// duplicate keys, the {"$bytes": ...} form and the int64 range.
class ValueBuilder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return Put(Value()); }
  bool boolean(bool b) override { return Put(Value(b)); }
  bool number_integer(number_integer_t i) override { return Put(Value(static_cast<int64_t>(i))); }
  bool number_unsigned(number_unsigned_t u) override {
    if (u > static_cast<uint64_t>(INT64_MAX)) return Fail(InvalidArgument("integer out of int64 range"));
    return Put(Value(static_cast<int64_t>(u)));
  }
  bool number_float(number_float_t f, const string_t& /*text*/) override { return Put(Value(f)); }
  bool string(string_t& s) override { return Put(Value(std::move(s))); }
  bool binary(binary_t& b) override { return Put(Value(Bytes{std::string(b.begin(), b.end())})); }
  bool start_object(std::size_t /*n*/) override { return Open(Value(Map{})); }
  bool key(string_t& k) override {
    if (error_.ok()) open_.back().key = std::move(k);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t /*n*/) override { return Open(Value(List{})); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& e) override {
    syntax_error_ = InvalidArgument(std::string("invalid JSON: ") + e.what());
    return false;  // stops the parse
  }

  // An error of a value that the events cannot carry (a discarded DOM value).
  void Reject(Status st) { Fail(std::move(st)); }
  // Once true, nothing more is built: a walk over a DOM need not go deeper.
  bool failed() const { return !error_.ok(); }

  // A syntax error anywhere wins over an error of a value, as when the whole text was parsed
  // before any value was converted.
  Result<Value> Take() {
    if (!syntax_error_.ok()) return Err(std::move(syntax_error_));
    if (!error_.ok()) return Err(std::move(error_));
    return std::move(root_);
  }

 private:
  struct Frame {
    Value container;
    std::string key;  // an object's key of the value that comes next
  };

  // The first error of a value. The parse goes on, for a syntax error later in the text, but
  // builds nothing more (a document nested too deep is never built, nor destroyed, by
  // recursion).
  bool Fail(Status st) {
    if (error_.ok()) error_ = std::move(st);
    return true;
  }
  // A value inside the open containers: its depth is how many there are.
  bool Put(Value v) {
    if (!error_.ok()) return true;
    if (open_.size() > kMaxJsonDepth) return Fail(InvalidArgument("JSON nesting too deep"));
    if (open_.empty()) {
      root_ = std::move(v);
    } else if (open_.back().container.is_list()) {
      open_.back().container.as_list().push_back(std::move(v));
    } else {
      open_.back().container.as_map().insert_or_assign(std::move(open_.back().key), std::move(v));
    }
    return true;
  }
  bool Open(Value container) {
    if (!error_.ok()) return true;
    if (open_.size() > kMaxJsonDepth) return Fail(InvalidArgument("JSON nesting too deep"));
    open_.push_back({std::move(container), {}});
    return true;
  }
  bool Close() {
    if (!error_.ok()) return true;
    Value v = std::move(open_.back().container);
    open_.pop_back();
    if (v.is_map() && v.as_map().size() == 1) {  // {"$bytes": base64}
      auto it = v.as_map().find("$bytes");
      if (it != v.as_map().end() && it->second.is_str()) {
        auto raw = Base64Decode(it->second.as_str());
        if (!raw) return Fail(raw.error());
        v = Value(Bytes{std::move(*raw)});
      }
    }
    return Put(std::move(v));
  }

  std::vector<Frame> open_;
  Value root_;
  Status error_ = Status::Ok();         // the first error of a value
  Status syntax_error_ = Status::Ok();
};

// Feeds `b` the events of a DOM, as sax_parse does for text. It stops at a failure, so a
// DOM nested deeper than the limit is walked no further than it.
void Walk(const nlohmann::json& j, ValueBuilder& b) {
  if (b.failed()) return;
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::null: b.null(); return;
    case T::boolean: b.boolean(j.get<bool>()); return;
    case T::number_integer: b.number_integer(j.get<int64_t>()); return;
    case T::number_unsigned: b.number_unsigned(j.get<uint64_t>()); return;
    case T::number_float: b.number_float(j.get<double>(), {}); return;
    case T::string: {
      std::string s = j.get<std::string>();
      b.string(s);
      return;
    }
    case T::binary: {
      nlohmann::json::binary_t bin = j.get_binary();
      b.binary(bin);
      return;
    }
    case T::array:
      b.start_array(j.size());
      for (const auto& e : j) Walk(e, b);
      b.end_array();
      return;
    case T::object:
      b.start_object(j.size());
      for (const auto& [k, e] : j.items()) {
        std::string key = k;
        b.key(key);
        Walk(e, b);
      }
      b.end_object();
      return;
    case T::discarded: break;
  }
  b.Reject(InvalidArgument("unsupported JSON value"));
}

}  // namespace

Result<Value> FromJson(const nlohmann::json& j) {
  ValueBuilder builder;
  Walk(j, builder);
  return builder.Take();
}

Result<Value> ParseJson(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) return Err(InvalidArgument("JSON document too large"));
  ValueBuilder builder;
  try {
    nlohmann::json::sax_parse(text, &builder);
  } catch (const nlohmann::json::exception& e) {  // the SAX parser reports through the builder
    return Err(InvalidArgument(std::string("invalid JSON: ") + e.what()));
  }
  return builder.Take();
}

static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {kB64[n >> 18], kB64[(n >> 12) & 63], kB64[(n >> 6) & 63], kB64[n & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += {kB64[n >> 18], kB64[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {kB64[n >> 18], kB64[(n >> 12) & 63], kB64[(n >> 6) & 63], '='};
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return Err(InvalidArgument("base64 length is not a multiple of 4"));
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        v[k] = val(c);
        if (v[k] < 0 || pad) return Err(InvalidArgument("invalid base64"));
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

}  // namespace fanout
