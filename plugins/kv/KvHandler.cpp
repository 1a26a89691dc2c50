// kv: a small key-value store over HTTP, for demos, tests and caches: in memory, or in
// Redis so that a fleet of instances shares it.
//
//   routes:
//     - path: '^/api/kv(?:/(?P<key>.*))?$'
//       methods: [GET, HEAD, PUT, DELETE]
//       handler: kv
//       config: { store: default, max_keys: 10000, max_value_bytes: 65536 }
//       # config: { store: default, redis: redis://127.0.0.1:6379/0 }   # shared through Redis
//
// The key is the route's capture named `key`; no capture (or an empty one) means the
// store itself. Capture anything and let the plugin check it: a key the route's pattern
// refuses is a 404 from the router, one the plugin refuses is a 400 that says why.
//
//   GET    /api/kv        200 {"keys":["a","b"]}                    every key, sorted
//   GET    /api/kv/KEY    200 the value, with the Content-Type it was stored with
//                             (application/octet-stream if the PUT had none)
//                         404 {"error":"no such key","key":"KEY"}
//   PUT    /api/kv/KEY    201 {"created":"KEY"}   a new key
//                         200 {"updated":"KEY"}   a new value for an existing key
//                         413 {"error":"value too large","size":N,"max_value_bytes":M}
//                         507 {"error":"store is full","max_keys":M}   (a new key only)
//   DELETE /api/kv/KEY    204 (no body)
//                         404 {"error":"no such key","key":"KEY"}
//   HEAD                  as GET, without the body
//   anything else         405 {"error":"method not allowed","allow":"..."} with an Allow
//                         header (normally the route's `methods:` answers this first)
//   with `redis:` only    503 {"error":"store unavailable: Redis is unreachable","store":"default"}
//                         with Retry-After: 1, at once while Redis cannot be reached (also
//                         "the connection to Redis was lost" for requests it had in hand,
//                         "too many requests are waiting for Redis", "Redis refused the
//                         command")
//
// Keys are 1 to 128 of A-Z a-z 0-9 . _ -; any other key gets
//   400 {"error":"invalid key: use 1 to 128 characters from A-Z a-z 0-9 . _ -","key":"..."}.
// Every JSON answer has Content-Type application/json; charset=utf-8.
//
//   curl -s -X PUT -H 'Content-Type: text/plain' --data-binary 'hello' http://127.0.0.1:8080/api/kv/greeting
//   curl -s http://127.0.0.1:8080/api/kv/greeting          -> hello
//   curl -s http://127.0.0.1:8080/api/kv                   -> {"keys":["greeting"]}
//   curl -s -X DELETE -i http://127.0.0.1:8080/api/kv/greeting   -> HTTP/1.1 204 No Content
//   # with `redis:`, what one instance stores every other one reads:
//   curl -s -X PUT --data-binary 'v' http://node-a:8080/api/kv/k && curl -s http://node-b:8080/api/kv/k   -> v
//   redis-cli HGET kv:default:k:greeting v                 -> "hello" (the layout: RedisStore.h)
//
// Config (KvConfig.h): store, max_keys, max_value_bytes, and redis (optional).
//
// In memory (no `redis:`): data lives in a store named by `store:` that outlives handlers:
// it survives a reload of routes.yaml while libkv.so is unchanged, and is gone when the
// server stops or the library is replaced (see KvStore::named). Answers are given at once.
//
// In Redis (`redis: redis://[[user]:password@]host[:port][/db]`): the store is the keys
// kv:<store>:keys (a sorted set of the keys) and kv:<store>:k:<key> (a hash of Content-Type
// and value) in that database; every instance configured with the same Redis and store
// serves the same data, and it outlives every instance. PUT's check of max_keys and its
// insert are one Lua script in Redis, so a 507 is exact whatever the concurrency across
// the fleet. Routes of this library naming the same Redis URL and store share one
// connection (RedisStore::shared). If Redis is unreachable at start-up or goes away later,
// requests answer 503 at once, the log says so once per outage, /readyz is 503 and
// kv_redis_connected{store=...} is 0 on /metrics; the client reconnects by itself (100 ms
// to 5 s backoff) and the store serves again. Nothing is cached or replayed.
//
// Threads: handle() runs on every reactor thread at once. In memory, the store is guarded
// by a std::shared_mutex (reads in parallel), held only to copy a value out or link one
// in. With Redis, handle() defers the answer and queues the command (a lock and a queue
// push); one thread per (Redis URL, store), the RedisClient's, pipelines every request's
// command on one connection and completes each answer from the reply (Responder::finish).
// No request ever holds a thread, and none of this needs `blocking: true`.
#include <microserver/Plugin.h>

#include <memory>
#include <string>
#include <string_view>

#include "KvAnswers.h"
#include "KvConfig.h"
#include "KvStore.h"
#include "RedisStore.h"

namespace kv {
namespace {

constexpr std::size_t kMaxKeyLength = 128;

bool validKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyLength) return false;
  for (char c : key) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

class KvHandler : public microserver::Handler {
 public:
  explicit KvHandler(const microserver::PluginContext& context) : config_(parseKvConfig(context.config)) {
    if (config_.redis)
      redis_ = RedisStore::shared(*config_.redis, config_.store, context.logger, context.status);
    else
      memory_ = KvStore::named(config_.store);
  }

  void handle(const microserver::Request& request, microserver::Response& response) override {
    std::string_view method = request.method();
    std::string_view key = request.capture("key");
    bool read = method == "GET" || method == "HEAD";

    if (key.empty()) {
      if (!read) return send(response, methodNotAllowedAnswer("GET, HEAD"));
      return redis_ ? later(response, [&](microserver::Responder r) { redis_->list(std::move(r)); })
                    : send(response, keysAnswer(memory_->keys()));
    }
    if (!read && method != "PUT" && method != "DELETE")
      return send(response, methodNotAllowedAnswer("GET, HEAD, PUT, DELETE"));
    if (!validKey(key)) return send(response, invalidKeyAnswer(key));

    if (read) return get(key, response);
    if (method == "PUT") return put(key, request, response);
    return erase(key, response);
  }

 private:
  // With Redis: 503 at once while it is unreachable; else the answer comes from the
  // client's thread when Redis replies (no thread waits meanwhile).
  template <typename Start>
  void later(microserver::Response& response, Start&& start) const {
    if (!redis_->available()) return send(response, redis_->unavailable());
    start(response.defer());
  }

  void get(std::string_view key, microserver::Response& response) const {
    if (redis_) return later(response, [&](microserver::Responder r) { redis_->get(key, std::move(r)); });
    std::string contentType, value;
    if (!memory_->get(key, contentType, value)) return send(response, notFoundAnswer(key));
    send(response, valueAnswer(std::move(contentType), std::move(value)));
  }

  void put(std::string_view key, const microserver::Request& request, microserver::Response& response) const {
    std::string_view value = request.body();
    if (value.size() > config_.maxValueBytes) return send(response, tooLargeAnswer(value.size(), config_.maxValueBytes));
    std::string_view type = request.header("Content-Type");
    if (type.empty()) type = "application/octet-stream";
    if (redis_)
      return later(response,
                   [&](microserver::Responder r) { redis_->put(key, type, value, config_.maxKeys, std::move(r)); });
    switch (memory_->put(key, type, value, config_.maxKeys)) {
      case KvStore::PutResult::Created:
        return send(response, createdAnswer(key));
      case KvStore::PutResult::Updated:
        return send(response, updatedAnswer(key));
      case KvStore::PutResult::Full:
        break;
    }
    send(response, fullAnswer(config_.maxKeys));
  }

  void erase(std::string_view key, microserver::Response& response) const {
    if (redis_) return later(response, [&](microserver::Responder r) { redis_->erase(key, std::move(r)); });
    if (!memory_->erase(key)) return send(response, notFoundAnswer(key));
    send(response, deletedAnswer());
  }

  const KvConfig config_;
  std::shared_ptr<KvStore> memory_;   // without `redis:`
  std::shared_ptr<RedisStore> redis_;  // with it
};

}  // namespace
}  // namespace kv

MICROSERVER_PLUGIN("kv", "1.1.0", "A key-value store, in memory or in Redis: GET/PUT/DELETE /api/kv/<key>", kv::KvHandler)
