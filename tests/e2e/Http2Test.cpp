// HTTP/2 end to end: ALPN h2 on a TLS listener and prior-knowledge h2c on the plain one,
// checked with the clients people use (curl, nghttp, headless Chromium) and, for what
// they will not do (floods, garbage, streams past the limit, a stop mid-request), with
// tests/e2e/h2/h2probe.py on Debian's python3-h2. Every route behaves as over HTTP/1.1:
// static files (ranges, 304), plugins answering at once, later, streamed or on a worker,
// request bodies streamed with flow control, the access log and the metrics.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "BrowserProcess.h"
#include "Certificates.h"
#include "Command.h"
#include "PrometheusText.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using namespace std::chrono_literals;

const std::string kPlugins = MICROSERVER_PLUGIN_DIR;
const std::string kProbe = std::string(MICROSERVER_SOURCE_DIR) + "/tests/e2e/h2/h2probe.py";
// Debian's interpreter, where python3-h2 is installed (not whatever python3 PATH finds).
const std::string kPython = "/usr/bin/python3";

#ifdef MICROSERVER_SANITIZED
constexpr auto kSlack = 4;
#else
constexpr auto kSlack = 1;
#endif

// A site with a TLS listener beside the plain one, the plugins a test needs, and the
// access log in a file.
struct Http2Site {
  TempDir dir;
  std::string www = dir.path() + "/www";
  std::string accessLog = dir.path() + "/access.log";
  Certificate server = makeCertificate(dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
  std::unique_ptr<ServerProcess> process;
  int plainPort = 0, tlsPort = 0;

  // `serverKeys`: more lines of `server:`; `moreRoutes`: routes before the site's own;
  // `siteFolder`: the folder the last route serves (the test's www by default).
  explicit Http2Site(const std::string& serverKeys = "", const std::string& moreRoutes = "",
                     const std::string& siteFolder = "") {
    dir.write("www/index.html", "hello over h2\n");
    std::string big;
    for (int i = 0; big.size() < 3 * 1024 * 1024; ++i) big += "line " + std::to_string(i) + " of a big file\n";
    dir.write("www/big.txt", big);
    ServerOptions options;
    options.plugins = kPlugins;
    options.configText =
        "server:\n  listen:\n    - 127.0.0.1:0\n    - { address: 127.0.0.1:0, tls: { certificate: " + server.certificate +
        ", key: " + server.key + " } }\n  access_log: " + accessLog + "\n  www: " + www + "\n" + serverKeys +
        "routes:\n"
        "  - { path: '^/hello/(?P<name>[A-Za-z]+)$', methods: [GET], handler: hello, config: { greeting: Hello } }\n"
        "  - { path: '^/delay/(?P<ms>[0-9]+)$', methods: [GET], handler: delay, config: { max_ms: 60000 } }\n"
        "  - { path: '^/slow$', methods: [GET], handler: slow, blocking: true }\n"
        "  - { path: '^/events$', methods: [GET], handler: events, config: { interval_ms: 100 } }\n"
        "  - { path: '^/api/digest$', methods: [POST], handler: digest, body: stream, body_bytes: 1GiB }\n"
        "  - { path: '^/api/echo$', methods: [POST], handler: echo, body_bytes: 1KiB }\n" +
        moreRoutes + "  - { path: '^/', static: " + (siteFolder.empty() ? www : siteFolder) + " }\n";
    process = ServerProcess::start(options);
    plainPort = process->port();
    tlsPort = e2e::tlsPort(*process);
  }

  std::string https(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(tlsPort) + path; }
  std::string http(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(plainPort) + path; }

  // curl with our certificate; `args` before the URL.
  CommandResult curl(std::vector<std::string> args, const std::string& url) const {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "30", "--cacert", server.certificate};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(url);
    return runCommand(argv, 60s);
  }

  // h2probe.py against the plain listener (h2c).
  CommandResult probe(std::vector<std::string> args) const {
    std::vector<std::string> argv = {kPython, kProbe, std::to_string(plainPort)};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, 60s);
  }

  std::string readAccessLog() const {
    std::ifstream in(accessLog);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
};

bool haveProbe() { return runCommand({kPython, "-c", "import h2"}, 30s).exitCode == 0; }
#define REQUIRE_PROBE() \
  if (!haveProbe()) GTEST_SKIP() << "python3-h2 is not installed (apt-get install python3-h2)"
#define REQUIRE_PROGRAM(name) \
  if (!haveProgram(name)) GTEST_SKIP() << name " is not installed (see scripts/packages-test.txt)"

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Http2Test, CurlGetsHttp2OverTlsAndHttp11WhenItAsks) {
  Http2Site site;
  CommandResult h2 = site.curl({"--http2", "-w", "\n%{http_version}"}, site.https("/"));
  ASSERT_EQ(h2.exitCode, 0) << h2.err;
  EXPECT_EQ(h2.out, "hello over h2\n\n2");
  CommandResult h1 = site.curl({"--http1.1", "-w", "\n%{http_version}"}, site.https("/"));
  EXPECT_EQ(h1.out, "hello over h2\n\n1.1");
  CommandResult hello = site.curl({"--http2", "-w", " %{http_version}"}, site.https("/hello/Ada"));
  EXPECT_EQ(hello.out, "Hello, Ada!\n 2") << hello.err;
}

TEST(Http2Test, PriorKnowledgeH2cOnThePlainListener) {
  Http2Site site;
  CommandResult h2c = site.curl({"--http2-prior-knowledge", "-w", "\n%{http_version}"}, site.http("/"));
  ASSERT_EQ(h2c.exitCode, 0) << h2c.err;
  EXPECT_EQ(h2c.out, "hello over h2\n\n2");
  CommandResult h1 = site.curl({"-w", "\n%{http_version}"}, site.http("/"));
  EXPECT_EQ(h1.out, "hello over h2\n\n1.1");
  // The plain listener still speaks HTTP/1.1 to a client that sent a request first.
  EXPECT_EQ(httpGet(site.plainPort, "/").status, 200);
}

TEST(Http2Test, StaticFilesAnswerRangesAndConditionalsOverHttp2) {
  Http2Site site;
  CommandResult range = site.curl({"--http2", "-r", "0-4", "-w", " %{http_code}"}, site.https("/index.html"));
  EXPECT_EQ(range.out, "hello 206");
  CommandResult head = site.curl({"--http2", "-I"}, site.https("/index.html"));
  std::string etag;
  for (const std::string& line : lines(head.out))
    if (line.rfind("etag: ", 0) == 0) etag = line.substr(6, line.size() - 7);  // without "\r"
  ASSERT_FALSE(etag.empty()) << head.out;
  CommandResult notModified =
      site.curl({"--http2", "-H", "If-None-Match: " + etag, "-w", "%{http_code}"}, site.https("/index.html"));
  EXPECT_EQ(notModified.out, "304");
  // A 3 MiB file through a 16 KiB stream window (nghttp -w 14: 2^14): flow control holds.
  REQUIRE_PROGRAM("nghttp");
  CommandResult big = runCommand({"nghttp", "-w", "14", "-W", "16", site.https("/big.txt")}, 60s);
  ASSERT_EQ(big.exitCode, 0) << big.err;
  std::ifstream file(site.www + "/big.txt", std::ios::binary);
  std::string expected((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(big.out == expected) << "got " << big.out.size() << " bytes, expected " << expected.size();
}

TEST(Http2Test, NghttpMultiplexesLateAndBlockingAnswersOnOneConnection) {
  REQUIRE_PROGRAM("nghttp");
  Http2Site site("  workers: 4\n");
  // Twenty answers that each take 500 ms, on one connection: together, not one after another.
  std::vector<std::string> argv = {"nghttp", "-n", "-s"};
  for (int i = 0; i < 20; ++i) argv.push_back(site.https("/delay/500?n=" + std::to_string(i)));
  auto started = std::chrono::steady_clock::now();
  CommandResult r = runCommand(argv, 60s);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.exitCode, 0) << r.err;
  int answered = 0;
  for (const std::string& line : lines(r.out))
    if (line.find(" 200 ") != std::string::npos && line.find("/delay/500") != std::string::npos) ++answered;
  EXPECT_EQ(answered, 20) << r.out;
  EXPECT_LT(took, 5s * kSlack) << "the streams were not answered concurrently";
  // Blocking handlers on the worker pool, four streams at once.
  argv = {"nghttp", "-n", "-s"};
  for (int i = 0; i < 4; ++i) argv.push_back(site.https("/slow?ms=400&n=" + std::to_string(i)));
  started = std::chrono::steady_clock::now();
  r = runCommand(argv, 60s);
  took = std::chrono::steady_clock::now() - started;
  answered = 0;
  for (const std::string& line : lines(r.out))
    if (line.find(" 200 ") != std::string::npos && line.find("/slow") != std::string::npos) ++answered;
  EXPECT_EQ(answered, 4) << r.out;
  EXPECT_LT(took, 1500ms * kSlack);
}

TEST(Http2Test, AStreamedUploadIsTakenWithFlowControl) {
  REQUIRE_PROGRAM("nghttp");
  Http2Site site;
  std::string body;
  for (int i = 0; body.size() < 20 * 1024 * 1024; ++i) body += std::to_string(i) + ",";
  site.dir.write("upload.bin", body);
  const std::string file = site.dir.path() + "/upload.bin";
  CommandResult sum = runCommand({"sha256sum", file}, 30s);
  ASSERT_EQ(sum.exitCode, 0);
  const std::string expected = sum.out.substr(0, 64);
  CommandResult r = runCommand({"nghttp", "-d", file, site.https("/api/digest")}, 60s);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "{\"sha256\":\"" + expected + "\",\"bytes\":" + std::to_string(body.size()) + "}\n");
  // A buffered route's limit: 413, and the server asks the client to stop sending.
  site.dir.write("big.bin", std::string(10000, 'x'));
  CommandResult refused = site.curl({"--http2", "--data-binary", "@" + site.dir.path() + "/big.bin", "-w", " %{http_code}"},
                                    site.https("/api/echo"));
  EXPECT_NE(refused.out.find(" 413"), std::string::npos) << refused.out << refused.err;
  CommandResult echoed = site.curl({"--http2", "--data-binary", "small", "-w", " %{http_code}"}, site.https("/api/echo"));
  EXPECT_EQ(echoed.out, "small 200");
}

TEST(Http2Test, ServerSentEventsFlowOnAStream) {
  REQUIRE_PROBE();
  Http2Site site;
  CommandResult r = site.probe({"events", "/events", "3"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::vector<std::string> seen = lines(r.out);
  ASSERT_GE(seen.size(), 6u) << r.out;
  EXPECT_EQ(seen[0], "status 200");
  EXPECT_EQ(seen[1], "content-type text/event-stream; charset=utf-8");
  EXPECT_EQ(seen[2].rfind("event {\"n\":1,", 0), 0u) << r.out;
  EXPECT_EQ(seen[4].rfind("event {\"n\":3,", 0), 0u) << r.out;
  EXPECT_EQ(seen.back(), "end done");
}

TEST(Http2Test, TheAccessLogAndTheMetricsNameTheProtocol) {
  REQUIRE_PROBE();
  Http2Site site;
  CommandResult r = site.probe({"get", "/", "/hello/Bo", "/nothing-here"});
  std::vector<std::string> seen = lines(r.out);
  ASSERT_EQ(seen.size(), 4u) << r.out << r.err;
  EXPECT_EQ(seen[0], "response / 200 14");
  EXPECT_EQ(seen[1], "response /hello/Bo 200 11");
  EXPECT_EQ(seen[2].rfind("response /nothing-here 404 ", 0), 0u) << seen[2];
  EXPECT_EQ(seen[3], "end done");
  auto samples = parsePrometheus(httpGet(site.plainPort, "/metrics").body);
  EXPECT_EQ(samples["microserver_protocol_requests_total{protocol=\"h2\"}"], 3);
  EXPECT_EQ(samples["microserver_http2_connections_total"], 1);
  std::string log;
  for (int i = 0; i < 100 && log.find("/nothing-here") == std::string::npos; ++i) {
    log = site.readAccessLog();
    if (log.find("/nothing-here") == std::string::npos) std::this_thread::sleep_for(50ms);  // the log writer's thread
  }
  EXPECT_NE(log.find("\"GET / HTTP/2.0\" 200 14"), std::string::npos) << log;
  EXPECT_NE(log.find("\"GET /hello/Bo HTTP/2.0\" 200 11"), std::string::npos) << log;
  EXPECT_NE(log.find("\"GET /nothing-here HTTP/2.0\" 404"), std::string::npos) << log;
}

TEST(Http2Test, TooLargeHeadersAnswer431) {
  Http2Site site("  limits: { header_bytes: 4KiB }\n");
  CommandResult r = site.curl({"--http2-prior-knowledge", "-H", "X-Big: " + std::string(8000, 'a'), "-o", "/dev/null",
                               "-w", "%{http_code} %{http_version}"},
                              site.http("/"));
  EXPECT_EQ(r.out, "431 2") << r.err;
  EXPECT_EQ(site.curl({"--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}"}, site.http("/")).out, "200");
}

TEST(Http2Test, StreamsBeyondTheConcurrencyLimitAreRefused) {
  REQUIRE_PROBE();
  Http2Site site;
  CommandResult r = site.probe({"streams", "/delay/300", "150"});
  EXPECT_EQ(r.out, "answered 100\nrefused 50\nend done\n") << r.err;
}

TEST(Http2Test, FloodsAndGarbageCloseOnlyTheirOwnConnection) {
  REQUIRE_PROBE();
  Http2Site site;
  // Rapid reset (CVE-2023-44487): streams opened and cancelled at once, thousands of them.
  CommandResult reset = site.probe({"rapid-reset", "3000"});
  EXPECT_NE(reset.out.find("goaway "), std::string::npos) << reset.out << reset.err;
  EXPECT_EQ(reset.out.find("end timeout"), std::string::npos) << reset.out;
  // A header block in endless CONTINUATION frames (CVE-2024-28182).
  CommandResult continuation = site.probe({"continuation-flood", "1000"});
  EXPECT_NE(continuation.out.find("end closed"), std::string::npos) << continuation.out << continuation.err;
  EXPECT_EQ(continuation.out.find("headers-for 1"), std::string::npos) << continuation.out;
  // Bytes that are no frame after the preface.
  CommandResult garbage = site.probe({"garbage"});
  EXPECT_EQ(garbage.out, "end closed\n") << garbage.err;
  // Everyone else is served as before.
  EXPECT_EQ(site.curl({"--http2", "-w", " %{http_version}"}, site.https("/")).out, "hello over h2\n 2");
  EXPECT_EQ(httpGet(site.plainPort, "/").status, 200);
}

TEST(Http2Test, AConnectionThatSendsNoPrefaceInTimeIsClosed) {
  Http2Site site("  limits: { header_timeout: 1s }\n");
  Connection c(site.plainPort);
  c.sendAll("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");  // the preface, then nothing: not even SETTINGS
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.isClosedByPeer(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s * kSlack);
}

TEST(Http2Test, AGracefulStopSendsGoawayAndFinishesTheRequestsInFlight) {
  REQUIRE_PROBE();
  Http2Site site;
  CommandResult r = site.probe({"stop-during", "/delay/800", std::to_string(site.process->pid())});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("signalled\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("goaway NO_ERROR 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("status 200\nbody {\"delayed_ms\":800}\nend closed\n"), std::string::npos) << r.out;
  EXPECT_EQ(site.process->waitExit(10s), 0) << site.process->output();
}

TEST(Http2Test, ChromiumLoadsTheSiteAndTheChatOverHttp2) {
  if (!BrowserProcess::installed()) GTEST_SKIP() << BrowserProcess::notInstalledReason();
  const std::string www = std::string(MICROSERVER_SOURCE_DIR) + "/www";
  Http2Site site("", "  - { path: '^/chat/(?P<action>ws|history|messages|members)$', handler: chat }\n", www);
  BrowserProcess::Options options;
  options.extraArgs = {"--ignore-certificate-errors"};
  auto browser = BrowserProcess::start(options);
  browser->navigate(site.https("/index.html"));
  ASSERT_TRUE(browser->waitFor("document.readyState === 'complete'", 10s));
  EXPECT_EQ(browser->evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol").str(), "h2");
  EXPECT_EQ(browser->evaluate("performance.getEntriesByType('resource').filter(r => r.name.endsWith('/style.css'))"
                              ".map(r => r.nextHopProtocol).join()")
                .str(),
            "h2");
  browser->navigate(site.https("/chat.html"));
  ASSERT_TRUE(browser->evaluate("window.chatReady.then(() => true)", 10s).asBool());
  EXPECT_EQ(browser->evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol").str(), "h2");
  EXPECT_TRUE(browser->waitFor("document.getElementById('status').dataset.state === 'connected'", 10s));
}

}  // namespace
}  // namespace e2e
