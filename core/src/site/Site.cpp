// Site: see Site.h.
#include "site/Site.h"

#include <algorithm>
#include <stdexcept>

#include "base/Log.h"
#include "plugin/HostApi.h"
#include "base/Metrics.h"

namespace microserver::core {

namespace {
std::string place(const Config& config, const SourceMark& mark) {
  return config.file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column) + ": ";
}

// What a static route (or the site's 404 folder, when `route` is null) was configured with.
StaticFilesOptions staticOptions(const ServerConfig& server, const std::string& root, const RouteConfig* route) {
  StaticFilesOptions options;
  options.root = root;
  options.maxFiles = server.fileCacheFiles;
  options.maxBytes = server.fileCacheBytes;
  if (!route) return options;
  options.compress = route->compress.value_or(true);
  options.precompressed = route->precompressed;
  options.listing = route->listing;
  if (route->cacheMaxAge || route->cacheImmutable) {
    // immutable alone means "never changes": a year, as RFC 8246's examples do.
    auto seconds = route->cacheMaxAge ? std::chrono::duration_cast<std::chrono::seconds>(*route->cacheMaxAge).count()
                                      : 31'536'000;
    options.cacheControl = "max-age=" + std::to_string(seconds);
    if (route->cacheImmutable) options.cacheControl += ", immutable";
  }
  return options;
}

std::string namesOf(const PluginSet& plugins) {
  std::string names;
  for (const auto& [name, plugin] : plugins) names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "none" : names;
}
}  // namespace

BoundHandler::BoundHandler(std::shared_ptr<LoadedPlugin> plugin, const RouteConfig& route, const Limits& limits,
                           std::string routeName, const std::string& configFile, const std::string& place)
    : plugin_(std::move(plugin)),
      blocking_(route.blocking),
      streamBody_(route.streamBody),
      bodyLimit_(route.bodyBytes.value_or(limits.bodyBytes)),
      timeout_(route.timeout.value_or(limits.handlerTimeout)),
      compress_(route.compress.value_or(false)),
      route_(std::move(routeName)) {
  handler_ = createPluginObject(*plugin_, plugin_->descriptor().handler_create, plugin_->descriptor().handler_destroy,
                                route.config, configFile, place);
}

BoundHandler::~BoundHandler() {
  if (handler_) plugin_->descriptor().handler_destroy(handler_);
}

void BoundHandler::run(Exchange& exchange) const {
  exchange.handler = this;
  plugin_->descriptor().handler_handle(handler_, exchange.handle());
}

void BoundHandler::fail(const Request& request, Response& response, std::string_view why) const {
  log::error("plugin " + plugin_->name() + " failed on " + std::string(request.method()) + " " +
             std::string(request.target()) + " (" + route_ + "): " + std::string(why) + "; answered 500");
  Metrics::instance().countPluginError(plugin_->name());
  response.reset();
  response.setStatus(500);
  response.setContentType("text/plain; charset=utf-8");
  response.setBody("500 Internal Server Error\n");
}

Site::Site(const Config& config, const PluginSet& plugins) : config_(config), plugins_(plugins) {
  const Limits& l = config.server.limits;
  std::uint64_t largestBody = l.bodyBytes;
  for (const RouteConfig& route : config.routes)
    if (route.bodyBytes) largestBody = std::max<std::uint64_t>(largestBody, *route.bodyBytes);
  parserLimits_ = ParserLimits{l.headerBytes, l.uriBytes, l.headerCount, largestBody};
}

std::shared_ptr<const Site> Site::build(const Config& config, const PluginSet& plugins) {
  std::shared_ptr<Site> site(new Site(config, plugins));
  std::vector<std::string> errors;
  std::vector<RouteSpec> specs;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    std::string key = "routes[" + std::to_string(i) + "]";
    // A static folder only ever answers GET and HEAD (405 otherwise), so that is what it
    // takes: another method falls through to later routes, and a 405's Allow lists them.
    bool staticAnyMethod = !route.staticDir.empty() && route.methods.empty();
    specs.push_back({route.path, staticAnyMethod ? std::vector<std::string>{"GET", "HEAD"} : route.methods, route.hosts});
    Target target;
    target.metricsId = Metrics::instance().routeId(route.path);
    target.pattern = route.path;
    if (!route.staticDir.empty()) {
      try {
        target.files = std::make_unique<StaticFiles>(staticOptions(config.server, route.staticDir, &route));
      } catch (const std::exception& e) {
        errors.push_back(place(config, route.mark) + key + ".static: " + e.what());
      }
    } else {
      auto found = plugins.find(route.handler);
      if (found == plugins.end()) {
        errors.push_back(place(config, route.handlerMark) + key + ".handler: no plugin '" + route.handler +
                         "' in " + config.server.plugins + " (found: " + namesOf(plugins) +
                         "; build it, or fix the name)");
      } else if (!found->second->hasHandler()) {
        errors.push_back(place(config, route.handlerMark) + key + ".handler: plugin '" + route.handler +
                         "' has no HTTP handler (it only offers a TCP service)");
      } else {
        try {
          target.handler = std::make_unique<BoundHandler>(found->second, route, config.server.limits,
                                                          key + " '" + route.path + "'", config.file,
                                                          place(config, route.handlerMark) + key + ".handler: ");
        } catch (const ConfigError& e) {
          // Says file:line:col: key.path: what (the plugin's own, or with the place added).
          errors.push_back(e.what());
        } catch (const std::exception& e) {
          errors.push_back(place(config, route.handlerMark) + key + ".handler: plugin '" + route.handler +
                           "' refused to start: " + e.what());
        }
      }
    }
    site->targets_.push_back(std::move(target));
  }
  try {
    site->notFound_ = std::make_unique<StaticFiles>(staticOptions(config.server, config.server.www, nullptr));
  } catch (const std::exception& e) {
    errors.push_back(config.file + ": server.www: " + e.what());
  }
  if (!errors.empty()) throw ConfigLoadError(errors);
  try {
    site->router_ = std::make_unique<Router>(specs);
  } catch (const std::exception& e) {
    throw ConfigLoadError({config.file + ": " + e.what()});
  }
  for (const ShadowedRoute& s : findShadowedRoutes(specs)) {
    const RouteConfig& route = config.routes[s.route];
    const RouteConfig& by = config.routes[s.shadowedBy];
    site->warnings_.push_back(place(config, route.pathMark) + "routes[" + std::to_string(s.route) +
                              "]: can never match: routes[" + std::to_string(s.shadowedBy) + "] ('" + by.path +
                              "', line " + std::to_string(by.pathMark.line) +
                              ") comes first and takes every request it could (routes are tried in order: move "
                              "the more specific one up)");
  }
  return site;
}

BodyPolicy Site::bodyPolicy(std::string_view method, std::string_view authority, std::string_view path,
                            RouteScratch& scratch) const {
  std::size_t index = 0, matchEnd = 0;
  BodyPolicy policy;
  policy.limit = config_.server.limits.bodyBytes;
  if (router_->match(method, authority, path, scratch, index, matchEnd) != Router::Outcome::Matched) return policy;
  policy.matched = true;
  if (const BoundHandler* handler = targets_[index].handler.get()) {
    policy.handler = handler;
    policy.limit = handler->bodyLimit();
  }
  return policy;
}

Routed Site::route(Request::Parts& parts, Response& response, RouteScratch& scratch,
                  const std::shared_ptr<ReactorMailbox>& mailbox) const {
  std::size_t index = 0, matchEnd = 0;
  scratch.routeId = Metrics::kNoRoute;
  scratch.routePattern = {};
  Routed routed;
  switch (router_->match(parts.method, parts.authority, parts.path, scratch, index, matchEnd)) {
    case Router::Outcome::NotFound:
      routed.fileWork = notFound_->notFound(response, mailbox, routed.later);
      return routed;
    case Router::Outcome::MethodNotAllowed:
      response.setStatus(405);
      response.addHeader("Allow", scratch.allow);
      response.setContentType("text/plain; charset=utf-8");
      response.setBody("405 Method Not Allowed\n");
      return routed;
    case Router::Outcome::Matched:
      break;
  }
  parts.captures = Span<Capture>(scratch.captures.data(), scratch.captures.size());
  const Target& target = targets_[index];
  scratch.routeId = target.metricsId;
  scratch.routePattern = target.pattern;
  if (target.handler) {
    routed.handler = target.handler.get();
    return routed;
  }
  routed.fileWork = target.files->serve(Request(parts), parts.path.substr(matchEnd), response, mailbox, routed.later);
  return routed;
}

}  // namespace microserver::core
