// The slow plugin as built: loaded from the plugin folder and called in-process. The
// only sleeping is the plugin's own, and only for a few milliseconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "PluginTestSupport.h"

namespace {

using plugintest::LoadedHandler;
using plugintest::TestRequest;

const std::string kJson = "application/json; charset=utf-8";

TestRequest slowRequest(std::string query) {
  TestRequest request;
  request.path = "/slow";
  request.target = query.empty() ? request.path : request.path + "?" + query;
  request.query = std::move(query);
  return request;
}

std::string answerOn(int ms, pid_t thread) {
  return R"({"slept_ms":)" + std::to_string(ms) + R"(,"thread":")" + std::to_string(thread) + "\"}\n";
}

std::string configError(const std::string& configYaml) {
  try {
    LoadedHandler slow("slow", configYaml);
  } catch (const microserver::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(SlowPlugin, MsZeroAnswersAtOnceNamingTheThreadThatRanIt) {
  LoadedHandler slow("slow", "");
  plugintest::Answer response = slow.call(slowRequest("ms=0"));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.contentType(), kJson);
  EXPECT_EQ(response.body(), answerOn(0, ::gettid()));
}

TEST(SlowPlugin, SleepsForTheRequestedMilliseconds) {
  LoadedHandler slow("slow", "");
  auto start = std::chrono::steady_clock::now();
  plugintest::Answer response = slow.call(slowRequest("ms=50"));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body(), answerOn(50, ::gettid()));
  EXPECT_GE(took, std::chrono::milliseconds(50));  // at least: never an upper bound
}

TEST(SlowPlugin, SleepsForDefaultMsWithoutAQuery) {
  LoadedHandler slow("slow", "{ default_ms: 5 }");
  EXPECT_EQ(slow.call(slowRequest("")).body(), answerOn(5, ::gettid()));
  EXPECT_EQ(slow.call(slowRequest("other=1")).body(), answerOn(5, ::gettid()));
}

TEST(SlowPlugin, DefaultMsFollowsALowerMaxMsDown) {
  LoadedHandler slow("slow", "{ max_ms: 3 }");  // the built-in default, 500, would not fit
  EXPECT_EQ(slow.call(slowRequest("")).body(), answerOn(3, ::gettid()));
}

TEST(SlowPlugin, AcceptsExactlyMaxMs) {
  LoadedHandler slow("slow", "{ max_ms: 2 }");
  EXPECT_EQ(slow.call(slowRequest("ms=2")).status(), 200);
  EXPECT_EQ(slow.call(slowRequest("ms=002")).body(), answerOn(2, ::gettid()));
}

TEST(SlowPlugin, RefusesMsThatIsNotAWholeNumberWith400) {
  LoadedHandler slow("slow", "");
  for (const char* query :
       {"ms=abc", "ms=", "ms", "ms=-1", "ms=1e3", "ms=5+", "ms=+5", "ms=0x10", "ms=1.5", "ms=%35%00"}) {
    plugintest::Answer response = slow.call(slowRequest(query));
    EXPECT_EQ(response.status(), 400) << query;
    EXPECT_EQ(response.contentType(), kJson);
    EXPECT_EQ(response.body(), R"({"error":"ms must be a whole number of milliseconds from 0 to 10000"})"
                               "\n")
        << query;
  }
}

TEST(SlowPlugin, RefusesMsAboveMaxMsWith400) {
  LoadedHandler slow("slow", "");
  plugintest::Answer response = slow.call(slowRequest("ms=10001"));
  EXPECT_EQ(response.status(), 400);
  EXPECT_EQ(response.contentType(), kJson);
  EXPECT_EQ(response.body(), R"({"error":"ms is larger than max_ms","ms":10001,"max_ms":10000})"
                             "\n");
  // Any number of digits: no overflow, and no leading zeros (JSON has none).
  EXPECT_EQ(slow.call(slowRequest("ms=000123456789012345678901234567890")).body(),
            R"({"error":"ms is larger than max_ms","ms":123456789012345678901234567890,"max_ms":10000})"
            "\n");
}

TEST(SlowPlugin, RunsOnManyThreadsAtOnceEachAnsweringWithItsOwnThread) {
  LoadedHandler slow("slow", "");
  constexpr int kThreads = 4;
  std::vector<std::string> answers(kThreads), expected(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      expected[t] = answerOn(20, ::gettid());
      answers[t] = slow.call(slowRequest("ms=20")).body();
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> distinct(answers.begin(), answers.end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads));
  EXPECT_EQ(answers, expected);
}

TEST(SlowPlugin, RefusesAnUnknownConfigKeyWithItsPlace) {
  EXPECT_EQ(configError("{ ms: 5 }"),
            "routes.yaml:4:15: routes[0].config.ms: unknown key 'ms' (expected one of: default_ms, max_ms)");
}

TEST(SlowPlugin, RefusesADefaultAboveMaxMs) {
  EXPECT_EQ(configError("{ max_ms: 100, default_ms: 200 }"),
            "routes.yaml:4:40: routes[0].config.default_ms: value 200 is out of range [0, 100]");
}

TEST(SlowPlugin, RefusesMaxMsOutOfRange) {
  EXPECT_EQ(configError("{ max_ms: -1 }"),
            "routes.yaml:4:23: routes[0].config.max_ms: value -1 is out of range [0, 3600000]");
  EXPECT_EQ(configError("{ max_ms: 10s }"),
            "routes.yaml:4:23: routes[0].config.max_ms: expected an integer, got '10s'");
}

TEST(SlowPlugin, DescribesItself) {
  LoadedHandler slow("slow", "");
  EXPECT_STREQ(slow.descriptor().name, "slow");
  EXPECT_STREQ(slow.descriptor().abi, MS_ABI_DIGEST);
}

}  // namespace
