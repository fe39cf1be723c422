// CompactArray: n unsigned integers of a fixed bit width, packed into 64-bit words
// (Flyte's bitarray.CompactArray). Width is chosen from the largest value to store.
// Values beyond the width's maximum saturate on Set instead of corrupting neighbours.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fanout {

class CompactArray {
 public:
  CompactArray() = default;
  // n items, each able to hold values in [0, max_value].
  CompactArray(size_t n, uint64_t max_value);

  static int BitsFor(uint64_t max_value);

  size_t size() const { return size_; }
  int bits() const { return bits_; }
  uint64_t max_value() const { return mask_; }
  size_t bytes() const { return words_.capacity() * sizeof(uint64_t); }

  uint64_t Get(size_t i) const;
  void Set(size_t i, uint64_t v);

 private:
  size_t size_ = 0;
  int bits_ = 1;
  uint64_t mask_ = 1;
  std::vector<uint64_t> words_;
};

}  // namespace fanout
