// Site: see Site.h.
#include "Site.h"

#include <stdexcept>

namespace microserver::core {

namespace {
std::string place(const Config& config, const SourceMark& mark) {
  return config.file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column) + ": ";
}
}  // namespace

Site::Site(const Config& config) : config_(config) {
  const Limits& l = config.server.limits;
  parserLimits_ = ParserLimits{l.headerBytes, l.uriBytes, l.headerCount, l.bodyBytes};
}

std::shared_ptr<const Site> Site::build(const Config& config) {
  std::shared_ptr<Site> site(new Site(config));
  std::vector<std::string> errors;
  std::vector<RouteSpec> specs;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    specs.push_back({route.path, route.methods});
    Target target;
    if (!route.staticDir.empty()) {
      try {
        target.files = std::make_unique<StaticFiles>(StaticFilesOptions{route.staticDir});
      } catch (const std::exception& e) {
        errors.push_back(place(config, route.mark) + "routes[" + std::to_string(i) + "].static: " + e.what());
      }
    } else {
      errors.push_back(place(config, route.handlerMark) + "routes[" + std::to_string(i) + "].handler: plugin '" +
                       route.handler + "' is not available (plugins are not supported by this build yet)");
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
  return site;
}

void Site::handle(Request::Parts& parts, Response& response, RouteScratch& scratch) const {
  std::size_t index = 0, matchEnd = 0;
  Router::Outcome outcome = router_->match(parts.method, parts.path, scratch, index, matchEnd);
  if (outcome == Router::Outcome::Matched)
    parts.captures = Span<Capture>(scratch.captures.data(), scratch.captures.size());
  Request request(parts);
  switch (outcome) {
    case Router::Outcome::NotFound:
      notFound_->notFound(response);
      return;
    case Router::Outcome::MethodNotAllowed:
      response.setStatus(405);
      response.addHeader("Allow", scratch.allow);
      response.setContentType("text/plain; charset=utf-8");
      response.setBody("405 Method Not Allowed\n");
      return;
    case Router::Outcome::Matched:
      break;
  }
  const Target& target = targets_[index];
  if (target.files) {
    std::string_view path = request.path();
    target.files->serve(request, path.substr(matchEnd), response);
  }
}

}  // namespace microserver::core
