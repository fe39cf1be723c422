// Helpers for wire::SubtaskKey on the worker: ordering (for maps) and the log prefix.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <tuple>

#include "common/wire.h"

namespace fanout::worker {

struct SubtaskKeyLess {
  bool operator()(const wire::SubtaskKey& a, const wire::SubtaskKey& b) const {
    return std::tie(a.exec, a.node, a.index, a.attempt) <
           std::tie(b.exec, b.node, b.index, b.attempt);
  }
};

// "exec=E node=N index=I attempt=A": every task-related log line starts with it. A view that
// is formatted only when its line is logged: the debug lines on the path of every subtask
// cost an allocation each when they built a string that was then dropped.
struct KeyLogView {
  const wire::SubtaskKey& key;
};
inline KeyLogView KeyLog(const wire::SubtaskKey& k) { return KeyLogView{k}; }

}  // namespace fanout::worker

template <>
struct fmt::formatter<fanout::worker::KeyLogView> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const fanout::worker::KeyLogView& v, Context& ctx) const {
    return fmt::format_to(ctx.out(), "exec={} node={} index={} attempt={}", v.key.exec, v.key.node,
                          v.key.index, v.key.attempt);
  }
};
