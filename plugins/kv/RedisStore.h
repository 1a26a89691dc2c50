// RedisStore: a kv store kept in Redis (the route's `redis:`), so that every instance of a
// fleet configured with the same Redis and `store:` serves the same keys.
//
// Keys in Redis (`<store>` as configured: 1 to 64 of A-Z a-z 0-9 . _ -, so no two stores'
// names can collide; the database is the URL's /db):
//   kv:<store>:keys       sorted set of the store's keys, every score 0: ZRANGE lists them
//                         sorted byte-wise, ZCARD counts them for max_keys
//   kv:<store>:k:<key>    hash {t: Content-Type, v: the value's bytes}
// Writes are Lua scripts (EVAL), so each is one atomic step in Redis whatever the number of
// instances: PUT checks the key, counts the store and inserts in one go (a 507 is never
// wrong under any concurrency), DELETE removes the key from both. GET is HMGET (both
// fields from one hash: never a value with another write's type); the list is ZRANGE.
//
// One RedisStore per (Redis URL, store) in this copy of the library, shared by every route
// naming both and created by the first (RedisStore::shared); its RedisClient's thread is
// joined when the last route's handler lets go of it, so nothing of the library runs once
// its last handler is gone (what unloading it needs).
//
// Status (microserver/Status.h), one provider for all the library's Redis stores:
//   kv_redis_connected{store="default",redis="127.0.0.1:6379/0"} 1    gauge
//   kv_redis_unavailable_total{store="default",redis="127.0.0.1:6379/0"} 0
//                                   requests answered 503 (Redis unreachable, lost, busy)
// /readyz is 503 while a store's Redis is unreachable, saying which and why; the console's
// `status` shows a line per store.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <microserver/Logger.h>
#include <microserver/Responder.h>
#include <microserver/Status.h>

#include "KvAnswers.h"
#include "RedisClient.h"
#include "RedisUrl.h"

namespace kv {

class KvStatus;

class RedisStore {
 public:
  // The store `store` in the Redis at `address`, shared; created (connecting, and waiting
  // for the outcome of the first attempt at most the connect timeout) on first use.
  static std::shared_ptr<RedisStore> shared(const RedisAddress& address, const std::string& store,
                                            const microserver::Logger& logger, microserver::StatusRegistry& registry);

  RedisStore(const RedisAddress& address, std::string store, const microserver::Logger& logger,
             microserver::StatusRegistry& registry);
  ~RedisStore();
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  // False while Redis is unreachable: answer unavailable() at once.
  bool available() const { return client_.connected(); }
  Answer unavailable();

  // Each answers through `later`, from the client's thread (or at once if Redis is down).
  void list(microserver::Responder later);
  void get(std::string_view key, microserver::Responder later);
  void put(std::string_view key, std::string_view contentType, std::string_view value, std::size_t maxKeys,
           microserver::Responder later);
  void erase(std::string_view key, microserver::Responder later);

  const std::string& name() const { return store_; }
  const RedisAddress& address() const { return address_; }
  RedisClient::Status linkStatus() const { return client_.status(); }
  std::uint64_t unavailableCount() const { return unavailable_.load(std::memory_order_relaxed); }

  // The Redis keys of a store.
  static std::string indexKey(std::string_view store);
  static std::string valueKey(std::string_view store, std::string_view key);

 private:
  // What a reply becomes; anything else is a 503 (and a log line, once per kind).
  using Interpret = Answer (*)(const RespValue& reply, const std::string& key, std::size_t maxKeys, bool& ok);
  void run(std::string command, std::string key, std::size_t maxKeys, Interpret interpret,
           microserver::Responder later);
  void refuse(microserver::Responder& later, std::string_view why);
  void unexpected(const std::string& what);

  const RedisAddress address_;
  const std::string store_;
  const std::string indexKey_;
  const microserver::Logger& logger_;
  std::atomic<std::uint64_t> unavailable_{0};
  std::set<std::string> unexpectedSaid_;  // the client's thread's alone
  std::shared_ptr<KvStatus> status_;
  RedisClient client_;  // last: its thread stops first
};

// The library's Redis stores as operators see them.
class KvStatus : public microserver::StatusProvider {
 public:
  struct Row {
    std::string store, redis;
    RedisClient::Status link;
    std::uint64_t unavailable = 0;
  };
  void appendMetrics(std::string& out) const override;
  bool ready(std::string& reason) const override;
  std::string statusLine() const override;

  // The same from given rows (tested without a server).
  static void appendMetrics(const std::vector<Row>& rows, std::string& out);
  static bool ready(const std::vector<Row>& rows, std::string& reason);
  static std::string statusLine(const std::vector<Row>& rows);
};

}  // namespace kv
