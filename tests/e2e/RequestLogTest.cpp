// End-to-end: request ids and the JSON access log, on the real binary. Each answer carries
// an X-Request-Id the plugin saw too (the echo plugin's "request_id") and that the access
// log line of that request names, over HTTP/1.1 and HTTP/2 (curl --http2-prior-knowledge),
// for static files, plugins answering at once, later (delay) and on a worker (blocking),
// and the built-in endpoints. A client's own X-Request-Id is ignored unless it comes from
// a trusted proxy. (ProxyTest checks the id HAProxy makes is kept end to end.)
#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <regex>
#include <set>
#include <string>

#include "Command.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using namespace std::chrono_literals;

bool isGeneratedId(const std::string& id) { return std::regex_match(id, std::regex("[0-9a-f]{32}")); }

// A server with the example plugins and a JSON access log on stdout; `serverKeys`: more
// lines under `server:`.
std::unique_ptr<ServerProcess> startJsonLogging(const TempDir& dir, const std::string& serverKeys = "") {
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.plugins = MICROSERVER_PLUGIN_DIR;
  options.www = dir.path() + "/www";
  options.configText = "server:\n"
                       "  access_log: '-'\n"
                       "  access_log_format: json\n" +
                       serverKeys +
                       "routes:\n"
                       "  - { path: '^/inspect$', handler: echo, config: { headers: true } }\n"
                       "  - { path: '^/inspect-blocking$', handler: echo, config: { headers: true }, blocking: true }\n"
                       "  - { path: '^/delay/(?P<ms>[0-9]+)$', handler: delay }\n"
                       "  - { path: '^/', static: " + dir.path() + "/www }\n";
  return ServerProcess::start(options);
}

// The access log's line (a JSON object) for the request with this id, parsed; waits for it
// (the log is written by its own thread, at the latest ~100 ms later).
Poco::JSON::Object::Ptr logLineOf(ServerProcess& server, const std::string& id) {
  auto line = server.waitForLine("\"request_id\":\"" + id + "\"", 5s);
  if (!line) throw std::runtime_error("no access log line with request_id " + id + " in:\n" + server.output());
  Poco::JSON::Parser parser;
  return parser.parse(*line).extract<Poco::JSON::Object::Ptr>();
}

// The echo plugin's JSON answer, parsed.
Poco::JSON::Object::Ptr parseJson(const std::string& text) {
  Poco::JSON::Parser parser;
  return parser.parse(text).extract<Poco::JSON::Object::Ptr>();
}

TEST(RequestLogTest, EveryAnswerCarriesAnIdThePluginAndTheJsonLogShare) {
  TempDir dir;
  auto server = startJsonLogging(dir);
  std::set<std::string> ids;

  // A plugin answering at once; the client's own id is not believed (not a trusted proxy).
  HttpResponse inspect = httpGet(server->port(), "/inspect", {{"X-Request-Id", "chosen-by-the-client"}});
  ASSERT_EQ(inspect.status, 200) << inspect.body;
  std::string id = inspect.header("X-Request-Id");
  EXPECT_TRUE(isGeneratedId(id)) << id;
  EXPECT_EQ(parseJson(inspect.body)->getValue<std::string>("request_id"), id) << inspect.body;
  ids.insert(id);
  Poco::JSON::Object::Ptr entry = logLineOf(*server, id);
  EXPECT_EQ(entry->getValue<std::string>("method"), "GET");
  EXPECT_EQ(entry->getValue<std::string>("target"), "/inspect");
  EXPECT_EQ(entry->getValue<std::string>("protocol"), "HTTP/1.1");
  EXPECT_EQ(entry->getValue<int>("status"), 200);
  EXPECT_EQ(entry->getValue<std::size_t>("body_bytes"), inspect.body.size());
  EXPECT_EQ(entry->getValue<std::string>("route"), "^/inspect$");
  EXPECT_EQ(entry->getValue<std::string>("plugin"), "echo");
  EXPECT_EQ(entry->getValue<std::string>("remote_addr"), "127.0.0.1");
  EXPECT_GE(entry->getValue<double>("request_time"), 0.0);

  // A plugin on a worker thread.
  HttpResponse blocking = httpGet(server->port(), "/inspect-blocking");
  ASSERT_EQ(blocking.status, 200);
  id = blocking.header("X-Request-Id");
  EXPECT_EQ(parseJson(blocking.body)->getValue<std::string>("request_id"), id) << blocking.body;
  EXPECT_EQ(logLineOf(*server, id)->getValue<std::string>("route"), "^/inspect-blocking$");
  ids.insert(id);

  // An answer given later (a timer): it still takes at least the delay.
  HttpResponse later = httpGet(server->port(), "/delay/50");
  ASSERT_EQ(later.status, 200);
  id = later.header("X-Request-Id");
  entry = logLineOf(*server, id);
  EXPECT_EQ(entry->getValue<std::string>("plugin"), "delay");
  EXPECT_EQ(entry->getValue<std::string>("route"), "^/delay/(?P<ms>[0-9]+)$");
  EXPECT_GE(entry->getValue<double>("request_time"), 0.05);
  ids.insert(id);

  // A static file (no plugin) and a built-in endpoint.
  HttpResponse file = httpGet(server->port(), "/");
  ASSERT_EQ(file.body, "home\n");
  id = file.header("X-Request-Id");
  entry = logLineOf(*server, id);
  EXPECT_EQ(entry->getValue<std::string>("route"), "^/");
  EXPECT_TRUE(entry->isNull("plugin"));
  ids.insert(id);
  HttpResponse ready = httpGet(server->port(), "/readyz");
  id = ready.header("X-Request-Id");
  EXPECT_EQ(logLineOf(*server, id)->getValue<std::string>("route"), "(builtin)");
  ids.insert(id);

  // HTTP/2 (prior knowledge on the plain listener).
  CommandResult h2 = runCommand({"curl", "-sS", "-i", "--max-time", "10", "--http2-prior-knowledge",
                                 "http://127.0.0.1:" + std::to_string(server->port()) + "/inspect"},
                                10s);
  ASSERT_EQ(h2.exitCode, 0) << h2.err;
  std::smatch found;
  ASSERT_TRUE(std::regex_search(h2.out, found, std::regex("\r\nx-request-id: ([0-9a-f]{32})\r\n"))) << h2.out;
  id = found[1];
  EXPECT_NE(h2.out.find("\"request_id\":\"" + id + "\""), std::string::npos) << h2.out;
  entry = logLineOf(*server, id);
  EXPECT_EQ(entry->getValue<std::string>("protocol"), "HTTP/2.0");
  EXPECT_EQ(entry->getValue<std::string>("plugin"), "echo");
  ids.insert(id);

  EXPECT_EQ(ids.size(), 6u) << "ids repeat";
}

TEST(RequestLogTest, ATrustedProxysIdIsKeptAndABadOneReplaced) {
  TempDir dir;
  auto server = startJsonLogging(dir, "  trusted_proxies: [127.0.0.1]\n");
  HttpResponse kept = httpGet(server->port(), "/inspect", {{"X-Request-Id", "f47ac10b-58cc-4372-a567-0e02b2c3d479"}});
  EXPECT_EQ(kept.header("X-Request-Id"), "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  EXPECT_EQ(parseJson(kept.body)->getValue<std::string>("request_id"), "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  logLineOf(*server, "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  // Something that could break a log line or a header is never taken, even from a proxy.
  HttpResponse replaced = httpGet(server->port(), "/inspect", {{"X-Request-Id", "two words\\\""}});
  EXPECT_TRUE(isGeneratedId(replaced.header("X-Request-Id"))) << replaced.header("X-Request-Id");
}

TEST(RequestLogTest, IdsCanBeRenamedOrTurnedOff) {
  TempDir dir;
  auto renamed = startJsonLogging(dir, "  request_id_header: X-Correlation-Id\n");
  HttpResponse answer = httpGet(renamed->port(), "/");
  EXPECT_TRUE(isGeneratedId(answer.header("X-Correlation-Id"))) << answer.raw;
  EXPECT_FALSE(answer.hasHeader("X-Request-Id"));
  renamed.reset();

  TempDir other;
  auto off = startJsonLogging(other, "  request_id_header: off\n");
  HttpResponse plain = httpGet(off->port(), "/inspect");
  EXPECT_FALSE(plain.hasHeader("X-Request-Id")) << plain.raw;
  EXPECT_EQ(parseJson(plain.body)->getValue<std::string>("request_id"), "");
  auto line = off->waitForLine("\"target\":\"/inspect\"", 5s);
  ASSERT_TRUE(line) << off->output();
  EXPECT_NE(line->find("\"request_id\":null"), std::string::npos) << *line;
}

}  // namespace
}  // namespace e2e
