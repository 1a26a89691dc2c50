// HTTPS: TLS listeners beside plain ones (server.listen as a list), checked from the
// outside with curl and `openssl s_client`, and with an in-process TlsClient where a test
// must hold a connection or read slowly. Certificates are made per test with the openssl
// command (self-signed, P-256), so nothing depends on files in the tree.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "PrometheusText.h"
#include "ServerProcess.h"
#include "TestClient.h"
#include "TlsClient.h"

namespace e2e {
namespace {

const std::string kPlugins = MICROSERVER_PLUGIN_DIR;

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command to completion (bounded by `timeout`), with its output.
CommandResult run(const std::string& command) {
  CommandResult result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(("timeout 60 " + command + " 2>&1").c_str(), "r"), ::pclose);
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) result.output.append(buffer.data(), n);
  int status = ::pclose(pipe.release());
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string quote(const std::string& text) { return "'" + text + "'"; }

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The port of the first "microserver also listening on https://..." line.
int tlsPort(const ServerProcess& server) {
  static const std::regex re(R"(^microserver also listening on https://127\.0\.0\.1:([0-9]+)$)");
  for (const std::string& line : server.lines()) {
    std::smatch m;
    if (std::regex_match(line, m, re)) return std::stoi(m[1]);
  }
  throw std::runtime_error("no https listener line in:\n" + server.output());
}

double metric(int port, const std::string& sample) {
  auto samples = parsePrometheus(httpGet(port, "/metrics").body);
  auto found = samples.find(sample);
  return found == samples.end() ? -1 : found->second;
}

// A site with a TLS listener beside the plain one the harness puts on --listen.
struct TlsSite {
  TempDir dir;
  std::string www = dir.path() + "/www";
  Certificate server = makeCertificate(dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1");

  TlsSite() { dir.write("www/index.html", "hello over tls\n"); }

  // `tls`: the listener's tls map; `extra`: more keys of that listener; `limits`: server.limits.
  std::string config(const std::string& tls = "", const std::string& extra = "", const std::string& limits = "") const {
    std::string tlsMap = tls.empty() ? "{ certificate: " + server.certificate + ", key: " + server.key + " }" : tls;
    return "server:\n  listen:\n    - 127.0.0.1:0\n    - { address: 127.0.0.1:0, tls: " + tlsMap + extra +
           " }\n  access_log: 'off'\n  log_level: debug\n  www: " + www + "\n" +
           (limits.empty() ? "" : "  limits: { " + limits + " }\n") +
           "routes:\n"
           "  - { path: '^/hello/(?P<name>[A-Za-z]+)$', methods: [GET], handler: hello, config: { greeting: Hello } }\n"
           "  - { path: '^/', static: " +
           www + " }\n";
  }

  std::unique_ptr<ServerProcess> start(const std::string& configText) const {
    ServerOptions options;
    options.configText = configText;
    options.plugins = kPlugins;
    return ServerProcess::start(options);
  }

  std::string curl(int port, const std::string& path, const std::string& args = "") const {
    return "curl --http1.1 -sS --max-time 30 --cacert " + quote(server.certificate) + " " + args +
           " https://127.0.0.1:" + std::to_string(port) + path;
  }
};

TEST(TlsTest, CurlGetsStaticFilesAndPluginAnswersOverTls) {
  TlsSite site;
  auto server = site.start(site.config());
  int port = tlsPort(*server);

  CommandResult index = run(site.curl(port, "/"));
  EXPECT_EQ(index.status, 0) << index.output;
  EXPECT_EQ(index.output, "hello over tls\n");
  CommandResult insecure = run("curl --http1.1 -sS -k https://localhost:" + std::to_string(port) + "/");
  EXPECT_EQ(insecure.output, "hello over tls\n");
  CommandResult hello = run(site.curl(port, "/hello/World"));
  EXPECT_EQ(hello.status, 0) << hello.output;
  EXPECT_EQ(hello.output, "Hello, World!\n");
  // The plain listener beside it serves the same site.
  EXPECT_EQ(httpGet(server->port(), "/").body, "hello over tls\n");
  // ALPN: the server agrees to HTTP/1.1.
  TlsClient client(port, TlsClient::Options{"localhost", 0, "http/1.1", ""});
  EXPECT_EQ(client.alpn(), "http/1.1");
  EXPECT_EQ(client.version(), "TLSv1.3");
}

TEST(TlsTest, KeepAliveReusesOneTlsConnection) {
  TlsSite site;
  auto server = site.start(site.config());
  int port = tlsPort(*server);
  double before = metric(server->port(), "microserver_tls_handshakes_total{result=\"full\"}");
  std::string url = "https://127.0.0.1:" + std::to_string(port);
  CommandResult r = run(site.curl(port, "/", "-v") + " " + url + "/hello/Ada " + url + "/");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Re-using existing connection"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Hello, Ada!"), std::string::npos) << r.output;
  EXPECT_EQ(metric(server->port(), "microserver_tls_handshakes_total{result=\"full\"}"), before + 1);

  // Pipelined requests in one TLS write come back in order.
  TlsClient client(port, "localhost");
  client.sendAll("GET /hello/A HTTP/1.1\r\nHost: x\r\n\r\nGET /hello/B HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.readResponse().body, "Hello, A!\n");
  EXPECT_EQ(client.readResponse().body, "Hello, B!\n");
}

TEST(TlsTest, LargeFilesAndRangesArriveWhole) {
  TlsSite site;
  std::string big;
  big.reserve(6 << 20);
  std::uint32_t x = 12345;
  for (std::size_t i = 0; i < (6u << 20); ++i) {
    x = x * 1103515245u + 12345u;
    big.push_back(static_cast<char>(x >> 24));
  }
  site.dir.write("www/big.bin", big);
  auto server = site.start(site.config());
  int port = tlsPort(*server);

  std::string out = site.dir.path() + "/big.out";
  CommandResult r = run(site.curl(port, "/big.bin", "-o " + quote(out)));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(readFile(out) == big) << "the file curl received differs from the one served";

  // A reader slower than the server: its socket fills, the server waits for writability
  // (SSL_write wants to write) and goes on where it stopped.
  TlsClient slow(port, TlsClient::Options{"localhost", 4096, "", ""});
  slow.sendAll("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  HttpResponse whole = slow.readResponse();
  EXPECT_EQ(whole.status, 200);
  EXPECT_TRUE(whole.body == big) << "got " << whole.body.size() << " bytes";
  // A range of it, on the same connection.
  slow.sendAll("GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000000-1999999\r\n\r\n");
  HttpResponse range = slow.readResponse();
  EXPECT_EQ(range.status, 206);
  EXPECT_TRUE(range.body == big.substr(1000000, 1000000));
}

TEST(TlsTest, IdleServerUsesAlmostNoCpuAfterTlsTraffic) {
  TlsSite site;
  site.dir.write("www/big.bin", std::string(4 << 20, 'b'));
  auto server = site.start(site.config());
  int port = tlsPort(*server);
  for (int i = 0; i < 3; ++i) {
    TlsClient c(port, "localhost");
    c.sendAll("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.readResponse().body.size(), 4u << 20);
  }
  {
    // Leaves mid-download: the server was waiting for writability.
    TlsClient c(port, TlsClient::Options{"localhost", 4096, "", ""});
    c.sendAll("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_FALSE(c.readSome().empty());
  }
  {
    Connection c(port);  // leaves mid-handshake
    c.sendAll(std::string("\x16\x03\x01\x02\x00", 5));
    c.resetAbruptly();
  }
  TlsClient idle(port, "localhost");                                // and one stays, idle, after its handshake
  EXPECT_EQ(run(site.curl(port, "/")).output, "hello over tls\n");  // all of the above is handled
  double before = server->cpuTimeSeconds();
  auto start = std::chrono::steady_clock::now();
  // Measured over 2 s of wall time: the reactors must be asleep in epoll_wait.
  while (std::chrono::steady_clock::now() - start < 2s) std::this_thread::sleep_for(100ms);
  double used = server->cpuTimeSeconds() - before;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(used / seconds, 0.05) << "idle server used " << used << " s of CPU in " << seconds << " s";
}

TEST(TlsTest, SniChoosesTheCertificate) {
  TlsSite site;
  Certificate a = makeCertificate(site.dir, "a", "a.test", "DNS:a.test");
  Certificate b = makeCertificate(site.dir, "b", "b.test", "DNS:b.test,DNS:*.b.test");
  auto server = site.start(site.config("{ certificates: [ { certificate: " + a.certificate + ", key: " + a.key +
                                       " }, { certificate: " + b.certificate + ", key: " + b.key + " } ] }"));
  int port = tlsPort(*server);
  std::string p = std::to_string(port);

  // curl verifies each name against the certificate it gets.
  for (const auto& [name, certificate] : {std::pair{std::string("a.test"), a}, std::pair{std::string("b.test"), b}}) {
    CommandResult r = run("curl --http1.1 -sS --max-time 30 --cacert " + quote(certificate.certificate) +
                          " --resolve " + name + ":" + p + ":127.0.0.1 https://" + name + ":" + p + "/");
    EXPECT_EQ(r.status, 0) << name << ": " << r.output;
    EXPECT_EQ(r.output, "hello over tls\n") << name;
  }
  // openssl s_client shows the subject it was sent.
  CommandResult s = run("openssl s_client -connect 127.0.0.1:" + p + " -servername www.b.test </dev/null");
  EXPECT_NE(s.output.find("subject=CN = b.test"), std::string::npos) << s.output;
  // No SNI, or a name no certificate has: the first one.
  EXPECT_EQ(TlsClient(port).peerCommonName(), "a.test");
  EXPECT_EQ(TlsClient(port, "nowhere.test").peerCommonName(), "a.test");
  EXPECT_EQ(TlsClient(port, "B.TEST").peerCommonName(), "b.test");
}

TEST(TlsTest, SessionsResume) {
  TlsSite site;
  auto server = site.start(site.config());
  int port = tlsPort(*server);
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    std::string file = site.dir.path() + "/session" + version;
    // A request answered with a close: s_client reads until then (-ign_eof), so it has
    // the TLS 1.3 tickets, which come after the handshake.
    std::string connect =
        "sh -c \"printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
        "openssl s_client -ign_eof -connect 127.0.0.1:" +
        std::to_string(port) + " " + version;
    CommandResult first = run(connect + " -sess_out " + quote(file) + "\"");
    EXPECT_NE(first.output.find("New, TLSv1."), std::string::npos) << first.output;
    EXPECT_NE(first.output.find("hello over tls"), std::string::npos) << first.output;
    CommandResult again = run(connect + " -sess_in " + quote(file) + "\"");
    EXPECT_NE(again.output.find("Reused, TLSv1."), std::string::npos) << version << ":\n" << again.output;
  }
  // The same from the in-process client, across a reload (the ticket keys stay).
  TlsClient first(port, "localhost");
  first.sendAll("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  first.readResponse();
  EXPECT_TRUE(first.isClosedByPeer(5s));
  std::string session = first.session();
  std::size_t mark = server->lineCount();
  server->sendSignal(SIGHUP);
  ASSERT_TRUE(server->waitForLine("reloaded ", 10s, mark)) << server->output();
  TlsClient again(port, TlsClient::Options{"localhost", 0, "", session});
  EXPECT_TRUE(again.resumed());
  // (A TLS 1.3 client is done before the server has read its Finished: an answer shows the
  // server is done too.)
  again.sendAll("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(again.readResponse().status, 200);
  EXPECT_EQ(metric(server->port(), "microserver_tls_handshakes_total{result=\"resumed\"}"), 3);
}

TEST(TlsTest, OldProtocolsAreRefused) {
  TlsSite site;
  auto server = site.start(site.config());
  std::string connect = "openssl s_client -connect 127.0.0.1:" + std::to_string(tlsPort(*server));
  // (SECLEVEL=0 lets this client offer TLS 1.1 at all.)
  CommandResult old = run(connect + " -tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null");
  EXPECT_NE(old.status, 0) << old.output;
  EXPECT_NE(old.output.find("alert protocol version"), std::string::npos) << old.output;
  EXPECT_TRUE(server->waitForLine("failed: unsupported protocol", 5s)) << server->output();
  CommandResult tls12 = run(connect + " -tls1_2 </dev/null");
  EXPECT_NE(tls12.output.find("Protocol  : TLSv1.2"), std::string::npos) << tls12.output;
}

TEST(TlsTest, GarbageInsteadOfAClientHelloClosesOnlyThatConnection) {
  TlsSite site;
  auto server = site.start(site.config());
  int port = tlsPort(*server);
  TlsClient established(port, "localhost");  // open before, used after
  for (const std::string& garbage : {std::string(5000, 'x'), std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                     std::string("\x16\x03\x01\x00\x05hello", 10),
                                     std::string("\x16\x03\x03\xff\xff", 5) + std::string(300, '\0')}) {
    Connection c(port);
    c.sendAll(garbage);
    EXPECT_TRUE(c.isClosedByPeer(10s)) << escapeBytes(garbage, 40);
  }
  EXPECT_TRUE(server->running());
  EXPECT_EQ(run(site.curl(port, "/")).output, "hello over tls\n");
  established.sendAll("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(established.readResponse().body, "hello over tls\n");
  EXPECT_GE(metric(server->port(), "microserver_tls_handshakes_total{result=\"failed\"}"), 4);
}

TEST(TlsTest, SilentOrStalledClientsAreClosedAfterTheHeaderTimeout) {
  TlsSite site;
  auto server = site.start(site.config("", "", "header_timeout: 1s"));
  int port = tlsPort(*server);
  auto start = std::chrono::steady_clock::now();
  Connection silent(port);
  Connection stalled(port);
  stalled.sendAll(std::string("\x16\x03\x01\x02\x00", 5));  // a record header, then nothing
  EXPECT_TRUE(silent.isClosedByPeer(10s));
  EXPECT_TRUE(stalled.isClosedByPeer(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
  EXPECT_TRUE(server->waitForLine("its TLS handshake was not done within limits.header_timeout", 5s));
  EXPECT_EQ(metric(server->port(), "microserver_tls_handshakes_total{result=\"timeout\"}"), 2);
  EXPECT_EQ(run(site.curl(port, "/")).output, "hello over tls\n");
}

TEST(TlsTest, PeerCloseNotifyAndResetAreHandled) {
  TlsSite site;
  auto server = site.start(site.config());
  int port = tlsPort(*server);
  {
    TlsClient c(port, "localhost");
    c.sendAll("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(c.readResponse().body, "hello over tls\n");
    EXPECT_TRUE(c.isClosedByPeer(5s));  // with our close_notify: fill() saw SSL_ERROR_ZERO_RETURN
  }
  for (int i = 0; i < 3; ++i) {
    Connection c(port);
    c.sendAll(std::string("\x16\x03\x01\x00\x30", 5));
    c.resetAbruptly();  // mid-handshake
  }
  {
    // A request, then at once the client's close_notify: it is answered, then closed.
    TlsClient c(port, "localhost");
    c.sendAll("GET /hello/Last HTTP/1.1\r\nHost: x\r\n\r\n");
    c.sendCloseNotify();
    EXPECT_EQ(c.readResponse().body, "Hello, Last!\n");
    EXPECT_TRUE(c.isClosedByPeer(5s));
  }
  EXPECT_EQ(run(site.curl(port, "/")).output, "hello over tls\n");
  EXPECT_TRUE(server->running());
}

TEST(TlsTest, PlainListenerRedirectsToHttpsAndTheTlsListenerSendsHsts) {
  TlsSite site;
  auto server = site.start(
      "server:\n  listen:\n    - { address: 127.0.0.1:0, redirect_to_https: 8443 }\n"
      "    - { address: 127.0.0.1:0, tls: { certificate: " +
      site.server.certificate + ", key: " + site.server.key +
      " }, hsts: 8760h }\n"
      "    - { address: 127.0.0.1:0, redirect_to_https: 'https://secure.example/' }\n"
      "  access_log: 'off'\n  www: " +
      site.www + "\nroutes:\n  - { path: '^/', static: " + site.www + " }\n");
  int port = tlsPort(*server);
  HttpResponse r = httpGet(server->port(), "/a/b?c=d", {{"Host", "example.test:8080"}});
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "https://example.test:8443/a/b?c=d");
  EXPECT_FALSE(r.hasHeader("Strict-Transport-Security"));
  HttpResponse post = httpRequest(server->port(), "POST", "/form", {{"Host", "[::1]:8080"}}, "x=1");
  EXPECT_EQ(post.status, 308);
  EXPECT_EQ(post.header("Location"), "https://[::1]:8443/form");
  // Without a Host, the address the client reached.
  Connection old(server->port());
  old.sendAll("GET /x HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.readResponse().header("Location"), "https://127.0.0.1:8443/x");
  // The built-in endpoints stay reachable over plain HTTP (load balancers' health checks).
  EXPECT_EQ(httpGet(server->port(), "/healthz").status, 200);

  // The third listener redirects to a fixed URL.
  std::optional<std::string> third = server->waitForLine("microserver also listening on http://", 1s);
  ASSERT_TRUE(third);
  HttpResponse fixed = httpGet(std::stoi(third->substr(third->rfind(':') + 1)), "/p?q", {{"Host", "x"}});
  EXPECT_EQ(fixed.header("Location"), "https://secure.example/p?q");

  CommandResult headers = run(site.curl(port, "/", "-D -"));
  EXPECT_NE(headers.output.find("Strict-Transport-Security: max-age=31536000\r\n"), std::string::npos)
      << headers.output;
}

TEST(TlsTest, ChatServiceOverTls) {
  TlsSite site;
  auto server = site.start("server: { www: " + site.www +
                           ", access_log: 'off' }\nroutes: []\nservices:\n"
                           "  - { plugin: chat, listen: { address: 127.0.0.1:0, tls: { certificate: " +
                           site.server.certificate + ", key: " + site.server.key + " } } }\n");
  std::optional<std::string> line = server->waitForLine("service chat on 127.0.0.1:", 5s);
  ASSERT_TRUE(line) << server->output();
  EXPECT_NE(line->find("(tls)"), std::string::npos) << *line;
  int port = std::stoi(line->substr(line->find("127.0.0.1:") + 10));

  TlsClient a(port, "localhost");
  std::string aJoined = a.readLine();
  EXPECT_NE(aJoined.find(" joined"), std::string::npos) << aJoined;
  TlsClient b(port, "localhost");
  b.readLine();                                                // b's own join
  EXPECT_NE(a.readLine().find(" joined"), std::string::npos);  // a hears b join
  a.sendAll("hello over tls\n");
  EXPECT_NE(b.readLine().find(" hello over tls"), std::string::npos);
  EXPECT_NE(a.readLine().find(" hello over tls"), std::string::npos);
  // openssl s_client users join too (as `ncat --ssl` ones would).
  CommandResult s = run("sh -c \"printf 'from s_client\\nquit\\n' | openssl s_client -quiet -connect 127.0.0.1:" +
                        std::to_string(port) + "\"");
  EXPECT_NE(s.output.find(" joined"), std::string::npos) << s.output;
  EXPECT_NE(b.readLine().find(" joined"), std::string::npos);
  EXPECT_NE(b.readLine().find(" from s_client"), std::string::npos);
}

// The chat page over HTTPS joins with wss:// (www/chat.js): a WebSocket on the TLS
// connection, in the same room as a plain TCP member.
TEST(TlsTest, WebSocketOverTlsJoinsTheChat) {
  TlsSite site;
  auto server = site.start(
      "server:\n  listen: [127.0.0.1:0, { address: 127.0.0.1:0, tls: { certificate: " + site.server.certificate +
      ", key: " + site.server.key + " } }]\n  www: " + site.www +
      "\n  access_log: 'off'\nroutes:\n  - { path: '^/chat/(?P<action>ws|history|messages|members)$', handler: chat, "
      "config: { room: lobby } }\nservices:\n  - { plugin: chat, listen: '127.0.0.1:0', config: { room: lobby } }\n");
  std::optional<std::string> line = server->waitForLine("service chat on 127.0.0.1:", 5s);
  ASSERT_TRUE(line) << server->output();
  Connection member(std::stoi(line->substr(line->rfind(':') + 1)));
  EXPECT_NE(member.readLine().find(" joined"), std::string::npos);

  TlsClient browser(tlsPort(*server), "localhost");
  browser.sendAll(
      "GET /chat/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  HttpResponse upgrade = browser.readResponse();
  ASSERT_EQ(upgrade.status, 101);
  EXPECT_EQ(upgrade.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_NE(member.readLine().find(" joined"), std::string::npos);  // the browser joined
  // A masked text frame, as browsers send them.
  const std::string text = "hello from wss";
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  std::string frame = {static_cast<char>(0x81), static_cast<char>(0x80 | text.size())};
  for (unsigned char m : mask) frame.push_back(static_cast<char>(m));
  for (std::size_t i = 0; i < text.size(); ++i) frame.push_back(static_cast<char>(text[i] ^ mask[i % 4]));
  browser.sendAll(frame);
  std::string heard = member.readLine();
  EXPECT_NE(heard.find(" hello from wss"), std::string::npos) << heard;
  // The room's lines reach the browser as text frames.
  member.sendAll("hello from tcp\n");
  std::string frames;
  while (frames.find("hello from tcp") == std::string::npos) frames += browser.readSome();
}

// ---------------------------------------------------------------------------------------
// Configuration errors

ExitedRun runToExit(const std::string& configText) {
  ServerOptions options;
  options.configText = configText;
  return e2e::runToExit(options);
}

TEST(TlsTest, BadCertificatesAreConfigErrorsWithTheirPlace) {
  TlsSite site;
  Certificate other = makeCertificate(site.dir, "other", "other", "DNS:other");
  std::string missing = site.dir.path() + "/missing.crt";
  ExitedRun r = runToExit(
      "server:\n  listen:\n    - 127.0.0.1:0\n    - address: 127.0.0.1:0\n      tls:\n"
      "        certificate: " +
      missing + "\n        key: " + site.server.key + "\n");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("routes.yaml:6:22: server.listen[1].tls.certificate: cannot read " + missing +
                          ": No such file or directory"),
            std::string::npos)
      << r.output;

  ExitedRun mismatch =
      runToExit("server:\n  listen:\n    - { address: 127.0.0.1:0, tls: { certificate: " + site.server.certificate +
                ", key: " + other.key + " } }\n");
  EXPECT_EQ(mismatch.status, 2) << mismatch.output;
  EXPECT_NE(mismatch.output.find("server.listen[0].tls.key: the key in " + other.key +
                                 " does not match the certificate in " + site.server.certificate),
            std::string::npos)
      << mismatch.output;

  // --check reports the same, and a certificate file that holds a key is no certificate.
  ServerOptions check;
  check.configText = "server:\n  listen: [{ address: ':0', tls: { certificate: " + site.server.key +
                     ", key: " + site.server.key + " } }]\n";
  check.extraArgs = {"--check"};
  try {
    ServerProcess::start(check);
    ADD_FAILURE() << "--check did not exit";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("server.listen[0].tls.certificate: no PEM certificate in " + site.server.key),
              std::string::npos)
        << e.what();
  }
}

// ---------------------------------------------------------------------------------------
// Reload

TEST(TlsTest, ReloadTakesNewCertificatesForNewHandshakesOnly) {
  TlsSite site;
  Certificate first = makeCertificate(site.dir, "first", "first.test", "DNS:first.test");
  Certificate second = makeCertificate(site.dir, "second", "second.test", "DNS:second.test");
  std::string live = site.dir.path() + "/live";
  run("cp " + quote(first.certificate) + " " + quote(live + ".crt") + " && cp " + quote(first.key) + " " +
      quote(live + ".key"));
  auto server = site.start(site.config("{ certificate: " + live + ".crt, key: " + live + ".key }"));
  int port = tlsPort(*server);
  TlsClient before(port);
  EXPECT_EQ(before.peerCommonName(), "first.test");

  // The files are replaced (as certbot does); SIGHUP reloads.
  run("cp " + quote(second.certificate) + " " + quote(live + ".crt") + " && cp " + quote(second.key) + " " +
      quote(live + ".key"));
  std::size_t mark = server->lineCount();
  server->sendSignal(SIGHUP);
  ASSERT_TRUE(server->waitForLine("reloaded ", 10s, mark)) << server->output();
  EXPECT_EQ(TlsClient(port).peerCommonName(), "second.test");
  // The connection made before the reload goes on with its own.
  before.sendAll("GET /hello/Before HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(before.readResponse().body, "Hello, Before!\n");

  // A broken certificate is refused: the running ones stay.
  site.dir.write("live.crt", "not a certificate\n");
  mark = server->lineCount();
  server->sendSignal(SIGHUP);
  ASSERT_TRUE(server->waitForLine("reload failed", 10s, mark)) << server->output();
  EXPECT_TRUE(server->waitForLine("tls.certificate: no PEM certificate in " + live + ".crt", 1s, mark));
  EXPECT_EQ(TlsClient(port).peerCommonName(), "second.test");
}

TEST(TlsTest, ChangedCertificateFilesReloadThemselves) {
  TlsSite site;
  Certificate second = makeCertificate(site.dir, "second", "second.test", "DNS:second.test");
  auto server = site.start(site.config());
  int port = tlsPort(*server);
  EXPECT_EQ(TlsClient(port).peerCommonName(), "localhost");
  std::size_t mark = server->lineCount();
  // Renewed in place: the file watch notices, as it does for routes.yaml.
  run("cp " + quote(second.key) + " " + quote(site.server.key) + " && cp " + quote(second.certificate) + " " +
      quote(site.server.certificate));
  ASSERT_TRUE(server->waitForLine("reloaded ", 10s, mark)) << server->output();
  EXPECT_EQ(TlsClient(port).peerCommonName(), "second.test");
}

}  // namespace
}  // namespace e2e
