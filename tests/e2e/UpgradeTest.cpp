// Upgrading in place: SIGUSR2 starts the binary again with the listening sockets handed
// over; the new process takes new connections, the old one finishes what it has and
// exits 0. Under load no request fails and no connection is refused; chat members of the
// old process are told and closed, new ones join the new process; a new process that
// fails (a bad routes.yaml, a binary that never gets ready) leaves the old one serving.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "ClientThreads.h"
#include "ChatLines.h"
#include "NotifySocket.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kFileBody(4096, 'u');

// The pid in "... as pid N;" of `line`, or -1.
pid_t pidAfter(const std::string& line, const std::string& marker) {
  std::size_t at = line.find(marker);
  if (at == std::string::npos) return -1;
  return static_cast<pid_t>(std::stol(line.substr(at + marker.size())));
}

// A server with a static file, a plugin route, the delay plugin and the chat service,
// started through a symbolic link in its folder: what the link names is "the installed
// binary" a test may replace.
struct UpgradeServer {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  int chatPort = 0;
  std::string binary;  // the link

  explicit UpgradeServer(const std::string& grace = "5s", bool handsOver = true,
                         const std::string& notifySocket = "") {
    dir.write("www/file.txt", kFileBody);
    binary = dir.path() + "/microserver";
    fs::create_symlink(MICROSERVER_BINARY, binary);
    ServerOptions options;
    options.binary = binary;
    options.handsOver = handsOver;
    if (!notifySocket.empty()) options.env = {{"NOTIFY_SOCKET", notifySocket}};
    options.plugins = MICROSERVER_PLUGIN_DIR;
    options.configText = "server: { www: " + dir.path() + "/www, access_log: 'off', limits: { shutdown_grace: " +
                         grace +
                         " } }\n"
                         "routes:\n"
                         "  - { path: '^/hello/(?P<name>[A-Za-z]+)$', handler: hello }\n"
                         "  - { path: '^/delay/(?P<ms>[0-9]+)$', handler: delay }\n"
                         "  - { path: '^/', static: " +
                         dir.path() +
                         "/www }\n"
                         "services:\n"
                         "  - { plugin: chat, listen: '127.0.0.1:0', config: {} }\n";
    server = ServerProcess::start(options);
    auto line = server->waitForLine("service chat on 127.0.0.1:", 5s);
    if (!line) throw std::runtime_error("no service line: " + server->output());
    chatPort = std::stoi(line->substr(line->rfind(':') + 1));
  }

  // Sends SIGUSR2 and returns the new process's pid from the old one's log.
  pid_t startUpgrade() {
    const std::size_t mark = server->lineCount();
    if (!server->sendSignal(SIGUSR2)) throw std::runtime_error("the server is gone");
    auto line = server->waitForLine("upgrade: started ", 10s, mark);
    if (!line) throw std::runtime_error("no 'upgrade: started' line:\n" + server->output());
    return pidAfter(*line, " as pid ");
  }
};

// Clients that keep the server busy until stopped: kept-alive connections and a new
// connection per request, GETs of a static file and of a plugin route, and a few delayed
// answers. Every failure is counted, with its message.
class Load {
 public:
  Load(int port, int threads) : port_(port) {
    clients_.start(threads, [this](int i) { run(i); });
  }
  ~Load() { stop(); }
  void stop() { clients_.stop(); }
  long answered() const { return answered_.load(); }
  long failed() const { return failed_.load(); }
  long refused() const { return refused_.load(); }
  long retried() const { return retried_.load(); }
  std::string failures() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  // Until `count` requests have been answered; false after `timeout`.
  bool waitForAnswers(long count, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (answered() < count) {
      if (Clock::now() >= deadline || failed() > 0) return false;
      std::this_thread::sleep_for(10ms);  // polling a counter, bounded by the deadline
    }
    return true;
  }

 private:
  void fail(const std::string& what) {
    ++failed_;
    std::lock_guard<std::mutex> lock(mutex_);
    if (messages_.size() < 4000) messages_ += what + "\n";
  }
  // A new connection; a refusal is counted as such.
  std::optional<Connection> connect() {
    try {
      return Connection(port_);
    } catch (const std::exception& e) {
      ++refused_;
      fail(e.what());
      return std::nullopt;
    }
  }
  bool check(const HttpResponse& r, const std::string& target) {
    bool good = r.status == 200 && (target != "/file.txt" || r.body == kFileBody) &&
                (target != "/hello/Load" || r.body == "Hello, Load!\n");
    if (good) return true;
    fail("GET " + target + ": " + std::to_string(r.status) + " " + escapeBytes(r.body, 100));
    return false;
  }
  void run(int index) {
    for (unsigned round = static_cast<unsigned>(index); !clients_.stopping(); ++round) {
      if (round % 2 == 0) {
        keptAlive(round);
      } else {
        for (int i = 0; i < 10 && !clients_.stopping(); ++i) {
          const std::string target = i % 2 ? "/hello/Load" : "/file.txt";
          try {
            if (check(httpGet(port_, target), target)) ++answered_;
          } catch (const std::exception& e) {
            std::string what = e.what();
            if (what.rfind("cannot connect", 0) == 0) ++refused_;
            fail("GET " + target + " on a new connection: " + what);
          }
        }
        if (round % 5 == 1) {  // now and then an answer that takes a while
          try {
            if (check(httpGet(port_, "/delay/200"), "/delay/200")) ++answered_;
          } catch (const std::exception& e) {
            fail(std::string("GET /delay/200: ") + e.what());
          }
        }
      }
    }
  }
  // 20 requests on kept-alive connections. The old process closes an idle kept-alive
  // connection as it drains; a request that crossed that close on the wire got nothing,
  // and is sent again on a new connection, as HTTP clients do (RFC 9112, 9.3.1).
  void keptAlive(unsigned round) {
    std::optional<Connection> c = connect();
    bool reused = false;
    for (int i = 0; i < 20 && c && !clients_.stopping(); ++i) {
      const std::string target = (i + round) % 2 ? "/hello/Load" : "/file.txt";
      const std::string request = "GET " + target + " HTTP/1.1\r\nHost: upgrade\r\n\r\n";
      try {
        c->sendAll(request);
        HttpResponse r = c->readResponse();
        if (!check(r, target)) return;
        ++answered_;
        reused = true;
        if (r.header("connection") == "close") {  // the old process is finishing
          c = connect();
          reused = false;
        }
      } catch (const std::exception& e) {
        std::string what = e.what();
        if (!reused || what.find("received: nothing") == std::string::npos) {
          fail("GET " + target + " on a kept-alive connection: " + what);
          return;
        }
        ++retried_;
        c = connect();
        reused = false;
        --i;
      }
    }
  }

  const int port_;
  std::atomic<long> answered_{0}, failed_{0}, refused_{0}, retried_{0};
  mutable std::mutex mutex_;
  std::string messages_;
  ClientThreads clients_;  // last: its threads end before the members they use go
};

TEST(UpgradeTest, UnderLoadNoRequestFailsAndTheNewProcessTakesOver) {
  UpgradeServer s;
  const int port = s.server->port();
  Load load(port, 4);
  ASSERT_TRUE(load.waitForAnswers(300, 20s)) << load.failures() << s.server->output();

  // Answers that are still being prepared when the old process stops accepting.
  std::vector<Connection> slow;
  for (int i = 0; i < 3; ++i) {
    slow.emplace_back(port);
    slow.back().sendAll("GET /delay/2500 HTTP/1.1\r\nHost: upgrade\r\n\r\n");
  }
  const std::size_t mark = s.server->lineCount();
  const auto signalled = Clock::now();
  const long atSignal = load.answered();
  const pid_t newPid = s.startUpgrade();
  ASSERT_GT(newPid, 0) << s.server->output();
  ForeignProcess successor(newPid);
  ASSERT_TRUE(s.server->waitForLine("upgrade: pid " + std::to_string(newPid) +
                                        " is ready; finishing the requests in flight and exiting",
                                    20s, mark))
      << s.server->output();
  const auto ready = Clock::now();
  const long atReady = load.answered();
  int slowAnsweredAfterReady = 0;
  for (Connection& c : slow) {
    HttpResponse r = c.readResponse();
    EXPECT_EQ(r.status, 200) << escapeBytes(r.raw);
    EXPECT_EQ(r.body, "{\"delayed_ms\":2500}\n");
    slowAnsweredAfterReady += Clock::now() > ready;
  }
  ASSERT_EQ(s.server->waitExit(20s), 0) << s.server->output();
  const auto exited = Clock::now();
  const long atExit = load.answered();
  EXPECT_TRUE(s.server->waitForLine("stopped; pid " + std::to_string(newPid) + " serves from now on", 5s, mark));
  // Only the new process can answer now.
  ASSERT_TRUE(load.waitForAnswers(atExit + 300, 20s)) << load.failures() << s.server->output();
  load.stop();
  EXPECT_EQ(load.failed(), 0) << load.failures();
  EXPECT_EQ(load.refused(), 0);
  EXPECT_EQ(httpGet(port, "/file.txt").body, kFileBody);
  EXPECT_TRUE(s.server->waitForLine("upgrade: pid " + std::to_string(newPid) + " is serving", 5s, mark));

  auto ms = [](Clock::duration d) { return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); };
  std::printf("[ figures  ] %ld requests answered, %ld failed, %ld connections refused, %ld retried after an idle "
              "kept-alive close; SIGUSR2 to new process ready: %lld ms (%ld answered), ready to old exit: %lld ms "
              "(%ld answered), %d of 3 slow answers came after the handover\n",
              load.answered(), load.failed(), load.refused(), load.retried(), ms(ready - signalled),
              atReady - atSignal, ms(exited - ready), atExit - atReady, slowAnsweredAfterReady);
  EXPECT_TRUE(successor.stop()) << "the new process did not stop on SIGTERM";
}

// A TCP chat member.
struct Member {
  Connection c;
  std::string address;
  explicit Member(int port) : c(port), address(localAddress(c)) {
    std::string line = untimed(c.readLine());
    if (line != "* " + address + " joined") throw std::runtime_error("expected our join, got: " + line);
  }
  std::string next() { return untimed(c.readLine()); }
};

// Also: under systemd the old process hands the service over (MAINPID=) instead of
// telling it that the service stops.
TEST(UpgradeTest, ChatMembersOfTheOldProcessAreToldAndClosedNewOnesJoinTheNewProcess) {
  TempDir managerDir;
  NotifySocket manager(managerDir.path() + "/notify");
  UpgradeServer s("1s", true, manager.name());
  ASSERT_NE(manager.until("READY=1"), "");
  Member old(s.chatPort);
  const std::size_t mark = s.server->lineCount();
  const pid_t newPid = s.startUpgrade();
  ASSERT_GT(newPid, 0);
  ForeignProcess successor(newPid);
  EXPECT_EQ(old.next(), "* the server is stopping");
  EXPECT_NE(old.c.readUntilClosed(10s).how, CloseKind::Timeout);
  old.c.close();
  ASSERT_EQ(s.server->waitExit(15s), 0) << s.server->output();
  ASSERT_TRUE(s.server->waitForLine("upgrade: pid " + std::to_string(newPid) + " is ready", 1s, mark));
  std::string before;
  EXPECT_NE(manager.until("MAINPID=" + std::to_string(newPid) + "\n", 5s, &before), "");
  EXPECT_EQ(before.find("STOPPING=1"), std::string::npos) << before;
  // The old process is gone: this member is the new one's.
  Member fresh(s.chatPort);
  fresh.c.sendAll("hello again\n");
  EXPECT_EQ(fresh.next(), fresh.address + " hello again");
  EXPECT_TRUE(successor.stop());
}

TEST(UpgradeTest, ABadConfigurationFailsTheUpgradeAndTheOldProcessServesOn) {
  UpgradeServer s;
  const std::size_t mark = s.server->lineCount();
  TempDir other;
  // The same file, broken: the new process refuses it, naming it.
  fs::copy_file(s.server->configPath(), other.path() + "/good.yaml");
  { std::ofstream(s.server->configPath(), std::ios::app) << "routes: [ {\n"; }
  const pid_t newPid = s.startUpgrade();
  ASSERT_GT(newPid, 0);
  auto failed = s.server->waitForLine("upgrade failed: pid " + std::to_string(newPid), 20s, mark);
  ASSERT_TRUE(failed) << s.server->output();
  EXPECT_NE(failed->find("exited with status 2"), std::string::npos) << *failed;
  EXPECT_TRUE(s.server->waitForLine(s.server->configPath() + ":", 1s, mark)) << s.server->output();
  EXPECT_EQ(httpGet(s.server->port(), "/file.txt").body, kFileBody);
  // Fixed, it goes through: the failed attempt left nothing behind.
  fs::copy_file(other.path() + "/good.yaml", s.server->configPath(), fs::copy_options::overwrite_existing);
  const pid_t secondPid = s.startUpgrade();
  ASSERT_GT(secondPid, 0);
  ForeignProcess successor(secondPid);
  ASSERT_EQ(s.server->waitExit(20s), 0) << s.server->output();
  EXPECT_EQ(httpGet(s.server->port(), "/file.txt").body, kFileBody);
  EXPECT_TRUE(successor.stop());
}

TEST(UpgradeTest, ANewBinaryThatNeverGetsReadyIsStoppedWithTheOldOne) {
  UpgradeServer s("5s", false);
  // "Install" a binary that starts but never says ready (the link is what is started).
  const std::string script = s.dir.write("stuck.sh", "#!/bin/sh\necho 'stuck binary started' >&2\nexec sleep 60\n");
  fs::permissions(script, fs::perms::owner_all);
  fs::remove(s.binary);
  fs::create_symlink(script, s.binary);
  const std::size_t mark = s.server->lineCount();
  const pid_t newPid = s.startUpgrade();
  ASSERT_GT(newPid, 0);
  ForeignProcess stuck(newPid);
  ASSERT_TRUE(s.server->waitForLine("stuck binary started", 10s, mark)) << s.server->output();
  // A second SIGUSR2 meanwhile is refused, and the old process still serves.
  ASSERT_TRUE(s.server->sendSignal(SIGUSR2));
  EXPECT_TRUE(s.server->waitForLine("an upgrade is already under way (pid " + std::to_string(newPid) + ")", 10s,
                                    mark))
      << s.server->output();
  EXPECT_EQ(httpGet(s.server->port(), "/file.txt").body, kFileBody);
  // Stopping the old process stops the new one too.
  ASSERT_TRUE(s.server->sendSignal(SIGTERM));
  ASSERT_EQ(s.server->waitExit(20s), 0) << s.server->output();
  EXPECT_TRUE(s.server->waitForLine("upgrade: stopping pid " + std::to_string(newPid) + " too", 1s, mark));
  EXPECT_TRUE(stuck.waitExit(1s)) << "pid " << newPid << " is still there";
}

}  // namespace
}  // namespace e2e
