// RequestIdTest: making and accepting request ids (core/src/base/RequestId.cpp).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/RequestId.h"

namespace microserver::core {
namespace {

bool isLowerHex(const std::string& id) {
  return id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(RequestIdTest, GeneratedIdsAre32HexDigitsAndUnique) {
  std::set<std::string> seen;
  std::string id;
  for (int i = 0; i < 20000; ++i) {
    generateRequestId(id);
    ASSERT_EQ(id.size(), kGeneratedRequestIdLength);
    ASSERT_TRUE(isLowerHex(id)) << id;
    ASSERT_TRUE(seen.insert(id).second) << "repeated: " << id;
  }
}

TEST(RequestIdTest, ThreadsDoNotRepeatEachOther) {
  // Each thread seeds its own generator: none may start where another did.
  std::vector<std::vector<std::string>> made(4);
  std::vector<std::thread> threads;
  for (auto& ids : made)
    threads.emplace_back([&ids] {
      std::string id;
      for (int i = 0; i < 1000; ++i) {
        generateRequestId(id);
        ids.push_back(id);
      }
    });
  for (std::thread& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& ids : made) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), 4000u);
}

TEST(RequestIdTest, AcceptsTokensProxiesSend) {
  for (const char* id : {"4c1f0b6e9a8d7c2b5e3f1a0d9c8b7a6e", "f47ac10b-58cc-4372-a567-0e02b2c3d479",
                         "Root=1-67891233-abcdef012345678912345678", "abc+/=", "a", "host:1234_x.y@z"})
    EXPECT_TRUE(acceptableRequestId(id)) << id;
  EXPECT_TRUE(acceptableRequestId(std::string(kMaxRequestIdLength, 'a')));
}

TEST(RequestIdTest, RefusesWhatCouldBreakALogLineOrHeader) {
  for (const char* id : {"", "two words", "quote\"d", "back\\slash", "semi;colon", "comma,list", "tab\t"})
    EXPECT_FALSE(acceptableRequestId(id)) << id;
  EXPECT_FALSE(acceptableRequestId(std::string("a\0b", 3)));
  EXPECT_FALSE(acceptableRequestId("caf\xc3\xa9"));
  EXPECT_FALSE(acceptableRequestId("line\r\nX-Injected: 1"));
  EXPECT_FALSE(acceptableRequestId(std::string(kMaxRequestIdLength + 1, 'a')));
}

TEST(RequestIdTest, KeepsAnAcceptableForwardedIdElseMakesOne) {
  std::string id;
  assignRequestId("f47ac10b-58cc-4372-a567-0e02b2c3d479", id);
  EXPECT_EQ(id, "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  assignRequestId("not acceptable", id);
  EXPECT_EQ(id.size(), kGeneratedRequestIdLength);
  EXPECT_TRUE(isLowerHex(id));
  std::string before = id;
  assignRequestId({}, id);
  EXPECT_NE(id, before);
}

}  // namespace
}  // namespace microserver::core
