// Router: maps (method, host, decoded path) to the first matching route, in file order.
//
// Request paths are attacker-controlled, so patterns are RE2 (linear-time, no
// backtracking). All patterns are tested in one pass with an RE2::Set, so a table of
// 1,000 routes costs about as much as one of 10; only the winning route runs its own
// regex, to extract named captures. A path that matches some routes but none that allow
// the method is a 405 whose Allow header lists every method those routes accept.
//
// A route may also name the hosts it serves (nginx's server_name, Caddy's site address):
// exact ("example.com"), a wildcard at either end ("*.example.com", "example.*"), or an
// RE2 pattern after '~' ("~^(?P<user>[a-z]+)\.example\.com$", its named groups become
// captures too). Hosts compare case-insensitively, without the port; a route without
// hosts serves every host. Routes whose host does not match count as not matching at all
// (404, not 405).
#pragma once

#include <re2/re2.h>
#include <re2/set.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "site/Request.h"

namespace microserver::core {

struct RouteSpec {
  std::string pattern;               // RE2 syntax; (?<name>...) is accepted and translated
  std::vector<std::string> methods;  // empty = every method
  std::vector<std::string> hosts;    // empty = every host; see the header comment
};

// Per-thread working memory for match(), so the router itself allocates nothing once warm.
// (RE2::Set::Match does: a SparseSet of the route count per call, three small blocks, ~1%
// of a hello request's CPU as measured; RE2 offers no way to hand it one to reuse.)
struct RouteScratch {
  std::uint32_t routeId = 0;  // the matched route's metrics id (set by Site::route)
  std::string_view routePattern;  // and its path pattern (empty: no route)
  std::string host;           // the request's host, lowercased, without the port
  std::vector<int> matches;
  std::vector<re2::StringPiece> groups;
  std::vector<Capture> captures;
  std::string allow;
};

class Router {
 public:
  enum class Outcome { Matched, MethodNotAllowed, NotFound };

  // Throws std::invalid_argument naming the route index and RE2's message on a bad pattern.
  explicit Router(const std::vector<RouteSpec>& routes);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // On Matched: `routeIndex` is the winner, scratch.captures its named captures (views into
  // `path` and scratch.host), and `matchEnd` where its match ended in `path`. On
  // MethodNotAllowed: scratch.allow holds the Allow header value. HEAD is allowed wherever
  // GET is. `authority` is the request's ("Example.com:8080"), or empty.
  Outcome match(std::string_view method, std::string_view authority, std::string_view path, RouteScratch& scratch,
                std::size_t& routeIndex, std::size_t& matchEnd) const;

  // Whether `host` (lowercase, without port) is a valid route host spec; "" or why not.
  static std::string checkHostSpec(std::string_view spec);

  std::size_t size() const { return routes_.size(); }

 private:
  struct CompiledRoute;
  bool allows(const CompiledRoute& route, std::string_view method) const;
  bool extract(const CompiledRoute& route, std::string_view path, RouteScratch& scratch, std::size_t& matchEnd) const;
  bool servesHost(const CompiledRoute& route, RouteScratch& scratch) const;

  std::vector<std::unique_ptr<CompiledRoute>> routes_;
  bool anyHosts_ = false;  // some route names hosts (else the host is never looked at)
  std::unique_ptr<re2::RE2::Set> set_;
};

// A route that can never match because an earlier one takes every request it could.
struct ShadowedRoute {
  std::size_t route;     // the one that never matches
  std::size_t shadowedBy;
};

// Finds routes shadowed by an earlier one, where that can be decided cheaply: an earlier
// route that serves every host the later one does (no hosts, or the same list), allows
// at least the same methods and whose pattern is an anchored literal
// prefix ("^/", "^/api/", "^/a.*") covering the later pattern's anchored literal start,
// or the very same pattern. Regular-language inclusion in general is not attempted.
std::vector<ShadowedRoute> findShadowedRoutes(const std::vector<RouteSpec>& routes);

// Rewrites PCRE/JavaScript-style named groups "(?<name>" as RE2's "(?P<name>"; leaves
// escapes, character classes and lookbehind "(?<=", "(?<!" alone (RE2 refuses the latter).
std::string translateNamedGroups(std::string_view pattern);

// "Example.COM:8080" -> "example.com", "[::1]:80" -> "[::1]", "example.com." -> "example.com".
void normalizeHost(std::string_view authority, std::string& host);

}  // namespace microserver::core
