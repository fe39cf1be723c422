#include "common/value.h"

namespace fanout {

const char* Value::kind_name() const {
  static constexpr const char* kNames[] = {"none", "bool", "int", "float",
                                           "str",  "bytes", "list", "map"};
  return kNames[v_.index()];
}

}  // namespace fanout
