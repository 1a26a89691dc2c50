// EchoConfig: the echo plugin's `config:` node from routes.yaml, read and checked once
// when the route is loaded (h2o's handler/configurator pairing: the handler's settings
// live beside the handler).
//
//   config: { headers: false, max_body: 65536 }
//
//   headers   bool, default false: answer every request with the JSON description
//             (method, path, query, headers, body) instead of the bare body; a request
//             can still choose with ?headers=1 or ?headers=0.
//   max_body  bytes, default none (only the server's limits.body_bytes applies): a larger
//             body gets 413 with a JSON error.
#pragma once

#include <cstdint>

#include <microserver/ConfigNode.h>

namespace echo {

struct EchoConfig {
  bool headers = false;
  std::int64_t maxBody = -1;  // -1: no limit of its own
};

// Throws microserver::ConfigError naming file:line:col and the key for any mistake.
EchoConfig parseEchoConfig(const microserver::ConfigNode& node);

}  // namespace echo
