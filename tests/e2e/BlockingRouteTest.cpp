// End-to-end tests of `blocking: true` routes: the handler runs on the worker pool, the
// reactors keep serving, and the pool's bounds answer 503 and 504 instead of piling up.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <thread>
#include <vector>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

struct SlowSite {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  explicit SlowSite(const std::string& serverExtra = "", const std::string& limits = "") {
    dir.write("www/index.html", "home\n");
    std::string www = dir.path() + "/www";
    ServerOptions options;
    options.configText = "server: { www: " + www + ", reactors: 1, log_level: debug" + serverExtra +
                         (limits.empty() ? "" : ", limits: { " + limits + " }") +
                         " }\nroutes:\n"
                         "  - { path: '^/slow$', handler: slow, blocking: true, config: { max_ms: 20000 } }\n"
                         "  - { path: '^/', static: " + www + " }\n";
    options.plugins = MICROSERVER_PLUGIN_DIR;
    server = ServerProcess::start(options);
  }
  int port() const { return server->port(); }
  // The server logs (at debug level) when a worker starts on a request.
  bool workerRuns(const std::string& target) {
    return server->waitForLine("a worker runs GET " + target + " ", 5s).has_value();
  }
};

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"; }

TEST(BlockingRouteTest, ASlowHandlerDoesNotDelayOtherConnectionsOnTheSameReactor) {
  SlowSite site;  // one reactor: without the pool, the sleep would stall it
  Connection slow(site.port());
  auto start = Clock::now();
  slow.sendAll(get("/slow?ms=1000"));
  HttpResponse fast = httpGet(site.port(), "/");
  auto fastTook = Clock::now() - start;
  EXPECT_EQ(fast.status, 200);
  EXPECT_LT(fastTook, 500ms) << "a static file waited behind a sleeping handler";
  HttpResponse r = slow.readResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"slept_ms\":1000"), std::string::npos) << r.body;
  EXPECT_GE(Clock::now() - start, 1000ms);
}

TEST(BlockingRouteTest, PipelinedRequestsBehindABlockingOneAreAnsweredInOrder) {
  SlowSite site;
  Connection c(site.port());
  c.sendAll(get("/") + get("/slow?ms=200") + get("/index.html") + get("/slow?ms=0"));
  EXPECT_EQ(c.readResponse().body, "home\n");
  EXPECT_NE(c.readResponse().body.find("\"slept_ms\":200"), std::string::npos);
  EXPECT_EQ(c.readResponse().body, "home\n");
  EXPECT_NE(c.readResponse().body.find("\"slept_ms\":0"), std::string::npos);
}

TEST(BlockingRouteTest, AHalfClosedClientStillGetsEveryAnswer) {
  SlowSite site;
  Connection c(site.port());
  c.sendAll(get("/slow?ms=300") + get("/"));
  c.shutdownWrite();
  EXPECT_EQ(c.readResponse().status, 200);
  EXPECT_EQ(c.readResponse().body, "home\n");
  EXPECT_TRUE(c.isClosedByPeer(5s));
}

TEST(BlockingRouteTest, AHandlerPastTheTimeoutGets504AndTheServerGoesOn) {
  SlowSite site("", "handler_timeout: 300ms");
  Connection c(site.port());
  auto start = Clock::now();
  c.sendAll(get("/slow?ms=1500"));
  HttpResponse r = c.readResponse();
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_LT(Clock::now() - start, 1200ms);
  EXPECT_TRUE(site.server->waitForLine("did not answer GET /slow?ms=1500 within its route's timeout", 5s));
  EXPECT_EQ(httpGet(site.port(), "/").status, 200);
}

TEST(BlockingRouteTest, AFullPoolAnswers503Immediately) {
  SlowSite site(", workers: 1", "worker_queue: 1");
  Connection running(site.port()), queued(site.port()), refused(site.port());
  running.sendAll(get("/slow?ms=1500"));
  ASSERT_TRUE(site.workerRuns("/slow?ms=1500"));  // the only worker is busy now
  queued.sendAll(get("/slow?ms=0"));  // takes the only queue slot
  ASSERT_TRUE(site.server->waitForLine("GET /slow?ms=0 waits for a worker", 5s));
  auto start = Clock::now();
  refused.sendAll(get("/slow?ms=1"));
  HttpResponse r = refused.readResponse();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_LT(Clock::now() - start, 1s) << "a refusal must not wait for a worker";
  EXPECT_EQ(running.readResponse().status, 200);
  EXPECT_EQ(queued.readResponse().status, 200);
}

TEST(BlockingRouteTest, GracefulStopWaitsForARunningHandler) {
  SlowSite site;
  Connection c(site.port());
  c.sendAll(get("/slow?ms=700"));
  ASSERT_TRUE(site.workerRuns("/slow?ms=700"));  // in flight when the stop comes
  ASSERT_TRUE(site.server->sendSignal(SIGTERM));
  HttpResponse r = c.readResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_EQ(site.server->waitExit(10s), std::optional<int>(0));
}

}  // namespace
}  // namespace e2e
