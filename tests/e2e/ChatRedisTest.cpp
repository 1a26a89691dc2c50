// End-to-end tests of one chat room across several microserver instances through a real
// Redis (plugins/chat/RedisLink.h): every test starts its own redis-server on a free
// loopback port (RedisProcess) and two or three instances of the real binary, each with
// its own chat port and `instance:` name. Skipped, saying why, without redis-server.
//
// Every wait is bounded and polls a condition (a line arriving, an HTTP answer changing);
// everything started is stopped by PID when the test ends, whichever way it ends.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <functional>
#include <map>
#include <regex>
#include <thread>

#include "PrometheusText.h"
#include "RedisProcess.h"
#include "ChatLines.h"
#include "ServerProcess.h"
#include "TestClient.h"
#include "WebSocketClient.h"
#include "Wait.h"

namespace e2e {
namespace {

const std::string kLost = "* connection to the other instances lost (lines now reach this instance only)";
const std::string kRestored =
    "* connection to the other instances restored (lines sent meanwhile reached this instance only)";
const std::string kConnected = "* connected to the other instances (lines sent before reached this instance only)";

#define REQUIRE_REDIS() \
  if (!RedisProcess::available()) GTEST_SKIP() << RedisProcess::missingReason()

// One microserver with the chat service linked to `redisUrl` as `name`.
struct Instance {
  std::string name;
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  int servicePort = 0;

  Instance(std::string instanceName, const std::string& redisUrl, const std::string& extraServiceConfig = "")
      : name(std::move(instanceName)) {
    dir.write("www/index.html", "home\n");
    ServerOptions options;
    options.configText = "server: { www: " + dir.path() + "/www }\n" +
                         "routes:\n"
                         "  - { path: '^/chat/(?P<action>ws|history|messages|members)$', handler: chat, "
                         "config: { room: lobby } }\n"
                         "services:\n"
                         "  - { plugin: chat, listen: '127.0.0.1:0', config: { redis: '" +
                         redisUrl + "', instance: " + name + extraServiceConfig + " } }\n";
    options.plugins = MICROSERVER_PLUGIN_DIR;
    server = ServerProcess::start(options);
    auto line = server->waitForLine("service chat on 127.0.0.1:", 5s);
    if (!line) throw std::runtime_error("no service line: " + server->output());
    servicePort = std::stoi(line->substr(line->rfind(':') + 1));
  }
  int httpPort() const { return server->port(); }
  // Waits for the log line saying the room is linked (the first one, or one after `from`).
  bool waitLinked(std::size_t from = 0, std::chrono::milliseconds timeout = 20s) {
    return server->waitForLine("room lobby: linked to the other instances through Redis", timeout, from).has_value();
  }
  HttpResponse get(const std::string& path) const { return httpGet(httpPort(), path); }
  std::size_t countLines(const std::string& text) const {
    std::size_t n = 0;
    for (const std::string& line : server->lines()) n += line.find(text) != std::string::npos ? 1 : 0;
    return n;
  }
};

// A TCP member of `instance`, joined: its own "joined" has been read. `who` is how the
// room names it: "<ip>:<port>@<instance>".
struct Member {
  Connection c;
  std::string who;
  std::vector<std::string> seen;  // every line read, untimed

  explicit Member(const Instance& instance) : c(instance.servicePort, 20s) {
    who = localAddress(c) + "@" + instance.name;
    std::string line = next();
    if (line != "* " + who + " joined") throw std::runtime_error("expected our join, got: " + line);
  }
  std::string next() {
    seen.push_back(untimed(c.readLine()));
    return seen.back();
  }
  // True once a line equal to `line` has been read: already, or reading on (every line
  // read is kept in `seen`); false at the timeout.
  bool waitFor(const std::string& line, std::chrono::milliseconds timeout = 20s) {
    if (std::find(seen.begin(), seen.end(), line) != seen.end()) return true;
    c.setTimeout(timeout);
    try {
      while (next() != line) {
      }
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  void say(const std::string& text) { c.sendAll(text + "\n"); }
  std::size_t count(const std::string& line) const {
    return static_cast<std::size_t>(std::count(seen.begin(), seen.end(), line));
  }
  bool sawText(const std::string& fragment) const {
    for (const std::string& line : seen)
      if (line.find(fragment) != std::string::npos) return true;
    return false;
  }
};

std::map<std::string, double> metricsOf(const Instance& instance) {
  HttpResponse r = instance.get("/metrics");
  EXPECT_EQ(r.status, 200);
  return parsePrometheus(r.body);
}

// The members listed by GET /chat/members, as "<address>@<instance>", when it answers
// for the fleet; empty otherwise.
std::vector<std::string> fleetMembers(const Instance& instance) {
  HttpResponse r = instance.get("/chat/members");
  if (r.status != 200 || r.body.find(R"("scope":"fleet")") == std::string::npos) return {};
  static const std::regex item(
      R"re(\{"address":"([^"]*)","instance":"([^"]*)","transport":"(tcp|websocket)","joined":"[^"]*"\})re");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(r.body.begin(), r.body.end(), item); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1].str() + "@" + (*it)[2].str());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// ---------------------------------------------------------------------------------------

// Two instances, three TCP members on each, four of them (two per instance) sending 100
// lines each at once: every member of the fleet gets every line exactly once, each
// sender's in its order, with the sender's instance after its address.
TEST(ChatRedisTest, TcpMembersOnTwoInstancesSeeEveryLineOnceInOrderPerSender) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a("node-a", redis.url()), b("node-b", redis.url());
  ASSERT_TRUE(a.waitLinked()) << a.server->output();
  ASSERT_TRUE(b.waitLinked()) << b.server->output();
  std::vector<std::unique_ptr<Member>> members;
  for (int i = 0; i < 3; ++i) members.push_back(std::make_unique<Member>(a));
  for (int i = 0; i < 3; ++i) members.push_back(std::make_unique<Member>(b));
  constexpr int kPerSender = 100;
  const std::vector<int> senders = {0, 1, 3, 4};  // two on each instance
  std::map<std::string, int> senderIndex;
  for (std::size_t i = 0; i < senders.size(); ++i) senderIndex[members[senders[i]]->who] = static_cast<int>(i);

  struct Progress {
    std::string buffer;
    std::vector<int> next = std::vector<int>(4, 0);
    int messages = 0;
    bool sawEnd = false;
    std::string error;
  };
  std::vector<Progress> progress(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) progress[i].buffer = members[i]->c.takeBuffered();
  std::vector<std::thread> threads;
  for (int s : senders)
    threads.emplace_back([&, s] {
      std::string lines;
      for (int k = 0; k < kPerSender; ++k) lines += "m " + std::to_string(k) + "\n";
      for (std::size_t at = 0; at < lines.size(); at += 101) members[s]->c.sendAll(lines.substr(at, 101));
    });
  for (std::thread& t : threads) t.join();

  const std::string endLine = members[2]->who + " end";
  auto consume = [&](Progress& p) {
    std::size_t start = 0, nl;
    while ((nl = p.buffer.find('\n', start)) != std::string::npos) {
      std::string line = untimed(p.buffer.substr(start, nl - start));
      start = nl + 1;
      if (line.rfind("* ", 0) == 0) continue;  // others joining
      if (line == endLine) {
        p.sawEnd = true;
        continue;
      }
      std::size_t sp = line.find(' ');
      auto who = senderIndex.find(line.substr(0, sp));
      if (who == senderIndex.end() || line.compare(sp + 1, 2, "m ") != 0 || p.sawEnd) {
        if (p.error.empty()) p.error = "unexpected line: " + line;
        continue;
      }
      const int seq = std::stoi(line.substr(sp + 3));
      if (seq != p.next[who->second] && p.error.empty())
        p.error = "from " + who->first + ": got " + std::to_string(seq) + ", expected " +
                  std::to_string(p.next[who->second]) + " (a line twice, lost or out of order)";
      p.next[who->second] = seq + 1;
      ++p.messages;
    }
    p.buffer.erase(0, start);
  };
  auto readAll = [&](const std::function<bool(const Progress&)>& done, std::chrono::seconds timeout) {
    std::vector<pollfd> fds(members.size());
    for (std::size_t i = 0; i < members.size(); ++i) fds[i] = {members[i]->c.fd(), POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[65536];
    auto allDone = [&] {
      for (Progress& p : progress)
        if (!done(p)) return false;
      return true;
    };
    for (Progress& p : progress) consume(p);
    while (!allDone() && std::chrono::steady_clock::now() < deadline) {
      if (::poll(fds.data(), fds.size(), 200) < 0 && errno != EINTR) break;
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = ::recv(fds[i].fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (got <= 0) {
          if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          progress[i].error = "the server closed member " + std::to_string(i);
          fds[i].fd = -1;
          continue;
        }
        progress[i].buffer.append(chunk, static_cast<std::size_t>(got));
        consume(progress[i]);
      }
    }
  };
  const int expected = static_cast<int>(senders.size()) * kPerSender;
  readAll([&](const Progress& p) { return p.messages >= expected || !p.error.empty(); }, 60s);
  // Then one more line: once everybody has it, nothing of the above can still come twice.
  members[2]->say("end");
  readAll([&](const Progress& p) { return p.sawEnd || !p.error.empty(); }, 30s);
  for (std::size_t i = 0; i < members.size(); ++i) {
    EXPECT_TRUE(progress[i].error.empty()) << members[i]->who << ": " << progress[i].error;
    EXPECT_EQ(progress[i].messages, expected) << members[i]->who;
    EXPECT_TRUE(progress[i].sawEnd) << members[i]->who;
  }
  // Each instance counted its own members' lines in, and every delivery to its members out.
  auto ma = metricsOf(a), mb = metricsOf(b);
  EXPECT_EQ(ma["chat_messages_in_total{room=\"lobby\"}"], 2 * kPerSender + 1);
  EXPECT_EQ(mb["chat_messages_in_total{room=\"lobby\"}"], 2 * kPerSender);
  EXPECT_GE(ma["chat_messages_out_total{room=\"lobby\"}"], 3 * (expected + 1));
  EXPECT_EQ(ma["chat_members{room=\"lobby\",transport=\"tcp\"}"], 3);
  EXPECT_EQ(mb["chat_members{room=\"lobby\",transport=\"websocket\"}"], 0);
  EXPECT_EQ(ma["chat_redis_connected{room=\"lobby\"}"], 1);
  EXPECT_EQ(mb["chat_redis_connected{room=\"lobby\"}"], 1);
}

// A WebSocket member on one instance, TCP members on two others, a POST on the third:
// everyone sees everyone; history and members cover the fleet; an instance that stops
// says goodbye for its members; what is not a chat line on the channel is dropped.
TEST(ChatRedisTest, WebSocketAndTcpMembersOnThreeInstancesAndTheFleetOverHttp) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a("node-a", redis.url()), b("node-b", redis.url()), c("node-c", redis.url());
  for (Instance* i : {&a, &b, &c}) ASSERT_TRUE(i->waitLinked()) << i->server->output();

  Connection ws(a.httpPort(), 20s);
  const std::string wsWho = localAddress(ws) + "@node-a";
  ASSERT_EQ(wsHandshake(ws, "/chat/ws").status, 101);
  EXPECT_EQ(untimed(wsRead(ws).payload), "* " + wsWho + " joined\n");
  Member tb(b);
  Member tc(c);
  // Two instances' joins: in whichever order their instances published them.
  EXPECT_EQ(sorted({untimed(wsRead(ws).payload), untimed(wsRead(ws).payload)}),
            sorted({"* " + tb.who + " joined\n", "* " + tc.who + " joined\n"}));
  EXPECT_TRUE(tb.waitFor("* " + tc.who + " joined"));

  wsSend(ws, 1, "from the browser");
  EXPECT_EQ(untimed(wsRead(ws).payload), wsWho + " from the browser\n") << "its own line, once, through Redis";
  EXPECT_TRUE(tb.waitFor(wsWho + " from the browser"));
  EXPECT_TRUE(tc.waitFor(wsWho + " from the browser"));
  tb.say("from nc on b");
  EXPECT_EQ(untimed(wsRead(ws).payload), tb.who + " from nc on b\n");
  EXPECT_TRUE(tc.waitFor(tb.who + " from nc on b"));
  EXPECT_TRUE(tb.waitFor(tb.who + " from nc on b"));

  HttpResponse posted =
      httpRequest(c.httpPort(), "POST", "/chat/messages", {{"Content-Type", "text/plain"}}, "posted on c\n");
  EXPECT_EQ(posted.status, 202) << posted.raw;
  const std::string fromPost = untimed(wsRead(ws).payload);
  EXPECT_TRUE(std::regex_match(fromPost, std::regex(R"(127\.0\.0\.1:\d+@node-c posted on c\n)"))) << fromPost;
  EXPECT_TRUE(tb.waitFor(fromPost.substr(0, fromPost.size() - 1)));

  // Something else publishes on the channel: dropped (and logged), the room goes on.
  EXPECT_EQ(redis.command({"PUBLISH", "microserver:chat:lobby", "not a chat line"}), ":3");
  EXPECT_EQ(redis.command({"PUBLISH", "microserver:chat:lobby",
                           "chat1\tnode-z\tff\t1\tm\t2026-11-26 14:03:07.512\t10.6.6.6:6\t0\thi\n2026-11-26 "
                           "14:03:07.512 * 10.6.6.6:6@node-a joined"}),
            ":3");
  tc.say("still fine");
  EXPECT_EQ(untimed(wsRead(ws).payload), tc.who + " still fine\n") << "nothing forged came first";
  EXPECT_TRUE(tb.waitFor(tc.who + " still fine"));
  EXPECT_FALSE(tb.sawText("10.6.6.6"));
  EXPECT_TRUE(a.server->waitForLine("that is not a chat line", 5s));

  // History and members span the instances (refreshed about every second).
  std::string history;
  EXPECT_TRUE(waitUntil(
      [&] {
        history = a.get("/chat/history").body;
        return history.find(R"("scope":"fleet")") != std::string::npos &&
               history.find("posted on c") != std::string::npos && history.find("still fine") != std::string::npos;
      },
      15s))
      << history;
  EXPECT_EQ(history.rfind(R"({"room":"lobby","scope":"fleet","messages":[)", 0), 0u) << history;
  EXPECT_NE(history.find(R"(","instance":"node-a","text":"from the browser","kind":"message"})"), std::string::npos);
  EXPECT_NE(history.find(R"(","instance":"node-b","text":"from nc on b","kind":"message"})"), std::string::npos);
  EXPECT_NE(history.find(R"("instance":"node-c","text":"joined","kind":"join"})"), std::string::npos);
  const std::vector<std::string> everyone = sorted({wsWho, tb.who, tc.who});
  std::vector<std::string> listed;
  EXPECT_TRUE(waitUntil([&] { return (listed = fleetMembers(b)) == everyone; }, 15s))
      << "listed by node-b: " << ::testing::PrintToString(listed);
  EXPECT_NE(b.get("/chat/members").body.find(R"(","instance":"node-a","transport":"websocket","joined":")"),
            std::string::npos);

  // node-c stops: the others hear its member leave, and it is off the list at once
  // (well before its entry would expire).
  ASSERT_TRUE(c.server->sendSignal(SIGTERM));
  EXPECT_EQ(untimed(wsRead(ws).payload), "* " + tc.who + " left\n");
  EXPECT_TRUE(tb.waitFor("* " + tc.who + " left"));
  EXPECT_TRUE(waitUntil(
      [&] {
        return fleetMembers(a) == sorted({wsWho, tb.who});
      },
      4s))
      << ::testing::PrintToString(fleetMembers(a));
  EXPECT_EQ(c.server->waitExit(15s), 0) << c.server->output();
}

// Redis is SIGKILLed and restarted on the same port: each instance's members chat locally
// meanwhile, are told of the gap on both ends, and the fleet is one room again after.
TEST(ChatRedisTest, RedisKilledAndRestartedLocalChatGoesOnAndTheGapIsAnnounced) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a("node-a", redis.url()), b("node-b", redis.url());
  ASSERT_TRUE(a.waitLinked()) << a.server->output();
  ASSERT_TRUE(b.waitLinked()) << b.server->output();
  Member ma(a), mb(b);
  EXPECT_TRUE(ma.waitFor("* " + mb.who + " joined"));
  ma.say("before");
  EXPECT_TRUE(ma.waitFor(ma.who + " before"));
  EXPECT_TRUE(mb.waitFor(ma.who + " before"));
  EXPECT_EQ(a.get("/readyz").status, 200);
  const double inBefore = metricsOf(a)["chat_messages_in_total{room=\"lobby\"}"];

  const std::size_t markA = a.server->lineCount(), markB = b.server->lineCount();
  redis.kill();
  EXPECT_TRUE(ma.waitFor(kLost)) << a.server->output();
  EXPECT_TRUE(mb.waitFor(kLost)) << b.server->output();
  EXPECT_TRUE(
      a.server->waitForLine("room lobby: lost the link to the other instances (Redis at 127.0.0.1:", 5s, markA));
  HttpResponse notReady;
  EXPECT_TRUE(waitUntil([&] { return (notReady = a.get("/readyz")).status == 503; }, 10s)) << notReady.raw;
  EXPECT_NE(notReady.body.find("chat room lobby is not linked to the other instances: Redis at 127.0.0.1:" +
                               std::to_string(redis.port())),
            std::string::npos)
      << notReady.body;
  auto during = metricsOf(a);
  EXPECT_EQ(during["chat_redis_connected{room=\"lobby\"}"], 0);
  EXPECT_NE(a.get("/chat/members").body.find(R"("scope":"local","count":1,)"), std::string::npos);

  // Local chat goes on, on each side.
  ma.say("during on a");
  mb.say("during on b");
  EXPECT_TRUE(ma.waitFor(ma.who + " during on a"));
  EXPECT_TRUE(mb.waitFor(mb.who + " during on b"));
  EXPECT_GT(metricsOf(a)["chat_messages_in_total{room=\"lobby\"}"], inBefore);

  redis.start();
  EXPECT_TRUE(ma.waitFor(kRestored, 30s)) << a.server->output();
  EXPECT_TRUE(mb.waitFor(kRestored, 30s)) << b.server->output();
  EXPECT_TRUE(a.waitLinked(markA));
  EXPECT_TRUE(waitUntil([&] { return a.get("/readyz").status == 200 && b.get("/readyz").status == 200; }, 10s));
  EXPECT_EQ(metricsOf(a)["chat_redis_connected{room=\"lobby\"}"], 1);

  ma.say("after");
  mb.say("after too");
  EXPECT_TRUE(mb.waitFor(ma.who + " after"));
  EXPECT_TRUE(ma.waitFor(mb.who + " after too"));
  EXPECT_TRUE(ma.waitFor(ma.who + " after"));
  EXPECT_TRUE(mb.waitFor(mb.who + " after too"));
  // Exactly once each, and what was said during the outage stayed on its side.
  for (Member* m : {&ma, &mb}) {
    EXPECT_EQ(m->count(ma.who + " before"), 1u) << m->who;
    EXPECT_EQ(m->count(ma.who + " after"), 1u) << m->who;
    EXPECT_EQ(m->count(kLost), 1u) << m->who;
    EXPECT_EQ(m->count(kRestored), 1u) << m->who;
  }
  EXPECT_FALSE(mb.sawText("during on a"));
  EXPECT_FALSE(ma.sawText("during on b"));
  EXPECT_EQ(ma.count(ma.who + " during on a"), 1u);
  EXPECT_EQ(a.countLines("lost the link to the other instances"), 1u) << "logged once per change, not per attempt";
  EXPECT_TRUE(b.server->running());
  (void)markB;
  if (HasFailure()) {
    for (Member* m : {&ma, &mb}) {
      std::string all;
      for (const std::string& line : m->seen) all += "  " + line + "\n";
      ADD_FAILURE() << m->who << " saw:\n" << all;
    }
    ADD_FAILURE() << a.server->output() << "\n-----\n" << b.server->output();
  }
}

// Redis is not there when the instance starts: it starts anyway, serves its members
// locally, and joins the fleet when Redis comes.
TEST(ChatRedisTest, RedisDownAtStartUpTheInstanceStartsAndJoinsWhenItComes) {
  REQUIRE_REDIS();
  RedisProcess redis(0, /*start=*/false);
  Instance a("node-a", redis.url());
  EXPECT_TRUE(a.server->waitForLine(
      "room lobby: Redis at 127.0.0.1:" + std::to_string(redis.port()) + " is unreachable (", 10s))
      << a.server->output();
  Member ma(a);
  ma.say("alone");
  EXPECT_TRUE(ma.waitFor(ma.who + " alone")) << "served locally";
  HttpResponse r;
  EXPECT_TRUE(waitUntil([&] { return (r = a.get("/readyz")).status == 503; }, 5s)) << r.raw;
  EXPECT_NE(a.get("/chat/history").body.find(R"("scope":"local")"), std::string::npos);

  redis.start();
  EXPECT_TRUE(ma.waitFor(kConnected, 30s)) << a.server->output();
  EXPECT_TRUE(a.waitLinked());
  EXPECT_TRUE(waitUntil([&] { return a.get("/readyz").status == 200; }, 10s));
  Instance b("node-b", redis.url());
  ASSERT_TRUE(b.waitLinked()) << b.server->output();
  Member mb(b);
  EXPECT_TRUE(ma.waitFor("* " + mb.who + " joined"));
  ma.say("together");
  EXPECT_TRUE(mb.waitFor(ma.who + " together"));
  EXPECT_FALSE(mb.sawText("alone")) << "not replayed";
  EXPECT_EQ(a.countLines("is unreachable ("), 1u) << "said once, not per attempt:\n" << a.server->output();
}

// An instance is SIGKILLed: its members leave the fleet's list within the expiry of its
// entry; the members of the other instances chat on.
TEST(ChatRedisTest, AnInstanceKilledDisappearsFromTheMembersWithinTheExpiry) {
  REQUIRE_REDIS();
  RedisProcess redis;
  Instance a("node-a", redis.url()), b("node-b", redis.url()), c("node-c", redis.url());
  for (Instance* i : {&a, &b, &c}) ASSERT_TRUE(i->waitLinked()) << i->server->output();
  Member ma(a), mb(b), mc1(c), mc2(c);
  std::vector<std::string> listed;
  ASSERT_TRUE(waitUntil([&] { return (listed = fleetMembers(a)).size() == 4; }, 15s))
      << ::testing::PrintToString(listed);
  EXPECT_EQ(listed, sorted({ma.who, mb.who, mc1.who, mc2.who}));

  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.server->sendSignal(SIGKILL));
  EXPECT_TRUE(c.server->waitExit(10s).has_value());
  EXPECT_TRUE(waitUntil(
      [&] {
        return (listed = fleetMembers(a)) == sorted({ma.who, mb.who});
      },
      15s))
      << ::testing::PrintToString(listed);
  const auto gone = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
  EXPECT_LE(gone.count(), 10000) << "6 s expiry + 1 s refresh + slack";
  EXPECT_TRUE(waitUntil([&] { return fleetMembers(b) == sorted({ma.who, mb.who}); }, 5s));

  ma.say("still here");
  EXPECT_TRUE(mb.waitFor(ma.who + " still here"));
  mb.say("me too");
  EXPECT_TRUE(ma.waitFor(mb.who + " me too"));
  EXPECT_EQ(a.get("/readyz").status, 200);
  EXPECT_TRUE(a.server->running());
  EXPECT_TRUE(b.server->running());
}

}  // namespace
}  // namespace e2e
