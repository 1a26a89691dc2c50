// KvConfig: the kv plugin's `config:` node from routes.yaml, read and checked once when
// the route is loaded (h2o's handler/configurator pairing: settings beside the handler).
//
//   config: { store: default, max_keys: 10000, max_value_bytes: 65536 }
//   config: { store: default, redis: redis://127.0.0.1:6379/0 }
//
//   store            the store's name, default "default": routes naming the same store
//                    share its data (e.g. a read-only GET route and a read-write one);
//                    with `redis:`, 1 to 64 of A-Z a-z 0-9 . _ - (it is part of Redis keys)
//   max_keys         1..100000000, default 10000: a PUT of a new key into a store that
//                    holds this many gets 507
//   max_value_bytes  1..1073741824, default 65536: a longer PUT body gets 413 (the
//                    server's limits.body_bytes, 1 MiB by default, applies first)
//   redis            optional, `redis://[[user]:password@]host[:port][/db]` (RedisUrl.h):
//                    the store lives in that Redis, shared by every instance configured
//                    with the same Redis and store (RedisStore.h); without it, in memory
//
// Limits belong to the route, not to the store: two routes sharing a store each enforce
// their own. Memory use is bounded by about max_keys * (max_value_bytes + 200) bytes,
// 650 MiB with the defaults: lower them on a small machine (in Redis, the same bound
// applies to Redis's memory).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <microserver/ConfigNode.h>

#include "RedisUrl.h"

namespace kv {

struct KvConfig {
  std::string store = "default";
  std::size_t maxKeys = 10000;
  std::size_t maxValueBytes = 65536;
  std::optional<RedisAddress> redis;
};

// Throws microserver::ConfigError naming file:line:col and the key for any mistake.
KvConfig parseKvConfig(const microserver::ConfigNode& node);

// 1 to 64 of A-Z a-z 0-9 . _ - : a store name that can be part of a Redis key.
bool isRedisStoreName(const std::string& name);

}  // namespace kv
