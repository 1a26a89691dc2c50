// A plugin library replaced under every kind of object it can leave alive in the server
// (a stream, an answer kept for later, a blocking call on a worker, a WebSocket, a
// service session): nothing crashes, each is finished or closed as documented, and once
// the last of them is gone the old copy is really unmapped (it leaves /proc/<pid>/maps).
// The fixture: tests/fixtures/LifetimePlugin.cpp, built as v1 and v2.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "ServerProcess.h"
#include "TestClient.h"
#include "WebSocketClient.h"

namespace e2e {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kFixtures = MICROSERVER_FIXTURE_DIR;

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"; }

// The copies of liblifetime.so the server has mapped ("3-liblifetime.so", ...).
std::set<std::string> mappedCopies(pid_t pid) {
  std::set<std::string> copies;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  std::regex copy(R"(/([0-9]+-liblifetime\.so))");
  std::smatch m;
  while (std::getline(maps, line))
    if (std::regex_search(line, m, copy)) copies.insert(m[1]);
  return copies;
}

bool waitUntilUnmapped(pid_t pid, const std::string& copy, std::chrono::milliseconds timeout) {
  for (auto deadline = Clock::now() + timeout; Clock::now() < deadline;) {
    if (!mappedCopies(pid).count(copy)) return true;
    struct pollfd none {};
    ::poll(&none, 0, 20);
  }
  return false;
}

// Replaces the plugin's file the way a deploy does (write beside, rename over), and waits
// for the server's reload.
void replace(const std::string& folder, const std::string& version, ServerProcess& server) {
  std::size_t mark = server.lineCount();
  fs::copy_file(kFixtures + "/lifetime_" + version + "/liblifetime.so", folder + "/.liblifetime.so.new",
                fs::copy_options::overwrite_existing);
  fs::rename(folder + "/.liblifetime.so.new", folder + "/liblifetime.so");
  ASSERT_TRUE(server.waitForLine("reloaded ", 10s, mark)) << server.output();
}

TEST(PluginLifetimeTest, ALibraryReplacedUnderEveryKindOfLiveObjectIsUnloadedOnceTheyAreGone) {
  TempDir dir;
  std::string plugins = dir.path() + "/plugins";
  fs::create_directories(plugins);
  fs::copy_file(kFixtures + "/lifetime_v1/liblifetime.so", plugins + "/liblifetime.so");
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.plugins = plugins;
  options.configText = "server: { www: " + dir.path() + "/www, access_log: 'off', log_level: debug }\n"
                       "routes:\n"
                       "  - { path: '^/blocking$', handler: lifetime, blocking: true }\n"
                       "  - { path: '^/pending$', handler: lifetime, timeout: 1h }\n"
                       "  - { path: '^/', handler: lifetime }\n"
                       "services:\n"
                       "  - { plugin: lifetime, listen: '127.0.0.1:0' }\n";
  auto server = ServerProcess::start(options);
  auto serviceLine = server->waitForLine("service lifetime on ", 5s);
  ASSERT_TRUE(serviceLine);
  int servicePort = std::stoi(serviceLine->substr(serviceLine->rfind(':') + 1));
  ASSERT_EQ(httpGet(server->port(), "/version").body, "v1\n");
  std::set<std::string> first = mappedCopies(server->pid());
  ASSERT_EQ(first.size(), 1u);
  std::string v1 = *first.begin();

  // One of each live object on generation v1.
  Connection stream(server->port());
  stream.sendAll(get("/stream"));
  std::string seen;
  while (seen.find("piece from v1") == std::string::npos) {
    char buf[1024];
    ssize_t n = ::recv(stream.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    seen.append(buf, static_cast<std::size_t>(n));
  }
  Connection pending(server->port());
  pending.sendAll(get("/pending"));
  Connection blocking(server->port());
  blocking.sendAll(get("/blocking"));
  Connection ws(server->port());
  ASSERT_EQ(wsHandshake(ws, "/ws").status, 101);
  EXPECT_EQ(wsRead(ws).payload, "welcome v1\n");
  wsSend(ws, 1, "hello");
  EXPECT_EQ(wsRead(ws).payload, "v1 hello");
  Connection member(servicePort);
  EXPECT_EQ(member.readLine(), "welcome v1");

  // Replaced while all of them are alive.
  replace(plugins, "v2", *server);
  EXPECT_EQ(httpGet(server->port(), "/version").body, "v2\n") << "new requests go to the new copy";
  Connection newMember(servicePort);
  EXPECT_EQ(newMember.readLine(), "welcome v2") << "new clients of the service go to the new copy";
  EXPECT_TRUE(mappedCopies(server->pid()).count(v1)) << "the old copy is still in use";

  // The blocking call finishes on the code it started on.
  EXPECT_EQ(blocking.readResponse().body, "blocking answer from v1\n");
  // The old copy's WebSocket and service clients are closed (their code is going).
  WsFrame close = wsRead(ws);
  EXPECT_EQ(close.opcode, 8);
  EXPECT_TRUE(member.isClosedByPeer(5s));
  // The stream goes on, still from v1, until its client leaves; likewise the kept answer.
  seen.clear();
  while (seen.find("piece from v1") == std::string::npos) {
    char buf[1024];
    ssize_t n = ::recv(stream.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    seen.append(buf, static_cast<std::size_t>(n));
  }
  stream.close();
  pending.close();
  ws.close();
  member.close();

  EXPECT_TRUE(waitUntilUnmapped(server->pid(), v1, 5s)) << v1 << " is still mapped";
  EXPECT_TRUE(server->waitForLine("unloading plugin lifetime (generation", 5s));

  // And again, the other way round, with a stream open on v2 (the case that aborted the
  // server before: a library closed under a live stream).
  std::string v2 = *mappedCopies(server->pid()).begin();
  Connection stream2(server->port());
  stream2.sendAll(get("/stream"));
  seen.clear();
  while (seen.find("piece from v2") == std::string::npos) {
    char buf[1024];
    ssize_t n = ::recv(stream2.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    seen.append(buf, static_cast<std::size_t>(n));
  }
  replace(plugins, "v1", *server);
  EXPECT_EQ(httpGet(server->port(), "/version").body, "v1\n");
  seen.clear();
  while (seen.find("piece from v2") == std::string::npos) {
    char buf[1024];
    ssize_t n = ::recv(stream2.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    seen.append(buf, static_cast<std::size_t>(n));
  }
  stream2.close();
  EXPECT_TRUE(waitUntilUnmapped(server->pid(), v2, 5s)) << v2 << " is still mapped";
  EXPECT_EQ(mappedCopies(server->pid()).size(), 1u);
  newMember.close();
  EXPECT_EQ(httpGet(server->port(), "/version").body, "v1\n");
  EXPECT_TRUE(server->running());
  EXPECT_EQ(server->stop(), 0);
}

}  // namespace
}  // namespace e2e
