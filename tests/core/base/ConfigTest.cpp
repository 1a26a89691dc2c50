// ConfigTest: routes.yaml reading (core/src/Config.cpp).
//
// Error messages are asserted in full, place included: a user's only clue to a typo is
// the line the server prints, so a message that drifts to the wrong column or loses its key
// path is a regression, not a cosmetic change.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

#include "base/Config.h"

namespace microserver::core {
namespace {

#ifdef MICROSERVER_SOURCE_DIR
const std::string kSourceDir = MICROSERVER_SOURCE_DIR;
#else
const std::string kSourceDir = ".";
#endif

const char* const kFolder = "/srv/site";

Config load(const std::string& yaml) { return loadConfigText(yaml, "routes.yaml", kFolder); }

// The whole what() of the ConfigLoadError the text raises, or a marker when it loads.
std::string errorOf(const std::string& yaml) {
  try {
    load(yaml);
  } catch (const ConfigLoadError& e) {
    return e.what();
  }
  return "(loaded without error)";
}

// A temporary folder removed at the end of the test, for the tests that need real files.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "config-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::string path_;
};

// Changes the working directory for one scope, and restores it even when the test throws,
// so later tests that use relative paths are not run from a deleted folder.
class WorkingDirectory {
 public:
  explicit WorkingDirectory(const std::string& path) : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(path);
  }
  ~WorkingDirectory() {
    std::error_code ignored;
    std::filesystem::current_path(previous_, ignored);
  }

 private:
  std::filesystem::path previous_;
};

// ---------------------------------------------------------------------------------------
// The shipped default

TEST(ConfigTest, DefaultRoutesYamlLoads) {
  const std::string file = kSourceDir + "/routes.yaml";
  const Config config = loadConfigFile(file);
  std::string root = std::filesystem::absolute(kSourceDir).lexically_normal().string();
  if (root.size() > 1 && root.back() == '/') root.pop_back();  // "/work/main/." normalises to "/work/main/"

  EXPECT_EQ(config.file, file);
  EXPECT_EQ(config.folder, root);
  ASSERT_EQ(config.server.listen.size(), 2u);
  EXPECT_EQ(config.server.listen[0].address(), "127.0.0.1:8080");
  EXPECT_FALSE(config.server.listen[0].secure());
  // HTTPS beside it, with the certificate `./microserver.sh run` makes.
  EXPECT_EQ(config.server.listen[1].address(), "127.0.0.1:8443");
  ASSERT_TRUE(config.server.listen[1].secure());
  ASSERT_EQ(config.server.listen[1].tls->certificates.size(), 1u);
  EXPECT_EQ(config.server.listen[1].tls->certificates[0].certificate, root + "/tls/localhost.crt");
  EXPECT_EQ(config.server.listen[1].tls->certificates[0].key, root + "/tls/localhost.key");
  EXPECT_EQ(config.server.reactors, 0u);
  EXPECT_EQ(config.server.www, root + "/www");
  EXPECT_EQ(config.server.plugins, "");
  EXPECT_EQ(config.server.accessLog, "-");
  EXPECT_EQ(config.server.logLevel, "info");
  // The file spells out the defaults; if one side changes, both must.
  const Limits defaults;
  const Limits& limits = config.server.limits;
  EXPECT_EQ(limits.headerBytes, defaults.headerBytes);
  EXPECT_EQ(limits.uriBytes, defaults.uriBytes);
  EXPECT_EQ(limits.headerCount, defaults.headerCount);
  EXPECT_EQ(limits.bodyBytes, defaults.bodyBytes);
  EXPECT_EQ(limits.headerTimeout, defaults.headerTimeout);
  EXPECT_EQ(limits.bodyTimeout, defaults.bodyTimeout);
  EXPECT_EQ(limits.idleTimeout, defaults.idleTimeout);
  EXPECT_EQ(limits.sendTimeout, defaults.sendTimeout);
  EXPECT_EQ(limits.shutdownGrace, defaults.shutdownGrace);
  EXPECT_EQ(limits.shutdownDelay, defaults.shutdownDelay);
  EXPECT_EQ(limits.maxConnections, defaults.maxConnections);
  // The example plugins' routes, then the static site catching everything else.
  auto route = [&](const std::string& handler) -> const RouteConfig& {
    for (const RouteConfig& r : config.routes)
      if (r.handler == handler) return r;
    throw std::runtime_error("no route to " + handler + " in the default routes.yaml");
  };
  EXPECT_EQ(config.routes[0].path, "^/hello/(?P<name>[A-Za-z]+)$");
  EXPECT_EQ(config.routes[0].handler, "hello");
  EXPECT_TRUE(route("slow").blocking);
  EXPECT_EQ(route("chat").path, "^/chat/(?P<action>ws|history|messages|members)$");
  ASSERT_NE(route("chat").config.find("room"), nullptr);
  EXPECT_EQ(route("chat").config.find("room")->scalar(), "lobby");
  EXPECT_TRUE(route("digest").streamBody);
  EXPECT_EQ(route("digest").bodyBytes, std::optional<std::size_t>(std::size_t(1) << 30));
  EXPECT_NE(route("delay").path.find("(?P<ms>"), std::string::npos);
  EXPECT_EQ(route("events").path, "^/events$");
  EXPECT_EQ(config.routes.back().path, "^/");
  EXPECT_EQ(config.routes.back().staticDir, root + "/www");
  EXPECT_TRUE(config.routes.back().handler.empty());
  // The chat room on its own port, its room shared with the chat route.
  ASSERT_EQ(config.services.size(), 1u);
  EXPECT_EQ(config.services[0].plugin, "chat");
  EXPECT_EQ(config.services[0].listen.host, "127.0.0.1");
  EXPECT_EQ(config.services[0].listen.port, 9999);
  ASSERT_NE(config.services[0].config.find("room"), nullptr);
  EXPECT_EQ(config.services[0].config.find("room")->scalar(), "lobby");
}

// The commented-out examples in the default file must be valid once uncommented, or the
// reference a user copies from teaches them an error.
TEST(ConfigTest, DefaultRoutesYamlExamplesAreValidWhenUncommented) {
  std::ifstream in(kSourceDir + "/routes.yaml");
  ASSERT_TRUE(in) << "cannot open " << kSourceDir << "/routes.yaml";
  std::string text;
  for (std::string line; std::getline(in, line);) {
    const bool example = line.rfind("  # - ", 0) == 0 || line.rfind("  #   ", 0) == 0;
    text += (example ? "  " + line.substr(4) : line) + "\n";
  }
  const Config config = load(text);
  EXPECT_GE(config.routes.size(), 10u);
  ASSERT_EQ(config.services.size(), 1u);
  EXPECT_EQ(config.services[0].plugin, "chat");
  EXPECT_EQ(config.services[0].listen.port, 9999);
}

// ---------------------------------------------------------------------------------------
// Values that load

TEST(ConfigTest, EveryKeyIsRead) {
  const Config config = load(R"(server:
  listen: "[::1]:9090"
  reactors: 4
  www: public
  plugins: /opt/microserver/plugins
  access_log: logs/access.log
  log_level: debug
  limits:
    header_bytes: 32k
    uri_bytes: 4096
    header_count: 50
    body_bytes: 10MiB
    header_timeout: 5s
    body_timeout: 1.5m
    idle_timeout: 250ms
    send_timeout: 30
    shutdown_delay: 1.5s
    shutdown_grace: 0
    max_connections: 500
routes:
  - path: '^/api/(?<id>[0-9]+)$'
    methods: [GET, POST]
    handler: api_v2-beta
    blocking: true
    config: { key: value }
services:
  - { plugin: chat, listen: ':9999', config: { history: 10 } }
)");
  const ServerConfig& server = config.server;
  EXPECT_EQ(server.listen.at(0).host, "::1");
  EXPECT_EQ(server.listen.at(0).port, 9090);
  EXPECT_EQ(server.reactors, 4u);
  EXPECT_EQ(server.www, "/srv/site/public");
  EXPECT_EQ(server.plugins, "/opt/microserver/plugins");
  EXPECT_EQ(server.accessLog, "/srv/site/logs/access.log");
  EXPECT_EQ(server.logLevel, "debug");
  EXPECT_EQ(server.mark.line, 2);
  EXPECT_EQ(server.mark.column, 3);
  EXPECT_EQ(server.limits.headerBytes, 32u * 1024);
  EXPECT_EQ(server.limits.uriBytes, 4096u);
  EXPECT_EQ(server.limits.headerCount, 50u);
  EXPECT_EQ(server.limits.bodyBytes, 10u * 1024 * 1024);
  EXPECT_EQ(server.limits.headerTimeout, Duration(5000));
  EXPECT_EQ(server.limits.bodyTimeout, Duration(90'000));
  EXPECT_EQ(server.limits.idleTimeout, Duration(250));
  EXPECT_EQ(server.limits.sendTimeout, Duration(30'000));
  EXPECT_EQ(server.limits.shutdownDelay, Duration(1500));
  EXPECT_EQ(server.limits.shutdownGrace, Duration(0));
  EXPECT_EQ(server.limits.maxConnections, 500u);

  ASSERT_EQ(config.routes.size(), 1u);
  const RouteConfig& route = config.routes[0];
  EXPECT_EQ(route.path, "^/api/(?P<id>[0-9]+)$");
  EXPECT_EQ(route.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(route.handler, "api_v2-beta");
  EXPECT_TRUE(route.staticDir.empty());
  EXPECT_TRUE(route.blocking);
  EXPECT_EQ(route.config.getString("key", ""), "value");
  EXPECT_EQ(route.mark.line, 21);
  EXPECT_EQ(route.mark.column, 5);
  EXPECT_EQ(route.pathMark.line, 21);
  EXPECT_EQ(route.pathMark.column, 11);
  EXPECT_EQ(route.handlerMark.line, 23);
  EXPECT_EQ(route.handlerMark.column, 14);

  ASSERT_EQ(config.services.size(), 1u);
  const ServiceConfig& service = config.services[0];
  EXPECT_EQ(service.plugin, "chat");
  EXPECT_EQ(service.listen.host, "0.0.0.0");
  EXPECT_EQ(service.listen.port, 9999);
  EXPECT_EQ(service.config.getInt("history", 0), 10);
  EXPECT_EQ(service.mark.line, 27);
  EXPECT_EQ(service.mark.column, 5);
  EXPECT_EQ(service.pluginMark.line, 27);
  EXPECT_EQ(service.pluginMark.column, 15);
}

TEST(ConfigTest, ListenListIsRead) {
  const Config config = load(R"(server:
  listen:
    - 127.0.0.1:8080
    - { address: '[::1]:8443', tls: { certificate: tls/cert.pem, key: /etc/tls/key.pem }, hsts: 1h }
    - address: :443
      tls:
        certificates:
          - { certificate: a.pem, key: a.key }
          - { certificate: b.pem, key: b.key }
    - { address: ':80', redirect_to_https: 443 }
    - { address: ':81', redirect_to_https: 'https://example.com/' }
services:
  - { plugin: chat, listen: { address: ':9999', tls: { certificate: c.pem, key: c.key } } }
  - { plugin: other, listen: { address: ':9998' } }
)");
  const std::vector<ListenConfig>& listen = config.server.listen;
  ASSERT_EQ(listen.size(), 5u);
  EXPECT_EQ(listen[0].address(), "127.0.0.1:8080");
  EXPECT_FALSE(listen[0].secure());
  EXPECT_EQ(listen[0].path, "server.listen[0]");
  EXPECT_EQ(listen[0].mark.line, 3);
  EXPECT_EQ(listen[0].mark.column, 7);

  EXPECT_EQ(listen[1].address(), "[::1]:8443");
  ASSERT_TRUE(listen[1].secure());
  ASSERT_EQ(listen[1].tls->certificates.size(), 1u);
  const TlsCertificateConfig& one = listen[1].tls->certificates[0];
  EXPECT_EQ(one.certificate, "/srv/site/tls/cert.pem");
  EXPECT_EQ(one.key, "/etc/tls/key.pem");
  EXPECT_EQ(one.path, "server.listen[1].tls");
  EXPECT_EQ(one.certificateMark.line, 4);
  EXPECT_EQ(one.certificateMark.column, 52);
  EXPECT_EQ(one.keyMark.column, 71);
  EXPECT_EQ(listen[1].hsts, std::optional<Duration>(Duration(3'600'000)));

  EXPECT_EQ(listen[2].address(), "0.0.0.0:443");
  ASSERT_TRUE(listen[2].secure());
  ASSERT_EQ(listen[2].tls->certificates.size(), 2u);
  EXPECT_EQ(listen[2].tls->certificates[1].certificate, "/srv/site/b.pem");
  EXPECT_EQ(listen[2].tls->certificates[1].key, "/srv/site/b.key");
  EXPECT_EQ(listen[2].tls->certificates[1].path, "server.listen[2].tls.certificates[1]");
  EXPECT_EQ(listen[2].tls->certificates[1].keyMark.line, 9);
  EXPECT_FALSE(listen[2].hsts);

  EXPECT_EQ(listen[3].redirectPort, 443);
  EXPECT_EQ(listen[3].redirectUrl, "");
  EXPECT_EQ(listen[4].redirectPort, 0);
  EXPECT_EQ(listen[4].redirectUrl, "https://example.com");

  ASSERT_EQ(config.services.size(), 2u);
  EXPECT_EQ(config.services[0].listen.address(), "0.0.0.0:9999");
  ASSERT_TRUE(config.services[0].listen.secure());
  EXPECT_EQ(config.services[0].listen.tls->certificates[0].certificate, "/srv/site/c.pem");
  EXPECT_EQ(config.services[0].listen.path, "services[0].listen");
  EXPECT_FALSE(config.services[1].listen.secure());
}

TEST(ConfigTest, ProxyProtocolAndTrustedProxiesAreRead) {
  const Config config = load(R"(server:
  listen:
    - 127.0.0.1:8080
    - { address: 127.0.0.1:8081, proxy_protocol: true, tls: { certificate: c.pem, key: k.pem } }
  trusted_proxies: [127.0.0.1, 10.0.0.0/8, "2001:db8::/32"]
services:
  - { plugin: chat, listen: { address: 127.0.0.1:9999, proxy_protocol: yes } }
)");
  EXPECT_FALSE(config.server.listen.at(0).proxyProtocol);
  EXPECT_TRUE(config.server.listen.at(1).proxyProtocol);
  EXPECT_TRUE(config.server.listen.at(1).secure());
  EXPECT_TRUE(config.services.at(0).listen.proxyProtocol);
  ASSERT_EQ(config.server.trustedProxies.size(), 3u);
  EXPECT_EQ(config.server.trustedProxies[2].text(), "2001:db8::/32");
  EXPECT_TRUE(load("routes: []\n").server.trustedProxies.empty());
}

TEST(ConfigTest, AccessLogFormatAndRequestIdHeaderAreRead) {
  const Config defaults = load("routes: []\n");
  EXPECT_EQ(defaults.server.accessLogFormat, AccessLogFormat::Combined);
  EXPECT_EQ(defaults.server.requestIdHeader, "X-Request-Id");
  const Config json = load("server: { access_log_format: json, request_id_header: X-Correlation-Id }\n");
  EXPECT_EQ(json.server.accessLogFormat, AccessLogFormat::Json);
  EXPECT_EQ(json.server.requestIdHeader, "X-Correlation-Id");
  const Config off = load("server: { access_log_format: combined, request_id_header: off }\n");
  EXPECT_EQ(off.server.accessLogFormat, AccessLogFormat::Combined);
  EXPECT_TRUE(off.server.requestIdHeader.empty());
}

TEST(ConfigTest, ScalarListenIsOnePlainListener) {
  const std::vector<ListenConfig> listen = load("server: { listen: ':9000' }\n").server.listen;
  ASSERT_EQ(listen.size(), 1u);
  EXPECT_EQ(listen[0].address(), "0.0.0.0:9000");
  EXPECT_FALSE(listen[0].secure());
  EXPECT_EQ(listen[0].path, "server.listen");
  // Left out: one plain listener on 127.0.0.1:8080.
  const std::vector<ListenConfig> defaults = load("routes: []\n").server.listen;
  ASSERT_EQ(defaults.size(), 1u);
  EXPECT_EQ(defaults[0].address(), "127.0.0.1:8080");
}

TEST(ConfigTest, SiteKeysAreRead) {
  const Config config = load(R"(server:
  file_threads: 8
  file_cache: { max_files: 50, max_bytes: 2MiB }
routes:
  - { path: '^/assets/', static: assets, compress: false, precompressed: false, listing: true,
      cache: { max_age: 1h, immutable: true } }
  - { path: '^/api/', handler: api, compress: true }
  - { path: '^/', static: www }
)");
  EXPECT_EQ(config.server.fileThreads, 8u);
  EXPECT_EQ(config.server.fileCacheFiles, 50u);
  EXPECT_EQ(config.server.fileCacheBytes, 2u << 20);
  ASSERT_EQ(config.routes.size(), 3u);
  const RouteConfig& assets = config.routes[0];
  EXPECT_EQ(assets.compress, std::optional<bool>(false));
  EXPECT_FALSE(assets.precompressed);
  EXPECT_TRUE(assets.listing);
  ASSERT_TRUE(assets.cacheMaxAge.has_value());
  EXPECT_EQ(*assets.cacheMaxAge, Duration(3'600'000));
  EXPECT_TRUE(assets.cacheImmutable);
  EXPECT_EQ(config.routes[1].compress, std::optional<bool>(true));
  // Defaults: compression on for static folders (decided by Site), precompressed siblings
  // used, no listing, no Cache-Control.
  const RouteConfig& www = config.routes[2];
  EXPECT_FALSE(www.compress.has_value());
  EXPECT_TRUE(www.precompressed);
  EXPECT_FALSE(www.listing);
  EXPECT_FALSE(www.cacheMaxAge.has_value());
  EXPECT_FALSE(www.cacheImmutable);
  const Config defaults = load("routes: []\n");
  EXPECT_EQ(defaults.server.fileThreads, 4u);
  EXPECT_EQ(defaults.server.fileCacheFiles, 1000u);
  EXPECT_EQ(defaults.server.fileCacheBytes, 64u << 20);
}

TEST(ConfigTest, EmptySectionsMeanDefaults) {
  // `key:` with every entry below it commented out is an empty section, not an error.
  const Config config = load("server:\nroutes:\nservices:\n");
  EXPECT_EQ(config.server.listen.at(0).host, "127.0.0.1");
  EXPECT_EQ(config.server.listen.at(0).port, 8080);
  EXPECT_EQ(config.server.www, "/srv/site/www");
  EXPECT_EQ(config.server.limits.headerBytes, Limits{}.headerBytes);
  EXPECT_TRUE(config.routes.empty());
  EXPECT_TRUE(config.services.empty());
}

TEST(ConfigTest, DefaultWwwIsResolvedAgainstTheFolder) { EXPECT_EQ(load("routes: []\n").server.www, "/srv/site/www"); }

TEST(ConfigTest, RelativePathsResolveAgainstTheFileFolder) {
  const Config config = load(R"(server:
  www: ./public/
  plugins: ../lib/plugins
  access_log: logs/../access.log
routes:
  - { path: '^/a/', static: assets }
  - { path: '^/b/', static: /var/www/b }
)");
  EXPECT_EQ(config.folder, "/srv/site");
  EXPECT_EQ(config.server.www, "/srv/site/public");
  EXPECT_EQ(config.server.plugins, "/srv/lib/plugins");
  EXPECT_EQ(config.server.accessLog, "/srv/site/access.log");
  EXPECT_EQ(config.routes[0].staticDir, "/srv/site/assets");
  EXPECT_EQ(config.routes[1].staticDir, "/var/www/b");
}

TEST(ConfigTest, AccessLogKeepsItsSpecialValues) {
  EXPECT_EQ(load("server: { access_log: '-' }\n").server.accessLog, "-");
  EXPECT_EQ(load("server: { access_log: 'off' }\n").server.accessLog, "off");
  // Unquoted, YAML 1.1 would call `off` a boolean; yaml-cpp keeps the text, and so do we.
  EXPECT_EQ(load("server: { access_log: off }\n").server.accessLog, "off");
}

TEST(ConfigTest, LoadConfigFileResolvesAgainstTheFileFolderNotTheWorkingDirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/conf");
  const std::string file = dir.write("conf/site.yaml", "server: { www: html }\n");
  const Config config = loadConfigFile(file);
  EXPECT_EQ(config.file, file);
  EXPECT_EQ(config.folder, dir.path() + "/conf");
  EXPECT_EQ(config.server.www, dir.path() + "/conf/html");
}

TEST(ConfigTest, LoadConfigFileWithARelativePathGetsAnAbsoluteFolder) {
  TempDir dir;
  dir.write("routes.yaml", "routes: [ { path: '^/', static: site } ]\n");
  Config config;
  {
    const WorkingDirectory inDir(dir.path());
    config = loadConfigFile("routes.yaml");
  }
  EXPECT_EQ(config.file, "routes.yaml");
  EXPECT_EQ(config.folder, dir.path());
  EXPECT_EQ(config.routes[0].staticDir, dir.path() + "/site");
}

TEST(ConfigTest, NamedGroupsAreTranslatedForRe2) {
  const struct {
    const char* written;
    const char* stored;
  } cases[] = {
      {"^/hello/(?<name>[a-z]+)$", "^/hello/(?P<name>[a-z]+)$"},
      {"(?P<a>x)(?<b>y)", "(?P<a>x)(?P<b>y)"},      // both spellings in one pattern
      {"^/x\\(?<y>", "^/x\\(?<y>"},                 // an escaped '(' is not a group
      {"^/[(?<]+(?<n>z)", "^/[(?<]+(?P<n>z)"},      // nor is one inside a class
      {"^/[]()?<]x(?<n>z)", "^/[]()?<]x(?P<n>z)"},  // ']' first in a class is literal
      {"^/[^]()?<]x(?<n>z)", "^/[^]()?<]x(?P<n>z)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.written);
    const Config config = load(std::string("routes:\n  - path: '") + c.written + "'\n    static: www\n");
    EXPECT_EQ(config.routes[0].path, c.stored);
  }
}

TEST(ConfigTest, BlockingAcceptsTheSameSpellingsAsConfigNode) {
  for (const char* yes : {"true", "yes", "on"})
    EXPECT_TRUE(load(std::string("routes: [ { path: x, handler: h, blocking: ") + yes + " } ]").routes[0].blocking);
  for (const char* no : {"false", "no", "off"})
    EXPECT_FALSE(load(std::string("routes: [ { path: x, handler: h, blocking: ") + no + " } ]").routes[0].blocking);
}

TEST(ConfigTest, UriBytesFollowsALoweredHeaderBytes) {
  const Limits limits = load("server: { limits: { header_bytes: 4k } }\n").server.limits;
  EXPECT_EQ(limits.headerBytes, 4096u);
  EXPECT_EQ(limits.uriBytes, 4096u);
}

// ---------------------------------------------------------------------------------------
// Plugin config nodes

TEST(ConfigTest, PluginConfigKeepsShapeAndPlaces) {
  const Config config = load(R"(routes:
  - { path: '^/a', handler: a }
  - path: '^/b'
    handler: b
    config:
      greeting: Hello
      empty:
      nothing: ~
      quoted: "null"
      list: [1, { k: v }]
      nested:
        deeper: [x]
)");
  const ConfigTree& node = config.routes[1].config;
  ASSERT_TRUE(node.isMap());
  EXPECT_EQ(node.path(), "routes[1].config");
  EXPECT_EQ(node.file(), "routes.yaml");
  EXPECT_EQ(node.line(), 6);
  EXPECT_EQ(node.column(), 7);
  ASSERT_EQ(node.entries().size(), 6u);

  const ConfigTree* greeting = node.find("greeting");
  ASSERT_NE(greeting, nullptr);
  EXPECT_TRUE(greeting->isScalar());
  EXPECT_EQ(greeting->scalar(), "Hello");
  EXPECT_EQ(greeting->where(), "routes.yaml:6:17: routes[1].config.greeting");

  // An empty value is placed at its key: yaml-cpp would point at the next line.
  EXPECT_TRUE(node.find("empty")->isNull());
  EXPECT_EQ(node.find("empty")->where(), "routes.yaml:7:7: routes[1].config.empty");
  EXPECT_TRUE(node.find("nothing")->isNull());
  EXPECT_TRUE(node.find("quoted")->isScalar());  // a quoted "null" is text
  EXPECT_EQ(node.find("quoted")->scalar(), "null");

  const ConfigTree* list = node.find("list");
  ASSERT_TRUE(list->isList());
  ASSERT_EQ(list->items().size(), 2u);
  EXPECT_EQ(list->items()[0].scalar(), "1");
  EXPECT_EQ(list->items()[0].where(), "routes.yaml:10:14: routes[1].config.list[0]");
  EXPECT_TRUE(list->items()[1].isMap());
  EXPECT_EQ(list->items()[1].find("k")->where(), "routes.yaml:10:22: routes[1].config.list[1].k");

  const ConfigTree* deeper = node.find("nested")->find("deeper");
  ASSERT_TRUE(deeper->isList());
  EXPECT_EQ(deeper->items()[0].where(), "routes.yaml:12:18: routes[1].config.nested.deeper[0]");

  EXPECT_TRUE(config.routes[0].config.isNull());  // absent
}

TEST(ConfigTest, PluginConfigErrorsCarryTheirPlace) {
  const Config config = load("services:\n  - plugin: chat\n    listen: :9999\n    config: { histroy: 5 }\n");
  try {
    config.services[0].config.allowKeys({"history"});
    FAIL() << "allowKeys accepted an unknown key";
  } catch (const ConfigError& e) {
    // The column of the key, where the typo is, not of its value.
    EXPECT_STREQ(e.what(),
                 "routes.yaml:4:15: services[0].config.histroy: unknown key 'histroy' (expected one of: history)");
  }
}

// ---------------------------------------------------------------------------------------
// Errors: one case per kind, each with its exact message.

struct ErrorCase {
  const char* name;
  const char* yaml;
  const char* message;
};

const ErrorCase kErrorCases[] = {
    // The document as a whole
    {"EmptyFile", "",
     "routes.yaml:1:1: the file is empty (expected a map with keys server, routes, services at the top level)"},
    {"CommentsOnly", "# nothing yet\n",
     "routes.yaml:1:1: the file is empty (expected a map with keys server, routes, services at the top level)"},
    {"TopLevelList", "- server\n",
     "routes.yaml:1:1: expected a map with keys server, routes, services at the top level, got a list"},
    {"TopLevelScalar", "hello\n",
     "routes.yaml:1:1: expected a map with keys server, routes, services at the top level, got 'hello'"},
    {"SecondDocument", "routes: []\n---\nroutes: []\n",
     "routes.yaml:3:1: a second YAML document; the file must hold exactly one"},
    {"YamlSyntaxError", "server:\n  listen: [127.0.0.1\nroutes: []\n",
     "routes.yaml:3:7: invalid YAML: end of sequence flow not found"},
    {"YamlTabIndent", "server:\n\tlisten: :80\n",
     "routes.yaml:2:8: invalid YAML: illegal map value (this line is indented with a tab; YAML needs spaces)"},
    {"YamlUnquotedDash", "server:\n  access_log: -\n", "routes.yaml:2:15: invalid YAML: illegal block entry"},

    // Keys
    {"UnknownTopKey", "server: {}\nroutez: []\n",
     "routes.yaml:2:1: routez: unknown key 'routez' (expected one of: server, routes, services)"},
    {"UnknownServerKey", "server:\n  listn: 127.0.0.1:80\n",
     "routes.yaml:2:3: server.listn: unknown key 'listn' (expected one of: listen, reactors, workers, "
     "file_threads, file_cache, www, plugins, access_log, access_log_format, request_id_header, log_level, user, "
     "health_path, ready_path, metrics_path, limits, trusted_proxies)"},
    {"UnknownLimitKey", "server:\n  limits: { body_size: 1 }\n",
     "routes.yaml:2:13: server.limits.body_size: unknown key 'body_size' (expected one of: header_bytes, uri_bytes, "
     "header_count, body_bytes, header_timeout, body_timeout, idle_timeout, send_timeout, shutdown_delay, shutdown_grace, "
     "max_connections, handler_timeout, worker_queue)"},
    {"HostWithPort", "routes:\n  - { path: '^/', static: www, host: 'a.test:80' }\n",
     "routes.yaml:2:38: routes[0].host: invalid host 'a.test:80': a host is matched without its port: leave the "
     "':port' out"},
    {"HostBadPattern", "routes:\n  - { path: '^/', static: www, host: [a.test, '~(x'] }\n",
     "routes.yaml:2:47: routes[0].host[1]: invalid host '~(x': invalid regular expression: missing ): (x"},
    {"HostEmptyList", "routes:\n  - { path: '^/', static: www, host: [] }\n",
     "routes.yaml:2:38: routes[0].host: an empty list serves no host; leave 'host' out to serve every host"},
    {"UnknownRouteKey", "routes:\n  - { path: '^/', static: www, methds: [GET] }\n",
     "routes.yaml:2:32: routes[0].methds: unknown key 'methds' (expected one of: path, host, methods, handler, "
     "static, "
     "config, blocking, body, body_bytes, timeout, compress, precompressed, listing, cache)"},
    {"ListingOnAPluginRoute", "routes:\n  - { path: '^/x', handler: hello, listing: true }\n",
     "routes.yaml:2:36: routes[0].listing: only allowed with 'static' (this route calls a plugin)"},
    {"CacheOnAPluginRoute", "routes:\n  - { path: '^/x', handler: hello, cache: { max_age: 1m } }\n",
     "routes.yaml:2:36: routes[0].cache: only allowed with 'static' (this route calls a plugin)"},
    {"CompressNotABool", "routes:\n  - { path: '^/', static: www, compress: maybe }\n",
     "routes.yaml:2:42: routes[0].compress: expected true or false, got 'maybe'"},
    {"UnknownCacheKey", "routes:\n  - { path: '^/', static: www, cache: { maxage: 1h } }\n",
     "routes.yaml:2:41: routes[0].cache.maxage: unknown key 'maxage' (expected one of: max_age, immutable)"},
    {"CacheIsAScalar", "routes:\n  - { path: '^/', static: www, cache: 1h }\n",
     "routes.yaml:2:39: routes[0].cache: expected a map with keys max_age, immutable, got '1h'"},
    {"UnknownFileCacheKey", "server:\n  file_cache: { files: 10 }\n",
     "routes.yaml:2:17: server.file_cache.files: unknown key 'files' (expected one of: max_files, max_bytes)"},
    {"UnknownUser", "server:\n  user: no-such-user-here\n",
     "routes.yaml:2:9: server.user: no user 'no-such-user-here' on this machine (create it, e.g. adduser --system "
     "no-such-user-here, or leave server.user out)"},
    {"FileThreadsZero", "server:\n  file_threads: 0\n",
     "routes.yaml:2:17: server.file_threads: expected a number of file threads from 1 to 1024, got '0'"},
    {"UnknownServiceKey", "services:\n  - { plugin: chat, listen: ':1', port: 2 }\n",
     "routes.yaml:2:35: services[0].port: unknown key 'port' (expected one of: plugin, listen, config)"},
    {"DuplicateServerKey", "server:\n  listen: :80\n  reactors: 1\n  listen: :81\n",
     "routes.yaml:4:3: server.listen: duplicate key 'listen' (first defined on line 2)"},
    {"DuplicateTopKey", "routes: []\nserver: {}\nroutes: []\n",
     "routes.yaml:3:1: routes: duplicate key 'routes' (first defined on line 1)"},
    {"DuplicateKeyInFlowMap", "routes:\n  - { path: '^/', path: '^/x', static: www }\n",
     "routes.yaml:2:19: routes[0].path: duplicate key 'path' (first defined on line 2)"},
    {"DuplicateKeyInPluginConfig", "routes:\n  - path: x\n    handler: h\n    config:\n      a: 1\n      a: 2\n",
     "routes.yaml:6:7: routes[0].config.a: duplicate key 'a' (first defined on line 5)"},
    {"NonScalarKey", "? [a]\n: b\n", "routes.yaml:1:3: expected a plain key, got a list"},

    // Types
    {"ServerIsAList", "server: [1]\n",
     "routes.yaml:1:9: server: expected a map with keys listen, reactors, workers, file_threads, file_cache, www, "
     "plugins, access_log, access_log_format, request_id_header, log_level, user, health_path, ready_path, "
     "metrics_path, limits, trusted_proxies, got a list"},
    {"LimitsIsAScalar", "server:\n  limits: 16k\n",
     "routes.yaml:2:11: server.limits: expected a map with keys header_bytes, uri_bytes, header_count, body_bytes, "
     "header_timeout, body_timeout, idle_timeout, send_timeout, shutdown_delay, shutdown_grace, max_connections, handler_timeout, "
     "worker_queue, got '16k'"},
    {"ListenListOfBadAddresses", "server:\n  listen: [a, b]\n",
     "routes.yaml:2:12: server.listen[0]: invalid address 'a': missing ':PORT' (expected HOST:PORT, e.g. "
     "127.0.0.1:8080, \"[::1]:8080\" or :8080)\nroutes.yaml:2:15: server.listen[1]: invalid address 'b': missing "
     "':PORT' (expected HOST:PORT, e.g. 127.0.0.1:8080, \"[::1]:8080\" or :8080)"},
    {"ListenEmptyList", "server:\n  listen: []\n",
     "routes.yaml:2:11: server.listen: an empty list listens nowhere; give at least one HOST:PORT"},
    {"ListenTooMany", "server:\n  listen: [:1, :2, :3, :4, :5, :6, :7, :8, :9, :10, :11, :12, :13, :14, :15, :16, :17, "
     ":18, :19, :20, :21, :22, :23, :24, :25, :26, :27, :28, :29, :30, :31, :32, :33, :34, :35, :36, :37, :38, :39, :40, "
     ":41, :42, :43, :44, :45, :46, :47, :48, :49, :50, :51, :52, :53, :54, :55, :56, :57, :58, :59, :60, :61, :62, :63, "
     ":64, :65]\n",
     "routes.yaml:2:11: server.listen: 65 listeners; at most 64 are allowed"},
    {"ListenIsEmpty", "server:\n  listen:\n",
     "routes.yaml:2:3: server.listen: expected HOST:PORT, a map with keys address, tls, redirect_to_https, hsts, "
     "proxy_protocol, or a list of them, got nothing"},
    {"ListenUnknownKey", "server:\n  listen: [{ address: ':1', tsl: {} }]\n",
     "routes.yaml:2:29: server.listen[0].tsl: unknown key 'tsl' (expected one of: address, tls, "
     "redirect_to_https, hsts, proxy_protocol)"},
    {"ListenMissingAddress", "server:\n  listen:\n    - { tls: { certificate: c.pem, key: k.pem } }\n",
     "routes.yaml:3:7: server.listen[0]: missing required key 'address' (HOST:PORT, e.g. 127.0.0.1:8443)"},
    {"ListenTwice", "server:\n  listen: [':8080', { address: ':8080', tls: { certificate: c, key: k } }]\n",
     "routes.yaml:2:21: server.listen[1]: 0.0.0.0:8080 is listed twice (first as server.listen[0])"},
    {"TlsMissingKey", "server:\n  listen:\n    - { address: ':1', tls: { certificate: c.pem } }\n",
     "routes.yaml:3:29: server.listen[0].tls: missing required key 'key' (a PEM file: the certificate's private "
     "key)"},
    {"TlsMissingBoth", "server:\n  listen:\n    - { address: ':1', tls: {} }\n",
     "routes.yaml:3:29: server.listen[0].tls: missing required key 'certificate' (a PEM file: the certificate, "
     "then its chain)\nroutes.yaml:3:29: server.listen[0].tls: missing required key 'key' (a PEM file: the "
     "certificate's private key)"},
    {"TlsIsAScalar", "server:\n  listen:\n    - { address: ':1', tls: on }\n",
     "routes.yaml:3:29: server.listen[0].tls: expected a map with keys certificate and key (PEM files), or "
     "certificates (a list of such maps, chosen by SNI), got 'on'"},
    {"TlsCertificateAndCertificates",
     "server:\n  listen:\n    - address: ':1'\n      tls:\n        certificate: c.pem\n        key: k.pem\n"
     "        certificates: [{ certificate: a.pem, key: a.key }]\n",
     "routes.yaml:7:9: server.listen[0].tls.certificates: give either certificate and key (one certificate) or "
     "certificates (a list), not both"},
    {"TlsCertificatesEmpty", "server:\n  listen:\n    - { address: ':1', tls: { certificates: [] } }\n",
     "routes.yaml:3:45: server.listen[0].tls.certificates: expected a list of maps with keys certificate and key, "
     "got an empty list"},
    {"TlsCertificatesItemMissingKey",
     "server:\n  listen:\n    - address: ':1'\n      tls:\n        certificates:\n"
     "          - { certificate: a.pem, key: a.key }\n          - { certificate: b.pem }\n",
     "routes.yaml:7:13: server.listen[0].tls.certificates[1]: missing required key 'key' (a PEM file: the "
     "certificate's private key)"},
    {"TlsUnknownKey", "server:\n  listen:\n    - { address: ':1', tls: { cert: c.pem, key: k.pem } }\n",
     "routes.yaml:3:31: server.listen[0].tls.cert: unknown key 'cert' (expected one of: certificate, key, "
     "certificates)\nroutes.yaml:3:29: server.listen[0].tls: missing required key 'certificate' (a PEM file: the "
     "certificate, then its chain)"},
    {"TlsEmptyPath", "server:\n  listen:\n    - { address: ':1', tls: { certificate: '', key: k.pem } }\n",
     "routes.yaml:3:44: server.listen[0].tls.certificate: expected a PEM file path, got an empty string"},
    {"HstsOnPlainListener", "server:\n  listen:\n    - { address: ':1', hsts: 1h }\n",
     "routes.yaml:3:24: server.listen[0].hsts: only allowed on a TLS listener (browsers ignore "
     "Strict-Transport-Security over plain HTTP)"},
    {"HstsBadDuration",
     "server:\n  listen:\n    - { address: ':1', tls: { certificate: c, key: k }, hsts: 1y }\n",
     "routes.yaml:3:63: server.listen[0].hsts: invalid duration '1y' (expected a number with a unit ms, s, m or "
     "h, e.g. 250ms, 1.5s or 2m; a bare number means seconds)"},
    {"RedirectOnTlsListener",
     "server:\n  listen:\n    - { address: ':1', tls: { certificate: c, key: k }, redirect_to_https: 443 }\n",
     "routes.yaml:3:57: server.listen[0].redirect_to_https: only allowed on a plain listener (this one has tls)"},
    {"RedirectNotAPortOrUrl", "server:\n  listen:\n    - { address: ':1', redirect_to_https: 'http://x' }\n",
     "routes.yaml:3:43: server.listen[0].redirect_to_https: expected a port (e.g. 443) or a URL starting with "
     "https:// (e.g. https://example.com), got 'http://x'"},
    {"RedirectPortZero", "server:\n  listen:\n    - { address: ':1', redirect_to_https: 0 }\n",
     "routes.yaml:3:43: server.listen[0].redirect_to_https: expected a port (e.g. 443) or a URL starting with "
     "https:// (e.g. https://example.com), got '0'"},
    {"WwwIsEmpty", "server:\n  www:\n", "routes.yaml:2:3: server.www: expected a folder path, got nothing"},
    {"WwwIsEmptyString", "server:\n  www: ''\n",
     "routes.yaml:2:8: server.www: expected a folder path, got an empty string"},
    {"SizeIsAMap", "server:\n  limits:\n    body_bytes: { a: 1 }\n",
     "routes.yaml:3:17: server.limits.body_bytes: expected a size, got a map"},
    {"RoutesIsAMap", "routes: { path: x }\n", "routes.yaml:1:9: routes: expected a list of routes, got a map"},
    {"RouteIsAScalar", "routes:\n  - '^/'\n",
     "routes.yaml:2:5: routes[0]: expected a map with keys path, host, methods, handler, static, config, blocking, "
     "body, body_bytes, timeout, compress, precompressed, listing, cache, got '^/'"},
    {"PathIsAList", "routes:\n  - { path: [a], static: www }\n",
     "routes.yaml:2:13: routes[0].path: expected a regular expression, got a list"},
    {"BlockingIsNotABool", "routes:\n  - { path: x, handler: h, blocking: maybe }\n",
     "routes.yaml:2:38: routes[0].blocking: expected true or false, got 'maybe'"},
    {"ServicesIsAScalar", "services: chat\n", "routes.yaml:1:11: services: expected a list of services, got 'chat'"},
    {"ServiceIsAList", "services:\n  - [chat]\n",
     "routes.yaml:2:5: services[0]: expected a map with keys plugin, listen, config, got a list"},

    // Server values
    {"ListenWithoutPort", "server:\n  listen: 127.0.0.1\n",
     "routes.yaml:2:11: server.listen: invalid address '127.0.0.1': missing ':PORT' (expected HOST:PORT, e.g. "
     "127.0.0.1:8080, \"[::1]:8080\" or :8080)"},
    {"ListenPortTooLarge", "server:\n  listen: 127.0.0.1:99999\n",
     "routes.yaml:2:11: server.listen: invalid address '127.0.0.1:99999': port 99999 is out of range (0 to 65535) "
     "(expected HOST:PORT, e.g. 127.0.0.1:8080, \"[::1]:8080\" or :8080)"},
    {"ListenHostName", "server:\n  listen: example.com:80\n",
     "routes.yaml:2:11: server.listen: invalid address 'example.com:80': 'example.com' is not an IPv4 address, a "
     "bracketed IPv6 address or localhost (expected HOST:PORT, e.g. 127.0.0.1:8080, \"[::1]:8080\" or :8080)"},
    {"ReactorsZero", "server:\n  reactors: 0\n",
     "routes.yaml:2:13: server.reactors: expected 'auto' or a number of reactor threads from 1 to 256, got '0'"},
    {"ReactorsTooMany", "server:\n  reactors: 257\n",
     "routes.yaml:2:13: server.reactors: expected 'auto' or a number of reactor threads from 1 to 256, got '257'"},
    {"ReactorsWord", "server:\n  reactors: many\n",
     "routes.yaml:2:13: server.reactors: expected 'auto' or a number of reactor threads from 1 to 256, got 'many'"},
    {"AccessLogFormat", "server:\n  access_log_format: ltsv\n",
     "routes.yaml:2:22: server.access_log_format: expected combined (nginx's and Apache's format) or json (one object "
     "per line), got 'ltsv'"},
    {"RequestIdHeaderNotAName", "server:\n  request_id_header: 'X Request Id'\n",
     "routes.yaml:2:22: server.request_id_header: expected a header name (up to 64 letters, digits and '-') such as "
     "X-Request-Id, or off; got 'X Request Id'"},
    {"LogLevel", "server:\n  log_level: verbose\n",
     "routes.yaml:2:14: server.log_level: unknown log level 'verbose' (expected one of error, warning, info, debug)"},

    // Limits
    {"BadSize", "server:\n  limits:\n    body_bytes: 1TB\n",
     "routes.yaml:3:17: server.limits.body_bytes: invalid size '1TB' (expected a whole number of bytes, optionally "
     "with a suffix k, KiB, m, MiB, g or GiB, e.g. 16KiB)"},
    {"NegativeSize", "server:\n  limits:\n    body_bytes: -1\n",
     "routes.yaml:3:17: server.limits.body_bytes: invalid size '-1' (expected a whole number of bytes, optionally "
     "with a suffix k, KiB, m, MiB, g or GiB, e.g. 16KiB)"},
    {"BadDuration", "server:\n  limits:\n    idle_timeout: 10x\n",
     "routes.yaml:3:19: server.limits.idle_timeout: invalid duration '10x' (expected a number with a unit ms, s, "
     "m or "
     "h, e.g. 250ms, 1.5s or 2m; a bare number means seconds)"},
    {"SubMillisecondDuration", "server:\n  limits:\n    send_timeout: 0.5ms\n",
     "routes.yaml:3:19: server.limits.send_timeout: invalid duration '0.5ms' (expected a number with a unit ms, s, m "
     "or h, e.g. 250ms, 1.5s or 2m; a bare number means seconds)"},
    {"ZeroSize", "server:\n  limits:\n    header_bytes: 0\n",
     "routes.yaml:3:19: server.limits.header_bytes: must be greater than 0"},
    {"ZeroCount", "server:\n  limits:\n    max_connections: 0\n",
     "routes.yaml:3:22: server.limits.max_connections: must be greater than 0"},
    {"ZeroTimeout", "server:\n  limits:\n    header_timeout: 0s\n",
     "routes.yaml:3:21: server.limits.header_timeout: must be greater than 0"},
    {"CountNotANumber", "server:\n  limits:\n    header_count: 1k\n",
     "routes.yaml:3:19: server.limits.header_count: expected a whole number, got '1k'"},
    {"HeaderBytesTooLarge", "server:\n  limits:\n    header_bytes: 2MiB\n",
     "routes.yaml:3:19: server.limits.header_bytes: '2MiB' is too large (at most 1048576 bytes)"},
    {"HeaderCountTooLarge", "server:\n  limits:\n    header_count: 10001\n",
     "routes.yaml:3:19: server.limits.header_count: 10001 is too large (at most 10000)"},
    {"UriInvalidWithLoweredHeader", "server:\n  limits: { header_bytes: 4k, uri_bytes: big }\n",
     "routes.yaml:2:42: server.limits.uri_bytes: invalid size 'big' (expected a whole number of bytes, optionally "
     "with a suffix k, KiB, m, MiB, g or GiB, e.g. 16KiB)"},
    {"UriLargerThanHeader", "server:\n  limits:\n    header_bytes: 4k\n    uri_bytes: 8k\n",
     "routes.yaml:4:16: server.limits.uri_bytes: 8192 bytes is larger than header_bytes (4096 bytes), which the "
     "request line must fit in"},

    // Routes
    {"MissingPath", "routes:\n  - { static: www }\n",
     "routes.yaml:2:5: routes[0]: missing required key 'path' (a regular expression matched against the request "
     "path)"},
    {"EmptyPath", "routes:\n  - { path: '', static: www }\n",
     "routes.yaml:2:13: routes[0].path: expected a regular expression, got an empty string (use '^/' to match every "
     "path)"},
    {"InvalidRegex", "routes:\n  - { path: '^/(', static: www }\n",
     "routes.yaml:2:13: routes[0].path: invalid regular expression '^/(': missing ): ^/("},
    {"Lookbehind", "routes:\n  - { path: '(?<=a)b', static: www }\n",
     "routes.yaml:2:13: routes[0].path: invalid regular expression '(?<=a)b': invalid perl operator: (?<"},
    {"DuplicateGroupName", "routes:\n  - { path: '(?<id>a)/(?<id>b)', handler: h }\n",
     "routes.yaml:2:13: routes[0].path: invalid regular expression '(?<id>a)/(?<id>b)': group name 'id' is used "
     "twice"},
    {"UnknownMethod",
     // Laid out so the message is the one the design documents quote, to the column.
     "server:\n  listen: 127.0.0.1:8080\n  reactors: 2\nroutes:\n"
     "- path: '^/hello/(?<name>[a-z]+)$'\n  handler: hello\n  methods: [GET]\n"
     "- path: '^/api/echo$'\n  handler: echo\n  methods: [POST]\n"
     "# the next route has a typo\n"
     "- path: '^/admin/'\n  handler: admin\n  methods: [ GTE ]\n",
     "routes.yaml:14:14: routes[2].methods[0]: unknown method 'GTE' (expected one of GET, HEAD, POST, PUT, DELETE, "
     "PATCH, OPTIONS, CONNECT, TRACE)"},
    {"LowerCaseMethod", "routes:\n  - { path: x, handler: h, methods: [get] }\n",
     "routes.yaml:2:38: routes[0].methods[0]: unknown method 'get' (expected one of GET, HEAD, POST, PUT, DELETE, "
     "PATCH, OPTIONS, CONNECT, TRACE)"},
    {"DuplicateMethod", "routes:\n  - { path: x, handler: h, methods: [GET, HEAD, GET] }\n",
     "routes.yaml:2:49: routes[0].methods[2]: duplicate method 'GET'"},
    {"MethodsNotAList", "routes:\n  - { path: x, handler: h, methods: GET }\n",
     "routes.yaml:2:37: routes[0].methods: expected a list of methods such as [GET, HEAD], got 'GET'"},
    {"MethodsEmpty", "routes:\n  - { path: x, handler: h, methods: [] }\n",
     "routes.yaml:2:37: routes[0].methods: an empty list allows no method; leave 'methods' out to allow every "
     "method"},
    {"HandlerAndStatic", "routes:\n  - { path: x, handler: h, static: www }\n",
     "routes.yaml:2:5: routes[0]: expected exactly one of 'handler' (a plugin name) or 'static' (a folder), got "
     "both"},
    {"NeitherHandlerNorStatic", "routes:\n  - { path: x, methods: [GET] }\n",
     "routes.yaml:2:5: routes[0]: expected exactly one of 'handler' (a plugin name) or 'static' (a folder), got "
     "neither"},
    {"ConfigWithStatic", "routes:\n  - path: x\n    static: www\n    config: { a: 1 }\n",
     "routes.yaml:4:5: routes[0].config: only allowed with 'handler' (this route serves static files)"},
    {"BlockingWithStatic", "routes:\n  - { path: x, static: www, blocking: true }\n",
     "routes.yaml:2:29: routes[0].blocking: only allowed with 'handler' (this route serves static files)"},
    {"BadHandlerName", "routes:\n  - { path: x, handler: ../evil }\n",
     "routes.yaml:2:25: routes[0].handler: invalid plugin name '../evil' (expected letters, digits, '_' and '-')"},
    {"RecursiveAliasInConfig", "routes:\n  - { path: x, handler: h, config: &a [*a] }\n",
     "routes.yaml:2:36: routes[0].config[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
     "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
     "[0][0][0][0]: nested more than 64 levels deep (an alias inside itself?)"},

    // Services
    {"ServiceMissingListen", "services:\n  - { plugin: chat }\n",
     "routes.yaml:2:5: services[0]: missing required key 'listen' (HOST:PORT, e.g. 127.0.0.1:9999)"},
    {"ServiceMissingPlugin", "services:\n  - { listen: ':9999' }\n",
     "routes.yaml:2:5: services[0]: missing required key 'plugin' (the plugin's name)"},
    {"ServiceBadListen", "services:\n  - { plugin: chat, listen: localhost }\n",
     "routes.yaml:2:29: services[0].listen: invalid address 'localhost': missing ':PORT' (expected HOST:PORT, e.g. "
     "127.0.0.1:8080, \"[::1]:8080\" or :8080)"},
    {"ServiceListenRedirect", "services:\n  - { plugin: chat, listen: { address: ':1', redirect_to_https: 443 } }\n",
     "routes.yaml:2:46: services[0].listen.redirect_to_https: unknown key 'redirect_to_https' (expected one of: "
     "address, tls, proxy_protocol)"},
    {"ServiceListenList", "services:\n  - { plugin: chat, listen: [':1'] }\n",
     "routes.yaml:2:29: services[0].listen: expected HOST:PORT or a map with keys address, tls, proxy_protocol, got a "
     "list"},
    {"ProxyProtocolNotABool", "server:\n  listen:\n    - { address: ':1', proxy_protocol: maybe }\n",
     "routes.yaml:3:40: server.listen[0].proxy_protocol: expected true or false, got 'maybe'"},
    {"TrustedProxiesBadCidr", "server:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n",
     "routes.yaml:2:33: server.trusted_proxies[1]: invalid address range '10.0.0.0/33': the prefix length after '/' "
     "must be a number from 0 to 32"},
    {"TrustedProxiesNotAnAddress", "server:\n  trusted_proxies:\n    - haproxy.local\n",
     "routes.yaml:3:7: server.trusted_proxies[0]: invalid address range 'haproxy.local': 'haproxy.local' is not an "
     "IPv4 or IPv6 address"},
    {"TrustedProxiesHostBits", "server:\n  trusted_proxies: ['10.1.2.3/8']\n",
     "routes.yaml:2:21: server.trusted_proxies[0]: invalid address range '10.1.2.3/8': '10.1.2.3/8' has bits set "
     "beyond its /8 prefix (did you mean the range's first address?)"},
    {"TrustedProxiesNotAList", "server:\n  trusted_proxies: 10.0.0.0/8\n",
     "routes.yaml:2:20: server.trusted_proxies: expected a list of addresses or CIDR ranges (e.g. [127.0.0.1, "
     "10.0.0.0/8, \"::1\"]), got '10.0.0.0/8'"},
    {"ServiceTlsMissingCertificate", "services:\n  - { plugin: chat, listen: { address: ':1', tls: { key: k } } }\n",
     "routes.yaml:2:51: services[0].listen.tls: missing required key 'certificate' (a PEM file: the certificate, "
     "then its chain)"},
    {"ServiceBadPluginName", "services:\n  - { plugin: 'chat room', listen: ':1' }\n",
     "routes.yaml:2:15: services[0].plugin: invalid plugin name 'chat room' (expected letters, digits, '_' and '-')"},
};

// Failures name the case instead of dumping its bytes.
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ConfigErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, ReportsExactMessage) {
  EXPECT_EQ(errorOf(GetParam().yaml), GetParam().message) << "yaml:\n" << GetParam().yaml;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, ConfigErrorTest, testing::ValuesIn(kErrorCases),
                         [](const testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

TEST(ConfigTest, CollectsEveryErrorInOneThrow) {
  const char* yaml = R"(server:
  listen: nowhere
  reactors: 0
  limits: { body_bytes: lots, idle_timeout: 0 }
routes:
  - { path: '(', static: www }
  - { path: '^/x', handler: h, methods: [GTE] }
services:
  - { plugin: chat }
)";
  try {
    load(yaml);
    FAIL() << "loaded without error";
  } catch (const ConfigLoadError& e) {
    const std::vector<std::string> expected = {
        "routes.yaml:2:11: server.listen: invalid address 'nowhere': missing ':PORT' (expected HOST:PORT, e.g. "
        "127.0.0.1:8080, \"[::1]:8080\" or :8080)",
        "routes.yaml:3:13: server.reactors: expected 'auto' or a number of reactor threads from 1 to 256, got '0'",
        "routes.yaml:4:25: server.limits.body_bytes: invalid size 'lots' (expected a whole number of bytes, "
        "optionally with a suffix k, KiB, m, MiB, g or GiB, e.g. 16KiB)",
        "routes.yaml:4:45: server.limits.idle_timeout: must be greater than 0",
        "routes.yaml:6:13: routes[0].path: invalid regular expression '(': missing ): (",
        "routes.yaml:7:42: routes[1].methods[0]: unknown method 'GTE' (expected one of GET, HEAD, POST, PUT, DELETE, "
        "PATCH, OPTIONS, CONNECT, TRACE)",
        "routes.yaml:9:5: services[0]: missing required key 'listen' (HOST:PORT, e.g. 127.0.0.1:9999)",
    };
    EXPECT_EQ(e.errors(), expected);
    std::string joined;
    for (const std::string& line : expected) joined += (joined.empty() ? "" : "\n") + line;
    EXPECT_EQ(std::string(e.what()), joined);
  }
}

TEST(ConfigTest, ErrorsNameTheFileAsGiven) {
  try {
    loadConfigText("bogus: 1\n", "conf/site.yaml", "/etc");
    FAIL() << "loaded without error";
  } catch (const ConfigLoadError& e) {
    EXPECT_STREQ(e.what(),
                 "conf/site.yaml:1:1: bogus: unknown key 'bogus' (expected one of: server, routes, services)");
  }
}

TEST(ConfigTest, UnreadableFileIsOneErrorWithoutAPlace) {
  TempDir dir;
  const std::string missing = dir.path() + "/missing.yaml";
  try {
    loadConfigFile(missing);
    FAIL() << "loaded a missing file";
  } catch (const ConfigLoadError& e) {
    EXPECT_EQ(e.errors(), std::vector<std::string>{missing + ": cannot read: No such file or directory"});
  }
  try {
    loadConfigFile(dir.path());
    FAIL() << "loaded a directory";
  } catch (const ConfigLoadError& e) {
    EXPECT_EQ(e.errors(), std::vector<std::string>{dir.path() + ": cannot read: Is a directory"});
  }
}

TEST(ConfigTest, ErrorsFromAFileUseThePathAsGiven) {
  TempDir dir;
  const std::string file = dir.write("bad.yaml", "server:\n  reactors: -1\n");
  try {
    loadConfigFile(file);
    FAIL() << "loaded without error";
  } catch (const ConfigLoadError& e) {
    const std::string expected =
        file + ":2:13: server.reactors: expected 'auto' or a number of reactor threads from 1 to 256, got '-1'";
    EXPECT_EQ(std::string(e.what()), expected);
  }
}

TEST(ConfigTest, AliasBombIsRefusedOnce) {
  // Nine levels of ten aliases each would expand to a billion nodes.
  std::string yaml =
      "routes:\n  - path: x\n    handler: h\n    config:\n      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    yaml += "      a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += (j ? ", " : "") + prev;
    yaml += "]\n";
  }
  try {
    load(yaml);
    FAIL() << "loaded without error";
  } catch (const ConfigLoadError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_NE(e.errors()[0].find("more than 100000 values"), std::string::npos) << e.errors()[0];
  }
}

// ---------------------------------------------------------------------------------------
// The text parsers

TEST(ParseListenAddressTest, Accepts) {
  const struct {
    const char* text;
    const char* host;
    std::uint16_t port;
  } cases[] = {
      {"127.0.0.1:8080", "127.0.0.1", 8080},
      {"0.0.0.0:80", "0.0.0.0", 80},
      {"[::1]:8080", "::1", 8080},
      {"[::]:443", "::", 443},
      {"[2001:db8::1]:65535", "2001:db8::1", 65535},
      {"localhost:0", "localhost", 0},
      {":8080", "0.0.0.0", 8080},  // all interfaces: Poco cannot resolve an empty host name
      {"10.0.0.1:08080", "10.0.0.1", 8080},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::string host;
    std::uint16_t port = 1;
    std::string why;
    EXPECT_TRUE(parseListenAddress(c.text, host, port, why)) << why;
    EXPECT_EQ(host, c.host);
    EXPECT_EQ(port, c.port);
  }
}

TEST(ParseListenAddressTest, RefusesWithAReason) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {
      {"", "empty address"},
      {"127.0.0.1", "missing ':PORT'"},
      {"127.0.0.1:", "missing port after ':'"},
      {"127.0.0.1:99999", "port 99999 is out of range (0 to 65535)"},
      {"127.0.0.1:65536", "port 65536 is out of range (0 to 65535)"},
      {"127.0.0.1:184467440737095516160", "port 184467440737095516160 is out of range (0 to 65535)"},
      {"host:abc", "port 'abc' is not a number"},
      {"127.0.0.1:-1", "port '-1' is not a number"},
      {"127.0.0.1: 80", "port ' 80' is not a number"},
      {"[::1", "missing ']' after the IPv6 address"},
      {"[::1]", "expected ':PORT' after ']'"},
      {"[::1]8080", "expected ':PORT' after ']'"},
      {"[]:80", "'' is not an IPv6 address"},
      {"[127.0.0.1]:80", "'127.0.0.1' is not an IPv6 address"},
      {"::1:8080", "an IPv6 address must be in brackets, as in \"[::1]:8080\""},
      {"256.0.0.1:80", "'256.0.0.1' is not an IPv4 address, a bracketed IPv6 address or localhost"},
      {"example.com:80", "'example.com' is not an IPv4 address, a bracketed IPv6 address or localhost"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::string host = "unchanged";
    std::uint16_t port = 7;
    std::string why;
    EXPECT_FALSE(parseListenAddress(c.text, host, port, why));
    EXPECT_EQ(why, c.why);
    EXPECT_EQ(host, "unchanged");  // a failed parse leaves the outputs alone
    EXPECT_EQ(port, 7);
  }
}

TEST(ParseDurationTest, Accepts) {
  const struct {
    const char* text;
    long long ms;
  } cases[] = {
      {"250ms", 250},
      {"10s", 10'000},
      {"2m", 120'000},
      {"1h", 3'600'000},
      {"10", 10'000},
      {"0", 0},
      {"0ms", 0},
      {"1.5s", 1500},
      {"0.25s", 250},
      {"1.5m", 90'000},
      {"1.5", 1500},
      {"2.000s", 2000},
      {"0.001s", 1},
      {"1.0ms", 1},
      {"0.5h", 1'800'000},
      {"1.00000000000000000000s", 1000},       // trailing zeros change nothing
      {"9223372036854ms", 9'223'372'036'854},  // the largest: int64 nanoseconds still hold it
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    Duration d{-1};
    EXPECT_TRUE(parseDuration(c.text, d));
    EXPECT_EQ(d.count(), c.ms);
  }
}

TEST(ParseDurationTest, Refuses) {
  // One line per reason, kept by hand.
  // clang-format off
  const char* const cases[] = {
      "", "s", "ms", "10x", "1d", "5S", "1m30s",                   // no number, unknown or compound unit
      "-5s", "+5s", " 5s", "5s ", "5 s", "1e3", "0x10",            // signs, spaces, other notations
      ".5s", "1.s", "1.", "1..5s",                                 // half-written fractions
      "0.5ms", "0.0001s", "1.0000000001s",                         // finer than a millisecond
      "9223372036855ms", "2562048h", "99999999999999999999999s",   // beyond int64 nanoseconds
  };
  // clang-format on
  for (const char* text : cases) {
    SCOPED_TRACE(text);
    Duration d{-1};
    EXPECT_FALSE(parseDuration(text, d));
    EXPECT_EQ(d.count(), -1);  // untouched
  }
}

TEST(ParseSizeTest, Accepts) {
  const struct {
    const char* text;
    std::size_t bytes;
  } cases[] = {
      {"0", 0},
      {"16384", 16384},
      {"16k", 16384},
      {"16K", 16384},
      {"16KiB", 16384},
      {"16KB", 16384},
      {"1m", 1u << 20},
      {"1M", 1u << 20},
      {"1MiB", 1u << 20},
      {"1MB", 1u << 20},
      {"2g", std::size_t{2} << 30},
      {"2G", std::size_t{2} << 30},
      {"2GiB", std::size_t{2} << 30},
      {"2GB", std::size_t{2} << 30},
      {"18446744073709551615", std::numeric_limits<std::size_t>::max()},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    std::size_t bytes = 1;
    EXPECT_TRUE(parseSize(c.text, bytes));
    EXPECT_EQ(bytes, c.bytes);
  }
}

TEST(ParseSizeTest, Refuses) {
  // One line per reason, kept by hand.
  // clang-format off
  const char* const cases[] = {
      "", "k", "-1", "+1", "1.5k", "0x10", "1_000",                // not a whole decimal number
      "16 KiB", "16kib", "16kb", "16B", "1T", "1TB", "16KiBs",     // spellings outside the list
      "18446744073709551616", "17179869184G",                      // beyond size_t
  };
  // clang-format on
  for (const char* text : cases) {
    SCOPED_TRACE(text);
    std::size_t bytes = 1;
    EXPECT_FALSE(parseSize(text, bytes));
    EXPECT_EQ(bytes, 1u);  // untouched
  }
}

}  // namespace
}  // namespace microserver::core
