// Logging setup for the daemons and the CLI: spdlog to stderr, level from flags/env.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace fanout {

// level: trace, debug, info, warn, error, off. Unknown levels fall back to info.
void InitLogging(const std::string& name, const std::string& level);

}  // namespace fanout
