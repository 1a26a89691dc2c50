// End-to-end tests of the kv plugin's Redis backend (plugins/kv/RedisStore.h): each test
// starts its own redis-server on a free loopback port (RedisProcess) and one or two
// instances of the real binary whose kv routes use it. Skipped, saying why, without
// redis-server.
//
// Every wait is bounded and polls a condition (an HTTP answer changing, a log line);
// everything started is stopped by PID when the test ends, whichever way it ends.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "PrometheusText.h"
#include "RedisProcess.h"
#include "ServerProcess.h"
#include "TestClient.h"
#include "Wait.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

#ifdef MICROSERVER_SANITIZED
constexpr int kSlowdown = 4;  // ASan and TSan run this much slower, or worse
#else
constexpr int kSlowdown = 1;
#endif

const std::string kJson = "application/json; charset=utf-8";

#define REQUIRE_REDIS() \
  if (!RedisProcess::available()) GTEST_SKIP() << RedisProcess::missingReason()

// A field of /proc/<pid>/status ("Threads"), as a number.
long procStatus(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

bool raiseDescriptorLimit(rlim_t wanted) {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) return false;
  limit.rlim_cur = wanted;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// One microserver whose kv routes keep their stores in the Redis at `redisUrl`:
//   /api/kv[/KEY]   store "default"
//   /small[/KEY]    store "small", max_keys 50
std::string kvRoutes(const std::string& redisUrl) {
  return "  - { path: '^/api/kv(?:/(?P<key>.*))?$', methods: [GET, HEAD, PUT, DELETE], handler: kv, "
         "config: { redis: '" +
         redisUrl +
         "' } }\n"
         "  - { path: '^/small(?:/(?P<key>.*))?$', handler: kv, config: { redis: '" +
         redisUrl + "', store: small, max_keys: 50 } }\n";
}

struct Instance {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;

  // `plugins`: the plugin folder (default: the build's).
  explicit Instance(const std::string& redisUrl, const std::string& plugins = MICROSERVER_PLUGIN_DIR) {
    dir.write("www/index.html", "home\n");
    ServerOptions options;
    options.configText = "server: { www: " + dir.path() +
                         "/www, access_log: 'off', limits: { max_connections: 12000 } }\n"
                         "routes:\n" +
                         kvRoutes(redisUrl) + "  - { path: '^/', static: " + dir.path() + "/www }\n";
    options.plugins = plugins;
    server = ServerProcess::start(options);
  }
  int port() const { return server->port(); }
  HttpResponse get(const std::string& target) const { return httpGet(port(), target); }
  HttpResponse put(const std::string& target, const std::string& value, const std::string& type = "") const {
    HeaderList headers;
    if (!type.empty()) headers.push_back({"Content-Type", type});
    return httpRequest(port(), "PUT", target, headers, value);
  }
  HttpResponse del(const std::string& target) const { return httpRequest(port(), "DELETE", target); }
  std::map<std::string, double> metrics() const { return parsePrometheus(get("/metrics").body); }
  std::size_t countLines(const std::string& text) const {
    std::size_t n = 0;
    for (const std::string& line : server->lines()) n += line.find(text) != std::string::npos ? 1 : 0;
    return n;
  }
};

std::string connectedMetric(const RedisProcess& redis, const std::string& store = "default") {
  return "kv_redis_connected{store=\"" + store + "\",redis=\"127.0.0.1:" + std::to_string(redis.port()) + "/0\"}";
}
std::string unavailableMetric(const RedisProcess& redis, const std::string& store = "default") {
  return "kv_redis_unavailable_total{store=\"" + store + "\",redis=\"127.0.0.1:" + std::to_string(redis.port()) +
         "/0\"}";
}

// The copies of libkv.so the server has mapped ("3-libkv.so", ...).
std::set<std::string> mappedKvCopies(pid_t pid) {
  std::set<std::string> copies;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  static const std::regex copy(R"(/([0-9]+-libkv\.so))");
  std::smatch m;
  while (std::getline(maps, line))
    if (std::regex_search(line, m, copy)) copies.insert(m[1]);
  return copies;
}

// The clients connected to `redis`, but for the one asking.
int redisClients(const RedisProcess& redis) {
  const std::string list = redis.command({"CLIENT", "LIST"});
  int n = 0;
  for (std::size_t at = list.find("cmd="); at != std::string::npos; at = list.find("cmd=", at + 1)) ++n;
  return n - 1;
}

// A request on a fresh connection, timed.
struct Timed {
  HttpResponse response;
  std::chrono::milliseconds took{};
};
Timed timedGet(int port, const std::string& target) {
  const auto start = Clock::now();
  Timed t;
  t.response = httpGet(port, target);
  t.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return t;
}

// ---------------------------------------------------------------------------------------

// The same API as in memory, answered later from Redis, and one store for both instances.
TEST(KvRedisTest, APutOnOneInstanceIsReadOnTheOther) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a(redis.url()), b(redis.url());
  EXPECT_EQ(a.get("/readyz").status, 200) << a.server->output();
  EXPECT_EQ(b.get("/readyz").status, 200) << b.server->output();

  HttpResponse created = a.put("/api/kv/greeting", "hello", "text/plain; charset=utf-8");
  EXPECT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.header("Content-Type"), kJson);
  EXPECT_EQ(created.body, "{\"created\":\"greeting\"}\n");
  HttpResponse value = b.get("/api/kv/greeting");
  EXPECT_EQ(value.status, 200) << value.raw;
  EXPECT_EQ(value.body, "hello");
  EXPECT_EQ(value.header("Content-Type"), "text/plain; charset=utf-8");
  {
    Connection c(b.port());
    c.sendAll("HEAD /api/kv/greeting HTTP/1.1\r\nHost: t\r\n\r\nHEAD /api/kv/nope HTTP/1.1\r\nHost: t\r\n\r\n");
    HttpResponse head = c.readResponse("HEAD");
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("Content-Length"), "5");
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(c.readResponse("HEAD").status, 404) << "the connection goes on after a HEAD answered later";
  }

  HttpResponse updated = b.put("/api/kv/greeting", "{\"n\":2}", "application/json");
  EXPECT_EQ(updated.status, 200);
  EXPECT_EQ(updated.body, "{\"updated\":\"greeting\"}\n");
  value = a.get("/api/kv/greeting");
  EXPECT_EQ(value.body, "{\"n\":2}");
  EXPECT_EQ(value.header("Content-Type"), "application/json");

  // Binary, empty, no Content-Type.
  const std::string binary("\0\xff\r\n\0", 5);
  EXPECT_EQ(a.put("/api/kv/bin", binary).status, 201);
  EXPECT_EQ(a.put("/api/kv/empty", "").status, 201);
  value = b.get("/api/kv/bin");
  EXPECT_EQ(value.body, binary);
  EXPECT_EQ(value.header("Content-Type"), "application/octet-stream");
  value = b.get("/api/kv/empty");
  EXPECT_EQ(value.status, 200);
  EXPECT_EQ(value.body, "");

  HttpResponse list = b.get("/api/kv");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.header("Content-Type"), kJson);
  EXPECT_EQ(list.body, "{\"keys\":[\"bin\",\"empty\",\"greeting\"]}\n");
  EXPECT_EQ(a.get("/small").body, "{\"keys\":[]}\n") << "another store, other keys";

  HttpResponse deleted = b.del("/api/kv/greeting");
  EXPECT_EQ(deleted.status, 204);
  EXPECT_EQ(deleted.body, "");
  HttpResponse missing = a.get("/api/kv/greeting");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("Content-Type"), kJson);
  EXPECT_EQ(missing.body, "{\"error\":\"no such key\",\"key\":\"greeting\"}\n");
  EXPECT_EQ(a.del("/api/kv/greeting").status, 404);
  EXPECT_EQ(a.get("/api/kv").body, "{\"keys\":[\"bin\",\"empty\"]}\n");

  // What needs no Redis is answered as in memory.
  EXPECT_EQ(a.get("/api/kv/a%20b").status, 400);
  EXPECT_EQ(a.put("/api/kv/big", std::string(65537, 'v')).status, 413);
  EXPECT_EQ(httpRequest(a.port(), "POST", "/small/k").status, 405);

  // The layout in Redis (RedisStore.h).
  EXPECT_EQ(redis.command({"ZCARD", "kv:default:keys"}), ":2");
  EXPECT_EQ(redis.command({"HGET", "kv:default:k:bin", "v"}), "$" + binary);
  EXPECT_EQ(redis.command({"HGET", "kv:default:k:bin", "t"}), "$application/octet-stream");
  EXPECT_EQ(redis.command({"EXISTS", "kv:default:k:greeting"}), ":0");

  auto m = a.metrics();
  EXPECT_EQ(m[connectedMetric(redis)], 1);
  EXPECT_EQ(m[connectedMetric(redis, "small")], 1);
  EXPECT_EQ(m[unavailableMetric(redis)], 0);
  EXPECT_EQ(a.server->stop(), 0) << "a clean stop: " << a.server->output();  // and every log line is in
  EXPECT_EQ(a.countLines("plugin kv: store default: connected to Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                         "/0"),
            1u)
      << a.server->output();
}

// 1,000 requests at once on one instance: all answered right, and not one thread more
// (one connection to Redis per store, pipelined).
TEST(KvRedisTest, AThousandConcurrentRequestsCompleteWithoutAThreadEach) {
  REQUIRE_REDIS();
  constexpr int kRequests = 1000;
  if (!raiseDescriptorLimit(2 * kRequests + 256))
    GTEST_SKIP() << "the hard open-file limit is below " << 2 * kRequests + 256 << " (raise it: ulimit -Hn)";
  RedisProcess redis;
  Instance a(redis.url());
  ASSERT_EQ(a.get("/api/kv/warm").status, 404);
  const long threads = procStatus(a.server->pid(), "Threads");
  ASSERT_GT(threads, 0);

  std::vector<Connection> connections;
  connections.reserve(kRequests);
  for (int i = 0; i < kRequests; ++i) connections.emplace_back(a.port(), std::chrono::seconds(30 * kSlowdown));
  auto value = [](int i) { return "value-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x'); };
  for (int i = 0; i < kRequests; ++i) {
    const std::string body = value(i);
    connections[i].sendAll("PUT /api/kv/key" + std::to_string(i) +
                           " HTTP/1.1\r\nHost: t\r\nContent-Type: text/k" + std::to_string(i) +
                           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  const long during = procStatus(a.server->pid(), "Threads");
  int created = 0;
  for (int i = 0; i < kRequests; ++i) {
    HttpResponse r = connections[i].readResponse();
    created += r.status == 201 && r.body == "{\"created\":\"key" + std::to_string(i) + "\"}\n";
  }
  EXPECT_EQ(created, kRequests);

  // The same connections, each reading back another one's key, all at once.
  for (int i = 0; i < kRequests; ++i)
    connections[i].sendAll("GET /api/kv/key" + std::to_string((i + 1) % kRequests) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  int right = 0;
  for (int i = 0; i < kRequests; ++i) {
    const int k = (i + 1) % kRequests;
    HttpResponse r = connections[i].readResponse();
    right += r.status == 200 && r.body == value(k) && r.header("Content-Type") == "text/k" + std::to_string(k);
  }
  EXPECT_EQ(right, kRequests);
  EXPECT_EQ(during, threads) << "threads while 1,000 requests were in flight";
  EXPECT_EQ(procStatus(a.server->pid(), "Threads"), threads);
  EXPECT_EQ(redis.command({"ZCARD", "kv:default:keys"}), ":" + std::to_string(kRequests));
  const std::string list = a.get("/api/kv").body;
  EXPECT_EQ(std::count(list.begin(), list.end(), ','), kRequests - 1);
}

// max_keys across two instances: 200 PUTs of new keys at once, 100 on each, into a store
// of 50: exactly 50 are created, 150 get 507; an existing key is still updated.
TEST(KvRedisTest, MaxKeysGives507ExactlyAtTheLimitUnderConcurrentPutsOnTwoInstances) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a(redis.url()), b(redis.url());
  constexpr int kPuts = 200;
  std::vector<Connection> connections;
  for (int i = 0; i < kPuts; ++i) connections.emplace_back(i % 2 ? b.port() : a.port(), 30s);
  for (int i = 0; i < kPuts; ++i)
    connections[i].sendAll("PUT /small/n" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nv");
  int created = 0, full = 0;
  std::set<std::string> createdKeys;
  for (int i = 0; i < kPuts; ++i) {
    HttpResponse r = connections[i].readResponse();
    if (r.status == 201) {
      ++created;
      createdKeys.insert("n" + std::to_string(i));
    } else if (r.status == 507) {
      ++full;
      EXPECT_EQ(r.body, "{\"error\":\"store is full\",\"max_keys\":50}\n");
      EXPECT_EQ(r.header("Content-Type"), kJson);
    } else {
      ADD_FAILURE() << "PUT n" << i << ": " << r.raw;
    }
  }
  EXPECT_EQ(created, 50);
  EXPECT_EQ(full, kPuts - 50);
  EXPECT_EQ(redis.command({"ZCARD", "kv:small:keys"}), ":50");
  std::string expected = "{\"keys\":[";
  for (const std::string& key : createdKeys) expected += (expected.back() == '[' ? "\"" : ",\"") + key + "\"";
  EXPECT_EQ(b.get("/small").body, expected + "]}\n");

  const std::string some = *createdKeys.begin();
  EXPECT_EQ(a.put("/small/" + some, "new").status, 200) << "an update needs no room";
  EXPECT_EQ(b.put("/small/another", "v").status, 507);
  EXPECT_EQ(a.del("/small/" + some).status, 204);
  EXPECT_EQ(b.put("/small/another", "v").status, 201) << "room again after a delete";
  EXPECT_EQ(a.put("/small/yet-another", "v").status, 507);
}

// Redis killed: 503 at once (never the route's timeout), /readyz and /metrics say so, the
// log says it once; Redis back on the same port: the store serves again by itself.
TEST(KvRedisTest, RedisKilledAnswers503QuicklyAndRecoversWhenItIsBack) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a(redis.url());
  ASSERT_EQ(a.put("/api/kv/k", "v").status, 201);
  const std::size_t mark = a.server->lineCount();

  redis.kill();
  HttpResponse r;
  EXPECT_TRUE(waitUntil([&] { return (r = a.get("/api/kv/k")).status == 503; }, 5s)) << r.raw;
  EXPECT_EQ(r.header("Content-Type"), kJson);
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_TRUE(r.body == "{\"error\":\"store unavailable: Redis is unreachable\",\"store\":\"default\"}\n" ||
              r.body == "{\"error\":\"store unavailable: the connection to Redis was lost\",\"store\":\"default\"}\n")
      << r.body;
  EXPECT_TRUE(a.server->waitForLine("plugin kv: store default: lost the connection to Redis at 127.0.0.1:" +
                                        std::to_string(redis.port()) + "/0 (",
                                    5s, mark))
      << a.server->output();
  // While it is down, every request is answered 503 at once, through several reconnection
  // attempts.
  for (int i = 0; i < 20; ++i) {
    Timed t = timedGet(a.port(), i % 2 ? "/api/kv" : "/api/kv/k");
    EXPECT_EQ(t.response.status, 503) << t.response.raw;
    EXPECT_LT(t.took.count(), 1000 * kSlowdown) << "a 503 must not wait";
    EXPECT_EQ(a.put("/api/kv/k2", "v").status, 503);
    ::poll(nullptr, 0, 25);
  }
  HttpResponse notReady = a.get("/readyz");
  EXPECT_EQ(notReady.status, 503);
  EXPECT_NE(notReady.body.find("kv store default: Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                               "/0 unreachable ("),
            std::string::npos)
      << notReady.body;
  auto m = a.metrics();
  EXPECT_EQ(m[connectedMetric(redis)], 0);
  EXPECT_GE(m[unavailableMetric(redis)], 41);

  redis.start();
  EXPECT_TRUE(waitUntil([&] { return (r = a.get("/api/kv/k")).status != 503; }, 20s)) << a.server->output();
  EXPECT_EQ(r.status, 404) << "a new Redis, empty: " << r.raw;
  EXPECT_EQ(a.put("/api/kv/k", "back").status, 201);
  EXPECT_EQ(a.get("/api/kv/k").body, "back");
  EXPECT_EQ(a.metrics()[connectedMetric(redis)], 1);
  // The other store (/small) reconnects on its own schedule; then the server is ready.
  EXPECT_TRUE(waitUntil([&] { return a.get("/readyz").status == 200; }, 10s)) << a.get("/readyz").body;
  EXPECT_EQ(a.metrics()[connectedMetric(redis, "small")], 1);
  EXPECT_TRUE(a.server->waitForLine("plugin kv: store default: reconnected to Redis at 127.0.0.1:", 5s, mark));
  EXPECT_EQ(a.server->stop(), 0) << a.server->output();  // every log line is in
  for (const std::string store : {"default", "small"}) {
    EXPECT_EQ(a.countLines("store " + store + ": lost the connection to Redis"), 1u) << "once per outage:\n"
                                                                                     << a.server->output();
    EXPECT_EQ(a.countLines("store " + store + ": reconnected to Redis"), 1u) << a.server->output();
  }
  EXPECT_EQ(a.countLines("is unreachable ("), 0u) << "not per attempt:\n" << a.server->output();
}

// Redis not there at start-up: the server starts, answers 503 at once and says so once;
// it serves as soon as Redis comes.
TEST(KvRedisTest, RedisDownAtStartUpAnswers503ThenServesOnceItComes) {
  REQUIRE_REDIS();
  RedisProcess redis(0, /*start=*/false);
  Instance a(redis.url());
  EXPECT_TRUE(a.server->waitForLine("plugin kv: store default: Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                                        "/0 is unreachable (Connection refused): requests answer 503 until it is "
                                        "back; retrying every 100 ms to 5 s",
                                    5s))
      << a.server->output();
  Timed t = timedGet(a.port(), "/api/kv/k");
  EXPECT_EQ(t.response.status, 503);
  EXPECT_LT(t.took.count(), 1000 * kSlowdown);
  EXPECT_EQ(a.get("/readyz").status, 503);
  EXPECT_EQ(a.metrics()[connectedMetric(redis)], 0);

  redis.start();
  HttpResponse r;
  EXPECT_TRUE(waitUntil([&] { return (r = a.get("/api/kv/k")).status != 503; }, 20s)) << a.server->output();
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(a.put("/api/kv/k", "v").status, 201);
  // Each store (/api/kv's and /small's) retries on its own schedule; then it is ready.
  EXPECT_TRUE(waitUntil([&] { return a.get("/readyz").status == 200; }, 10s)) << a.get("/readyz").body;
  EXPECT_TRUE(a.server->waitForLine("plugin kv: store default: connected to Redis at", 5s));
  EXPECT_EQ(a.server->stop(), 0) << a.server->output();  // every log line is in
  EXPECT_EQ(a.countLines("is unreachable ("), 2u) << "once per store (default, small), not per attempt:\n"
                                                  << a.server->output();
}

// Redis hangs (SIGSTOP: connections still open, nothing answers): requests in flight are
// answered 503 within the client's reply timeout (2 s), later ones at once; once it runs
// again the store serves again.
TEST(KvRedisTest, AHungRedisAnswers503WithinTheReplyTimeoutNotTheRoutes) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a(redis.url());
  ASSERT_EQ(a.put("/api/kv/k", "v").status, 201);
  ASSERT_EQ(::kill(redis.pid(), SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{redis.pid()};
  Timed t = timedGet(a.port(), "/api/kv/k");
  EXPECT_EQ(t.response.status, 503) << t.response.raw;
  EXPECT_EQ(t.response.body, "{\"error\":\"store unavailable: the connection to Redis was lost\",\"store\":\"default\"}\n");
  EXPECT_GE(t.took.count(), 1500);
  EXPECT_LT(t.took.count(), 5000 * kSlowdown) << "the reply timeout is 2 s; the route's is 30 s";
  EXPECT_TRUE(a.server->waitForLine("lost the connection to Redis at 127.0.0.1:" + std::to_string(redis.port()) +
                                        "/0 (Redis did not answer within 2.0 s)",
                                    5s))
      << a.server->output();

  ::kill(redis.pid(), SIGCONT);
  HttpResponse r;
  EXPECT_TRUE(waitUntil([&] { return (r = a.get("/api/kv/k")).status == 200; }, 20s)) << a.server->output();
  EXPECT_EQ(r.body, "v");
}

// Reloads: with the library unchanged, the routes' new handlers share the running store
// (its connection, its thread); with the library replaced, the new copy has its own, and
// the old copy's thread is joined and its connection closed once its last handler is gone,
// so the old copy is really unloaded. The data is in Redis throughout.
TEST(KvRedisTest, AReloadKeepsTheConnectionAndAReplacedLibraryLeavesNoThreadBehind) {
  REQUIRE_REDIS();
  namespace fs = std::filesystem;
  RedisProcess redis;
  TempDir plugins;
  const std::string built = std::string(MICROSERVER_PLUGIN_DIR) + "/libkv.so";
  fs::copy_file(built, plugins.path() + "/libkv.so");
  Instance a(redis.url(), plugins.path());
  ASSERT_EQ(a.put("/api/kv/k", "kept").status, 201);
  const long threads = procStatus(a.server->pid(), "Threads");
  EXPECT_EQ(mappedKvCopies(a.server->pid()).size(), 1u);
  EXPECT_EQ(redisClients(redis), 2) << "one connection per store (/api/kv's and /small's)";

  std::size_t mark = a.server->lineCount();
  ASSERT_TRUE(a.server->sendSignal(SIGHUP));
  ASSERT_TRUE(a.server->waitForLine("reloaded ", 10s, mark)) << a.server->output();
  EXPECT_EQ(a.get("/api/kv/k").body, "kept");
  EXPECT_EQ(procStatus(a.server->pid(), "Threads"), threads);
  EXPECT_EQ(redisClients(redis), 2) << "the same connections";

  // Replaced twice (the server starts a thread of its own for its first unload: the second
  // round shows nothing of the kv plugin stays behind).
  long steady = 0;
  for (int round = 0; round < 2; ++round) {
    const std::set<std::string> before = mappedKvCopies(a.server->pid());
    ASSERT_EQ(before.size(), 1u);
    mark = a.server->lineCount();
    fs::copy_file(built, plugins.path() + "/.libkv.so.new");
    fs::rename(plugins.path() + "/.libkv.so.new", plugins.path() + "/libkv.so");
    ASSERT_TRUE(a.server->waitForLine("reloaded ", 10s, mark)) << a.server->output();
    EXPECT_EQ(a.get("/api/kv/k").body, "kept") << "round " << round;
    EXPECT_TRUE(waitUntil([&] { return mappedKvCopies(a.server->pid()).count(*before.begin()) == 0; }, 5s))
        << *before.begin() << " is still mapped";
    EXPECT_TRUE(waitUntil([&] { return redisClients(redis) == 2; }, 5s)) << redisClients(redis);
    if (round == 0) {
      // The old copy's two threads are gone (at most the server's unloader came).
      EXPECT_TRUE(waitUntil([&] { return (steady = procStatus(a.server->pid(), "Threads")) <= threads + 1; }, 5s))
          << steady << " threads, " << threads << " before";
    } else {
      EXPECT_TRUE(waitUntil([&] { return procStatus(a.server->pid(), "Threads") == steady; }, 5s))
          << procStatus(a.server->pid(), "Threads") << " threads, " << steady << " after the first round";
    }
  }
  EXPECT_EQ(a.put("/api/kv/k", "new copy").status, 200);
  EXPECT_EQ(a.get("/api/kv/k").body, "new copy");
  EXPECT_EQ(a.server->stop(), 0) << a.server->output();  // every log line is in
  EXPECT_EQ(a.countLines("connected to Redis"), 6u)
      << "two at start, none for the SIGHUP, two per new copy:\n" << a.server->output();
  EXPECT_EQ(redisClients(redis), 0) << "a stopped server leaves no connection";
}

}  // namespace
}  // namespace e2e
