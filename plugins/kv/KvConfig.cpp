// KvConfig: see KvConfig.h.
#include "KvConfig.h"

#include <cctype>
#include <stdexcept>

namespace kv {

namespace {
// Whether the map holds a key that looks meant for `redis` (redis, Redis, rediss, redis_url):
// then an unknown key's error lists `redis` among the allowed ones. A route without any such
// key is told about the in-memory keys only, as before the Redis backend existed.
bool mentionsRedis(const microserver::ConfigNode& node) {
  if (!node.isMap()) return false;
  for (std::size_t i = 0, n = node.size(); i < n; ++i) {
    std::string key(node.key(i));
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key.find("redis") != std::string::npos) return true;
  }
  return false;
}
}  // namespace

bool isRedisStoreName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

KvConfig parseKvConfig(const microserver::ConfigNode& node) {
  if (mentionsRedis(node))
    node.allowKeys({"store", "max_keys", "max_value_bytes", "redis"});
  else
    node.allowKeys({"store", "max_keys", "max_value_bytes"});
  KvConfig config;
  config.store = node.getString("store", config.store);
  if (config.store.empty()) node.find("store")->fail("the store name must not be empty");
  config.maxKeys = static_cast<std::size_t>(node.getInt("max_keys", 10000, 1, 100'000'000));
  config.maxValueBytes = static_cast<std::size_t>(node.getInt("max_value_bytes", 65536, 1, 1024 * 1024 * 1024));
  if (std::optional<microserver::ConfigNode> redis = node.find("redis"); redis && !redis->isNull()) {
    if (!redis->isScalar()) redis->fail("expected a redis:// URL");
    try {
      config.redis = parseRedisUrl(redis->scalar());
    } catch (const std::invalid_argument& e) {
      redis->fail(e.what());
    }
    if (!isRedisStoreName(config.store))
      node.find("store")->fail("a store kept in Redis needs a name of 1 to 64 characters from A-Z a-z 0-9 . _ - "
                               "(it is part of its Redis keys), not '" +
                               config.store + "'");
  }
  return config;
}

}  // namespace kv
