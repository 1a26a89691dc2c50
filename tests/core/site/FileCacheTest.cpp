// Tests for FileCache: bounds (files, bytes), least-recently-used eviction, inactivity,
// and the one-second trust in an entry.
#include "site/FileCache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using microserver::core::CachedFile;
using microserver::core::FileCache;

std::shared_ptr<CachedFile> entry(std::size_t bytes, std::int64_t checkedAtMs) {
  auto e = std::make_shared<CachedFile>();
  e->identity.bytes = std::make_shared<const std::string>(bytes, 'x');
  e->identity.size = bytes;
  e->checkedAtMs.store(checkedAtMs);
  return e;
}

TEST(FileCacheTest, AnEntryIsFreshForOneSecondAfterItsCheck) {
  FileCache cache(10, 1 << 20);
  cache.put("a", entry(10, 1000), 1000);
  bool fresh = false;
  ASSERT_NE(cache.find("a", 1000 + FileCache::kValidMs - 1, fresh), nullptr);
  EXPECT_TRUE(fresh);
  ASSERT_NE(cache.find("a", 1000 + FileCache::kValidMs, fresh), nullptr);
  EXPECT_FALSE(fresh);  // still there, but must be checked against the disk before use
  EXPECT_EQ(cache.find("b", 1000, fresh), nullptr);
}

TEST(FileCacheTest, TheLeastRecentlyUsedGoFirstWhenOverTheFileCount) {
  FileCache cache(2, 1 << 20);
  cache.put("a", entry(1, 0), 0);
  cache.put("b", entry(1, 0), 1);
  bool fresh = false;
  cache.find("a", 2, fresh);  // a is now the most recently used
  cache.put("c", entry(1, 0), 3);
  EXPECT_EQ(cache.files(), 2u);
  EXPECT_NE(cache.find("a", 4, fresh), nullptr);
  EXPECT_EQ(cache.find("b", 4, fresh), nullptr);
  EXPECT_NE(cache.find("c", 4, fresh), nullptr);
}

TEST(FileCacheTest, BytesAreBoundedAndTooBigIsNeverKept) {
  FileCache cache(100, 10'000);
  cache.put("big", entry(20'000, 0), 0);
  EXPECT_EQ(cache.files(), 0u);
  for (int i = 0; i < 10; ++i) cache.put(std::to_string(i), entry(2000, 0), i);
  EXPECT_LE(cache.bytes(), 10'000u);
  EXPECT_GE(cache.files(), 3u);
  bool fresh = false;
  EXPECT_NE(cache.find("9", 20, fresh), nullptr);  // the newest stays
  EXPECT_EQ(cache.find("0", 20, fresh), nullptr);
}

TEST(FileCacheTest, ReplacingAndErasingKeepTheAccounts) {
  FileCache cache(10, 1 << 20);
  cache.put("a", entry(100, 0), 0);
  std::uint64_t one = cache.bytes();
  cache.put("a", entry(100, 0), 1);
  EXPECT_EQ(cache.bytes(), one);
  EXPECT_EQ(cache.files(), 1u);
  cache.erase("a");
  cache.erase("never there");
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_EQ(cache.files(), 0u);
}

TEST(FileCacheTest, EntriesUnusedForAMinuteGoAtTheNextPut) {
  FileCache cache(10, 1 << 20);
  cache.put("old", entry(1, 0), 0);
  cache.put("new", entry(1, 0), FileCache::kInactiveMs + 1);
  bool fresh = false;
  EXPECT_EQ(cache.find("old", FileCache::kInactiveMs + 2, fresh), nullptr);
  EXPECT_NE(cache.find("new", FileCache::kInactiveMs + 2, fresh), nullptr);
}

TEST(FileCacheTest, AnEntryOutlivesItsEvictionWhileHeld) {
  FileCache cache(1, 1 << 20);
  cache.put("a", entry(5, 0), 0);
  bool fresh = false;
  std::shared_ptr<const CachedFile> held = cache.find("a", 0, fresh);
  cache.put("b", entry(5, 0), 1);
  EXPECT_EQ(cache.find("a", 1, fresh), nullptr);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(*held->identity.bytes, "xxxxx");
}

TEST(FileCacheTest, ManyThreadsShareIt) {
  // Stands in for several reactors and file threads; run under TSan to check races.
  FileCache cache(8, 1 << 20);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&cache, t] {
      bool fresh = false;
      for (int i = 0; i < 2000; ++i) {
        std::string key = std::to_string((i + t) % 12);
        if (!cache.find(key, i, fresh)) cache.put(key, entry(16, i), i);
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_LE(cache.files(), 8u);
}

}  // namespace
