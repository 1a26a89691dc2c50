// End-to-end tests of what a service manager and log rotation meet: the systemd
// notification protocol (READY=1, RELOADING=1 then READY=1, STOPPING=1, STATUS=) on a
// $NOTIFY_SOCKET the test owns, and SIGUSR1 reopening the access log after a rename.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "Command.h"
#include "NotifySocket.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

void expectTheLifeCycle(NotifySocket& manager) {
  TempDir dir;
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.configText = "routes:\n  - { path: '^/', static: " + dir.path() + "/www }\n";
  options.www = dir.path() + "/www";
  options.env = {{"NOTIFY_SOCKET", manager.name()}};
  auto server = ServerProcess::start(options);

  std::string ready = manager.until("READY=1");
  ASSERT_NE(ready, "") << server->output();
  EXPECT_NE(ready.find("STATUS=serving http://127.0.0.1:" + std::to_string(server->port())), std::string::npos)
      << ready;
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(server->pid()) + "\n"), std::string::npos) << ready;

  server->sendSignal(SIGHUP);
  std::string reloading = manager.until("RELOADING=1");
  EXPECT_NE(reloading.find("MONOTONIC_USEC="), std::string::npos) << reloading;
  std::string again = manager.until("READY=1");
  EXPECT_NE(again.find("reloaded"), std::string::npos) << again;

  // A reload that fails still ends in READY=1 (the old configuration serves on), saying so.
  std::ofstream(server->configPath()) << "routes: [ { path: '(' , static: x } ]\n";
  server->sendSignal(SIGHUP);
  EXPECT_NE(manager.until("RELOADING=1"), "");
  std::string failed = manager.until("READY=1");
  EXPECT_NE(failed.find("the last reload failed"), std::string::npos) << failed;
  EXPECT_EQ(httpGet(server->port(), "/").status, 200);

  server->sendSignal(SIGTERM);
  EXPECT_NE(manager.until("STOPPING=1"), "");
  EXPECT_EQ(server->waitExit(10s), 0);
}

TEST(OperationsTest, TellsSystemdWhenReadyReloadingAndStopping) {
  TempDir dir;
  NotifySocket manager(dir.path() + "/notify");
  expectTheLifeCycle(manager);
}

TEST(OperationsTest, NotifiesAnAbstractSocketToo) {
  NotifySocket manager("@microserver-test-" + std::to_string(::getpid()));
  expectTheLifeCycle(manager);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits (bounded) until `path` contains `text`: the access log is written by its own thread.
bool fileGets(const std::string& path, const std::string& text) {
  const auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline) {
    if (readFile(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);  // a poll interval: the log flushes at least every 100 ms
  }
  return false;
}

// A server of a site in `dir` whose access log is `log`.
std::unique_ptr<ServerProcess> startLogging(const TempDir& dir, const std::string& log) {
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.configText = "server:\n  access_log: " + log + "\nroutes:\n  - { path: '^/', static: " + dir.path() + "/www }\n";
  options.www = dir.path() + "/www";
  return ServerProcess::start(options);
}

TEST(OperationsTest, Sigusr1ReopensTheAccessLogAfterARename) {
  TempDir dir;
  const std::string log = dir.path() + "/access.log";
  auto server = startLogging(dir, log);
  EXPECT_EQ(httpGet(server->port(), "/before").status, 404);
  ASSERT_TRUE(fileGets(log, "GET /before HTTP/1.1"));
  ASSERT_EQ(std::rename(log.c_str(), (log + ".1").c_str()), 0);  // what logrotate does

  // Until told, the server writes on into the renamed file, as nginx does.
  EXPECT_EQ(httpGet(server->port(), "/between").status, 404);
  ASSERT_TRUE(fileGets(log + ".1", "GET /between HTTP/1.1"));

  const std::size_t mark = server->lineCount();
  server->sendSignal(SIGUSR1);
  ASSERT_TRUE(server->waitForLine("reopened the log files", 5s, mark)) << server->output();
  EXPECT_EQ(httpGet(server->port(), "/after").status, 404);
  ASSERT_TRUE(fileGets(log, "GET /after HTTP/1.1"));
  EXPECT_EQ(readFile(log).find("/before"), std::string::npos);
  EXPECT_EQ(readFile(log + ".1").find("/after"), std::string::npos);
}

TEST(OperationsTest, Sigusr1WhenTheFolderIsGoneKeepsTheOldFile) {
  TempDir dir;
  dir.write("logs/keep", "");
  const std::string log = dir.path() + "/logs/access.log";
  auto server = startLogging(dir, log);
  ASSERT_EQ(std::rename((dir.path() + "/logs").c_str(), (dir.path() + "/old-logs").c_str()), 0);
  const std::size_t mark = server->lineCount();
  server->sendSignal(SIGUSR1);
  auto line = server->waitForLine("cannot reopen access log", 5s, mark);
  ASSERT_TRUE(line) << server->output();
  EXPECT_NE(line->find(log), std::string::npos) << *line;
  EXPECT_EQ(httpGet(server->port(), "/still").status, 404);
  EXPECT_TRUE(fileGets(dir.path() + "/old-logs/access.log", "GET /still HTTP/1.1"));
}

// The "Uid:" or "Gid:" line of /proc/<pid>/status: real, effective, saved, filesystem.
std::string idsOf(pid_t pid, const std::string& key) {
  std::istringstream status(readFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return "";
}

TEST(OperationsTest, SwitchesToServerUserOnceListening) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users (the tests run as uid " << ::geteuid() << ")";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the new user must reach the site
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.configText = "server:\n  user: nobody\nroutes:\n  - { path: '^/', static: " + dir.path() + "/www }\n";
  options.www = dir.path() + "/www";
  auto server = ServerProcess::start(options);
  EXPECT_EQ(idsOf(server->pid(), "Uid"), "\t65534\t65534\t65534\t65534");
  EXPECT_EQ(idsOf(server->pid(), "Gid"), "\t65534\t65534\t65534\t65534");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(httpGet(server->port(), "/").body, "home\n");  // every reactor
  EXPECT_TRUE(server->waitForLine("running as user nobody", 5s));
}

const std::string kSourceDir = MICROSERVER_SOURCE_DIR;

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

TEST(OperationsTest, TheShippedUnitFileVerifies) {
  ASSERT_TRUE(haveProgram("systemd-analyze")) << "systemd-analyze is missing (Debian package systemd)";
  TempDir dir;
  // The unit as shipped, pointed at this build's binary (verify checks that it exists).
  std::string unit = replaceAll(readFile(kSourceDir + "/dist/systemd/microserver.service"), "/usr/bin/microserver",
                                MICROSERVER_BINARY);
  ASSERT_NE(unit.find("Type=notify"), std::string::npos);
  const std::string path = dir.write("microserver.service", unit);
  CommandResult r = runCommand({"systemd-analyze", "verify", "--man=no", path}, 30s);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, "") << "systemd-analyze warns about the unit";
}

TEST(OperationsTest, TheShippedSocketUnitVerifies) {
  ASSERT_TRUE(haveProgram("systemd-analyze")) << "systemd-analyze is missing (Debian package systemd)";
  TempDir dir;
  // The socket unit activates the service of the same name: both go side by side.
  dir.write("microserver.service", replaceAll(readFile(kSourceDir + "/dist/systemd/microserver.service"),
                                              "/usr/bin/microserver", MICROSERVER_BINARY));
  const std::string socket = readFile(kSourceDir + "/dist/systemd/microserver.socket");
  ASSERT_NE(socket.find("ListenStream=127.0.0.1:8080"), std::string::npos);
  const std::string path = dir.write("microserver.socket", socket);
  CommandResult r = runCommand({"systemd-analyze", "verify", "--man=no", path}, 30s);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, "") << "systemd-analyze warns about the unit";
}

TEST(OperationsTest, TheShippedLogrotateSnippetRotatesWithoutLosingALine) {
  ASSERT_TRUE(haveProgram("logrotate")) << "logrotate is missing (Debian package logrotate)";
  TempDir dir;
  const std::string log = dir.path() + "/access.log";
  auto server = startLogging(dir, log);
  EXPECT_EQ(httpGet(server->port(), "/one").status, 404);
  ASSERT_TRUE(fileGets(log, "GET /one HTTP/1.1"));

  // The snippet as shipped, for this log and this process (systemctl is not ours to call).
  std::string snippet = readFile(kSourceDir + "/dist/logrotate/microserver");
  snippet = replaceAll(snippet, "/var/log/microserver/access.log", log);
  snippet = replaceAll(snippet, "systemctl kill --kill-whom=main --signal=SIGUSR1 microserver.service",
                       "kill -USR1 " + std::to_string(server->pid()));
  ASSERT_NE(snippet.find("kill -USR1"), std::string::npos);
  const std::string config = dir.write("logrotate.conf", snippet);
  const std::size_t mark = server->lineCount();
  CommandResult r = runCommand({"logrotate", "--force", "--state", dir.path() + "/state", config}, 30s);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(server->waitForLine("reopened the log files", 5s, mark)) << server->output();
  EXPECT_NE(readFile(log + ".1").find("GET /one HTTP/1.1"), std::string::npos);  // delaycompress: not yet .gz
  EXPECT_EQ(httpGet(server->port(), "/two").status, 404);
  EXPECT_TRUE(fileGets(log, "GET /two HTTP/1.1"));
}

}  // namespace
}  // namespace e2e
