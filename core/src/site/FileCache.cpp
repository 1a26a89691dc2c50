// FileCache: see FileCache.h.
#include "site/FileCache.h"

namespace microserver::core {

std::uint64_t CachedFile::memoryBytes() const {
  std::uint64_t n = identity.bytes ? identity.bytes->size() : 0;
  for (const FileVariant& v : encoded) n += v.bytes ? v.bytes->size() : 0;
  return n + 256;  // the entry itself, roughly
}

std::vector<Coding> CachedFile::codings() const {
  std::vector<Coding> out;
  for (const FileVariant& v : encoded) out.push_back(v.coding);
  return out;
}

const FileVariant& CachedFile::variant(Coding coding) const {
  for (const FileVariant& v : encoded)
    if (v.coding == coding) return v;
  return identity;
}

std::shared_ptr<const CachedFile> FileCache::find(const std::string& key, std::int64_t nowMs, bool& fresh) {
  fresh = false;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  Node& node = it->second;
  node.usedAtMs = nowMs;
  lru_.splice(lru_.begin(), lru_, node.lru);
  fresh = nowMs - node.entry->checkedAtMs.load(std::memory_order_relaxed) < kValidMs;
  return node.entry;
}

void FileCache::put(const std::string& key, std::shared_ptr<const CachedFile> entry, std::int64_t nowMs) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = map_.find(key); it != map_.end()) eraseLocked(it);
  // Something bigger than the whole budget is never kept (it is still served).
  if (entry->memoryBytes() > maxBytes_ || maxFiles_ == 0) return;
  lru_.push_front(key);
  bytes_ += entry->memoryBytes();
  map_.emplace(key, Node{std::move(entry), lru_.begin(), nowMs});
  evictLocked(nowMs);
}

void FileCache::erase(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = map_.find(key); it != map_.end()) eraseLocked(it);
}

void FileCache::eraseLocked(std::unordered_map<std::string, Node>::iterator it) {
  bytes_ -= it->second.entry->memoryBytes();
  lru_.erase(it->second.lru);
  map_.erase(it);
}

void FileCache::evictLocked(std::int64_t nowMs) {
  while (!lru_.empty()) {
    auto oldest = map_.find(lru_.back());
    bool over = map_.size() > maxFiles_ || bytes_ > maxBytes_;
    if (!over && nowMs - oldest->second.usedAtMs < kInactiveMs) break;
    // Responses still sending from it keep its descriptor open (FileRef) until they end.
    eraseLocked(oldest);
  }
}

std::size_t FileCache::files() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return map_.size();
}

std::uint64_t FileCache::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

}  // namespace microserver::core
