// FileCache: the open-file cache of a static folder (nginx's open_file_cache): for each hot
// file, its descriptor, size, validators, ready-made header lines and, when small, its
// bytes; and the encodings of it worth sending (a precompressed sibling, or a gzip/brotli
// copy made once). A hit costs no system call at all; the reactors share it under one
// short lock.
//
// Bounded by files (and so descriptors) and by the bytes it keeps in memory; least
// recently used go first, and anything unused for a minute. An entry is trusted for at
// most `valid` (1 s): after that the next request for it checks the file again (off the
// event loop), so a file replaced or deleted is never served stale past that bound.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/OpenFile.h"
#include "site/Negotiation.h"

namespace microserver::core {

// One encoding of a cached file: its bytes on disk (a file), or in memory.
struct FileVariant {
  Coding coding = Coding::Identity;
  FileRef file;                                   // when sent from disk
  std::shared_ptr<const std::string> bytes;       // when in memory
  std::uint64_t size = 0;
  std::string etag;                               // distinct per encoding
  std::time_t mtime = 0;
};

struct CachedFile {
  // The file as it was when cached: a change of any of these means it changed.
  dev_t device = 0;
  ino_t inode = 0;
  std::uint64_t size = 0;
  long long mtimeNs = 0;

  std::string name;                    // the file's name, for its type
  std::string_view contentType;        // a static string
  std::string lastModified;            // HTTP-date of the identity
  FileVariant identity;
  std::vector<FileVariant> encoded;    // smallest first: what chooseCoding prefers on a tie
  bool varies = false;                 // answers carry Vary: Accept-Encoding

  std::uint64_t memoryBytes() const;
  std::vector<Coding> codings() const;
  const FileVariant& variant(Coding coding) const;

  // When it was last checked against the disk (monotonic ms); see FileCache.
  mutable std::atomic<std::int64_t> checkedAtMs{0};
};

class FileCache {
 public:
  static constexpr std::int64_t kValidMs = 1000;
  static constexpr std::int64_t kInactiveMs = 60'000;

  FileCache(std::size_t maxFiles, std::uint64_t maxBytes) : maxFiles_(maxFiles), maxBytes_(maxBytes) {}

  // The entry for `key`, or null. `fresh` says whether it was checked within kValidMs;
  // a stale one must be checked (revalidate) before it is served.
  std::shared_ptr<const CachedFile> find(const std::string& key, std::int64_t nowMs, bool& fresh);
  void put(const std::string& key, std::shared_ptr<const CachedFile> entry, std::int64_t nowMs);
  void erase(const std::string& key);

  std::size_t files() const;
  std::uint64_t bytes() const;

 private:
  struct Node {
    std::shared_ptr<const CachedFile> entry;
    std::list<std::string>::iterator lru;
    std::int64_t usedAtMs;
  };
  void evictLocked(std::int64_t nowMs);
  void eraseLocked(std::unordered_map<std::string, Node>::iterator it);

  const std::size_t maxFiles_;
  const std::uint64_t maxBytes_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Node> map_;
  std::list<std::string> lru_;  // most recently used first
  std::uint64_t bytes_ = 0;
};

}  // namespace microserver::core
