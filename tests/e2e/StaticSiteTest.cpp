// End-to-end tests of the site as browsers, curl and caches meet it: the open-file cache
// (a change on disk is seen within its one-second bound), disk work off the event loop
// (a slow open delays no one else), gzip and brotli (precompressed and made on the fly,
// each round-tripped through `curl --compressed`), preconditions, ranges, Cache-Control,
// the directory listing, and compressed plugin answers.
//
// The slow disk is simulated by the server's test-only fault MICROSERVER_TEST_SLOW_OPEN
// ("<end of a path>:<ms>": every open of such a path takes that much longer), read in
// core/src/site/StaticFiles.cpp.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "Command.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kPlugins = MICROSERVER_PLUGIN_DIR;

std::string cssText(std::size_t bytes) {
  std::string text;
  for (int i = 0; text.size() < bytes; ++i) text += ".rule-" + std::to_string(i) + " { color: #123456; margin: 0 }\n";
  text.resize(bytes);
  return text;
}

std::string gzipped(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

struct Site {
  TempDir dir;
  std::string www, assets, files, css = cssText(20 * 1024), js = cssText(3000);
  Site() {
    www = dir.path() + "/www";
    assets = dir.path() + "/assets";
    files = dir.path() + "/files";
    dir.write("www/index.html", "<!doctype html><title>t</title>home\n");
    dir.write("www/404.html", "custom not found\n");
    dir.write("www/site.css", css);
    dir.write("www/digits.txt", "0123456789");
    dir.write("www/slow/file.txt", "slow file\n");
    dir.write("www/fast.txt", "fast file\n");
    dir.write("assets/app.js", js);
    dir.write("assets/app.js.gz", gzipped(js));  // built ahead, as with gzip_static
    dir.write("files/<b>&\"x\".txt", "12345");
    dir.write("files/sub/a.txt", "a");
  }
};

std::string configFor(const Site& site, int reactors = 2) {
  return "server:\n  www: " + site.www + "\n  reactors: " + std::to_string(reactors) +
         "\n  access_log: off\n"
         "routes:\n"
         "  - { path: '^/api/echo$', methods: [POST], handler: echo, compress: true }\n"
         "  - { path: '^/api/plain-echo$', methods: [POST], handler: echo }\n"
         "  - { path: '^/assets/', static: " + site.assets + ", cache: { max_age: 1h, immutable: true } }\n"
         "  - { path: '^/files/', static: " + site.files + ", listing: true }\n"
         "  - { path: '^/', static: " + site.www + " }\n";
}

std::unique_ptr<ServerProcess> startServer(const Site& site, std::vector<std::pair<std::string, std::string>> env = {},
                                           int reactors = 2) {
  ServerOptions options;
  options.configText = configFor(site, reactors);
  options.plugins = kPlugins;
  options.env = std::move(env);
  return ServerProcess::start(options);
}

std::string url(const ServerProcess& server, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + path;
}

CommandResult curl(std::vector<std::string> args) {
  if (!haveProgram("curl")) throw std::runtime_error("curl is missing (Debian package curl)");
  args.insert(args.begin(), {"curl", "-sS", "--max-time", "10"});
  return runCommand(args, std::chrono::seconds(15));
}

// The header block curl wrote with -D -, lowercased names, for finding a header line.
std::string headerOf(const std::string& block, const std::string& name) {
  std::size_t at = 0;
  while (at < block.size()) {
    std::size_t end = block.find("\r\n", at);
    if (end == std::string::npos) end = block.size();
    std::string line = block.substr(at, end - at);
    std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string key = line.substr(0, colon);
      for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (key == name) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
    at = end + 2;
  }
  return "";
}

class StaticSiteTest : public ::testing::Test {
 protected:
  Site site;
};

TEST_F(StaticSiteTest, EachEncodingRoundTripsThroughCurlCompressed) {
  auto server = startServer(site);
  TempDir out;
  for (const char* accept : {"br", "gzip", "identity"}) {
    std::string headers = out.path() + "/h-" + accept;
    CommandResult r = curl({"--compressed", "-H", std::string("Accept-Encoding: ") + accept, "-D", headers, "-o",
                            out.path() + "/body", "-w", "%{size_download}", url(*server, "/site.css")});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    CommandResult cat = runCommand({"cat", out.path() + "/body"}, std::chrono::seconds(5));
    EXPECT_EQ(cat.out, site.css) << accept;
    CommandResult head = runCommand({"cat", headers}, std::chrono::seconds(5));
    EXPECT_EQ(headerOf(head.out, "content-encoding"), std::string(accept) == "identity" ? "" : accept) << head.out;
    EXPECT_EQ(headerOf(head.out, "vary"), "Accept-Encoding") << head.out;
    if (std::string(accept) != "identity") {
      EXPECT_LT(std::stoul(r.out), site.css.size() / 3) << accept;
    }
  }
}

TEST_F(StaticSiteTest, PrecompressedSiblingIsSentAndCurlDecodesIt) {
  auto server = startServer(site);
  HttpResponse raw = httpGet(server->port(), "/assets/app.js", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.header("Content-Encoding"), "gzip");
  EXPECT_EQ(raw.body, gzipped(site.js));  // the very bytes of app.js.gz
  EXPECT_EQ(raw.header("Cache-Control"), "max-age=3600, immutable");
  CommandResult r = curl({"--compressed", "-H", "Accept-Encoding: gzip", url(*server, "/assets/app.js")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, site.js);
}

TEST_F(StaticSiteTest, DistinctETagPerEncodingAnd304ForEach) {
  auto server = startServer(site);
  HttpResponse identity = httpGet(server->port(), "/site.css");
  HttpResponse br = httpGet(server->port(), "/site.css", {{"Accept-Encoding", "br"}});
  HttpResponse gz = httpGet(server->port(), "/site.css", {{"Accept-Encoding", "gzip"}});
  EXPECT_NE(identity.header("ETag"), br.header("ETag"));
  EXPECT_NE(br.header("ETag"), gz.header("ETag"));
  HttpResponse again = httpGet(server->port(), "/site.css", {{"Accept-Encoding", "br"}, {"If-None-Match", br.header("ETag")}});
  EXPECT_EQ(again.status, 304);
  EXPECT_EQ(again.header("ETag"), br.header("ETag"));
  EXPECT_EQ(again.header("Vary"), "Accept-Encoding");
}

TEST_F(StaticSiteTest, PreconditionFailuresAre412) {
  auto server = startServer(site);
  HttpResponse ok = httpGet(server->port(), "/digits.txt");
  EXPECT_EQ(httpGet(server->port(), "/digits.txt", {{"If-Match", "\"nope\""}}).status, 412);
  EXPECT_EQ(httpGet(server->port(), "/digits.txt", {{"If-Match", ok.header("ETag")}}).status, 200);
  EXPECT_EQ(httpGet(server->port(), "/digits.txt", {{"If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}).status,
            412);
  // curl's own conditional download (-z) sees the 304.
  CommandResult r = curl({"-o", "/dev/null", "-w", "%{http_code}", "-z", ok.header("Last-Modified"),
                          url(*server, "/digits.txt")});
  EXPECT_EQ(r.out, "304") << r.err;
}

TEST_F(StaticSiteTest, IfRangeAndMultipartRanges) {
  auto server = startServer(site);
  HttpResponse ok = httpGet(server->port(), "/digits.txt");
  HttpResponse part = httpGet(server->port(), "/digits.txt", {{"Range", "bytes=2-4"}, {"If-Range", ok.header("ETag")}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, "234");
  HttpResponse stale = httpGet(server->port(), "/digits.txt", {{"Range", "bytes=2-4"}, {"If-Range", "\"old\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, "0123456789");
  CommandResult r = curl({"-r", "0-1,8-9", "-D", "-", url(*server, "/digits.txt")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("HTTP/1.1 206"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("multipart/byteranges; boundary="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Content-Range: bytes 0-1/10\r\n\r\n01\r\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Content-Range: bytes 8-9/10\r\n\r\n89\r\n"), std::string::npos) << r.out;
}

TEST_F(StaticSiteTest, AFileChangedUnderTheCacheIsSeenWithinTheBound) {
  auto server = startServer(site);
  Connection c(server->port());
  auto getDigits = [&] {
    c.sendAll("GET /digits.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    return c.readResponse();
  };
  EXPECT_EQ(getDigits().body, "0123456789");
  EXPECT_EQ(getDigits().body, "0123456789");  // now from the cache
  site.dir.write("www/digits.txt", "changed!");
  const auto changedAt = Clock::now();
  std::string seen;
  while (Clock::now() - changedAt < std::chrono::seconds(5)) {
    seen = getDigits().body;
    if (seen == "changed!") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));  // a poll interval, not a wait for time to pass
  }
  EXPECT_EQ(seen, "changed!");
  EXPECT_LE(Clock::now() - changedAt, std::chrono::milliseconds(1500));
}

TEST_F(StaticSiteTest, ASlowOpenDelaysNoOtherClient) {
  // One reactor: were the open done on it, everyone would wait the whole 3 s.
  auto server = startServer(site, {{"MICROSERVER_TEST_SLOW_OPEN", "slow/file.txt:3000"}}, 1);
  const auto start = Clock::now();
  // Sent before the others: the one reactor reads it (and hands its open to a file thread)
  // before it sees any of them.
  Connection slow(server->port());
  slow.sendAll("GET /slow/file.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  // Other clients, meanwhile: a file not cached yet, the 404 page.
  for (int i = 0; i < 5; ++i) {
    const auto asked = Clock::now();
    EXPECT_EQ(httpGet(server->port(), "/fast.txt").body, "fast file\n");
    EXPECT_EQ(httpGet(server->port(), "/missing").status, 404);
    EXPECT_LT(Clock::now() - asked, std::chrono::milliseconds(1000));
  }
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2500));
  HttpResponse r = slow.readResponse();
  EXPECT_EQ(r.body, "slow file\n");
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(3000));  // it was slow, and nobody waited for it
}

TEST_F(StaticSiteTest, ListingEscapesNamesAndSpeaksJson) {
  auto server = startServer(site);
  HttpResponse html = httpGet(server->port(), "/files/");
  EXPECT_EQ(html.status, 200);
  EXPECT_EQ(html.body.find("<b>"), std::string::npos) << html.body;
  EXPECT_NE(html.body.find("&lt;b&gt;&amp;&quot;x&quot;.txt"), std::string::npos) << html.body;
  EXPECT_NE(html.body.find("href=\"./sub/\""), std::string::npos) << html.body;
  HttpResponse json = httpGet(server->port(), "/files/", {{"Accept", "application/json"}});
  EXPECT_EQ(json.header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_NE(json.body.find("{\"name\":\"<b>&\\\"x\\\".txt\",\"type\":\"file\",\"size\":5"), std::string::npos)
      << json.body;
  // The site's root route has no listing: its folders without an index are 404.
  EXPECT_EQ(httpGet(server->port(), "/slow/").status, 404);
}

TEST_F(StaticSiteTest, PluginAnswersAreCompressedWhenTheRouteSaysSo) {
  auto server = startServer(site);
  const std::string text = cssText(8000);
  HttpResponse packed = httpRequest(server->port(), "POST", "/api/echo",
                                    {{"Content-Type", "text/plain"}, {"Accept-Encoding", "gzip"}}, text);
  EXPECT_EQ(packed.status, 200);
  EXPECT_EQ(packed.header("Content-Encoding"), "gzip");
  EXPECT_EQ(packed.header("Vary"), "Accept-Encoding");
  EXPECT_LT(packed.body.size(), text.size() / 3);
  HttpResponse plain = httpRequest(server->port(), "POST", "/api/plain-echo",
                                   {{"Content-Type", "text/plain"}, {"Accept-Encoding", "gzip"}}, text);
  EXPECT_EQ(plain.header("Content-Encoding"), "");
  EXPECT_EQ(plain.body, text);
  TempDir out;
  out.write("body.txt", text);
  CommandResult r = curl({"--compressed", "-H", "Content-Type: text/plain", "--data-binary", "@" + out.path() + "/body.txt",
                          url(*server, "/api/echo")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, text);
}

}  // namespace
}  // namespace e2e
