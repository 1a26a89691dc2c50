// The fleet recipe, tested as shipped: dist/haproxy/haproxy.cfg in front of two instances
// configured with dist/haproxy/instance.yaml, their chat rooms shared through Redis. The
// files are read from the source tree and only their addresses, ports and instance names
// are replaced (every replaced text must be found, so a change of the recipe's shape
// fails here instead of testing something else).
//
// Redis, both instances and HAProxy run on 127.0.0.1 ephemeral ports and are stopped by
// PID. Under load through HAProxy, one instance gets SIGTERM: no request may fail, both
// instances answer before and only the survivor after, the stopped one exits 0, and its
// chat members are told and closed and, reconnecting, land on the survivor and still talk
// to the rest of the room. Skipped, saying why, without haproxy or redis-server.
#include <gtest/gtest.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "ClientThreads.h"
#include "ChatLines.h"
#include "Command.h"
#include "HaproxyProcess.h"
#include "RedisProcess.h"
#include "ServerProcess.h"
#include "TestClient.h"
#include "Wait.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;
using Replacements = std::vector<std::pair<std::string, std::string>>;

// A file of the source tree as shipped; throws naming it if it cannot be read.
std::string readShipped(const std::string& relative) {
  const std::string path = std::string(MICROSERVER_SOURCE_DIR) + "/" + relative;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the shipped " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `text` with every occurrence of each `from` replaced by its `to`, in order; throws if a
// `from` is not there (the shipped file changed: this test must be changed with it).
std::string substitute(std::string text, const Replacements& replacements, const std::string& file) {
  for (const auto& [from, to] : replacements) {
    std::size_t at = text.find(from);
    if (at == std::string::npos) throw std::runtime_error(file + " no longer contains '" + from + "'");
    for (; at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  }
  return text;
}

const std::string kStaticPath = "/site.txt";
const std::string kStaticBody = std::string(3000, 's') + "\n";  // a few packets' worth
const std::string kPluginPath = "/hello/fleet";
const std::string kPluginBody = "Hello, fleet!\n";

// One microserver of the fleet: instance.yaml as shipped, with `name`'s address replaced
// by ephemeral loopback ports (read back from what the server prints), a plugin route
// added before the site's.
struct Instance {
  std::string name;
  std::unique_ptr<ServerProcess> server;
  int chatPort = 0;

  Instance(std::string instanceName, const TempDir& dir, const RedisProcess& redis) : name(std::move(instanceName)) {
    ServerOptions options;
    options.configText = substitute(
        readShipped("dist/haproxy/instance.yaml"),
        {{"10.0.0.1:8081", "127.0.0.1:0"},  // (the harness's --listen 127.0.0.1:0 says the same)
         {"10.0.0.1:9998", "127.0.0.1:0"},
         {"redis://10.0.0.9:6379/0", redis.url()},
         {"instance: node-a", "instance: " + name},
         {"  - { path: '^/', static: www }\n",
          "  - { path: '^/hello/(?P<name>[a-z]+)$', handler: hello }\n  - { path: '^/', static: " + dir.path() +
              "/www }\n"}},
        "dist/haproxy/instance.yaml");
    options.www = dir.path() + "/www";
    options.plugins = MICROSERVER_PLUGIN_DIR;
    server = ServerProcess::start(options);
    auto line = server->waitForLine("service chat on 127.0.0.1:", 5s);
    if (!line) throw std::runtime_error(name + " printed no chat service line:\n" + server->output());
    chatPort = std::stoi(line->substr(line->rfind(':') + 1));
  }
  bool waitLinked() {
    return server->waitForLine("room lobby: linked to the other instances through Redis", 20s).has_value();
  }
  // Requests of the load this instance has answered, from its access log (stdout).
  std::size_t loggedLoadRequests() const {
    std::size_t n = 0;
    for (const std::string& line : server->lines())
      n += line.find("\"GET " + kStaticPath + " ") != std::string::npos ||
                   line.find("\"GET " + kPluginPath + " ") != std::string::npos
               ? 1
               : 0;
    return n;
  }
};

// Redis, instances node-a and node-b, and HAProxy with the shipped haproxy.cfg.
struct Fleet {
  TempDir dir;
  RedisProcess redis;
  std::unique_ptr<Instance> a, b;
  int webPort = freeLoopbackPort();   // HAProxy's HTTP frontend
  int chatPort = freeLoopbackPort();  // HAProxy's chat frontend
  std::unique_ptr<HaproxyProcess> haproxy;

  Fleet() {
    dir.write("www/site.txt", kStaticBody);
    a = std::make_unique<Instance>("node-a", dir, redis);
    b = std::make_unique<Instance>("node-b", dir, redis);
    // /readyz says 503 until the room is linked: HAProxy would start with them down.
    if (!a->waitLinked()) throw std::runtime_error("node-a not linked to Redis:\n" + a->server->output());
    if (!b->waitLinked()) throw std::runtime_error("node-b not linked to Redis:\n" + b->server->output());
    const std::string http = "127.0.0.1:";
    const std::string config = substitute(
        readShipped("dist/haproxy/haproxy.cfg"),
        {{"bind :80\n", "bind 127.0.0.1:" + std::to_string(webPort) + "\n"},
         {"bind :9999\n", "bind 127.0.0.1:" + std::to_string(chatPort) + "\n"},
         {"10.0.0.1:8081", http + std::to_string(a->server->port())},
         {"10.0.0.2:8081", http + std::to_string(b->server->port())},
         {"10.0.0.1:9998", http + std::to_string(a->chatPort)},
         {"10.0.0.2:9998", http + std::to_string(b->chatPort)},
         {"addr 10.0.0.1 port 8081", "addr 127.0.0.1 port " + std::to_string(a->server->port())},
         {"addr 10.0.0.2 port 8081", "addr 127.0.0.1 port " + std::to_string(b->server->port())}},
        "dist/haproxy/haproxy.cfg");
    haproxy = std::make_unique<HaproxyProcess>(dir, config, std::vector<int>{webPort, chatPort});
  }
};

// ---------------------------------------------------------------------------------------
// The load: client threads through HAProxy, each alternating between a keep-alive
// connection (a run of requests) and a new connection per request, asking for the static
// file and the plugin route in turn. Every response is recorded; anything but a 200 with
// the right body is a failure (nothing is retried here).

struct Outcome {
  Clock::time_point sent;
  Clock::time_point done;
  std::string servedBy;  // X-Served-By, set by HAProxy: the instance that answered
  std::string failure;   // empty: a 200 with the right body
};

class Load {
 public:
  Load(int port, int threads) : port_(port) {
    clients_.start(threads, [this](int i) { run(i); });
  }
  ~Load() { stop(); }

  void stop() { clients_.stop(); }
  std::vector<Outcome> outcomes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return outcomes_;
  }
  std::size_t count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return outcomes_.size();
  }
  // How many requests sent after `since` (by instance, "" for all) have been answered.
  std::size_t answeredSince(Clock::time_point since, const std::string& by = "") const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(std::count_if(outcomes_.begin(), outcomes_.end(), [&](const Outcome& o) {
      return o.sent >= since && o.failure.empty() && (by.empty() || o.servedBy == by);
    }));
  }

 private:
  void run(int thread) {
    for (int round = 0; !clients_.stopping(); ++round) {
      // Even rounds: 20 requests on one keep-alive connection; odd rounds: one request on
      // a new connection that the client closes (Connection: close).
      const bool keepAlive = (round + thread) % 2 == 0;
      const int requests = keepAlive ? 20 : 1;
      std::unique_ptr<Connection> c;
      for (int k = 0; k < requests && !clients_.stopping(); ++k) {
        const bool plugin = (round + k + thread) % 2 == 1;
        const std::string& path = plugin ? kPluginPath : kStaticPath;
        Outcome o;
        o.sent = Clock::now();
        try {
          if (!c) c = std::make_unique<Connection>(port_);
          c->sendAll("GET " + path + " HTTP/1.1\r\nHost: fleet.test\r\n" +
                     (keepAlive ? "" : "Connection: close\r\n") + "\r\n");
          HttpResponse r = c->readResponse();
          o.servedBy = r.header("X-Served-By");
          const std::string& body = plugin ? kPluginBody : kStaticBody;
          if (r.status != 200 || r.body != body)
            o.failure = "GET " + path + ": " + std::to_string(r.status) + " from '" + o.servedBy + "': " +
                        escapeBytes(r.body, 200);
          else if (o.servedBy.empty())
            o.failure = "GET " + path + ": no X-Served-By header";
        } catch (const std::exception& e) {
          o.failure = "GET " + path + ": " + e.what();
          c.reset();  // a new connection for the next request
        }
        o.done = Clock::now();
        std::lock_guard<std::mutex> lock(mutex_);
        outcomes_.push_back(std::move(o));
      }
    }
  }

  int port_;
  mutable std::mutex mutex_;
  std::vector<Outcome> outcomes_;
  ClientThreads clients_;  // last: its threads end before the members they use go
};

// ---------------------------------------------------------------------------------------
// A chat member through HAProxy's chat frontend; which instance took it is learnt from its
// own join line ("* 127.0.0.1:PORT@node-b joined").

struct Member {
  Connection c;
  std::string who;       // "127.0.0.1:PORT@node-x": how the room names it
  std::string instance;  // node-x

  explicit Member(int port) : c(port, 20s) {
    const std::string prefix = "* " + localAddress(c) + "@";
    std::string line = untimed(c.readLine());
    if (line.rfind(prefix, 0) != 0 || line.size() < prefix.size() + 7 ||
        line.compare(line.size() - 7, 7, " joined") != 0)
      throw std::runtime_error("expected our join (" + prefix + "...), got: " + line);
    instance = line.substr(prefix.size(), line.size() - 7 - prefix.size());
    who = localAddress(c) + "@" + instance;
  }
  void say(const std::string& text) { c.sendAll(text + "\n"); }
  // Reads on until the line `line` (others' joins and leaves go past); false at a timeout
  // or a close.
  bool waitFor(const std::string& line, std::chrono::milliseconds timeout = 20s) {
    c.setTimeout(timeout);
    try {
      while (untimed(c.readLine()) != line) {
      }
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
};

// Members through HAProxy (leastconn) until one sits on each instance.
std::pair<std::unique_ptr<Member>, std::unique_ptr<Member>> membersOnBoth(int port) {
  std::vector<std::unique_ptr<Member>> members;
  for (int attempt = 0; attempt < 8; ++attempt) {
    members.push_back(std::make_unique<Member>(port));
    auto on = [&](const std::string& name) {
      return std::find_if(members.begin(), members.end(), [&](const auto& m) { return m && m->instance == name; });
    };
    auto a = on("node-a"), b = on("node-b");
    if (a != members.end() && b != members.end()) return {std::move(*a), std::move(*b)};
  }
  throw std::runtime_error("8 chat members through HAProxy and not one on each instance");
}

// How many of HAProxy's request log lines say it retried: the last of the
// actconn/feconn/beconn/srv_conn/retries counters after the 4-letter termination state
// ("+N": redispatched to another server).
std::size_t retriedRequests(const std::string& log) {
  static const std::regex retried(R"( [A-Za-z-]{4} \d+/\d+/\d+/\d+/(\+\d+|[1-9]\d*) )");
  std::size_t n = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) n += std::regex_search(line, retried) ? 1 : 0;
  return n;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

TEST(FleetTest, AnInstanceStoppedUnderLoadFailsNoRequestAndItsChatMembersMoveToTheSurvivor) {
  if (!haveProgram("haproxy")) GTEST_SKIP() << "haproxy is not installed (scripts/packages-test.txt lists it)";
  if (!RedisProcess::available()) GTEST_SKIP() << RedisProcess::missingReason();
  Fleet fleet;

  // The chat: a member on each instance, and they hear each other.
  auto [onA, onB] = membersOnBoth(fleet.chatPort);
  onA->say("hello from a");
  ASSERT_TRUE(onB->waitFor(onA->who + " hello from a")) << fleet.b->server->output();
  onB->say("hello from b");
  ASSERT_TRUE(onA->waitFor(onB->who + " hello from b")) << fleet.a->server->output();

  // The load, until both instances have answered a good part of it.
  const auto start = Clock::now();
  Load load(fleet.webPort, 4);
  ASSERT_TRUE(waitUntil(
      [&] { return load.answeredSince(start, "node-a") >= 100 && load.answeredSince(start, "node-b") >= 100; }, 20s))
      << "both instances did not answer through HAProxy: " << load.count() << " requests\n"
      << fleet.haproxy->log();

  // node-a is stopped under load; its exit is awaited meanwhile, to time it.
  const auto stop = Clock::now();
  ASSERT_TRUE(fleet.a->server->sendSignal(SIGTERM));
  auto exitOfA = std::async(std::launch::async, [&] {
    std::optional<int> status = fleet.a->server->waitExit(30s);
    return std::make_pair(status, Clock::now());
  });
  // Its member is told, then closed; reconnecting, it lands on node-b and talks to the room.
  EXPECT_TRUE(onA->waitFor("* the server is stopping")) << fleet.a->server->output();
  EXPECT_TRUE(onA->c.isClosedByPeer(20s)) << "node-a's member was not closed";
  onA->c.close();  // as a client does at the end of the stream (node-a waits up to 2 s for it)
  Member back(fleet.chatPort);
  EXPECT_EQ(back.instance, "node-b");
  back.say("back on b");
  EXPECT_TRUE(onB->waitFor(back.who + " back on b"));
  onB->say("welcome back");
  EXPECT_TRUE(back.waitFor(onB->who + " welcome back"));

  const std::pair<std::optional<int>, Clock::time_point> exitOfAResult = exitOfA.get();
  const std::optional<int> exitStatus = exitOfAResult.first;
  const Clock::time_point exited = exitOfAResult.second;
  ASSERT_TRUE(exitStatus.has_value()) << "node-a did not stop:\n" << fleet.a->server->output();
  EXPECT_EQ(*exitStatus, 0) << fleet.a->server->output();
  // The load goes on for a while on node-b alone.
  EXPECT_TRUE(waitUntil([&] { return load.answeredSince(exited, "node-b") >= 200; }, 20s));
  load.stop();
  const auto end = Clock::now();

  const std::vector<Outcome> outcomes = load.outcomes();
  std::vector<std::string> failures;
  std::size_t afterStop = 0, byAAfterStop = 0, byBAfterStop = 0, byAAfterExit = 0, byA = 0, byB = 0;
  for (const Outcome& o : outcomes) {
    if (!o.failure.empty()) failures.push_back(o.failure);
    byA += o.servedBy == "node-a" ? 1 : 0;
    byB += o.servedBy == "node-b" ? 1 : 0;
    if (o.sent < stop) continue;
    ++afterStop;
    byAAfterStop += o.servedBy == "node-a" ? 1 : 0;
    byBAfterStop += o.servedBy == "node-b" ? 1 : 0;
    byAAfterExit += o.sent >= exited && o.servedBy == "node-a" ? 1 : 0;
  }
  const std::string haproxyLog = fleet.haproxy->log();
  std::ostringstream figures;
  figures << "fleet: " << outcomes.size() << " requests in " << seconds(end - start) << " s, " << failures.size()
          << " failed; " << afterStop << " sent after the SIGTERM (" << byAAfterStop << " answered by node-a, "
          << byBAfterStop << " by node-b); node-a exited "
          << seconds(exited - stop) << " s after it; HAProxy retried " << retriedRequests(haproxyLog)
          << " request(s)";
  std::cout << figures.str() << std::endl;
  RecordProperty("figures", figures.str());

  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, the first: " << failures.front() << "\n"
                                << haproxyLog;
  EXPECT_EQ(byAAfterExit, 0u);
  // It was the health check that took node-a out (its /readyz said 503), while it still
  // served: requests sent after the SIGTERM were answered by it too.
  EXPECT_NE(haproxyLog.find("Server microserver/node-a is DOWN, reason: Layer7 wrong status, code: 503"),
            std::string::npos)
      << haproxyLog;
  EXPECT_GT(byAAfterStop, 0u);
  // Every answer HAProxy passed on is in the access log of the instance it names, and
  // nothing else of the load is (no request answered twice, none lost on the way).
  EXPECT_EQ(fleet.a->loggedLoadRequests(), byA) << fleet.a->server->output();
  EXPECT_TRUE(waitUntil([&] { return fleet.b->loggedLoadRequests() == byB; }, 10s))
      << fleet.b->loggedLoadRequests() << " logged by node-b, " << byB << " answers name it";
}

// server.limits.shutdown_delay on its own: after SIGTERM, /readyz answers 503 while the
// listeners still accept and everything else is served, every response closing its
// connection (one kept alive from before included: it is not closed under its client);
// a second SIGTERM ends the delay at once.
TEST(FleetTest, DuringTheShutdownDelayOnlyReadyzSays503AndASecondSigtermEndsIt) {
  TempDir dir;
  dir.write("www/site.txt", kStaticBody);
  ServerOptions options;
  options.configText = "server: { limits: { shutdown_delay: 60s } }\n"
                       "routes:\n  - { path: '^/', static: " + dir.path() + "/www }\n";
  options.www = dir.path() + "/www";
  auto server = ServerProcess::start(options);
  Connection keptAlive(server->port());
  keptAlive.sendAll("GET /site.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(keptAlive.readResponse().status, 200);
  EXPECT_EQ(httpGet(server->port(), "/readyz").status, 200);

  std::size_t mark = server->lineCount();
  ASSERT_TRUE(server->sendSignal(SIGTERM));
  ASSERT_TRUE(server->waitForLine("not ready (/readyz answers 503); serving on for 60000 ms", 10s, mark))
      << server->output();
  EXPECT_EQ(httpGet(server->port(), "/readyz").status, 503);
  EXPECT_EQ(httpGet(server->port(), "/healthz").status, 200);
  HttpResponse fresh = httpGet(server->port(), "/site.txt", {{"Connection", "keep-alive"}});
  EXPECT_EQ(fresh.status, 200);
  EXPECT_EQ(fresh.body, kStaticBody);
  EXPECT_EQ(fresh.header("Connection"), "close");
  keptAlive.sendAll("GET /site.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  HttpResponse old = keptAlive.readResponse();
  EXPECT_EQ(old.status, 200);
  EXPECT_EQ(old.body, kStaticBody);
  EXPECT_EQ(old.header("Connection"), "close");
  EXPECT_TRUE(keptAlive.isClosedByPeer(10s));
  EXPECT_TRUE(server->running());

  mark = server->lineCount();
  ASSERT_TRUE(server->sendSignal(SIGTERM));
  const std::optional<int> status = server->waitExit(10s);
  ASSERT_TRUE(status.has_value()) << "a second SIGTERM did not end the delay:\n" << server->output();
  EXPECT_EQ(*status, 0) << server->output();
  EXPECT_TRUE(server->waitForLine("stopping now (a second stop signal ends the shutdown delay)", 1s, mark))
      << server->output();
}

}  // namespace
}  // namespace e2e
