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
  // Hosts: exact names, "*.suffix" wildcards (stored as ".suffix"), "prefix.*" wildcards
  // (stored as "prefix."), and patterns.
  std::vector<std::string> exactHosts, suffixHosts, prefixHosts;
  std::vector<std::unique_ptr<re2::RE2>> hostPatterns;
  bool anyHost = true;
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

bool hostsCovered(const RouteSpec& earlier, const RouteSpec& later) {
  return earlier.hosts.empty() || earlier.hosts == later.hosts;
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
      if (!methodsCovered(routes[earlier], routes[later]) || !hostsCovered(routes[earlier], routes[later])) continue;
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
    for (const std::string& spec : routes[i].hosts) {
      if (std::string why = checkHostSpec(spec); !why.empty())
        throw std::invalid_argument("route " + std::to_string(i) + ": host '" + spec + "': " + why);
      route->anyHost = false;
      anyHosts_ = true;
      std::string lower;
      for (char c : spec) lower.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
      if (spec[0] == '~') {
        route->hostPatterns.push_back(std::make_unique<re2::RE2>(translateNamedGroups(spec.substr(1)), routeOptions()));
      } else if (lower.rfind("*.", 0) == 0) {
        route->suffixHosts.push_back(lower.substr(1));
      } else if (lower.size() > 2 && lower.compare(lower.size() - 2, 2, ".*") == 0) {
        route->prefixHosts.push_back(lower.substr(0, lower.size() - 1));
      } else {
        route->exactHosts.push_back(lower);
      }
    }
    routes_.push_back(std::move(route));
  }
  if (!set_->Compile()) throw std::invalid_argument("the route table is too large to compile (RE2 out of memory)");
}

Router::~Router() = default;

std::string Router::checkHostSpec(std::string_view spec) {
  if (spec.empty()) return "empty";
  if (spec[0] == '~') {
    re2::RE2 re(translateNamedGroups(spec.substr(1)), routeOptions());
    return re.ok() ? std::string() : "invalid regular expression: " + re.error();
  }
  std::string_view name = spec;
  if (name.rfind("*.", 0) == 0) name.remove_prefix(2);
  else if (name.size() > 2 && name.compare(name.size() - 2, 2, ".*") == 0) name.remove_suffix(2);
  if (name.empty()) return "a wildcard needs a name beside it (*.example.com or example.*)";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '[' || c == ']' || c == ':';
    if (!ok)
      return std::string("'") + c + "' is not allowed in a host name (a '*' only as the first or last label; a "
                                    "pattern starts with '~')";
  }
  if (spec.find(':') != std::string_view::npos && spec.find('[') == std::string_view::npos)
    return "a host is matched without its port: leave the ':port' out";
  return {};
}

void normalizeHost(std::string_view authority, std::string& host) {
  host.clear();
  std::string_view name = authority;
  if (!name.empty() && name[0] == '[') {
    std::size_t close = name.find(']');
    name = name.substr(0, close == std::string_view::npos ? name.size() : close + 1);
  } else if (std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  for (char c : name) host.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
}

bool Router::servesHost(const CompiledRoute& route, RouteScratch& scratch) const {
  if (route.anyHost) return true;
  const std::string& host = scratch.host;
  for (const std::string& h : route.exactHosts)
    if (h == host) return true;
  for (const std::string& suffix : route.suffixHosts)
    if (host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  for (const std::string& prefix : route.prefixHosts)
    if (host.size() > prefix.size() && host.compare(0, prefix.size(), prefix) == 0) return true;
  for (const auto& pattern : route.hostPatterns)
    if (re2::RE2::PartialMatch(host, *pattern)) return true;
  return false;
}

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

Router::Outcome Router::match(std::string_view method, std::string_view authority, std::string_view path,
                              RouteScratch& scratch, std::size_t& routeIndex, std::size_t& matchEnd) const {
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
  if (anyHosts_) {
    // Routes for another host do not match at all (so they make no 405 either).
    normalizeHost(authority, scratch.host);
    scratch.matches.erase(std::remove_if(scratch.matches.begin(), scratch.matches.end(),
                                         [&](int i) { return !servesHost(*routes_[static_cast<std::size_t>(i)], scratch); }),
                          scratch.matches.end());
    if (scratch.matches.empty()) return Outcome::NotFound;
  }
  for (int i : scratch.matches) {
    const CompiledRoute& route = *routes_[static_cast<std::size_t>(i)];
    if (!allows(route, method)) continue;
    if (!extract(route, path, scratch, matchEnd)) continue;
    for (const auto& pattern : route.hostPatterns) {
      // A host pattern's named groups are captures too (the first pattern that matches).
      int groups = pattern->NumberOfCapturingGroups() + 1;
      scratch.groups.resize(static_cast<std::size_t>(groups));  // (the path's captures are views already)
      if (!pattern->Match(scratch.host, 0, scratch.host.size(), re2::RE2::UNANCHORED, scratch.groups.data(), groups))
        continue;
      for (const auto& [name, index] : pattern->NamedCapturingGroups()) {
        const re2::StringPiece& g = scratch.groups[static_cast<std::size_t>(index)];
        scratch.captures.push_back({name, g.data() ? std::string_view(g.data(), g.size()) : std::string_view{}});
      }
      break;
    }
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
