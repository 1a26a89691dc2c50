// Site: one immutable snapshot of what the server answers: the routes of a Config, each
// bound to its target (a static folder, or a handler created by a plugin), behind a Router.
//
// A snapshot is built completely before it serves and never changes afterwards; a reload
// builds a new one and swaps it in, so a request always sees one consistent routing table.
// It holds the plugin libraries its handlers come from, so a library is unloaded only
// when the last snapshot (and the last request) using it is gone.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Config.h"
#include "http1/HttpParser.h"
#include "plugin/PluginLoader.h"
#include "site/Exchange.h"
#include "site/Request.h"
#include "site/Responder.h"
#include "site/Response.h"
#include "site/Router.h"
#include "site/StaticFiles.h"

namespace microserver::core {

// A route's handler, as a plugin created it (handler_create) for that route's `config:`,
// with the route's settings for it.
class BoundHandler {
 public:
  // Creates the handler through the plugin. Throws ConfigError with the plugin's message
  // (with its place) if it refuses its `config:`.
  // `place` starts messages that lack one ("routes.yaml:4:3: routes[1].handler: ").
  BoundHandler(std::shared_ptr<LoadedPlugin> plugin, const RouteConfig& route, const Limits& limits,
               std::string routeName, const std::string& configFile, const std::string& place);
  ~BoundHandler();
  BoundHandler(const BoundHandler&) = delete;
  BoundHandler& operator=(const BoundHandler&) = delete;

  bool blocking() const { return blocking_; }
  bool streamsBody() const { return streamBody_; }
  std::uint64_t bodyLimit() const { return bodyLimit_; }
  Duration timeout() const { return timeout_; }
  // `compress: true`: a whole answer of a compressible type goes out gzip/brotli-encoded.
  bool compresses() const { return compress_; }
  const std::string& pluginName() const { return plugin_->name(); }
  const std::string& routeName() const { return route_; }
  const std::shared_ptr<LoadedPlugin>& plugin() const { return plugin_; }
  // Calls the handler with `exchange` (its handler field set to this). A handler that
  // fails (an exception in C++) has answered 500 through response_fail.
  void run(Exchange& exchange) const;
  // What response_fail does: a 500 for this request, and a log line naming the plugin,
  // the request and why.
  void fail(const Request& request, Response& response, std::string_view why) const;

 private:
  std::shared_ptr<LoadedPlugin> plugin_;  // keeps the code of handler_ loaded
  void* handler_ = nullptr;
  bool blocking_;
  bool streamBody_;
  std::uint64_t bodyLimit_;
  Duration timeout_;
  bool compress_;
  std::string route_;                     // "routes[2] '^/hello/...'" for log lines
};

// Where routing left a request.
struct Routed {
  // A plugin route: the caller runs the handler now or, if it is blocking, on a worker.
  const BoundHandler* handler = nullptr;
  // Static files that need the disk: the caller runs `fileWork` on a file thread, and
  // the answer arrives through `later`, on the reactor of the mailbox given to route().
  std::function<void()> fileWork;
  std::shared_ptr<Responder> later;
  // Otherwise the answer is in the response already.
};

// The answer to "how may this request's body arrive?", asked once its head is in.
struct BodyPolicy {
  const BoundHandler* handler = nullptr;  // a plugin route (else static, built-in or no route)
  bool matched = false;                   // some route takes this method on this path
  std::uint64_t limit = 0;                // the most body bytes allowed
};

class Site {
 public:
  // Builds a snapshot from a configuration and the plugins found in the plugin folder.
  // Throws ConfigLoadError listing every problem (file:line:col), e.g. a static folder
  // that does not exist, a handler naming a plugin that is not there (the message lists
  // the plugins that are), or a plugin refusing its `config:`.
  static std::shared_ptr<const Site> build(const Config& config, const PluginSet& plugins);

  // Routes one request: answers it in `response` when it can at once (static files from
  // the cache, 404, 405); or fills in the route's captures and returns the handler; or
  // returns the disk work a static answer needs (see Routed).
  Routed route(Request::Parts& parts, Response& response, RouteScratch& scratch,
               const std::shared_ptr<ReactorMailbox>& mailbox) const;

  // Whether some route takes this method on this (decoded) path, and how its body may
  // arrive; nothing is answered. Fills scratch's captures like route().
  BodyPolicy bodyPolicy(std::string_view method, std::string_view authority, std::string_view path,
                        RouteScratch& scratch) const;

  // Things that are legal but almost certainly mistakes (a route that can never match),
  // one line each with file:line:col. Printed by --check and logged at every load.
  const std::vector<std::string>& warnings() const { return warnings_; }

  const Config& config() const { return config_; }
  // Limits for parsing heads; its bodyBytes is the largest any route allows (each route's
  // own limit is checked once the request is routed: bodyPolicy()).
  const ParserLimits& parserLimits() const { return parserLimits_; }
  const PluginSet& plugins() const { return plugins_; }

 private:
  struct Target {
    std::unique_ptr<StaticFiles> files;     // for `static:` routes
    std::unique_ptr<BoundHandler> handler;  // for `handler:` routes
    std::uint32_t metricsId = 0;            // the route's label in GET /metrics
    std::string pattern;                    // its path pattern (the access log's route)
  };
  explicit Site(const Config& config, const PluginSet& plugins);

  Config config_;
  ParserLimits parserLimits_;
  PluginSet plugins_;
  std::unique_ptr<Router> router_;
  std::vector<Target> targets_;
  std::unique_ptr<StaticFiles> notFound_;  // the www folder, for the site's 404 page
  std::vector<std::string> warnings_;
};

}  // namespace microserver::core
