// Helpers shared by the fuzz targets (fuzz/*_fuzzer.cc).
//
// A target's checks are the contracts of the code under test (a value that decodes
// re-encodes to bytes that decode to the same value, ...). FUZZ_CHECK aborts when one breaks,
// which libFuzzer reports as a crash and the plain replay driver (replay_main.cc, make test)
// as a failed test, in either build.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/value.h"

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace fanout::fuzz {

// Value equality with NaN equal to NaN (bit patterns may differ after a float32 widening).
inline bool SameValue(const Value& a, const Value& b) {
  if (a.is_float() && b.is_float()) {
    double x = a.as_float(), y = b.as_float();
    return (std::isnan(x) && std::isnan(y)) || x == y;
  }
  if (a.is_list() && b.is_list()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!SameValue(x[i], y[i])) return false;
    return true;
  }
  if (a.is_map() && b.is_map()) {
    const Map& x = a.as_map();
    const Map& y = b.as_map();
    if (x.size() != y.size()) return false;
    for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
      if (i->first != j->first || !SameValue(i->second, j->second)) return false;
    return true;
  }
  return a == b;
}

}  // namespace fanout::fuzz
