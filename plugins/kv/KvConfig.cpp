// KvConfig: see KvConfig.h.
#include "KvConfig.h"

namespace kv {

KvConfig parseKvConfig(const microserver::ConfigNode& node) {
  node.allowKeys({"store", "max_keys", "max_value_bytes"});
  KvConfig config;
  config.store = node.getString("store", config.store);
  if (config.store.empty()) node.find("store")->fail("the store name must not be empty");
  config.maxKeys = static_cast<std::size_t>(node.getInt("max_keys", 10000, 1, 100'000'000));
  config.maxValueBytes = static_cast<std::size_t>(node.getInt("max_value_bytes", 65536, 1, 1024 * 1024 * 1024));
  return config;
}

}  // namespace kv
