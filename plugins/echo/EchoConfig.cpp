// EchoConfig: see EchoConfig.h.
#include "EchoConfig.h"

namespace echo {

EchoConfig parseEchoConfig(const microserver::ConfigNode& node) {
  node.allowKeys({"headers", "max_body"});
  EchoConfig config;
  config.headers = node.getBool("headers", config.headers);
  config.maxBody = node.getInt("max_body", config.maxBody, 0);
  return config;
}

}  // namespace echo
