// SubtaskRecord: the state of one subtask in a few bits (DESIGN §4). ArrayNode keeps one per
// subtask in a CompactArray, and the store persists the same packed u16 per index, so a record
// goes between memory and Redis without translation (the store's scripts read the same bits:
// see redis_store.cc).
#pragma once

#include <cstdint>

namespace fanout {

//   bits 0-3 phase (SubtaskPhase), 4-9 attempt, 10-13 system failures, 14 cache hit.
inline constexpr int kRecordBits = 16;
struct SubtaskRecord {
  uint8_t phase = 0;
  uint8_t attempt = 0;
  uint8_t system_failures = 0;
  bool cached = false;
  bool operator==(const SubtaskRecord&) const = default;
};
inline constexpr uint32_t kMaxAttempt = 0x3f;

inline uint16_t PackRecord(const SubtaskRecord& r) {
  return static_cast<uint16_t>((r.phase & 0xf) | ((r.attempt & 0x3f) << 4) |
                               ((r.system_failures & 0xf) << 10) | ((r.cached ? 1 : 0) << 14));
}
inline SubtaskRecord UnpackRecord(uint16_t v) {
  return SubtaskRecord{static_cast<uint8_t>(v & 0xf), static_cast<uint8_t>((v >> 4) & 0x3f),
                       static_cast<uint8_t>((v >> 10) & 0xf), ((v >> 14) & 1) != 0};
}

}  // namespace fanout
