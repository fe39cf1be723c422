#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace fanout {

void InitLogging(const std::string& name, const std::string& level) {
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ " + name + "[%P] %v");
  spdlog::level::level_enum lv = spdlog::level::from_str(level);
  if (lv == spdlog::level::off && level != "off") lv = spdlog::level::info;
  logger->set_level(lv);
  spdlog::set_default_logger(logger);
}

}  // namespace fanout
