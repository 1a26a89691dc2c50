// Router: see Router.h.
#include "site/Router.h"

#include <algorithm>
#include <stdexcept>

namespace microserver::core {

struct Router::CompiledRoute {
  std::unique_ptr<re2::RE2> regex;
  std::vector<std::string> methods;
  bool allowsGet = false;
  std::vector<std::pair<std::string, int>> namedGroups;  // name -> group index
};

namespace {
re2::RE2::Options routeOptions() {
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(64 << 20);
  return options;
}

const char* const kMethodOrder[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"};
}  // namespace

// The `(?<name>` spelling (PCRE, JavaScript, .NET) is what most people write, but Debian's
// RE2 only knows `(?P<name>`. Escapes and character classes are skipped so `\(?<` and
// `[(?<]` stay as written; `(?<=` and `(?<!` (lookbehind) are left for RE2 to refuse.
std::string translateNamedGroups(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 8);
  bool inClass = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    out += c;
    if (c == '\\' && pattern.compare(i + 1, 1, "Q") == 0) {
      // \Q...\E is literal text: copy it whole, whatever it looks like.
      std::size_t end = pattern.find("\\E", i + 2);
      std::size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
      out.append(pattern.substr(i + 1, stop - i - 1));
      i = stop - 1;
    } else if (c == '\\' && i + 1 < pattern.size()) {
      out += pattern[++i];
    } else if (inClass && c == '[' && pattern.compare(i + 1, 1, ":") == 0) {
      // A POSIX class like [:digit:] inside a class: its ']' does not end the outer class.
      std::size_t end = pattern.find(":]", i + 2);
      if (end != std::string_view::npos) {
        out.append(pattern.substr(i + 1, end + 2 - i - 1));
        i = end + 1;
      }
    } else if (inClass) {
      inClass = c != ']';
    } else if (c == '[') {
      inClass = true;
      // A ']' first in a class ("[]a]", "[^]a]") is a literal, not the end of the class.
      if (pattern.compare(i + 1, 1, "^") == 0) out += pattern[++i];
      if (pattern.compare(i + 1, 1, "]") == 0) out += pattern[++i];
    } else if (c == '(' && pattern.compare(i + 1, 2, "?<") == 0 && pattern.compare(i + 3, 1, "=") != 0 &&
               pattern.compare(i + 3, 1, "!") != 0) {
      out += "?P<";
      i += 2;
    }
  }
  return out;
}

namespace {

// "^/api/v1" -> "/api/v1" with anchored = true; stops at the first character that is not
// a plain literal. `prefixOnly` says the pattern is just that prefix (optionally + ".*").
struct LiteralStart {
  bool anchored = false;
  bool prefixOnly = false;
  std::string literal;
};

LiteralStart literalStart(std::string_view pattern) {
  LiteralStart out;
  if (pattern.empty() || pattern[0] != '^') return out;
  out.anchored = true;
  std::size_t i = 1;
  for (; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (std::string_view("\\.^$|?*+()[]{}").find(c) != std::string_view::npos) break;
    out.literal.push_back(c);
  }
  std::string_view rest = pattern.substr(i);
  // A quantifier would make the last literal character optional or repeated.
  if (!rest.empty() && std::string_view("?*+{").find(rest[0]) != std::string_view::npos && !out.literal.empty())
    out.literal.pop_back();
  out.prefixOnly = rest.empty() || rest == ".*";
  return out;
}

bool methodsCovered(const RouteSpec& earlier, const RouteSpec& later) {
  if (earlier.methods.empty()) return true;
  if (later.methods.empty()) return false;
  for (const std::string& m : later.methods)
    if (std::find(earlier.methods.begin(), earlier.methods.end(), m) == earlier.methods.end()) return false;
  return true;
}

}  // namespace

std::vector<ShadowedRoute> findShadowedRoutes(const std::vector<RouteSpec>& routes) {
  std::vector<ShadowedRoute> out;
  std::vector<LiteralStart> starts;
  for (const RouteSpec& r : routes) starts.push_back(literalStart(r.pattern));
  for (std::size_t later = 0; later < routes.size(); ++later) {
    for (std::size_t earlier = 0; earlier < later; ++earlier) {
      if (!methodsCovered(routes[earlier], routes[later])) continue;
      const LiteralStart& e = starts[earlier];
      const LiteralStart& l = starts[later];
      bool samePattern = routes[earlier].pattern == routes[later].pattern;
      bool coveredPrefix = e.anchored && e.prefixOnly && l.anchored &&
                           l.literal.compare(0, e.literal.size(), e.literal) == 0;
      if (samePattern || coveredPrefix) {
        out.push_back({later, earlier});
        break;
      }
    }
  }
  return out;
}

Router::Router(const std::vector<RouteSpec>& routes) {
  set_ = std::make_unique<re2::RE2::Set>(routeOptions(), re2::RE2::UNANCHORED);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    auto route = std::make_unique<CompiledRoute>();
    std::string pattern = translateNamedGroups(routes[i].pattern);
    route->regex = std::make_unique<re2::RE2>(pattern, routeOptions());
    if (!route->regex->ok())
      throw std::invalid_argument("route " + std::to_string(i) + ": invalid regular expression '" +
                                  routes[i].pattern + "': " + route->regex->error());
    std::string error;
    if (set_->Add(pattern, &error) < 0)
      throw std::invalid_argument("route " + std::to_string(i) + ": " + error);
    route->methods = routes[i].methods;
    route->allowsGet = route->methods.empty() ||
                       std::find(route->methods.begin(), route->methods.end(), "GET") != route->methods.end();
    for (const auto& [name, index] : route->regex->NamedCapturingGroups()) route->namedGroups.emplace_back(name, index);
    routes_.push_back(std::move(route));
  }
  if (!set_->Compile()) throw std::invalid_argument("the route table is too large to compile (RE2 out of memory)");
}

Router::~Router() = default;

bool Router::allows(const CompiledRoute& route, std::string_view method) const {
  if (route.methods.empty()) return true;
  for (const std::string& m : route.methods)
    if (m == method) return true;
  return method == "HEAD" && route.allowsGet;
}

bool Router::extract(const CompiledRoute& route, std::string_view path, RouteScratch& scratch,
                     std::size_t& matchEnd) const {
  int groups = route.regex->NumberOfCapturingGroups() + 1;
  scratch.groups.resize(static_cast<std::size_t>(groups));
  if (!route.regex->Match(path, 0, path.size(), re2::RE2::UNANCHORED, scratch.groups.data(), groups)) return false;
  const re2::StringPiece& whole = scratch.groups[0];
  matchEnd = static_cast<std::size_t>(whole.data() - path.data()) + whole.size();
  scratch.captures.clear();
  for (const auto& [name, index] : route.namedGroups) {
    const re2::StringPiece& g = scratch.groups[static_cast<std::size_t>(index)];
    scratch.captures.push_back({name, g.data() ? std::string_view(g.data(), g.size()) : std::string_view{}});
  }
  return true;
}

Router::Outcome Router::match(std::string_view method, std::string_view path, RouteScratch& scratch,
                              std::size_t& routeIndex, std::size_t& matchEnd) const {
  scratch.matches.clear();
  re2::RE2::Set::ErrorInfo info{re2::RE2::Set::kNoError};
  if (!set_->Match(path, &scratch.matches, &info)) {
    if (info.kind == re2::RE2::Set::kNoError) return Outcome::NotFound;
    // The set's DFA ran out of memory on this input: fall back to one regex per route.
    scratch.matches.clear();
    for (std::size_t i = 0; i < routes_.size(); ++i)
      if (re2::RE2::PartialMatch(path, *routes_[i]->regex)) scratch.matches.push_back(static_cast<int>(i));
    if (scratch.matches.empty()) return Outcome::NotFound;
  }
  // The set reports matches unordered; file order decides, so sort the (few) hits.
  std::sort(scratch.matches.begin(), scratch.matches.end());
  for (int i : scratch.matches) {
    const CompiledRoute& route = *routes_[static_cast<std::size_t>(i)];
    if (!allows(route, method)) continue;
    if (!extract(route, path, scratch, matchEnd)) continue;
    routeIndex = static_cast<std::size_t>(i);
    return Outcome::Matched;
  }
  // Some route matched the path but none allows the method: build Allow from all of them.
  scratch.allow.clear();
  for (const char* m : kMethodOrder) {
    bool any = false;
    for (int i : scratch.matches) any = any || allows(*routes_[static_cast<std::size_t>(i)], m);
    if (!any) continue;
    if (!scratch.allow.empty()) scratch.allow.append(", ");
    scratch.allow.append(m);
  }
  return Outcome::MethodNotAllowed;
}

}  // namespace microserver::core
