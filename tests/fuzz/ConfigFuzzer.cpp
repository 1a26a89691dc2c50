// Fuzzes the routes.yaml reader, loadConfigText() (core/src/Config.cpp, on yaml-cpp and RE2),
// with the input as the file's text.
//
// It must never crash, hang or leak (libFuzzer and AddressSanitizer catch those); refusing
// the file with ConfigLoadError is fine. Invariants (any violation traps):
//  - every error line starts with "<file name>:", and the exception's text is the lines
//    joined (up to a NUL: yaml-cpp's messages may quote raw bytes of the file);
//  - a loaded config is usable: its values are within the documented bounds, every route has
//    exactly one target and a pattern RE2 accepts, every service a plugin name; and the
//    server's Router can be built from the routes (a pattern RE2::Set refuses would make
//    the server fail to start later without file:line:col); matching a path with it works.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/Config.h"
#include "FuzzInput.h"
#include "site/Router.h"

using namespace microserver::core;

namespace {

const std::string kFile = "fuzz/routes.yaml";


bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

void checkListener(const ListenConfig& l, bool server) {
  FUZZ_CHECK(!l.host.empty() && !l.path.empty());
  if (l.tls) {
    FUZZ_CHECK(!l.tls->certificates.empty());
    for (const TlsCertificateConfig& cert : l.tls->certificates)
      FUZZ_CHECK(!cert.certificate.empty() && cert.certificate[0] == '/' && !cert.key.empty() && cert.key[0] == '/');
    FUZZ_CHECK(l.redirectPort == 0 && l.redirectUrl.empty());
  } else {
    FUZZ_CHECK(!l.hsts);
  }
  if (!server) FUZZ_CHECK(l.redirectPort == 0 && l.redirectUrl.empty() && !l.hsts);
  FUZZ_CHECK(l.redirectUrl.empty() || startsWith(l.redirectUrl, "https://"));
}

void checkLoaded(const Config& c) {
  FUZZ_CHECK(c.file == kFile && c.folder == "/srv/fuzz");
  const ServerConfig& s = c.server;
  FUZZ_CHECK(s.reactors <= 256 && s.workers >= 1 && s.workers <= 1024);
  FUZZ_CHECK(!s.www.empty() && s.www[0] == '/');
  FUZZ_CHECK(s.plugins.empty() || s.plugins[0] == '/');
  FUZZ_CHECK(s.accessLog == "-" || s.accessLog == "off" || (!s.accessLog.empty() && s.accessLog[0] == '/'));
  FUZZ_CHECK(s.logLevel == "error" || s.logLevel == "warning" || s.logLevel == "info" || s.logLevel == "debug");
  const Limits& l = s.limits;
  FUZZ_CHECK(l.headerBytes > 0 && l.headerBytes <= (1u << 20) && l.uriBytes > 0 && l.uriBytes <= l.headerBytes);
  FUZZ_CHECK(l.headerCount > 0 && l.headerCount <= 10000 && l.bodyBytes > 0 && l.maxConnections > 0);
  FUZZ_CHECK(l.workerQueue > 0 && l.workerQueue <= 1000000);
  for (Duration d : {l.headerTimeout, l.bodyTimeout, l.idleTimeout, l.sendTimeout, l.handlerTimeout})
    FUZZ_CHECK(d.count() > 0);
  FUZZ_CHECK(l.shutdownGrace.count() >= 0 && l.shutdownDelay.count() >= 0);

  std::vector<RouteSpec> specs;
  for (const RouteConfig& r : c.routes) {
    FUZZ_CHECK(!r.path.empty());
    FUZZ_CHECK(r.handler.empty() != r.staticDir.empty());
    if (!r.staticDir.empty()) FUZZ_CHECK(r.staticDir[0] == '/' && !r.blocking);
    for (const std::string& m : r.methods) FUZZ_CHECK(!m.empty());
    specs.push_back({r.path, r.methods, r.hosts});
  }
  FUZZ_CHECK(!s.listen.empty());
  for (const ListenConfig& l : s.listen) checkListener(l, true);
  for (const ServiceConfig& svc : c.services) {
    FUZZ_CHECK(!svc.plugin.empty());
    checkListener(svc.listen, false);
  }

  try {
    const Router router(specs);
    FUZZ_CHECK(router.size() == specs.size());
    RouteScratch scratch;
    std::size_t index = 0, matchEnd = 0;
    for (const char* path : {"/", "/hello/World", "/api/kv/x", "/chat/ws", "/a/../b"}) {
      if (router.match("GET", "", path, scratch, index, matchEnd) == Router::Outcome::Matched)
        FUZZ_CHECK(index < specs.size() && matchEnd <= std::string_view(path).size());
    }
  } catch (const std::invalid_argument&) {
    FUZZ_FAIL("Config accepted a pattern the Router refuses");
  }
  for (const ShadowedRoute& sh : findShadowedRoutes(specs))
    FUZZ_CHECK(sh.shadowedBy < sh.route && sh.route < specs.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    checkLoaded(loadConfigText(text, kFile, "/srv/fuzz"));
  } catch (const ConfigLoadError& e) {
    FUZZ_CHECK(!e.errors().empty());
    std::string joined;
    for (const std::string& line : e.errors()) {
      FUZZ_CHECK(startsWith(line, kFile + ":"));
      joined += (joined.empty() ? "" : "\n") + line;
    }
    // what() is a C string: an error quoting a NUL from the file ends there.
    FUZZ_CHECK(joined.substr(0, joined.find('\0')) == e.what());
  }
  return 0;
}
