// SlowConfig: see SlowConfig.h.
#include "SlowConfig.h"

#include <algorithm>
#include <string>

namespace slow {

SlowConfig parseSlowConfig(const microserver::ConfigNode& node) {
  node.allowKeys({"default_ms", "max_ms"});
  SlowConfig config;
  config.maxMs = node.getInt("max_ms", config.maxMs, 0, 3'600'000);
  // Left out, the default follows a lower max_ms down, so `{ max_ms: 100 }` alone is valid.
  config.defaultMs = node.getInt("default_ms", std::min(config.defaultMs, config.maxMs), 0, config.maxMs);
  return config;
}

}  // namespace slow
