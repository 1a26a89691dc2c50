// End-to-end tests behind a real HAProxy (Debian's `haproxy`, started by the test): the
// PROXY protocol (v2 for HTTP, v1 for the chat service) and server.trusted_proxies. The
// client connects from 127.0.0.2 and HAProxy from 127.0.0.1, so the test can tell whose
// address the server shows: the access log, the echo plugin's "remote" (what
// Request::remoteAddress() gives a plugin) and the chat's member names must all show the
// client's, and a client's own X-Forwarded-For must never be believed.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "Certificates.h"
#include "ChatLines.h"
#include "Command.h"
#include "HaproxyProcess.h"
#include "RedisProcess.h"
#include "ServerProcess.h"
#include "TestClient.h"
#include "TlsClient.h"

namespace e2e {
namespace {

constexpr const char* kClientIp = "127.0.0.2";

struct ProxiedServer {
  TempDir dir;
  int proxyListenerPort = freeLoopbackPort();  // proxy_protocol: true
  int chatPort = freeLoopbackPort();           // the chat service, proxy_protocol: true
  int viaProxyProtocol = freeLoopbackPort();   // HAProxy -> proxyListenerPort, send-proxy-v2
  int viaForwardedFor = freeLoopbackPort();    // HAProxy -> the plain listener, X-Forwarded-For only
  int viaTcp = freeLoopbackPort();             // HAProxy (mode tcp) -> chatPort, send-proxy (v1)
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HaproxyProcess> haproxy;

  ProxiedServer() {
    dir.write("www/index.html", "home\n");
    ServerOptions options;
    options.plugins = MICROSERVER_PLUGIN_DIR;
    // The first listener is the harness's --listen (plain, an ephemeral port).
    options.configText = "server:\n"
                         "  www: " + dir.path() + "/www\n"
                         "  listen:\n"
                         "    - 127.0.0.1:0\n"
                         "    - { address: 127.0.0.1:" + std::to_string(proxyListenerPort) + ", proxy_protocol: true }\n"
                         "  trusted_proxies: [127.0.0.1]\n"
                         "  log_level: debug\n"
                         "routes:\n"
                         "  - { path: '^/inspect$', handler: echo, config: { headers: true } }\n"
                         "services:\n"
                         "  - { plugin: chat, listen: { address: 127.0.0.1:" + std::to_string(chatPort) +
                         ", proxy_protocol: true }, config: { room: lobby } }\n";
    server = ServerProcess::start(options);
    const std::string backend = "127.0.0.1:";
    haproxy = std::make_unique<HaproxyProcess>(
        dir,
        "defaults\n"
        "  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
        "frontend via_proxy_protocol\n  mode http\n  option forwardfor\n"
        "  bind 127.0.0.1:" + std::to_string(viaProxyProtocol) + "\n  default_backend proxy_protocol\n"
        "backend proxy_protocol\n  mode http\n"
        "  server microserver " + backend + std::to_string(proxyListenerPort) + " send-proxy-v2\n"
        // HAProxy names each request (uppercase hex, unlike the server's own ids).
        "frontend via_forwarded_for\n  mode http\n  option forwardfor\n"
        "  unique-id-format %{+X}o%ci%cp%fi%fp%Ts%rt%pid\n  unique-id-header X-Request-Id\n"
        "  bind 127.0.0.1:" + std::to_string(viaForwardedFor) + "\n  default_backend forwarded_for\n"
        "backend forwarded_for\n  mode http\n"
        "  server microserver " + backend + std::to_string(server->port()) + "\n"
        "frontend via_tcp\n  mode tcp\n"
        "  bind 127.0.0.1:" + std::to_string(viaTcp) + "\n  default_backend chat\n"
        "backend chat\n  mode tcp\n"
        "  server microserver " + backend + std::to_string(chatPort) + " send-proxy\n",
        std::vector<int>{viaProxyProtocol, viaForwardedFor, viaTcp});
  }
};

// GET /inspect from 127.0.0.2 through `port`, with `headers`; the echo plugin's JSON.
std::string inspectFromClient(int port, const std::string& headers = "") {
  Connection c(port, Connection::kDefaultTimeout, 0, kClientIp);
  c.sendAll("GET /inspect HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + headers + "\r\n");
  HttpResponse response = c.readResponse();
  if (response.status != 200) throw std::runtime_error("GET /inspect: " + std::to_string(response.status));
  return response.body;
}

std::string remoteIn(const std::string& json) {
  const std::string key = "\"remote\":\"";
  std::size_t at = json.find(key);
  if (at == std::string::npos) return "(none in " + json + ")";
  at += key.size();
  return json.substr(at, json.find('"', at) - at);
}

bool haveHaproxy() { return haveProgram("haproxy"); }
const char* const kNoHaproxy =
    "haproxy is not installed (Debian: apt-get install haproxy; scripts/packages-test.txt lists it)";

TEST(ProxyTest, ProxyProtocolV2ThroughHaproxyShowsTheRealClientEverywhere) {
  if (!haveHaproxy()) GTEST_SKIP() << kNoHaproxy;
  ProxiedServer s;
  const std::size_t mark = s.server->lineCount();
  // A forged X-Forwarded-For: HAProxy appends the real address; the peer after the PROXY
  // header is the client itself (not a trusted proxy), so no header is believed at all.
  std::string json = inspectFromClient(s.viaProxyProtocol, "X-Forwarded-For: 6.6.6.6\r\n");
  EXPECT_EQ(remoteIn(json).rfind(std::string(kClientIp) + ":", 0), 0u) << json;
  EXPECT_TRUE(s.server->waitForLine([](const std::string& line) { return line.rfind("127.0.0.2 - - [", 0) == 0 &&
                                                                       line.find("GET /inspect") != std::string::npos; },
                                    5s, mark))
      << s.server->output();
}

TEST(ProxyTest, TrustedProxysForwardedForIsBelievedAndAClientsForgeryIsNot) {
  if (!haveHaproxy()) GTEST_SKIP() << kNoHaproxy;
  ProxiedServer s;
  // Through HAProxy (127.0.0.1, trusted) without the PROXY protocol: X-Forwarded-For says
  // "6.6.6.6, 127.0.0.2"; the right-most untrusted address is the client's.
  const std::size_t mark = s.server->lineCount();
  std::string json = inspectFromClient(s.viaForwardedFor, "X-Forwarded-For: 6.6.6.6\r\n");
  EXPECT_EQ(remoteIn(json), "127.0.0.2:0") << json;
  EXPECT_TRUE(s.server->waitForLine("127.0.0.2 - - [", 5s, mark)) << s.server->output();
  // Straight to the server from 127.0.0.2 (not trusted): its headers mean nothing.
  json = inspectFromClient(s.server->port(), "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n");
  EXPECT_EQ(remoteIn(json).rfind(std::string(kClientIp) + ":", 0), 0u) << json;
  EXPECT_EQ(json.find("\"remote\":\"6.6.6.6"), std::string::npos) << json;
}

TEST(ProxyTest, TheIdHaproxyGivesARequestIsKeptAndAClientsIsNot) {
  if (!haveHaproxy()) GTEST_SKIP() << kNoHaproxy;
  ProxiedServer s;
  // HAProxy appends its own X-Request-Id after the client's; the server keeps the last,
  // the one the trusted proxy wrote, echoes it and gives it to the plugin.
  Connection c(s.viaForwardedFor, Connection::kDefaultTimeout, 0, kClientIp);
  c.sendAll("GET /inspect HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Request-Id: forged-by-client\r\n\r\n");
  HttpResponse response = c.readResponse();
  ASSERT_EQ(response.status, 200) << response.raw;
  const std::string id = response.header("X-Request-Id");
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9A-F]{16,}"))) << "not HAProxy's unique-id: " << id;
  EXPECT_NE(response.body.find("\"request_id\":\"" + id + "\""), std::string::npos) << response.body;
  // The same header straight from the client (not trusted) is ignored: the server makes one.
  Connection direct(s.server->port(), Connection::kDefaultTimeout, 0, kClientIp);
  direct.sendAll("GET /inspect HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Request-Id: forged-by-client\r\n\r\n");
  HttpResponse own = direct.readResponse();
  EXPECT_TRUE(std::regex_match(own.header("X-Request-Id"), std::regex("[0-9a-f]{32}"))) << own.raw;
}

TEST(ProxyTest, ChatMembersThroughHaproxyAreNamedByTheirRealAddress) {
  if (!haveHaproxy()) GTEST_SKIP() << kNoHaproxy;
  ProxiedServer s;
  Connection member(s.viaTcp, Connection::kDefaultTimeout, 0, kClientIp);
  // HAProxy's mode tcp keeps the client's port in the PROXY v1 line: the exact address.
  const std::string address = localAddress(member);
  ASSERT_EQ(address.rfind(std::string(kClientIp) + ":", 0), 0u);
  EXPECT_EQ(untimed(member.readLine()), "* " + address + " joined");
  member.sendAll("hello through haproxy\n");
  // HAProxy's own connections (the harness's readiness probe, from 127.0.0.1) may join and
  // leave meanwhile: their notices are skipped, nothing else is.
  std::string line = untimed(member.readLine());
  while (line.rfind("* 127.0.0.1:", 0) == 0) line = untimed(member.readLine());
  EXPECT_EQ(line, address + " hello through haproxy");
}

TEST(ProxyTest, AConnectionWithoutAProxyHeaderIsClosedAndTheServerGoesOn) {
  if (!haveHaproxy()) GTEST_SKIP() << kNoHaproxy;
  ProxiedServer s;
  {
    // Plain HTTP straight to the proxy_protocol listener: closed, nothing answered.
    Connection direct(s.proxyListenerPort);
    direct.sendAll("GET /inspect HTTP/1.1\r\nHost: test\r\n\r\n");
    ClosedRead read = direct.readUntilClosed(5s);
    EXPECT_NE(read.how, CloseKind::Timeout);
    EXPECT_EQ(read.data, "");
  }
  {
    // A header cut short and then silence: closed at limits.header_timeout at the latest;
    // a peer that gives up is forgotten at once.
    Connection stalled(s.chatPort);
    stalled.sendAll("PROXY TCP4 192.0.2.1 198.51.100.2 56324 ");
  }
  EXPECT_TRUE(s.server->waitForLine("did not start with a PROXY protocol header", 5s)) << s.server->output();
  // Everyone else is served as before.
  EXPECT_EQ(remoteIn(inspectFromClient(s.viaProxyProtocol)).rfind(std::string(kClientIp) + ":", 0), 0u);
}

// A server that answers /inspect with the echo plugin's JSON; `serverKeys`: the lines
// under `server:` (listen, limits, ...).
std::unique_ptr<ServerProcess> startInspectServer(const TempDir& dir, const std::string& serverKeys) {
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.plugins = MICROSERVER_PLUGIN_DIR;
  options.www = dir.path() + "/www";
  options.configText = "server:\n" + serverKeys +
                       "routes:\n"
                       "  - { path: '^/inspect$', handler: echo, config: { headers: true } }\n";
  return ServerProcess::start(options);
}

// Without HAProxy: headers written by hand, in pieces, against a server whose first
// listener has proxy_protocol: true.
std::unique_ptr<ServerProcess> startProxyProtocolServer(const TempDir& dir) {
  return startInspectServer(dir,
                            "  listen: { address: 127.0.0.1:0, proxy_protocol: true }\n"
                            "  log_level: debug\n"
                            "  limits: { header_timeout: 500ms }\n");
}

const std::string kRequest = "GET /inspect HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

TEST(ProxyTest, AHeaderArrivingByteByByteIsReadWithoutTakingTheRequestAfterIt) {
  TempDir dir;
  auto server = startProxyProtocolServer(dir);
  {
    Connection c(server->port());
    c.sendSlowly("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" + kRequest, 1);
    EXPECT_EQ(remoteIn(c.readResponse().body), "192.0.2.1:56324");
  }
  {
    // v2 and the request in one write: the request's bytes must stay for the session.
    const std::string addresses("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
                                "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02\x12\x67\x01\xbb",
                                36);
    const std::string v2 = std::string("\r\n\r\n\0\r\nQUIT\n\x21\x21\0\x24", 16) + addresses;
    Connection c(server->port());
    c.sendAll(v2 + kRequest);
    EXPECT_EQ(remoteIn(c.readResponse().body), "[2001:db8::1]:4711");
  }
  {
    // v2 LOCAL (a balancer's health check): the connection's own address.
    Connection c(server->port());
    c.sendSlowly(std::string("\r\n\r\n\0\r\nQUIT\n\x20\0\0\0", 16) + kRequest, 5);
    EXPECT_EQ(remoteIn(c.readResponse().body), localAddress(c));
  }
}

TEST(ProxyTest, AHeaderThatStopsHalfWayIsClosedAtTheHeaderTimeout) {
  TempDir dir;
  auto server = startProxyProtocolServer(dir);
  Connection c(server->port());
  c.sendAll("PROXY TCP4 192.0.2.1 ");
  EXPECT_TRUE(c.isClosedByPeer(5s));  // limits.header_timeout is 500ms
  EXPECT_TRUE(server->waitForLine("did not arrive within limits.header_timeout", 5s)) << server->output();
  // Too long a v1 line is refused as soon as it is too long.
  Connection longer(server->port());
  longer.sendAll("PROXY UNKNOWN " + std::string(200, 'x'));
  EXPECT_TRUE(longer.isClosedByPeer(5s));
  EXPECT_TRUE(server->waitForLine("longer than 107 bytes", 5s)) << server->output();
}

TEST(ProxyTest, OnATlsListenerThePROXYHeaderComesBeforeTheHandshake) {
  if (!haveHaproxy()) GTEST_SKIP() << kNoHaproxy;
  TempDir dir;
  const Certificate certificate = makeCertificate(dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
  const int tlsPort = freeLoopbackPort(), front = freeLoopbackPort();
  auto server = startInspectServer(dir, "  listen:\n"
                                        "    - 127.0.0.1:0\n"
                                        "    - { address: 127.0.0.1:" + std::to_string(tlsPort) +
                                            ", proxy_protocol: true, tls: { certificate: " + certificate.certificate +
                                            ", key: " + certificate.key + " } }\n");
  // HAProxy passes TLS through untouched (mode tcp) and puts its PROXY v2 header in front.
  HaproxyProcess haproxy(dir,
                         "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
                         "frontend tls\n  bind 127.0.0.1:" + std::to_string(front) + "\n  default_backend tls\n"
                         "backend tls\n  server microserver 127.0.0.1:" + std::to_string(tlsPort) + " send-proxy-v2\n",
                         {front});
  CommandResult proxied = runCommand({"curl", "-sS", "-k", "--http1.1", "--interface", kClientIp,
                                      "https://127.0.0.1:" + std::to_string(front) + "/inspect"},
                                     30s);
  ASSERT_EQ(proxied.exitCode, 0) << proxied.err << server->output();
  EXPECT_EQ(remoteIn(proxied.out).rfind(std::string(kClientIp) + ":", 0), 0u) << proxied.out;
  // Straight to the listener, the ClientHello is no PROXY header: closed before TLS starts.
  CommandResult direct = runCommand(
      {"curl", "-sS", "-k", "--http1.1", "https://127.0.0.1:" + std::to_string(tlsPort) + "/inspect"}, 30s);
  EXPECT_NE(direct.exitCode, 0) << direct.out;
}

}  // namespace
}  // namespace e2e
