// In-memory handles of the coordinator: small numbers instead of strings on the hot paths.
// They live as long as this process: never persisted, never sent on the wire.
#pragma once

#include <cstdint>
#include <functional>

namespace fanout {

// One per NodeRun, handed out by ExecutionTable; 0 is "none". A callback that captured one
// finds nothing once the node's execution has left memory.
using NodeUid = uint32_t;
// One per worker connection (each HELLO), handed out by WorkerRegistry; 0 is "none".
using WorkerNo = uint32_t;

// One subtask of one node.
struct SubtaskId {
  NodeUid node = 0;
  uint32_t index = 0;

  uint64_t packed() const { return (uint64_t{node} << 32) | index; }
  static SubtaskId Unpack(uint64_t v) {
    return SubtaskId{static_cast<NodeUid>(v >> 32), static_cast<uint32_t>(v)};
  }
  bool operator==(const SubtaskId&) const = default;
};

// One attempt of one subtask.
struct AttemptRef {
  SubtaskId id;
  uint32_t attempt = 0;
  bool operator==(const AttemptRef&) const = default;
};

}  // namespace fanout

template <>
struct std::hash<fanout::SubtaskId> {
  size_t operator()(const fanout::SubtaskId& s) const noexcept { return std::hash<uint64_t>{}(s.packed()); }
};
