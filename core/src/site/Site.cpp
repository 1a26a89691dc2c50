// Site: see Site.h.
#include "site/Site.h"

#include <stdexcept>

#include "base/Log.h"
#include "base/Metrics.h"

namespace microserver::core {

namespace {
std::string place(const Config& config, const SourceMark& mark) {
  return config.file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column) + ": ";
}

std::string namesOf(const PluginSet& plugins) {
  std::string names;
  for (const auto& [name, plugin] : plugins) names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "none" : names;
}
}  // namespace

BoundHandler::BoundHandler(std::shared_ptr<LoadedPlugin> plugin, const RouteConfig& route, std::string routeName)
    : plugin_(std::move(plugin)), blocking_(route.blocking), route_(std::move(routeName)) {
  PluginContext context{route.handler, route.config, plugin_->logger(), Metrics::instance()};
  handler_ = plugin_->descriptor().createHandler(context);
  if (!handler_) throw std::runtime_error("createHandler returned nothing");
}

BoundHandler::~BoundHandler() { plugin_->descriptor().destroyHandler(handler_); }

void BoundHandler::run(const Request& request, Response& response) const {
  try {
    handler_->handle(request, response);
  } catch (const std::exception& e) {
    log::error("plugin " + plugin_->name() + " failed on " + std::string(request.method()) + " " +
               std::string(request.target()) + " (" + route_ + "): " + e.what() + "; answered 500");
    Metrics::instance().countPluginError(plugin_->name());
    response.reset();
    response.setStatus(500);
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("500 Internal Server Error\n");
  } catch (...) {
    log::error("plugin " + plugin_->name() + " threw a non-standard exception on " + std::string(request.method()) +
               " " + std::string(request.target()) + " (" + route_ + "); answered 500");
    Metrics::instance().countPluginError(plugin_->name());
    response.reset();
    response.setStatus(500);
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("500 Internal Server Error\n");
  }
}

Site::Site(const Config& config, const PluginSet& plugins) : config_(config), plugins_(plugins) {
  const Limits& l = config.server.limits;
  parserLimits_ = ParserLimits{l.headerBytes, l.uriBytes, l.headerCount, l.bodyBytes};
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
    specs.push_back({route.path, staticAnyMethod ? std::vector<std::string>{"GET", "HEAD"} : route.methods});
    Target target;
    target.metricsId = Metrics::instance().routeId(route.path);
    if (!route.staticDir.empty()) {
      try {
        target.files = std::make_unique<StaticFiles>(StaticFilesOptions{route.staticDir});
      } catch (const std::exception& e) {
        errors.push_back(place(config, route.mark) + key + ".static: " + e.what());
      }
    } else {
      auto found = plugins.find(route.handler);
      if (found == plugins.end()) {
        errors.push_back(place(config, route.handlerMark) + key + ".handler: no plugin '" + route.handler +
                         "' in " + config.server.plugins + " (found: " + namesOf(plugins) +
                         "; build it, or fix the name)");
      } else if (!found->second->descriptor().createHandler) {
        errors.push_back(place(config, route.handlerMark) + key + ".handler: plugin '" + route.handler +
                         "' has no HTTP handler (it only offers a TCP service)");
      } else {
        try {
          target.handler = std::make_unique<BoundHandler>(found->second, route, key + " '" + route.path + "'");
        } catch (const ConfigError& e) {
          errors.push_back(e.what());  // already says file:line:col: key.path: what
        } catch (const std::exception& e) {
          errors.push_back(place(config, route.handlerMark) + key + ".handler: plugin '" + route.handler +
                           "' refused to start: " + e.what());
        }
      }
    }
    site->targets_.push_back(std::move(target));
  }
  try {
    site->notFound_ = std::make_unique<StaticFiles>(StaticFilesOptions{config.server.www});
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

bool Site::accepts(std::string_view method, std::string_view path, RouteScratch& scratch) const {
  std::size_t index = 0, matchEnd = 0;
  return router_->match(method, path, scratch, index, matchEnd) == Router::Outcome::Matched;
}

const BoundHandler* Site::route(Request::Parts& parts, Response& response, RouteScratch& scratch) const {
  std::size_t index = 0, matchEnd = 0;
  scratch.routeId = Metrics::kNoRoute;
  switch (router_->match(parts.method, parts.path, scratch, index, matchEnd)) {
    case Router::Outcome::NotFound:
      notFound_->notFound(response);
      return nullptr;
    case Router::Outcome::MethodNotAllowed:
      response.setStatus(405);
      response.addHeader("Allow", scratch.allow);
      response.setContentType("text/plain; charset=utf-8");
      response.setBody("405 Method Not Allowed\n");
      return nullptr;
    case Router::Outcome::Matched:
      break;
  }
  parts.captures = Span<Capture>(scratch.captures.data(), scratch.captures.size());
  const Target& target = targets_[index];
  scratch.routeId = target.metricsId;
  if (target.handler) return target.handler.get();
  target.files->serve(Request(parts), parts.path.substr(matchEnd), response);
  return nullptr;
}

}  // namespace microserver::core
