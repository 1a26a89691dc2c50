// Routes by host: one server, several sites (nginx server blocks, Caddy sites), chosen by
// the request's authority: an absolute-form target's, else Host (HTTP/2's :authority
// goes the same way).
#include <gtest/gtest.h>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

TEST(HostsTest, EachHostGetsItsOwnSiteAndTheRestTheDefault) {
  TempDir dir;
  dir.write("a/index.html", "site A\n");
  dir.write("b/index.html", "site B\n");
  dir.write("www/index.html", "default\n");
  ServerOptions options;
  options.configText = "server: { www: " + dir.path() + "/www, access_log: 'off' }\nroutes:\n"
                       "  - { path: '^/', host: [a.test, www.a.test], static: " + dir.path() + "/a }\n"
                       "  - { path: '^/', host: '*.b.test', static: " + dir.path() + "/b }\n"
                       "  - { path: '^/', static: " + dir.path() + "/www }\n";
  auto server = ServerProcess::start(options);
  auto body = [&](const std::string& host) { return httpGet(server->port(), "/", {{"Host", host}}).body; };
  EXPECT_EQ(body("a.test"), "site A\n");
  EXPECT_EQ(body("WWW.A.TEST:8080"), "site A\n");
  EXPECT_EQ(body("x.b.test"), "site B\n");
  EXPECT_EQ(body("b.test"), "default\n");
  EXPECT_EQ(body("127.0.0.1"), "default\n");
  Connection c(server->port());
  c.sendAll("GET http://a.test/ HTTP/1.1\r\nHost: x.b.test\r\n\r\n");
  EXPECT_EQ(c.readResponse().body, "site A\n") << "an absolute-form target's authority replaces Host";
}

}  // namespace
}  // namespace e2e
