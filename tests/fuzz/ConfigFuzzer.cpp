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

#include "Config.h"
#include "FuzzInput.h"
#include "Router.h"

using namespace microserver::core;

namespace {

const std::string kFile = "fuzz/routes.yaml";

// Known bug, reported to the lead (see README.md, "Findings"): Debian's yaml-cpp 0.7
// YAML::LoadAll(), which loadConfigText() calls, loops forever on some invalid input ("," alone
// is enough: jbeder/yaml-cpp#1040, fixed upstream by PR #1319), pushing an empty document
// each turn until memory runs out. Such inputs are skipped unless MICROSERVER_FUZZ_STRICT is
// set in the environment (set it once Config.cpp no longer calls LoadAll).
bool strictMode() {
  static const bool strict = std::getenv("MICROSERVER_FUZZ_STRICT") != nullptr;
  return strict;
}

class DocumentStarts : public YAML::EventHandler {
 public:
  std::size_t last = 0;
  bool repeated = false;
  std::size_t count = 0;
  void OnDocumentStart(const YAML::Mark& mark) override {
    const auto pos = static_cast<std::size_t>(mark.pos);
    repeated = count++ > 0 && pos == last;
    last = pos;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Would YAML::LoadAll(text) loop forever? It does when a document starts where the last one
// did: the parser made no progress. Each turn here either consumes input or stops.
bool loadAllLoops(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  try {
    for (std::size_t turn = 0; turn <= text.size() + 1; ++turn) {
      if (!parser.HandleNextDocument(starts)) return false;
      if (starts.repeated) return true;
    }
  } catch (const YAML::Exception&) {
    return false;  // LoadAll throws as well: loadConfigText reports it
  }
  return true;
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

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
  FUZZ_CHECK(l.shutdownGrace.count() >= 0);

  std::vector<RouteSpec> specs;
  for (const RouteConfig& r : c.routes) {
    FUZZ_CHECK(!r.path.empty());
    FUZZ_CHECK(r.handler.empty() != r.staticDir.empty());
    if (!r.staticDir.empty()) FUZZ_CHECK(r.staticDir[0] == '/' && !r.blocking);
    for (const std::string& m : r.methods) FUZZ_CHECK(!m.empty());
    specs.push_back({r.path, r.methods});
  }
  for (const ServiceConfig& svc : c.services) FUZZ_CHECK(!svc.plugin.empty() && !svc.listenHost.empty());

  try {
    const Router router(specs);
    FUZZ_CHECK(router.size() == specs.size());
    RouteScratch scratch;
    std::size_t index = 0, matchEnd = 0;
    for (const char* path : {"/", "/hello/World", "/api/kv/x", "/chat/ws", "/a/../b"}) {
      if (router.match("GET", path, scratch, index, matchEnd) == Router::Outcome::Matched)
        FUZZ_CHECK(index < specs.size() && matchEnd <= std::string_view(path).size());
    }
  } catch (const std::invalid_argument&) {
    FUZZ_FAIL("Config accepted a pattern the Router refuses");
  }
  for (const ShadowedRoute& sh : findShadowedRoutes(specs)) FUZZ_CHECK(sh.shadowedBy < sh.route && sh.route < specs.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (!strictMode() && loadAllLoops(text)) return 0;
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
