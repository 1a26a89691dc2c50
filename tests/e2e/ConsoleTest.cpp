// End-to-end tests of the operator console, through a pseudo-terminal: status, reload
// and quit; and no console at all when standard input is not a terminal.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

struct ConsoleServer {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  explicit ConsoleServer(bool terminal) {
    dir.write("www/index.html", "home\n");
    ServerOptions options;
    options.configText = "server: { www: " + dir.path() + "/www }\nroutes:\n"
                         "  - { path: '^/hello/(?P<name>[A-Za-z]+)$', handler: hello }\n"
                         "  - { path: '^/', static: " + dir.path() + "/www }\n";
    options.plugins = MICROSERVER_PLUGIN_DIR;
    options.terminalStdin = terminal;
    server = ServerProcess::start(options);
  }
};

TEST(ConsoleTest, StatusShowsListenersRoutesAndPlugins) {
  ConsoleServer s(true);
  ASSERT_TRUE(s.server->waitForLine("console ready: type help", 5s)) << s.server->output();
  std::size_t mark = s.server->lineCount();
  s.server->typeOnTerminal("status\n");
  EXPECT_TRUE(s.server->waitForLine(">> listening   http://127.0.0.1:" + std::to_string(s.server->port()), 5s, mark))
      << s.server->output();
  EXPECT_TRUE(s.server->waitForLine("config      ", 5s, mark));
  EXPECT_TRUE(s.server->waitForLine("  ^/hello/(?P<name>[A-Za-z]+)$ -> hello", 5s, mark));
  EXPECT_TRUE(s.server->waitForLine("  hello 1.0.0 (", 5s, mark));
  mark = s.server->lineCount();
  s.server->typeOnTerminal("frobnicate\n");
  EXPECT_TRUE(s.server->waitForLine("unknown command 'frobnicate': try help", 5s, mark));
}

TEST(ConsoleTest, StartsAfterTheReadyLineSoThePromptNeverPrecedesIt) {
  ConsoleServer s(true);
  ASSERT_TRUE(s.server->waitForLine("console ready: type help", 5s)) << s.server->output();
  std::vector<std::string> lines = s.server->lines();
  auto ready = std::find_if(lines.begin(), lines.end(),
                            [](const std::string& l) { return l.rfind("microserver listening on ", 0) == 0; });
  auto console = std::find(lines.begin(), lines.end(), "console ready: type help");
  ASSERT_NE(ready, lines.end()) << s.server->output();
  EXPECT_LT(ready - lines.begin(), console - lines.begin()) << s.server->output();
}

TEST(ConsoleTest, ReloadReloadsAndQuitStopsGracefully) {
  ConsoleServer s(true);
  ASSERT_TRUE(s.server->waitForLine("console ready", 5s));
  std::ofstream(s.server->configPath(), std::ios::trunc)
      << "server: { www: " << s.dir.path() << "/www }\nroutes:\n"
      << "  - { path: '^/hello/(?P<name>[A-Za-z]+)$', handler: hello, config: { greeting: Moin } }\n";
  std::size_t mark = s.server->lineCount();
  s.server->typeOnTerminal("reload\n");
  EXPECT_TRUE(s.server->waitForLine("reloaded ", 10s, mark)) << s.server->output();
  EXPECT_EQ(httpGet(s.server->port(), "/hello/Ada").body, "Moin, Ada!\n");
  s.server->typeOnTerminal("quit\n");
  EXPECT_EQ(s.server->waitExit(10s), std::optional<int>(0));
}

TEST(ConsoleTest, WithoutATerminalThereIsNoConsole) {
  ConsoleServer s(false);
  EXPECT_EQ(httpGet(s.server->port(), "/hello/Ada").status, 200);
  for (const std::string& line : s.server->lines()) EXPECT_EQ(line.find("console ready"), std::string::npos) << line;
}

}  // namespace
}  // namespace e2e
