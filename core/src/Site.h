// Site: one immutable snapshot of what the server answers: the routes of a Config, each
// bound to its target (a static folder, or a plugin's handler), behind a Router.
//
// A snapshot is built completely before it serves, and never changes afterwards; a reload
// builds a new one and swaps it in, so a request always sees one consistent routing table.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "Config.h"
#include "HttpParser.h"
#include "Router.h"
#include "StaticFiles.h"
#include "microserver/Request.h"
#include "microserver/Response.h"

namespace microserver::core {

class Site {
 public:
  // Throws ConfigLoadError (with file:line:col) if a route cannot be set up, e.g. a
  // static folder that does not exist.
  static std::shared_ptr<const Site> build(const Config& config);

  // Answers one request: routes `parts` (adding the winning route's captures), builds the
  // Request and calls the route's target. Exceptions from a target propagate.
  void handle(Request::Parts& parts, Response& response, RouteScratch& scratch) const;

  const Config& config() const { return config_; }
  const ParserLimits& parserLimits() const { return parserLimits_; }

 private:
  struct Target {
    std::unique_ptr<StaticFiles> files;  // for `static:` routes
  };
  explicit Site(const Config& config);

  Config config_;
  ParserLimits parserLimits_;
  std::unique_ptr<Router> router_;
  std::vector<Target> targets_;
  std::unique_ptr<StaticFiles> notFound_;  // the www folder, for the site's 404 page
};

}  // namespace microserver::core
