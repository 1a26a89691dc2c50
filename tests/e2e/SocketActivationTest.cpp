// End-to-end tests of socket activation: the real binary under systemd-socket-activate
// (Debian's systemd package), which listens, waits for the first connection and then
// starts the server with the sockets as LISTEN_FDS; and the shipped microserver.socket.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>

#include <string>
#include <thread>

#include "ChatLines.h"
#include "Command.h"
#include "RedisProcess.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

const std::string kActivator = "systemd-socket-activate";
const char* const kNoActivator =
    "systemd-socket-activate is missing (Debian package systemd; scripts/packages-test.txt lists it)";

// systemd-socket-activate starts the server only once a connection waits: this makes the
// first one (retrying until the activator listens, bounded) and keeps its answer.
class FirstRequest {
 public:
  explicit FirstRequest(int port) : thread_([this, port] { run(port); }) {}
  ~FirstRequest() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the answer: its status, or -1 with why in error().
  int status() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  // Stops retrying (the server is not coming) and waits for the thread.
  void abandon() {
    giveUp_ = true;
    status();
  }
  const std::string& error() const { return error_; }

 private:
  void run(int port) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (true) {
      try {
        Connection c(port);
        c.sendAll("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        status_ = c.readResponse().status;
        return;
      } catch (const std::exception& e) {
        error_ = e.what();
        if (giveUp_ || std::chrono::steady_clock::now() >= deadline) return;
        ::poll(nullptr, 0, 10);  // the activator binds within milliseconds; try again shortly
      }
    }
  }

  std::atomic<bool> giveUp_{false};
  int status_ = -1;
  std::string error_;
  std::thread thread_;
};

ServerOptions activated(const TempDir& dir, const std::vector<int>& passedPorts, const std::string& config) {
  ServerOptions options;
  options.launcher = {findProgram(kActivator)};
  for (int port : passedPorts) options.launcher.insert(options.launcher.end(), {"-l", "127.0.0.1:" + std::to_string(port)});
  options.plugins = MICROSERVER_PLUGIN_DIR;
  dir.write("www/index.html", "home\n");
  options.configText = "server: { www: " + dir.path() + "/www }\n" + config;
  return options;
}

TEST(SocketActivationTest, TheServerTakesThePassedSocketsAndOpensTheRest) {
  if (!haveProgram(kActivator)) GTEST_SKIP() << kNoActivator;
  TempDir dir;
  const int http = freeLoopbackPort(), chat = freeLoopbackPort(), own = freeLoopbackPort();
  ServerOptions options = activated(dir, {http, chat},
                                    "routes:\n  - { path: '^/', static: " + dir.path() + "/www }\n"
                                    "services:\n  - { plugin: chat, listen: 127.0.0.1:" + std::to_string(chat) + " }\n");
  // --listen names the first listener (the passed socket); a second one is the server's own.
  options.listen = "127.0.0.1:" + std::to_string(http);
  options.configText.replace(options.configText.find(" }\n"), 3,
                             ", listen: [127.0.0.1:0, 127.0.0.1:" + std::to_string(own) + "] }\n");
  FirstRequest first(http);
  auto server = ServerProcess::start(options);
  // The connection that woke the activator waited in the passed socket's queue: served.
  EXPECT_EQ(first.status(), 200) << first.error() << "\n" << server->output();
  EXPECT_EQ(server->port(), http);
  const std::string prefix = "127.0.0.1:";
  EXPECT_TRUE(server->waitForLine("server.listen[0] " + prefix + std::to_string(http) +
                                      ": using the socket the service manager passed, fd 3",
                                  1s))
      << server->output();
  EXPECT_TRUE(server->waitForLine("server.listen[1] " + prefix + std::to_string(own) +
                                      ": no inherited socket has this address; opened it",
                                  1s))
      << server->output();
  EXPECT_TRUE(server->waitForLine("services[0].listen " + prefix + std::to_string(chat) +
                                      ": using the socket the service manager passed, fd 4",
                                  1s))
      << server->output();
  EXPECT_EQ(httpGet(own, "/").status, 200);
  // The chat service answers on its passed socket.
  Connection member(chat);
  EXPECT_EQ(untimed(member.readLine()), "* " + localAddress(member) + " joined");
}

TEST(SocketActivationTest, APassedSocketThatMatchesNoListenerIsAClearError) {
  if (!haveProgram(kActivator)) GTEST_SKIP() << kNoActivator;
  TempDir dir;
  const int http = freeLoopbackPort(), stray = freeLoopbackPort();
  ServerOptions options = activated(dir, {http, stray}, "routes: []\n");
  options.listen = "127.0.0.1:" + std::to_string(http);
  FirstRequest first(http);
  ExitedRun run = runToExit(options);
  first.abandon();  // refused or closed: the server did not start
  EXPECT_NE(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("passed sockets that no listener of"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("fd 4 (127.0.0.1:" + std::to_string(stray) + ")"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace e2e
