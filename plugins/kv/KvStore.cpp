// KvStore: see KvStore.h.
#include "KvStore.h"

#include <mutex>
#include <utility>

namespace kv {

std::shared_ptr<KvStore> KvStore::named(const std::string& name) {
  // Function-local statics of this library: created on first use, destroyed when the
  // library is unloaded (after every handler holding a store is gone). Handlers are
  // created on the server's main thread while others serve on reactors, hence the lock.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<KvStore>> stores;
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<KvStore>& store = stores[name];
  if (!store) store = std::make_shared<KvStore>();
  return store;
}

bool KvStore::get(std::string_view key, std::string& contentType, std::string& bytes) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  contentType = it->second.contentType;
  bytes = it->second.bytes;
  return true;
}

KvStore::PutResult KvStore::put(std::string_view key, std::string_view contentType, std::string_view bytes,
                                std::size_t maxKeys) {
  // Copy (allocate) before locking, so writers hold the lock for a pointer swap only.
  Value value{std::string(contentType), std::string(bytes)};
  {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      std::swap(it->second, value);  // the old value is freed below, outside the lock
      return PutResult::Updated;
    }
    if (entries_.size() >= maxKeys) return PutResult::Full;
    entries_.emplace(std::string(key), std::move(value));
  }
  return PutResult::Created;
}

bool KvStore::erase(std::string_view key) {
  decltype(entries_)::node_type node;  // freed after the lock is released
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  node = entries_.extract(it);
  return true;
}

std::vector<std::string> KvStore::keys() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<std::string> keys;
  keys.reserve(entries_.size());
  for (const auto& entry : entries_) keys.push_back(entry.first);
  return keys;
}

std::size_t KvStore::size() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return entries_.size();
}

}  // namespace kv
