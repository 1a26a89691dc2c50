// The kv plugin's Redis backend, without a Redis: its pure parts compiled in (the redis://
// URL parser, the RESP codec, the status rows), and the built libkv.so with `redis:`
// pointing at a port where nothing listens (its config checks, and the 503 it answers at
// once). The backend against a real redis-server: tests/e2e/KvRedisTest.cpp.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "PluginTestSupport.h"
#include "kv/RedisStore.h"
#include "kv/RedisUrl.h"
#include "kv/Resp.h"

namespace {

using kv::RedisAddress;
using kv::RespParser;
using kv::RespValue;
using plugintest::LoadedHandler;
using plugintest::TestRequest;

std::string urlError(const std::string& url) {
  try {
    kv::parseRedisUrl(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

// --- redis:// URLs ----------------------------------------------------------------------

TEST(KvRedisUrl, ParsesHostPortAndDatabaseWithDefaults) {
  RedisAddress a = kv::parseRedisUrl("redis://127.0.0.1:6380/3");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 3);
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.password, "");
  EXPECT_EQ(a.display(), "127.0.0.1:6380/3");
  RedisAddress b = kv::parseRedisUrl("redis://cache.internal");
  EXPECT_EQ(b.host, "cache.internal");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.db, 0);
  EXPECT_EQ(kv::parseRedisUrl("redis://h/").db, 0);
  EXPECT_EQ(kv::parseRedisUrl("redis://h:1/65535").db, 65535);
}

TEST(KvRedisUrl, ParsesPasswordsUsersAndEscapesButNeverShowsThem) {
  RedisAddress a = kv::parseRedisUrl("redis://:s3cret@h:7000/1");
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.display(), "h:7000/1");
  RedisAddress b = kv::parseRedisUrl("redis://app:p%40ss:w@rd@h");
  EXPECT_EQ(b.user, "app");
  EXPECT_EQ(b.password, "p@ss:w@rd") << "the last '@' ends the password";
  EXPECT_EQ(b.host, "h");
  EXPECT_NE(kv::parseRedisUrl("redis://:a@h"), kv::parseRedisUrl("redis://:b@h")) << "another client per password";
  EXPECT_EQ(kv::parseRedisUrl("redis://:a@h:6379/0"), kv::parseRedisUrl("redis://:a@h"));
}

TEST(KvRedisUrl, ParsesIpv6HostsInBrackets) {
  RedisAddress a = kv::parseRedisUrl("redis://[::1]:6390/2");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 6390);
  EXPECT_EQ(a.display(), "[::1]:6390/2");
  EXPECT_EQ(kv::parseRedisUrl("redis://[fe80::1]").port, 6379);
}

TEST(KvRedisUrl, RefusesWhatItCannotUseSayingWhy) {
  const std::string usage = " (expected redis://[[user]:password@]host[:port][/db])";
  EXPECT_EQ(urlError("http://h"), "'http://h' is not a redis:// URL" + usage);
  EXPECT_EQ(urlError("127.0.0.1:6379"), "'127.0.0.1:6379' is not a redis:// URL" + usage);
  EXPECT_EQ(urlError("rediss://h"),
            "TLS (rediss://) is not supported: use redis:// on a trusted network or a TLS tunnel");
  EXPECT_EQ(urlError("redis://"), "the host is missing" + usage);
  EXPECT_EQ(urlError("redis://:6379"), "the host is missing" + usage);
  EXPECT_EQ(urlError("redis://h:"), "the port after ':' is empty");
  EXPECT_EQ(urlError("redis://h:0"), "the port '0' is not a number in [1, 65535]");
  EXPECT_EQ(urlError("redis://h:65536"), "the port '65536' is not a number in [1, 65535]");
  EXPECT_EQ(urlError("redis://h:12ab"), "the port '12ab' is not a number in [1, 65535]");
  EXPECT_EQ(urlError("redis://h/x"), "the database 'x' is not a number in [0, 65535]");
  EXPECT_EQ(urlError("redis://h/1/2"), "the database '1/2' is not a number in [0, 65535]");
  EXPECT_EQ(urlError("redis://h/0?timeout=1"), "a query or fragment is not supported in the redis URL" + usage);
  EXPECT_EQ(urlError("redis://pw@h"), "give the password as :password@ (or user:password@)" + usage);
  EXPECT_EQ(urlError("redis://u:@h"), "the password after ':' is empty");
  EXPECT_EQ(urlError("redis://:a%4@h"), "bad %-escape in the password (use %XX, e.g. %40 for '@')");
  EXPECT_EQ(urlError("redis://:a%zz@h"), "bad %-escape in the password (use %XX, e.g. %40 for '@')");
  EXPECT_EQ(urlError("redis://[::1"), "an IPv6 host needs its closing ']'");
  EXPECT_EQ(urlError("redis://[::1]6379"), "expected ':port' after the IPv6 host");
  EXPECT_EQ(urlError("redis://ho st"), "the host 'ho st' holds a character a host name cannot");
}

// --- RESP -------------------------------------------------------------------------------

TEST(KvResp, EncodesCommandsAsArraysOfBulkStringsBinarySafe) {
  std::string out;
  kv::appendCommand(out, {"SET", "k", std::string_view("a\0\r\nb", 5)});
  const char expected[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n";
  EXPECT_EQ(out, std::string(expected, sizeof expected - 1));
  kv::appendCommand(out, std::vector<std::string_view>{"PING"});
  EXPECT_EQ(out.substr(sizeof expected - 1), "*1\r\n$4\r\nPING\r\n");
  std::string empty;
  kv::appendCommand(empty, {"GET", ""});
  EXPECT_EQ(empty, "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
}

// Every kind of reply, nested and binary: the same replies whatever the split into reads.
TEST(KvResp, ParsesEveryReplyTheSameAtEverySplit) {
  const std::string wire = std::string(
                               "+OK\r\n"
                               "-ERR wrong type\r\n"
                               ":-42\r\n"
                               ":9223372036854775807\r\n"
                               "$5\r\nhe\r\nl\r\n"
                               "$0\r\n\r\n"
                               "$-1\r\n"
                               "*-1\r\n"
                               "*0\r\n"
                               "*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+x\r\n"
                               "$3\r\n") +
                           std::string("\0\xff\n", 3) + "\r\n";
  auto check = [](const std::vector<RespValue>& r) {
    ASSERT_EQ(r.size(), 11u);
    EXPECT_EQ(r[0].type, RespValue::Type::Simple);
    EXPECT_EQ(r[0].text, "OK");
    EXPECT_TRUE(r[1].isError());
    EXPECT_EQ(r[1].text, "ERR wrong type");
    EXPECT_EQ(r[2].type, RespValue::Type::Integer);
    EXPECT_EQ(r[2].integer, -42);
    EXPECT_EQ(r[3].integer, INT64_MAX);
    EXPECT_EQ(r[4].type, RespValue::Type::Bulk);
    EXPECT_EQ(r[4].text, "he\r\nl");
    EXPECT_EQ(r[5].type, RespValue::Type::Bulk);
    EXPECT_EQ(r[5].text, "");
    EXPECT_TRUE(r[6].isNil());
    EXPECT_TRUE(r[7].isNil());
    EXPECT_EQ(r[8].type, RespValue::Type::Array);
    EXPECT_TRUE(r[8].elements.empty());
    ASSERT_EQ(r[9].type, RespValue::Type::Array);
    ASSERT_EQ(r[9].elements.size(), 3u);
    EXPECT_EQ(r[9].elements[0].text, "a");
    ASSERT_EQ(r[9].elements[1].elements.size(), 2u);
    EXPECT_EQ(r[9].elements[1].elements[0].integer, 1);
    EXPECT_TRUE(r[9].elements[1].elements[1].isNil());
    EXPECT_EQ(r[9].elements[2].text, "x");
    EXPECT_EQ(r[10].text, std::string("\0\xff\n", 3));
  };
  {
    RespParser parser;
    std::vector<RespValue> replies;
    ASSERT_TRUE(parser.feed(wire, replies)) << parser.error();
    check(replies);
    EXPECT_EQ(parser.buffered(), 0u);
  }
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    RespParser parser;
    std::vector<RespValue> replies;
    ASSERT_TRUE(parser.feed(wire.substr(0, cut), replies)) << cut;
    ASSERT_TRUE(parser.feed(wire.substr(cut), replies)) << cut;
    check(replies);
  }
  RespParser parser;
  std::vector<RespValue> replies;
  for (char c : wire) ASSERT_TRUE(parser.feed(std::string_view(&c, 1), replies));
  check(replies);
}

TEST(KvResp, AReplyIsOutOnlyOnceComplete) {
  RespParser parser;
  std::vector<RespValue> replies;
  ASSERT_TRUE(parser.feed("*2\r\n$1\r\na\r\n", replies));
  EXPECT_TRUE(replies.empty());
  ASSERT_TRUE(parser.feed("$3\r\nbc", replies));
  EXPECT_TRUE(replies.empty());
  EXPECT_GT(parser.buffered(), 0u);
  ASSERT_TRUE(parser.feed("d\r\n:7", replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].elements[1].text, "bcd");
  ASSERT_TRUE(parser.feed("\r\n", replies));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].integer, 7);
}

TEST(KvResp, ALargeBulkStringArrivingInPiecesIsReadOnce) {
  const std::string value(3 * 1024 * 1024 + 17, 'v');
  const std::string wire = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n+after\r\n";
  RespParser parser;
  std::vector<RespValue> replies;
  for (std::size_t at = 0; at < wire.size(); at += 65536) ASSERT_TRUE(parser.feed(wire.substr(at, 65536), replies));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].text, value);
  EXPECT_EQ(replies[1].text, "after");
}

TEST(KvResp, RefusesMalformedAndUnboundedReplies) {
  struct Case {
    std::string wire, error;
  };
  const Case cases[] = {
      {"?\r\n", "an unknown reply type '?'"},
      {"\r\n", "an empty reply line"},
      {":12a\r\n", "a malformed integer reply"},
      {":\r\n", "a malformed integer reply"},
      {":99999999999999999999\r\n", "a malformed integer reply"},
      {"$-2\r\n", "a malformed bulk string length"},
      {"$x\r\n", "a malformed bulk string length"},
      {"$3\r\nabcXY", "a bulk string not followed by CRLF"},
      {"$536870913\r\n", "a bulk string longer than 512 MiB"},
      {"*-5\r\n", "a malformed array length"},
      {"+" + std::string(70000, 'x'), "a reply line longer than 64 KiB"},
      {"+" + std::string(70000, 'x') + "\r\n", "a reply line longer than 64 KiB"},
  };
  for (const Case& c : cases) {
    RespParser parser;
    std::vector<RespValue> replies;
    EXPECT_FALSE(parser.feed(c.wire, replies)) << c.wire.substr(0, 40);
    EXPECT_EQ(parser.error(), c.error) << c.wire.substr(0, 40);
    EXPECT_FALSE(parser.feed("+OK\r\n", replies)) << "unusable after an error";
    parser.reset();
    EXPECT_TRUE(parser.feed("+OK\r\n", replies)) << "until reset";
  }
  std::string deep;
  for (int i = 0; i < 33; ++i) deep += "*1\r\n";
  RespParser parser;
  std::vector<RespValue> replies;
  EXPECT_FALSE(parser.feed(deep, replies));
  EXPECT_EQ(parser.error(), "arrays nested deeper than 32");
}

// --- status -----------------------------------------------------------------------------

TEST(KvRedisStatus, MetricsReadinessAndConsoleLinePerStore) {
  kv::KvStatus::Row up{"default", "127.0.0.1:6379/0", {}, 0};
  up.link.connected = true;
  kv::KvStatus::Row down{"se\"ss", "10.0.0.5:6380/2", {}, 7};
  down.link.lastError = "Connection refused";
  down.link.inState = std::chrono::seconds(14);

  std::string metrics;
  kv::KvStatus::appendMetrics({up, down}, metrics);
  EXPECT_EQ(metrics,
            "# HELP kv_redis_connected 1 while the kv store's connection to its Redis is up, else 0.\n"
            "# TYPE kv_redis_connected gauge\n"
            "kv_redis_connected{store=\"default\",redis=\"127.0.0.1:6379/0\"} 1\n"
            "kv_redis_connected{store=\"se\\\"ss\",redis=\"10.0.0.5:6380/2\"} 0\n"
            "# HELP kv_redis_unavailable_total Requests to the kv store answered 503: its Redis unreachable, the "
            "connection lost, or too many requests waiting.\n"
            "# TYPE kv_redis_unavailable_total counter\n"
            "kv_redis_unavailable_total{store=\"default\",redis=\"127.0.0.1:6379/0\"} 0\n"
            "kv_redis_unavailable_total{store=\"se\\\"ss\",redis=\"10.0.0.5:6380/2\"} 7\n");
  std::string none;
  kv::KvStatus::appendMetrics({}, none);
  EXPECT_EQ(none, "");

  std::string reason;
  EXPECT_TRUE(kv::KvStatus::ready({up}, reason));
  EXPECT_FALSE(kv::KvStatus::ready({up, down}, reason));
  EXPECT_EQ(reason,
            "kv store se\"ss: Redis at 10.0.0.5:6380/2 unreachable (Connection refused); its requests answer 503");
  kv::KvStatus::Row never{"new", "h:1/0", {}, 0};
  EXPECT_FALSE(kv::KvStatus::ready({never}, reason));
  EXPECT_EQ(reason, "kv store new: Redis at h:1/0 not reached yet; its requests answer 503");

  EXPECT_EQ(kv::KvStatus::statusLine({up, down}),
            "kv default: redis 127.0.0.1:6379/0 connected; kv se\"ss: redis 10.0.0.5:6380/2 unreachable for 14 s "
            "(answering 503)");
}

TEST(KvRedisStatus, KeysAreNamespacedPerStore) {
  EXPECT_EQ(kv::RedisStore::indexKey("default"), "kv:default:keys");
  EXPECT_EQ(kv::RedisStore::valueKey("default", "greeting"), "kv:default:k:greeting");
  EXPECT_EQ(kv::RedisStore::valueKey("sessions", "a.b_c-1"), "kv:sessions:k:a.b_c-1");
}

// --- the plugin with `redis:` -----------------------------------------------------------

std::string configError(const std::string& configYaml) {
  try {
    LoadedHandler kv("kv", configYaml);
  } catch (const microserver::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(KvRedisPlugin, RefusesABadRedisSettingWithItsPlace) {
  EXPECT_EQ(configError("{ redis: 'http://127.0.0.1:6379' }"),
            "routes.yaml:4:22: routes[0].config.redis: 'http://127.0.0.1:6379' is not a redis:// URL (expected "
            "redis://[[user]:password@]host[:port][/db])");
  EXPECT_EQ(configError("{ redis: 'redis://127.0.0.1:0' }"),
            "routes.yaml:4:22: routes[0].config.redis: the port '0' is not a number in [1, 65535]");
  EXPECT_EQ(configError("{ redis: [a] }"), "routes.yaml:4:22: routes[0].config.redis: expected a redis:// URL");
  EXPECT_EQ(configError("{ store: 'a:b', redis: 'redis://127.0.0.1:1' }"),
            "routes.yaml:4:22: routes[0].config.store: a store kept in Redis needs a name of 1 to 64 characters from "
            "A-Z a-z 0-9 . _ - (it is part of its Redis keys), not 'a:b'");
  EXPECT_EQ(configError("{ store: '" + std::string(65, 's') + "', redis: 'redis://127.0.0.1:1' }"),
            "routes.yaml:4:22: routes[0].config.store: a store kept in Redis needs a name of 1 to 64 characters from "
            "A-Z a-z 0-9 . _ - (it is part of its Redis keys), not '" +
                std::string(65, 's') + "'");
}

TEST(KvRedisPlugin, AnUnknownKeyNextToRedisListsRedisAmongTheAllowedKeys) {
  EXPECT_EQ(configError("{ rediss: 'redis://h' }"),
            "routes.yaml:4:15: routes[0].config.rediss: unknown key 'rediss' (expected one of: store, max_keys, "
            "max_value_bytes, redis)");
  EXPECT_EQ(configError("{ redis: 'redis://127.0.0.1:1', timeout: 5 }"),
            "routes.yaml:4:45: routes[0].config.timeout: unknown key 'timeout' (expected one of: store, max_keys, "
            "max_value_bytes, redis)");
}

// A loopback port where nothing listens (bound, never listening: a connect is refused),
// held for the test's duration so nobody else takes it.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot bind a loopback port");
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TestRequest kvRequest(std::string method, std::string key, std::string body = "") {
  TestRequest request;
  request.method = std::move(method);
  request.path = request.target = key.empty() ? "/api/kv" : "/api/kv/" + key;
  if (!key.empty()) request.captures = {{"key", key}};
  request.body = std::move(body);
  return request;
}

// Redis unreachable: every request that needs it is answered 503 at once (never deferred
// until the route's timeout); the checks that need no Redis answer as in memory.
TEST(KvRedisPlugin, Answers503AtOnceWhileRedisIsUnreachable) {
  ClosedPort closed;
  const auto start = std::chrono::steady_clock::now();
  LoadedHandler kv("kv", "{ max_value_bytes: 4, redis: 'redis://127.0.0.1:" + std::to_string(closed.port()) + "/0' }");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
      << "a refused connection is known at once";
  for (const char* method : {"GET", "HEAD", "PUT", "DELETE"}) {
    plugintest::Answer r = kv.call(kvRequest(method, "k", "v"));
    EXPECT_EQ(r.status(), 503) << method;
    EXPECT_EQ(r.contentType(), "application/json; charset=utf-8");
    EXPECT_EQ(r.header("Retry-After"), "1");
    if (std::string(method) != "HEAD") {
      EXPECT_EQ(r.body(), R"({"error":"store unavailable: Redis is unreachable","store":"default"})"
                          "\n");
    }
  }
  EXPECT_EQ(kv.call(kvRequest("GET", "")).status(), 503);
  EXPECT_EQ(kv.call(kvRequest("PUT", "k", "too long")).status(), 413);
  EXPECT_EQ(kv.call(kvRequest("GET", "a/b")).status(), 400);
  EXPECT_EQ(kv.call(kvRequest("POST", "k")).status(), 405);
}

}  // namespace
