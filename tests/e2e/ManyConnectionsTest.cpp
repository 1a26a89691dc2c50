// Load: 10,000 concurrent connections, each getting its response. The test raises its own
// soft descriptor limit (the server raises its own at start-up); where the hard limit is
// too low for that, the test is skipped with the reason.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

// Raises the soft RLIMIT_NOFILE to at least `wanted`; false if the hard limit forbids it.
bool raiseDescriptorLimit(rlim_t wanted) {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) return false;
  limit.rlim_cur = wanted;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

TEST(ManyConnectionsTest, TenThousandConcurrentConnectionsEachGetTheirResponse) {
  constexpr int kConnections = 10000;
  if (!raiseDescriptorLimit(kConnections + 256))
    GTEST_SKIP() << "the hard open-file limit is below " << kConnections + 256 << " (raise it: ulimit -Hn)";
  TempDir dir;
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.configText = "server: { www: " + dir.path() + "/www, access_log: 'off', limits: { max_connections: 12000 } }\n"
                       "routes:\n  - { path: '^/', static: " + dir.path() + "/www }\n";
  auto server = ServerProcess::start(options);

  // All connections open at once, then every one sends its request, then every one reads:
  // the server holds 10,000 connections with a request in flight at the same time.
  std::vector<Connection> connections;
  connections.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) connections.emplace_back(server->port(), 60s);
  const std::string request = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  for (Connection& c : connections) c.sendAll(request);
  int ok = 0;
  for (Connection& c : connections) {
    HttpResponse r = c.readResponse();
    if (r.status == 200 && r.body == "home\n") ++ok;
  }
  EXPECT_EQ(ok, kConnections);
  // They are all still open and usable (keep-alive): a second round on every one.
  for (Connection& c : connections) c.sendAll(request);
  int again = 0;
  for (Connection& c : connections) again += c.readResponse().status == 200;
  EXPECT_EQ(again, kConnections);
}

}  // namespace
}  // namespace e2e
