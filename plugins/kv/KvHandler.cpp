// kv: a small in-memory key-value store over HTTP, for demos, tests and caches.
//
//   routes:
//     - path: '^/api/kv(?:/(?P<key>.*))?$'
//       methods: [GET, HEAD, PUT, DELETE]
//       handler: kv
//       config: { store: default, max_keys: 10000, max_value_bytes: 65536 }
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
//
// Keys are 1 to 128 of A-Z a-z 0-9 . _ -; any other key gets
//   400 {"error":"invalid key: use 1 to 128 characters from A-Z a-z 0-9 . _ -","key":"..."}.
// Every JSON answer has Content-Type application/json; charset=utf-8.
//
//   curl -s -X PUT -H 'Content-Type: text/plain' --data-binary 'hello' http://127.0.0.1:8080/api/kv/greeting
//   curl -s http://127.0.0.1:8080/api/kv/greeting          -> hello
//   curl -s http://127.0.0.1:8080/api/kv                   -> {"keys":["greeting"]}
//   curl -s -X DELETE -i http://127.0.0.1:8080/api/kv/greeting   -> HTTP/1.1 204 No Content
//
// Data lives in memory, in a store named by `store:` that outlives handlers: it survives
// a reload of routes.yaml while libkv.so is unchanged, and is gone when the server stops
// or the library is replaced (see KvStore::named).
//
// Threads: handle() runs on every reactor thread at once; the store is guarded by a
// std::shared_mutex (reads in parallel). Nothing blocks beyond that lock, which is held
// only to copy a value out or link one in: no `blocking: true` needed.
#include <microserver/Plugin.h>

#include <memory>
#include <string>
#include <string_view>

#include <microserver/Text.h>
#include "KvConfig.h"
#include "KvStore.h"

namespace kv {
namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";
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

// {"<field>":"<key>"} or {"error":"...","key":"..."}: the key may be anything the client
// sent, so it goes through the JSON escaper.
std::string keyJson(std::string_view field, std::string_view key, std::string_view error = {}) {
  std::string out = "{";
  if (!error.empty()) {
    out.append(R"("error":)");
    microserver::appendJsonString(out, error);
    out.push_back(',');
  }
  microserver::appendJsonString(out, field);
  out.push_back(':');
  microserver::appendJsonString(out, key);
  out.append("}\n");
  return out;
}

void answerJson(microserver::Response& response, int status, std::string body) {
  response.setStatus(status);
  response.setContentType(kJson);
  response.setBody(body);
}

class KvHandler : public microserver::Handler {
 public:
  explicit KvHandler(const microserver::PluginContext& context)
      : config_(parseKvConfig(context.config)), store_(KvStore::named(config_.store)) {}

  void handle(const microserver::Request& request, microserver::Response& response) override {
    std::string_view method = request.method();
    std::string_view key = request.capture("key");
    bool read = method == "GET" || method == "HEAD";

    if (key.empty()) {
      if (!read) return methodNotAllowed(response, "GET, HEAD");
      return list(response);
    }
    if (!read && method != "PUT" && method != "DELETE") return methodNotAllowed(response, "GET, HEAD, PUT, DELETE");
    if (!validKey(key))
      return answerJson(response, 400,
                        keyJson("key", key, "invalid key: use 1 to 128 characters from A-Z a-z 0-9 . _ -"));

    if (read) return get(key, response);
    if (method == "PUT") return put(key, request, response);
    return erase(key, response);
  }

 private:
  void list(microserver::Response& response) const {
    std::string out = R"({"keys":[)";
    bool first = true;
    for (const std::string& key : store_->keys()) {
      if (!first) out.push_back(',');
      first = false;
      microserver::appendJsonString(out, key);
    }
    out.append("]}\n");
    answerJson(response, 200, std::move(out));
  }

  void get(std::string_view key, microserver::Response& response) const {
    std::string contentType, value;
    if (!store_->get(key, contentType, value)) return notFound(key, response);
    response.setContentType(contentType);
    response.setBody(value);
  }

  void put(std::string_view key, const microserver::Request& request, microserver::Response& response) const {
    std::string_view value = request.body();
    if (value.size() > config_.maxValueBytes)
      return answerJson(response, 413,
                        R"({"error":"value too large","size":)" + std::to_string(value.size()) +
                            R"(,"max_value_bytes":)" + std::to_string(config_.maxValueBytes) + "}\n");
    std::string_view type = request.header("Content-Type");
    if (type.empty()) type = "application/octet-stream";
    switch (store_->put(key, type, value, config_.maxKeys)) {
      case KvStore::PutResult::Created:
        return answerJson(response, 201, keyJson("created", key));
      case KvStore::PutResult::Updated:
        return answerJson(response, 200, keyJson("updated", key));
      case KvStore::PutResult::Full:
        break;
    }
    answerJson(response, 507, R"({"error":"store is full","max_keys":)" + std::to_string(config_.maxKeys) + "}\n");
  }

  void erase(std::string_view key, microserver::Response& response) const {
    if (!store_->erase(key)) return notFound(key, response);
    response.setStatus(204);
  }

  static void notFound(std::string_view key, microserver::Response& response) {
    answerJson(response, 404, keyJson("key", key, "no such key"));
  }

  static void methodNotAllowed(microserver::Response& response, std::string_view allow) {
    response.addHeader("Allow", allow);
    std::string body = R"({"error":"method not allowed","allow":)";
    microserver::appendJsonString(body, allow);
    body.append("}\n");
    answerJson(response, 405, std::move(body));
  }

  const KvConfig config_;
  const std::shared_ptr<KvStore> store_;
};

}  // namespace
}  // namespace kv

MICROSERVER_PLUGIN("kv", "1.0.0", "An in-memory key-value store: GET/PUT/DELETE /api/kv/<key>", kv::KvHandler)
