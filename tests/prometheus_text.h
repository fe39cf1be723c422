// Reading a Prometheus text exposition back, for the metrics unit tests and the /metrics
// integration tests.
#pragma once

#include <sstream>
#include <string>

namespace fanout::testing {

// The value of the sample line `series` (name and labels exactly as rendered), or -1.
inline double Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  return -1;
}

}  // namespace fanout::testing
