// The kv plugin as built: loaded from the plugin folder and called in-process. Each
// LoadedHandler("kv", ...) loads its own copy of the library, so each test starts with
// empty stores.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "PluginTestSupport.h"

namespace {

using plugintest::LoadedHandler;
using plugintest::TestRequest;

const std::string kJson = "application/json; charset=utf-8";

TestRequest kvRequest(std::string method, std::string key, std::string body = "", std::string contentType = "") {
  TestRequest request;
  request.method = std::move(method);
  request.path = key.empty() ? "/api/kv" : "/api/kv/" + key;
  request.target = request.path;
  if (!key.empty()) request.captures = {{"key", key}};
  request.body = std::move(body);
  if (!contentType.empty()) request.headers = {{"Content-Type", contentType}};
  return request;
}

plugintest::Answer put(LoadedHandler& kv, const std::string& key, const std::string& value,
                          const std::string& contentType = "") {
  return kv.call(kvRequest("PUT", key, value, contentType));
}
plugintest::Answer get(LoadedHandler& kv, const std::string& key) { return kv.call(kvRequest("GET", key)); }
plugintest::Answer del(LoadedHandler& kv, const std::string& key) { return kv.call(kvRequest("DELETE", key)); }
plugintest::Answer list(LoadedHandler& kv) { return kv.call(kvRequest("GET", "")); }

std::string configError(const std::string& configYaml) {
  try {
    LoadedHandler kv("kv", configYaml);
  } catch (const microserver::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

// --- the API ------------------------------------------------------------------------------

TEST(KvPlugin, PutCreatesAKeyAndGetAnswersItsValueWithItsContentType) {
  LoadedHandler kv("kv", "");
  plugintest::Answer created = put(kv, "greeting", "hello", "text/plain; charset=utf-8");
  EXPECT_EQ(created.status(), 201);
  EXPECT_EQ(created.contentType(), kJson);
  EXPECT_EQ(created.body(), R"({"created":"greeting"})"
                            "\n");
  plugintest::Answer value = get(kv, "greeting");
  EXPECT_EQ(value.status(), 200);
  EXPECT_EQ(value.body(), "hello");
  EXPECT_EQ(value.contentType(), "text/plain; charset=utf-8");
}

TEST(KvPlugin, PutOnAnExistingKeyUpdatesValueAndContentType) {
  LoadedHandler kv("kv", "");
  put(kv, "k", "one", "text/plain");
  plugintest::Answer updated = put(kv, "k", "{\"two\":2}", "application/json");
  EXPECT_EQ(updated.status(), 200);
  EXPECT_EQ(updated.contentType(), kJson);
  EXPECT_EQ(updated.body(), R"({"updated":"k"})"
                            "\n");
  plugintest::Answer value = get(kv, "k");
  EXPECT_EQ(value.body(), "{\"two\":2}");
  EXPECT_EQ(value.contentType(), "application/json");
}

TEST(KvPlugin, StoresOctetStreamWhenThePutHasNoContentType) {
  LoadedHandler kv("kv", "");
  put(kv, "k", "v");
  EXPECT_EQ(get(kv, "k").contentType(), "application/octet-stream");
}

TEST(KvPlugin, KeepsBinaryAndEmptyValuesExactly) {
  LoadedHandler kv("kv", "");
  std::string binary("\0\xff\r\n\0", 5);
  EXPECT_EQ(put(kv, "bin", binary).status(), 201);
  EXPECT_EQ(put(kv, "empty", "").status(), 201);
  EXPECT_EQ(get(kv, "bin").body(), binary);
  plugintest::Answer empty = get(kv, "empty");
  EXPECT_EQ(empty.status(), 200);
  EXPECT_EQ(empty.body(), "");
}

TEST(KvPlugin, GetOfAMissingKeyIsA404WithAJsonError) {
  LoadedHandler kv("kv", "");
  plugintest::Answer response = get(kv, "nope");
  EXPECT_EQ(response.status(), 404);
  EXPECT_EQ(response.contentType(), kJson);
  EXPECT_EQ(response.body(), R"({"error":"no such key","key":"nope"})"
                             "\n");
}

TEST(KvPlugin, HeadAnswersLikeGet) {
  LoadedHandler kv("kv", "");
  put(kv, "k", "value", "text/plain");
  plugintest::Answer response = kv.call(kvRequest("HEAD", "k"));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.contentType(), "text/plain");
  EXPECT_EQ(response.contentLength(), 5u);  // the server omits the bytes for HEAD
  EXPECT_EQ(kv.call(kvRequest("HEAD", "missing")).status(), 404);
  EXPECT_EQ(kv.call(kvRequest("HEAD", "")).status(), 200);
}

TEST(KvPlugin, DeleteAnswers204WithoutABodyThenTheKeyIsGone) {
  LoadedHandler kv("kv", "");
  put(kv, "k", "v");
  plugintest::Answer deleted = del(kv, "k");
  EXPECT_EQ(deleted.status(), 204);
  EXPECT_EQ(deleted.body(), "");
  EXPECT_EQ(get(kv, "k").status(), 404);
  plugintest::Answer again = del(kv, "k");
  EXPECT_EQ(again.status(), 404);
  EXPECT_EQ(again.contentType(), kJson);
  EXPECT_EQ(again.body(), R"({"error":"no such key","key":"k"})"
                          "\n");
}

TEST(KvPlugin, ListsEveryKeySortedByteWise) {
  LoadedHandler kv("kv", "");
  plugintest::Answer empty = list(kv);
  EXPECT_EQ(empty.status(), 200);
  EXPECT_EQ(empty.contentType(), kJson);
  EXPECT_EQ(empty.body(), R"({"keys":[]})"
                          "\n");
  for (const char* key : {"b", "a", "C", "1", "a.b", "_x", "-y"}) put(kv, key, "v");
  EXPECT_EQ(list(kv).body(), R"({"keys":["-y","1","C","_x","a","a.b","b"]})"
                             "\n");
}

TEST(KvPlugin, AnEmptyKeyCaptureMeansTheList) {
  LoadedHandler kv("kv", "");
  put(kv, "k", "v");
  TestRequest request = kvRequest("GET", "");
  request.path = request.target = "/api/kv/";
  request.captures = {{"key", ""}};
  EXPECT_EQ(kv.call(request).body(), R"({"keys":["k"]})"
                                     "\n");
}

// --- bad requests --------------------------------------------------------------------------

TEST(KvPlugin, RefusesInvalidKeysWith400AndTheKeyEscaped) {
  LoadedHandler kv("kv", "");
  const std::string error = "invalid key: use 1 to 128 characters from A-Z a-z 0-9 . _ -";
  struct Case {
    std::string key, shown;
  };
  const Case cases[] = {
      {"a/b", "a/b"},
      {"a b", "a b"},
      {"a\"b\\", "a\\\"b\\\\"},
      {std::string("nul\0", 4), "nul\\u0000"},
      {"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"},  // "ключ": letters, not ASCII
      {"bad\xff", "bad\xef\xbf\xbd"},
      {std::string(129, 'k'), std::string(129, 'k')},
  };
  for (const Case& c : cases) {
    for (const char* method : {"GET", "PUT", "DELETE"}) {
      plugintest::Answer response = kv.call(kvRequest(method, c.key, "v"));
      EXPECT_EQ(response.status(), 400) << method << " " << c.shown;
      EXPECT_EQ(response.contentType(), kJson);
      EXPECT_EQ(response.body(), R"({"error":")" + error + R"(","key":")" + c.shown + "\"}\n");
    }
  }
  EXPECT_EQ(list(kv).body(), R"({"keys":[]})"
                             "\n");
}

TEST(KvPlugin, AcceptsAKeyOf128Characters) {
  LoadedHandler kv("kv", "");
  EXPECT_EQ(put(kv, std::string(128, 'k'), "v").status(), 201);
}

TEST(KvPlugin, AnswersAMethodItDoesNotSupportWith405AndAllow) {
  LoadedHandler kv("kv", "");
  plugintest::Answer onKey = kv.call(kvRequest("POST", "k", "v"));
  EXPECT_EQ(onKey.status(), 405);
  EXPECT_EQ(onKey.header("Allow"), "GET, HEAD, PUT, DELETE");
  EXPECT_EQ(onKey.contentType(), kJson);
  EXPECT_EQ(onKey.body(), R"({"error":"method not allowed","allow":"GET, HEAD, PUT, DELETE"})"
                          "\n");
  for (const char* method : {"PUT", "DELETE", "POST", "PATCH"}) {
    plugintest::Answer onList = kv.call(kvRequest(method, ""));
    EXPECT_EQ(onList.status(), 405) << method;
    EXPECT_EQ(onList.header("Allow"), "GET, HEAD");
    EXPECT_EQ(onList.body(), R"({"error":"method not allowed","allow":"GET, HEAD"})"
                             "\n");
  }
  // The method is checked before the key: a bad method is wrong whatever the key.
  EXPECT_EQ(kv.call(kvRequest("POST", "a/b")).status(), 405);
}

// --- limits ---------------------------------------------------------------------------------

TEST(KvPlugin, RefusesAValueLargerThanMaxValueBytesWith413) {
  LoadedHandler kv("kv", "{ max_value_bytes: 4 }");
  EXPECT_EQ(put(kv, "k", "abcd").status(), 201);
  plugintest::Answer response = put(kv, "k", "abcde");
  EXPECT_EQ(response.status(), 413);
  EXPECT_EQ(response.contentType(), kJson);
  EXPECT_EQ(response.body(), R"({"error":"value too large","size":5,"max_value_bytes":4})"
                             "\n");
  EXPECT_EQ(get(kv, "k").body(), "abcd");  // the old value stays
}

TEST(KvPlugin, DefaultMaxValueBytesIs64KiB) {
  LoadedHandler kv("kv", "");
  EXPECT_EQ(put(kv, "k", std::string(65536, 'v')).status(), 201);
  EXPECT_EQ(put(kv, "k", std::string(65537, 'v')).status(), 413);
}

TEST(KvPlugin, RefusesANewKeyWhenTheStoreIsFullWith507ButStillUpdates) {
  LoadedHandler kv("kv", "{ max_keys: 2 }");
  EXPECT_EQ(put(kv, "a", "1").status(), 201);
  EXPECT_EQ(put(kv, "b", "1").status(), 201);
  plugintest::Answer full = put(kv, "c", "1");
  EXPECT_EQ(full.status(), 507);
  EXPECT_EQ(full.contentType(), kJson);
  EXPECT_EQ(full.body(), R"({"error":"store is full","max_keys":2})"
                         "\n");
  EXPECT_EQ(put(kv, "a", "2").status(), 200);
  EXPECT_EQ(del(kv, "a").status(), 204);
  EXPECT_EQ(put(kv, "c", "1").status(), 201);
  EXPECT_EQ(list(kv).body(), R"({"keys":["b","c"]})"
                             "\n");
}

// --- stores across reloads ------------------------------------------------------------------

TEST(KvPlugin, AStoreSurvivesItsHandlerBeingRecreatedFromTheSameLibrary) {
  LoadedHandler library("kv", "{ store: unused }");
  auto before = std::make_unique<LoadedHandler>(library, "");
  put(*before, "k", "kept", "text/plain");
  // A reload destroys the old handler, then creates a new one (maybe with new limits).
  before.reset();
  LoadedHandler after(library, "{ max_keys: 5 }");
  plugintest::Answer response = get(after, "k");
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body(), "kept");
  EXPECT_EQ(response.contentType(), "text/plain");
}

TEST(KvPlugin, RoutesNamingTheSameStoreShareItAndOthersDoNot) {
  LoadedHandler first("kv", "{ store: sessions }");
  LoadedHandler second(first, "{ store: sessions }");
  LoadedHandler other(first, "{ store: cache }");
  LoadedHandler byDefault(first, "");
  put(first, "k", "v");
  EXPECT_EQ(get(second, "k").body(), "v");
  EXPECT_EQ(get(other, "k").status(), 404);
  EXPECT_EQ(get(byDefault, "k").status(), 404);
  EXPECT_EQ(del(second, "k").status(), 204);
  EXPECT_EQ(get(first, "k").status(), 404);
}

TEST(KvPlugin, EachRouteEnforcesItsOwnLimitsOnASharedStore) {
  LoadedHandler small("kv", "{ store: s, max_keys: 1, max_value_bytes: 2 }");
  LoadedHandler large(small, "{ store: s }");
  EXPECT_EQ(put(large, "a", "long value").status(), 201);
  EXPECT_EQ(put(small, "a", "long value").status(), 413);
  EXPECT_EQ(put(small, "b", "v").status(), 507);
  EXPECT_EQ(put(large, "b", "v").status(), 201);
}

TEST(KvPlugin, AReloadedLibraryStartsWithEmptyStores) {
  LoadedHandler old("kv", "");
  put(old, "k", "v");
  LoadedHandler fresh("kv", "");  // a changed file is a new copy of the library
  EXPECT_EQ(get(fresh, "k").status(), 404);
  EXPECT_EQ(get(old, "k").status(), 200);
}

// --- threads --------------------------------------------------------------------------------

// 8 threads PUT, GET and DELETE 16 shared keys. Every value read must be one some thread
// wrote (never torn), and for every key the number of 201s minus the number of 204s must
// say whether it exists at the end: a lost or doubled create or delete would show.
TEST(KvPlugin, StaysConsistentUnderConcurrentPutGetAndDelete) {
  LoadedHandler kv("kv", "");
  constexpr int kThreads = 8, kKeys = 16, kRounds = 3000;
  std::array<std::atomic<int>, kKeys> created{}, deleted{};
  std::atomic<int> badAnswers{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      unsigned state = 12345u + static_cast<unsigned>(t);
      for (int i = 0; i < kRounds; ++i) {
        state = state * 1103515245u + 12345u;
        int k = static_cast<int>((state >> 16) % kKeys);
        std::string key = "key" + std::to_string(k);
        switch ((state >> 8) % 3) {
          case 0: {
            std::string value = "thread" + std::to_string(t) + "-round" + std::to_string(i);
            plugintest::Answer r = put(kv, key, value, "text/t" + std::to_string(t));
            created[k] += r.status() == 201;
            badAnswers += r.status() != 201 && r.status() != 200;
            break;
          }
          case 1: {
            plugintest::Answer r = get(kv, key);
            if (r.status() == 200) {
              // Value and Content-Type were written together by the same thread.
              const std::string& v = r.body();
              std::string writer = v.substr(0, v.find('-'));
              if (v.rfind("thread", 0) != 0 || "text/t" + writer.substr(6) != r.contentType()) ++badAnswers;
            } else if (r.status() != 404) {
              ++badAnswers;
            }
            break;
          }
          default: {
            plugintest::Answer r = del(kv, key);
            deleted[k] += r.status() == 204;
            badAnswers += r.status() != 204 && r.status() != 404;
            break;
          }
        }
        if (i % 500 == 0 && list(kv).status() != 200) ++badAnswers;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(badAnswers.load(), 0);
  std::string expectedList = R"({"keys":[)";
  std::set<std::string> present;
  for (int k = 0; k < kKeys; ++k) {
    std::string key = "key" + std::to_string(k);
    bool exists = get(kv, key).status() == 200;
    EXPECT_EQ(created[k] - deleted[k], exists ? 1 : 0) << key;
    if (exists) present.insert(key);
  }
  for (const std::string& key : present) expectedList += (expectedList.back() == '[' ? "\"" : ",\"") + key + "\"";
  EXPECT_EQ(list(kv).body(), expectedList + "]}\n");
}

TEST(KvPlugin, MaxKeysHoldsWhenThreadsRaceToCreateKeys) {
  LoadedHandler kv("kv", "{ max_keys: 5 }");
  constexpr int kThreads = 8, kKeysEach = 50;
  std::atomic<int> created{0}, full{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kKeysEach; ++i) {
        int status = put(kv, "t" + std::to_string(t) + "k" + std::to_string(i), "v").status();
        created += status == 201;
        full += status == 507;
        other += status != 201 && status != 507;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 5);
  EXPECT_EQ(full.load(), kThreads * kKeysEach - 5);
  EXPECT_EQ(other.load(), 0);
}

// --- config ---------------------------------------------------------------------------------

TEST(KvPlugin, RefusesAnUnknownConfigKeyWithItsPlace) {
  EXPECT_EQ(configError("{ max_key: 5 }"),
            "routes.yaml:4:15: routes[0].config.max_key: unknown key 'max_key' (expected one of: store, max_keys, "
            "max_value_bytes)");
}

TEST(KvPlugin, RefusesLimitsOutOfRange) {
  EXPECT_EQ(configError("{ max_keys: 0 }"),
            "routes.yaml:4:25: routes[0].config.max_keys: value 0 is out of range [1, 100000000]");
  EXPECT_EQ(configError("{ max_value_bytes: 2147483648 }"),
            "routes.yaml:4:32: routes[0].config.max_value_bytes: value 2147483648 is out of range [1, 1073741824]");
  EXPECT_EQ(configError("{ max_value_bytes: 64KiB }"),
            "routes.yaml:4:32: routes[0].config.max_value_bytes: expected an integer, got '64KiB'");
}

TEST(KvPlugin, RefusesAnEmptyStoreName) {
  EXPECT_EQ(configError("{ store: '' }"), "routes.yaml:4:22: routes[0].config.store: the store name must not be empty");
  EXPECT_EQ(configError("{ store: [a] }"), "routes.yaml:4:22: routes[0].config.store: expected a string");
}

TEST(KvPlugin, DescribesItself) {
  LoadedHandler kv("kv", "");
  EXPECT_STREQ(kv.descriptor().name, "kv");
  EXPECT_STREQ(kv.descriptor().abi, MS_ABI_DIGEST);
}

}  // namespace
