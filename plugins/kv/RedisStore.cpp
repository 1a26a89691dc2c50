// RedisStore: see RedisStore.h.
#include "RedisStore.h"

#include <mutex>
#include <set>
#include <utility>

namespace kv {

namespace {

// KEYS[1] the store's index, KEYS[2] the key's hash; ARGV: key, Content-Type, value,
// max_keys. 0 created, 1 updated, 2 full.
constexpr std::string_view kPutScript = R"lua(
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('HSET', KEYS[2], 't', ARGV[2], 'v', ARGV[3])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], 't', ARGV[2], 'v', ARGV[3])
return 0
)lua";

// KEYS as above; ARGV[1] the key. 1 deleted, 0 there was none.
constexpr std::string_view kDeleteScript = R"lua(
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
)lua";

// ---- The stores of this copy of the library, and the status provider that reads them.
// Statics of libkv.so: they go with it, after every handler (and so every store) is gone.

struct Shared {
  RedisAddress address;
  std::string store;
  std::weak_ptr<RedisStore> weak;
};
std::mutex& sharedMutex() {
  static std::mutex mutex;
  return mutex;
}
std::vector<Shared>& sharedStores() {
  static std::vector<Shared> list;
  return list;
}

// Live stores, for the status provider: each enrolls in its constructor and withdraws in
// its destructor (before any member goes), so a row is always read from a whole store.
std::mutex& statusMutex() {
  static std::mutex mutex;
  return mutex;
}
std::vector<const RedisStore*>& enrolled() {
  static std::vector<const RedisStore*> list;
  return list;
}
std::weak_ptr<KvStatus>& currentStatus() {
  static std::weak_ptr<KvStatus> provider;
  return provider;
}

std::vector<KvStatus::Row> rows() {
  std::vector<KvStatus::Row> out;
  std::lock_guard<std::mutex> lock(statusMutex());
  for (const RedisStore* s : enrolled())
    out.push_back({s->name(), s->address().display(), s->linkStatus(), s->unavailableCount()});
  return out;
}

// A Prometheus label value: backslash, double quote and newline escaped.
void appendLabel(std::string& out, const std::string& value) {
  for (char c : value) {
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
}

void sample(std::string& out, const char* name, const KvStatus::Row& row, std::uint64_t value) {
  out.append(name).append("{store=\"");
  appendLabel(out, row.store);
  out.append("\",redis=\"");
  appendLabel(out, row.redis);
  out.append("\"} ").append(std::to_string(value)).append("\n");
}

// ---- Replies to answers. `ok` false: not a reply this command gives (503).

Answer listReply(const RespValue& reply, const std::string&, std::size_t, bool& ok) {
  std::vector<std::string> keys;
  ok = reply.type == RespValue::Type::Array;
  for (const RespValue& item : reply.elements) {
    if (item.type != RespValue::Type::Bulk) ok = false;
    keys.push_back(item.text);
  }
  return keysAnswer(keys);
}

Answer getReply(const RespValue& reply, const std::string& key, std::size_t, bool& ok) {
  ok = reply.type == RespValue::Type::Array && reply.elements.size() == 2;
  if (!ok) return {};
  const RespValue& type = reply.elements[0];
  const RespValue& value = reply.elements[1];
  if (value.isNil()) return notFoundAnswer(key);
  ok = value.type == RespValue::Type::Bulk && (type.isNil() || type.type == RespValue::Type::Bulk);
  return valueAnswer(type.isNil() || type.text.empty() ? "application/octet-stream" : type.text, value.text);
}

Answer putReply(const RespValue& reply, const std::string& key, std::size_t maxKeys, bool& ok) {
  ok = reply.type == RespValue::Type::Integer && reply.integer >= 0 && reply.integer <= 2;
  if (!ok) return {};
  if (reply.integer == 0) return createdAnswer(key);
  if (reply.integer == 1) return updatedAnswer(key);
  return fullAnswer(maxKeys);
}

Answer deleteReply(const RespValue& reply, const std::string& key, std::size_t, bool& ok) {
  ok = reply.type == RespValue::Type::Integer && (reply.integer == 0 || reply.integer == 1);
  if (!ok) return {};
  return reply.integer == 1 ? deletedAnswer() : notFoundAnswer(key);
}

}  // namespace

std::string RedisStore::indexKey(std::string_view store) { return "kv:" + std::string(store) + ":keys"; }
std::string RedisStore::valueKey(std::string_view store, std::string_view key) {
  return "kv:" + std::string(store) + ":k:" + std::string(key);
}

std::shared_ptr<RedisStore> RedisStore::shared(const RedisAddress& address, const std::string& store,
                                               const microserver::Logger& logger,
                                               microserver::StatusRegistry& registry) {
  std::shared_ptr<RedisStore> found;
  {
    std::lock_guard<std::mutex> lock(sharedMutex());
    auto& list = sharedStores();
    for (auto it = list.begin(); it != list.end();) {
      if (it->weak.expired()) {
        it = list.erase(it);
        continue;
      }
      if (it->address == address && it->store == store) found = it->weak.lock();
      ++it;
    }
    if (found) return found;
    found = std::make_shared<RedisStore>(address, store, logger, registry);
    list.push_back({address, store, found});
  }
  // A store that answers from its first request on when Redis is there (at start-up, or a
  // route added by a reload); when it is not, the log and /readyz say so at once.
  found->client_.waitFirstAttempt(found->client_.options().connectTimeout + std::chrono::milliseconds(500));
  return found;
}

RedisStore::RedisStore(const RedisAddress& address, std::string store, const microserver::Logger& logger,
                       microserver::StatusRegistry& registry)
    : address_(address),
      store_(std::move(store)),
      indexKey_(indexKey(store_)),
      logger_(logger),
      client_(RedisClient::Options{address, "store " + store_}, logger) {
  std::lock_guard<std::mutex> lock(statusMutex());
  status_ = currentStatus().lock();
  if (!status_) {
    status_ = std::make_shared<KvStatus>();
    currentStatus() = status_;
    registry.add(status_);
  }
  enrolled().push_back(this);
}

RedisStore::~RedisStore() {
  std::lock_guard<std::mutex> lock(statusMutex());
  auto& list = enrolled();
  for (auto it = list.begin(); it != list.end();) it = *it == this ? list.erase(it) : it + 1;
}

Answer RedisStore::unavailable() {
  unavailable_.fetch_add(1, std::memory_order_relaxed);
  return unavailableAnswer(store_, "Redis is unreachable");
}

void RedisStore::refuse(microserver::Responder& later, std::string_view why) {
  unavailable_.fetch_add(1, std::memory_order_relaxed);
  send(later, unavailableAnswer(store_, why));
}

void RedisStore::unexpected(const std::string& what) {
  // Only the client's thread calls this: no lock. Each kind of surprise is said once.
  constexpr std::size_t kRemembered = 32;
  if (unexpectedSaid_.size() < kRemembered && unexpectedSaid_.insert(what).second)
    logger_.warning("store " + store_ + ": unexpected answer from Redis at " + address_.display() + ": " + what +
                    " (is one of its kv:" + store_ + ":* keys used by something else?); such requests answer 503");
}

void RedisStore::run(std::string command, std::string key, std::size_t maxKeys, Interpret interpret,
                     microserver::Responder later) {
  // The callback keeps what it needs by value: the request's views are gone by then.
  auto callback = [this, key = std::move(key), maxKeys, interpret, later](const RespValue* reply,
                                                                        const std::string& error) mutable {
    if (!reply) return refuse(later, error);
    bool ok = false;
    Answer answer;
    if (!reply->isError()) answer = interpret(*reply, key, maxKeys, ok);
    if (!ok) {
      unexpected(reply->isError() ? reply->text : "a reply of another shape than expected");
      return refuse(later, "Redis refused the command");
    }
    send(later, answer);
  };
  // If the client refuses it, the callback never runs and `later` is still ours.
  switch (client_.submit(std::move(command), std::move(callback))) {
    case RedisClient::Submit::Queued:
      return;
    case RedisClient::Submit::Down:
      return refuse(later, "Redis is unreachable");
    case RedisClient::Submit::Busy:
      return refuse(later, "too many requests are waiting for Redis");
  }
}

void RedisStore::list(microserver::Responder later) {
  std::string command;
  appendCommand(command, {"ZRANGE", indexKey_, "0", "-1"});
  run(std::move(command), {}, 0, &listReply, std::move(later));
}

void RedisStore::get(std::string_view key, microserver::Responder later) {
  std::string command;
  appendCommand(command, {"HMGET", valueKey(store_, key), "t", "v"});
  run(std::move(command), std::string(key), 0, &getReply, std::move(later));
}

void RedisStore::put(std::string_view key, std::string_view contentType, std::string_view value, std::size_t maxKeys,
                     microserver::Responder later) {
  std::string command;
  command.reserve(value.size() + kPutScript.size() + 200);
  const std::string limit = std::to_string(maxKeys);
  appendCommand(command, {"EVAL", kPutScript, "2", indexKey_, valueKey(store_, key), key, contentType, value, limit});
  run(std::move(command), std::string(key), maxKeys, &putReply, std::move(later));
}

void RedisStore::erase(std::string_view key, microserver::Responder later) {
  std::string command;
  appendCommand(command, {"EVAL", kDeleteScript, "2", indexKey_, valueKey(store_, key), key});
  run(std::move(command), std::string(key), 0, &deleteReply, std::move(later));
}

// ---------------------------------------------------------------------------------------
// Status

void KvStatus::appendMetrics(std::string& out) const { appendMetrics(rows(), out); }
bool KvStatus::ready(std::string& reason) const { return ready(rows(), reason); }
std::string KvStatus::statusLine() const { return statusLine(rows()); }

void KvStatus::appendMetrics(const std::vector<Row>& rows, std::string& out) {
  if (rows.empty()) return;
  out.append(
      "# HELP kv_redis_connected 1 while the kv store's connection to its Redis is up, else 0.\n"
      "# TYPE kv_redis_connected gauge\n");
  for (const Row& r : rows) sample(out, "kv_redis_connected", r, r.link.connected ? 1 : 0);
  out.append(
      "# HELP kv_redis_unavailable_total Requests to the kv store answered 503: its Redis unreachable, the "
      "connection lost, or too many requests waiting.\n"
      "# TYPE kv_redis_unavailable_total counter\n");
  for (const Row& r : rows) sample(out, "kv_redis_unavailable_total", r, r.unavailable);
}

bool KvStatus::ready(const std::vector<Row>& rows, std::string& reason) {
  for (const Row& r : rows) {
    if (r.link.connected) continue;
    reason = "kv store " + r.store + ": Redis at " + r.redis +
             (r.link.lastError.empty() ? std::string(" not reached yet") : " unreachable (" + r.link.lastError + ")") +
             "; its requests answer 503";
    return false;
  }
  return true;
}

std::string KvStatus::statusLine(const std::vector<Row>& rows) {
  std::string line;
  for (const Row& r : rows) {
    if (!line.empty()) line.append("; ");
    line.append("kv " + r.store + ": redis " + r.redis);
    if (r.link.connected) {
      line.append(" connected");
    } else {
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(r.link.inState).count();
      line.append(" unreachable for " + std::to_string(secs) + " s (answering 503)");
    }
  }
  return line;
}

}  // namespace kv
