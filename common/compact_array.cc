#include "common/compact_array.h"

#include "common/status.h"

namespace fanout {

int CompactArray::BitsFor(uint64_t max_value) {
  int bits = 1;
  while (bits < 64 && (max_value >> bits) != 0) ++bits;
  return bits;
}

CompactArray::CompactArray(size_t n, uint64_t max_value)
    : size_(n),
      bits_(BitsFor(max_value)),
      mask_(bits_ == 64 ? ~uint64_t{0} : (uint64_t{1} << bits_) - 1),
      words_((n * static_cast<size_t>(bits_) + 63) / 64, 0) {}

uint64_t CompactArray::Get(size_t i) const {
  CHECK(i < size_);
  size_t bit = i * static_cast<size_t>(bits_);
  size_t w = bit / 64, off = bit % 64;
  uint64_t v = words_[w] >> off;
  if (off + static_cast<size_t>(bits_) > 64) v |= words_[w + 1] << (64 - off);
  return v & mask_;
}

void CompactArray::Set(size_t i, uint64_t v) {
  CHECK(i < size_);
  if (v > mask_) v = mask_;  // saturate
  size_t bit = i * static_cast<size_t>(bits_);
  size_t w = bit / 64, off = bit % 64;
  words_[w] = (words_[w] & ~(mask_ << off)) | (v << off);
  if (off + static_cast<size_t>(bits_) > 64) {
    size_t spill = off + static_cast<size_t>(bits_) - 64;
    uint64_t hi_mask = (uint64_t{1} << spill) - 1;
    words_[w + 1] = (words_[w + 1] & ~hi_mask) | (v >> (64 - off));
  }
}

}  // namespace fanout
