// Conversion between Value and JSON (nlohmann). bytes travel in JSON as {"$bytes": base64}.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"
#include "common/value.h"

namespace fanout {

nlohmann::json ToJson(const Value& v);
Result<Value> FromJson(const nlohmann::json& j);
// Parses JSON text (with a size limit) into a Value.
Result<Value> ParseJson(std::string_view text, size_t max_bytes = 64u << 20);

std::string Base64Encode(std::string_view in);
Result<std::string> Base64Decode(std::string_view in);

}  // namespace fanout
