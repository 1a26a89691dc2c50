// End-to-end tests of the built-in endpoints: /healthz, /readyz and /metrics (Prometheus
// text that parses, and counters that move with traffic).
#include <gtest/gtest.h>

#include <map>

#include "PrometheusText.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

struct MetricsServer {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  MetricsServer() {
    dir.write("www/index.html", "home\n");
    std::string www = dir.path() + "/www";
    ServerOptions options;
    options.configText = "server: { www: " + www + " }\nroutes:\n"
                         "  - { path: '^/hello/(?P<name>[A-Za-z]+)$', handler: hello }\n"
                         "  - { path: '^/', static: " + www + " }\n";
    options.plugins = MICROSERVER_PLUGIN_DIR;
    server = ServerProcess::start(options);
  }
};

TEST(MetricsTest, HealthAndReadinessAnswer) {
  MetricsServer s;
  HttpResponse health = httpGet(s.server->port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  HttpResponse ready = httpGet(s.server->port(), "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");
  EXPECT_EQ(httpRequest(s.server->port(), "POST", "/metrics").status, 405);
}

TEST(MetricsTest, MetricsParseAndCountersMoveWithTraffic) {
  MetricsServer s;
  auto before = parsePrometheus(httpGet(s.server->port(), "/metrics").body);
  const std::string hello = "microserver_requests_total{route=\"^/hello/(?P<name>[A-Za-z]+)$\",status=\"200\"}";
  const std::string missing = "microserver_requests_total{route=\"^/\",status=\"404\"}";
  for (int i = 0; i < 7; ++i) EXPECT_EQ(httpGet(s.server->port(), "/hello/Ada").status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(httpGet(s.server->port(), "/no/such/page").status, 404);
  HttpResponse r = httpGet(s.server->port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  auto after = parsePrometheus(r.body);
  EXPECT_EQ(after[hello] - before[hello], 7);
  EXPECT_EQ(after[missing] - before[missing], 3);
  EXPECT_GE(after["microserver_request_duration_seconds_count"] - before["microserver_request_duration_seconds_count"], 10);
  EXPECT_GT(after["microserver_received_bytes_total"], before["microserver_received_bytes_total"]);
  EXPECT_GT(after["microserver_sent_bytes_total"], before["microserver_sent_bytes_total"]);
  EXPECT_GE(after["microserver_open_connections"], 1);
  EXPECT_EQ(after["microserver_request_duration_seconds_bucket{le=\"+Inf\"}"],
            after["microserver_request_duration_seconds_count"]);
  EXPECT_TRUE(after.count("microserver_reloads_total{result=\"ok\"}"));
}

}  // namespace
}  // namespace e2e
