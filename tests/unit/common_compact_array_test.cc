// CompactArray (common/compact_array.h): widths, packing across word boundaries, saturation.
#include "common/compact_array.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace fanout {
namespace {

TEST(CompactArrayTest, BitsForIsTheWidthOfTheLargestValue) {
  EXPECT_EQ(CompactArray::BitsFor(0), 1);
  EXPECT_EQ(CompactArray::BitsFor(1), 1);
  EXPECT_EQ(CompactArray::BitsFor(2), 2);
  EXPECT_EQ(CompactArray::BitsFor(3), 2);
  EXPECT_EQ(CompactArray::BitsFor(4), 3);
  EXPECT_EQ(CompactArray::BitsFor(15), 4);
  EXPECT_EQ(CompactArray::BitsFor(16), 5);
  EXPECT_EQ(CompactArray::BitsFor(65535), 16);
  EXPECT_EQ(CompactArray::BitsFor(65536), 17);
  EXPECT_EQ(CompactArray::BitsFor(uint64_t{1} << 63), 64);
  EXPECT_EQ(CompactArray::BitsFor(~uint64_t{0}), 64);
}

TEST(CompactArrayTest, ReportsSizeBitsAndMaxValue) {
  CompactArray a(100, 5);
  EXPECT_EQ(a.size(), 100u);
  EXPECT_EQ(a.bits(), 3);
  EXPECT_EQ(a.max_value(), 7u);
}

TEST(CompactArrayTest, UsesAboutNTimesBitsOfMemory) {
  CompactArray a(1000, 15);  // 4 bits each: 4000 bits = 63 words
  EXPECT_EQ(a.bytes(), 63u * 8u);
}

TEST(CompactArrayTest, StartsAllZero) {
  CompactArray a(77, 1000);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.Get(i), 0u) << i;
}

TEST(CompactArrayTest, EmptyArrayHasNoStorage) {
  CompactArray a(0, 7);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.bytes(), 0u);
}

// For every width 1..20 and 64, random values against a std::vector reference, including
// items that straddle two 64-bit words.
TEST(CompactArrayTest, MatchesVectorReferenceForEveryWidth) {
  std::mt19937_64 rng(12345);
  std::vector<int> widths;
  for (int w = 1; w <= 20; ++w) widths.push_back(w);
  widths.push_back(31);
  widths.push_back(63);
  widths.push_back(64);
  for (int w : widths) {
    uint64_t max = w == 64 ? ~uint64_t{0} : (uint64_t{1} << w) - 1;
    const size_t n = 517;  // not a multiple of anything convenient
    CompactArray a(n, max);
    ASSERT_EQ(a.bits(), w);
    std::vector<uint64_t> ref(n, 0);
    for (int round = 0; round < 4000; ++round) {
      size_t i = rng() % n;
      uint64_t v = w == 64 ? rng() : rng() & max;
      a.Set(i, v);
      ref[i] = v;
    }
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(a.Get(i), ref[i]) << "width " << w << " index " << i;
  }
}

TEST(CompactArrayTest, ItemsStraddlingAWordBoundaryKeepBothHalves) {
  // Width 5: item 12 occupies bits 60..64, split between word 0 and word 1.
  CompactArray a(30, 31);
  a.Set(12, 0b10111);
  EXPECT_EQ(a.Get(12), 0b10111u);
  EXPECT_EQ(a.Get(11), 0u);
  EXPECT_EQ(a.Get(13), 0u);
  a.Set(11, 31);
  a.Set(13, 31);
  a.Set(12, 0);
  EXPECT_EQ(a.Get(11), 31u);
  EXPECT_EQ(a.Get(12), 0u);
  EXPECT_EQ(a.Get(13), 31u);
}

TEST(CompactArrayTest, OverwritingClearsOldBits) {
  CompactArray a(10, 15);
  a.Set(3, 15);
  a.Set(3, 4);
  EXPECT_EQ(a.Get(3), 4u);
}

TEST(CompactArrayTest, SaturatesOnOverflow) {
  CompactArray a(10, 15);
  a.Set(4, 1000);
  EXPECT_EQ(a.Get(4), 15u);
}

TEST(CompactArrayTest, SaturationDoesNotCorruptNeighbours) {
  for (int w = 1; w <= 20; ++w) {
    uint64_t max = (uint64_t{1} << w) - 1;
    const size_t n = 200;
    CompactArray a(n, max);
    std::vector<uint64_t> ref(n);
    for (size_t i = 0; i < n; ++i) {
      ref[i] = (i * 2654435761u) & max;
      a.Set(i, ref[i]);
    }
    for (size_t i = 0; i < n; i += 3) {
      a.Set(i, ~uint64_t{0});
      ref[i] = max;
    }
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(a.Get(i), ref[i]) << "width " << w << " index " << i;
  }
}

TEST(CompactArrayTest, ZeroingAllItemsLeavesAllZero) {
  CompactArray a(300, 1023);
  for (size_t i = 0; i < a.size(); ++i) a.Set(i, 1023);
  for (size_t i = 0; i < a.size(); ++i) a.Set(i, 0);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.Get(i), 0u) << i;
}

}  // namespace
}  // namespace fanout
