// Helpers for wire::SubtaskKey on the worker: ordering (for maps) and the log prefix.
#pragma once

#include <string>
#include <tuple>

#include "common/wire.h"

namespace fanout::worker {

struct SubtaskKeyLess {
  bool operator()(const wire::SubtaskKey& a, const wire::SubtaskKey& b) const {
    return std::tie(a.exec, a.node, a.index, a.attempt) <
           std::tie(b.exec, b.node, b.index, b.attempt);
  }
};

// "exec=E node=N index=I attempt=A": every task-related log line starts with it.
inline std::string KeyLog(const wire::SubtaskKey& k) {
  return "exec=" + k.exec + " node=" + k.node + " index=" + std::to_string(k.index) +
         " attempt=" + std::to_string(k.attempt);
}

}  // namespace fanout::worker
