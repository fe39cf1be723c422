#include "common/home.h"

#include <cstdlib>

namespace fanout {

std::string FanoutHomeFromEnv() {
  if (const char* h = std::getenv("FANOUT_HOME"); h != nullptr && *h != '\0') return h;
  if (const char* u = std::getenv("HOME"); u != nullptr && *u != '\0') return std::string(u) + "/.fanout";
  return "";
}

}  // namespace fanout
