#include "common/value.h"

#include <algorithm>

namespace fanout {

const char* Value::kind_name() const {
  static constexpr const char* kNames[] = {"none", "bool", "int", "float",
                                           "str",  "bytes", "list", "map"};
  return kNames[v_.index()];
}

size_t NestingDepth(const Value& v) {
  size_t below = 0;
  if (v.is_list()) {
    for (const Value& e : v.as_list()) below = std::max(below, NestingDepth(e));
  } else if (v.is_map()) {
    for (const auto& [k, e] : v.as_map()) below = std::max(below, NestingDepth(e));
  } else {
    return 0;
  }
  return below + 1;
}

}  // namespace fanout
