// SlowConfig: the slow plugin's `config:` node from routes.yaml, read and checked once
// when the route is loaded (h2o's handler/configurator pairing: settings beside the handler).
//
//   config: { default_ms: 500, max_ms: 10000 }
//
//   default_ms  0..max_ms, default 500 (or max_ms if lower): how long a request without ?ms= sleeps
//   max_ms      0..3600000, default 10000: a larger ?ms= gets 400. Keep it below the
//               server's limits.handler_timeout (30s by default), or the client gets a
//               504 from the server before the plugin answers.
#pragma once

#include <cstdint>

#include <microserver/ConfigNode.h>

namespace slow {

struct SlowConfig {
  std::int64_t defaultMs = 500;
  std::int64_t maxMs = 10000;
};

// Throws microserver::ConfigError naming file:line:col and the key for any mistake.
SlowConfig parseSlowConfig(const microserver::ConfigNode& node);

}  // namespace slow
