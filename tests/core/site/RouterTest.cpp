// Tests for Router: which route a (method, decoded path) reaches, and what it captures.
//
// The router decides which handler sees an attacker-controlled path, so each test below
// pins one rule a handler relies on: file order beats RE2::Set's unordered output, a
// method-filtered route falls through to a later one, 405 lists every method the path
// accepts, captures are views that never go stale, and a hostile path cannot stall a thread.
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "site/Router.h"

using microserver::core::Router;
using microserver::core::RouteScratch;
using microserver::core::RouteSpec;
using microserver::core::findShadowedRoutes;
using microserver::core::ShadowedRoute;
using microserver::core::translateNamedGroups;
using Routes = std::vector<RouteSpec>;

namespace {

constexpr std::size_t kUnset = static_cast<std::size_t>(-1);

// One match, flattened so a table can state the expected result as text:
// "route N", "405 Allow: ..." or "404".
struct Routed {
  std::string outcome;
  std::size_t route = kUnset;
  std::size_t matchEnd = kUnset;
  std::map<std::string, std::string> captures;
};

Routed routeWith(const Router& router, std::string_view method, std::string_view path, RouteScratch& scratch,
                 std::string_view authority = "example.com") {
  Routed r;
  std::size_t index = kUnset, matchEnd = kUnset;
  switch (router.match(method, authority, path, scratch, index, matchEnd)) {
    case Router::Outcome::Matched:
      r.outcome = "route " + std::to_string(index);
      r.route = index;
      r.matchEnd = matchEnd;
      for (const auto& c : scratch.captures) r.captures[std::string(c.name)] = std::string(c.value);
      break;
    case Router::Outcome::MethodNotAllowed:
      r.outcome = "405 Allow: " + scratch.allow;
      break;
    case Router::Outcome::NotFound:
      r.outcome = "404";
      break;
  }
  return r;
}

Routed route(const Router& router, std::string_view method, std::string_view path) {
  RouteScratch scratch;
  return routeWith(router, method, path, scratch);
}

std::string outcome(const Router& router, std::string_view method, std::string_view path) {
  return route(router, method, path).outcome;
}

struct Probe {
  std::string method;
  std::string path;
  std::string expected;  // "route N", "405 Allow: ...", "404"
};

void expectProbes(const Router& router, const std::vector<Probe>& probes) {
  for (const Probe& p : probes) {
    SCOPED_TRACE(p.method + " '" + p.path + "'");
    EXPECT_EQ(outcome(router, p.method, p.path), p.expected);
  }
}

// The std::invalid_argument message that building a router from `routes` raises, or "<accepted>".
std::string constructionError(const std::vector<RouteSpec>& routes) {
  try {
    Router router(routes);
    return "<accepted>";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}


TEST(TranslateNamedGroups, LeavesPosixClassesInsideAClassAlone) {
  EXPECT_EQ(translateNamedGroups("^/[[:digit:](?<]+$"), "^/[[:digit:](?<]+$");
  EXPECT_EQ(translateNamedGroups("^/[[:alpha:]](?<n>x)$"), "^/[[:alpha:]](?P<n>x)$");
}

TEST(TranslateNamedGroups, LeavesQuotedLiteralTextAlone) {
  EXPECT_EQ(translateNamedGroups("^/\\Q(?<x>\\E$"), "^/\\Q(?<x>\\E$");
  EXPECT_EQ(translateNamedGroups("\\Q.\\E(?<n>a)"), "\\Q.\\E(?P<n>a)");
  Router router(Routes{{"^/\\Q(?<x>\\E$", {}}});
  RouteScratch scratch;
  std::size_t index = 0, end = 0;
  EXPECT_EQ(router.match("GET", "", "/(?<x>", scratch, index, end), Router::Outcome::Matched);
}


// --check's shadowed-route warnings: only what can be decided, never a false alarm.
TEST(FindShadowedRoutes, ACatchAllBeforeOtherRoutesShadowsThem) {
  auto shadowed = findShadowedRoutes(Routes{{"^/", {}}, {"^/hello/(?P<n>[a-z]+)$", {"GET"}}, {"^/api$", {}}});
  ASSERT_EQ(shadowed.size(), 2u);
  EXPECT_EQ(shadowed[0].route, 1u);
  EXPECT_EQ(shadowed[0].shadowedBy, 0u);
  EXPECT_EQ(shadowed[1].route, 2u);
}

TEST(FindShadowedRoutes, ALiteralPrefixShadowsLongerLiteralStarts) {
  auto shadowed = findShadowedRoutes(Routes{{"^/api/", {}}, {"^/api/kv$", {"GET"}}, {"^/apix", {}}});
  ASSERT_EQ(shadowed.size(), 1u);
  EXPECT_EQ(shadowed[0].route, 1u);
  EXPECT_TRUE(findShadowedRoutes(Routes{{"^/api/.*", {}}, {"^/api/kv", {}}}).size() == 1u);
}

TEST(FindShadowedRoutes, TheSamePatternTwiceIsShadowed) {
  auto shadowed = findShadowedRoutes(Routes{{"^/x/(\\d+)$", {"GET", "PUT"}}, {"^/x/(\\d+)$", {"GET"}}});
  ASSERT_EQ(shadowed.size(), 1u);
  EXPECT_EQ(shadowed[0].route, 1u);
}

TEST(FindShadowedRoutes, NoWarningWhenTheLaterRouteCanStillMatch) {
  // Specific first, catch-all last: the normal order.
  EXPECT_TRUE(findShadowedRoutes(Routes{{"^/hello$", {}}, {"^/", {}}}).empty());
  // The earlier route does not take every method the later one does.
  EXPECT_TRUE(findShadowedRoutes(Routes{{"^/", {"GET"}}, {"^/api$", {"POST"}}}).empty());
  EXPECT_TRUE(findShadowedRoutes(Routes{{"^/", {"GET"}}, {"^/api$", {}}}).empty());
  // Not a plain prefix: "^/a$" does not cover "^/a/b".
  EXPECT_TRUE(findShadowedRoutes(Routes{{"^/a$", {}}, {"^/a/b", {}}}).empty());
  // Unanchored patterns and regex starts are not decided.
  EXPECT_TRUE(findShadowedRoutes(Routes{{"/a", {}}, {"^/a/b", {}}}).empty());
  EXPECT_TRUE(findShadowedRoutes(Routes{{"^/(a|b)", {}}, {"^/a", {}}}).empty());
  // A quantifier makes the last literal optional: "^/ab?" is "^/a" + more, not "^/ab".
  EXPECT_TRUE(findShadowedRoutes(Routes{{"^/ab?x", {}}, {"^/abx", {}}}).empty());
}

}  // namespace

// --- which patterns match which paths ---------------------------------------------------

TEST(RouterTest, LiteralAndRegexPatternsMatchTheirPaths) {
  struct Case {
    std::string pattern, path;
    bool matches;
  };
  const std::vector<Case> cases = {
      {"^/health$", "/health", true},
      {"^/health$", "/healthz", false},
      {"^/health$", "/Health", false},  // case-sensitive unless the pattern says (?i)
      {"(?i)^/health$", "/HEALTH", true},
      {"^/users/[0-9]+$", "/users/42", true},
      {"^/users/[0-9]+$", "/users/x42", false},
      {"^/users/[0-9]+$", "/users/", false},
      {"^/(css|js)/[^/]+\\.(css|js)$", "/js/app.js", true},
      {"^/(css|js)/[^/]+\\.(css|js)$", "/img/app.js", false},
      {"^/a\\.b$", "/a.b", true},
      {"^/a\\.b$", "/axb", false},  // an escaped dot is literal
      {"^/a.b$", "/axb", true},
      {"^/files/.*$", "/files/", true},
      {"^/files/.+$", "/files/", false},
      {"^/$", "/", true},
      {"^/$", "", false},
      {"^/[(?<]+$", "/(?<", true},  // a class holding "(?<" is not rewritten into a group...
      {"^/[(?<]+$", "/P", false},   // ...nor does it gain a 'P'
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.pattern + "' against '" + c.path + "'");
    Router router(Routes{{c.pattern, {}}});
    EXPECT_EQ(outcome(router, "GET", c.path), c.matches ? "route 0" : "404");
  }
}

TEST(RouterTest, PatternsAreSearchedNotFullyMatchedSoOnlyAnchorsPinTheEnds) {
  struct Case {
    std::string pattern, path;
    bool matches;
  };
  const std::vector<Case> cases = {
      // A prefix anchor alone is a mount, not an exact path.
      {"^/a", "/a/b", true},
      {"^/a", "/a", true},
      {"^/a", "/b/a", false},
      // A suffix anchor alone matches any path ending there.
      {"b$", "/ab", true},
      {"b$", "/ab/", false},
      // No anchor: anywhere in the path.
      {"/api/", "/v2/api/users", true},
      {"api", "/rapid", true},
      // Both anchors: the whole path.
      {"^/a$", "/a/b", false},
      {"^/a$", "/ba", false},
      {"^/a$", "/a", true},
      {"\\A/a\\z", "/a", true},
      {"\\A/a\\z", "/a/", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.pattern + "' against '" + c.path + "'");
    Router router(Routes{{c.pattern, {}}});
    EXPECT_EQ(outcome(router, "GET", c.path), c.matches ? "route 0" : "404");
  }
}

// The router is handed the percent-decoded path, so patterns are written against decoded
// bytes: a space, a '?', UTF-8, even NUL and newline are literal characters here.
TEST(RouterTest, TheDecodedPathIsWhatPatternsMatch) {
  struct Case {
    std::string pattern, path;
    bool matches;
  };
  const std::vector<Case> cases = {
      {"^/a b$", "/a b", true},
      {"^/a%20b$", "/a b", false},  // a pattern never sees the encoded form
      {"^/a\\?b$", "/a?b", true},   // a decoded %3F is part of the path, not a query
      {"^/caf\xC3\xA9$", "/caf\xC3\xA9", true},
      {"^/caf.$", "/caf\xC3\xA9", true},              // '.' is one UTF-8 character, not one byte
      {"^/a\\x00b$", std::string("/a\0b", 4), true},  // a decoded %00 does not end the path
      {"^/a$", std::string("/a\0b", 4), false},
      {"^/admin$", "/admin\n", false},    // '$' is end of text, not end of line: %0A cannot sneak past
      {"^/admin$", "/x\n/admin", false},  // '^' is start of text, not start of line
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.pattern + "' against a " + std::to_string(c.path.size()) + "-byte path");
    Router router(Routes{{c.pattern, {}}});
    EXPECT_EQ(outcome(router, "GET", c.path), c.matches ? "route 0" : "404");
  }
}

TEST(RouterTest, NothingMatchingIsNotFound) {
  Router router(Routes{{"^/a$", {"GET"}}, {"^/b/", {}}});
  expectProbes(router, {
                           {"GET", "/c", "404"},
                           {"POST", "/c", "404"},  // 404, not 405: no route matched the path at all
                           {"GET", "/b", "404"},
                           {"GET", "", "404"},
                       });
}

TEST(RouterTest, AnEmptyRouteTableFindsNothing) {
  Router router(Routes{});
  EXPECT_EQ(router.size(), 0u);
  EXPECT_EQ(outcome(router, "GET", "/"), "404");
  EXPECT_EQ(outcome(router, "GET", ""), "404");
}

// --- first match in file order ----------------------------------------------------------

TEST(RouterTest, FirstMatchInFileOrderWinsOverLaterMatchingRoutes) {
  Router specificFirst(Routes{{"^/users/me$", {}}, {"^/users/(?P<id>[^/]+)$", {}}, {"^/", {}}});
  expectProbes(specificFirst, {
                                  {"GET", "/users/me", "route 0"},
                                  {"GET", "/users/42", "route 1"},
                                  {"GET", "/users/42/x", "route 2"},
                              });
  Router generalFirst(Routes{{"^/", {}}, {"^/users/(?P<id>[^/]+)$", {}}, {"^/users/me$", {}}});
  expectProbes(generalFirst, {
                                 {"GET", "/users/me", "route 0"},
                                 {"GET", "/users/42", "route 0"},
                             });
}

// RE2::Set reports the routes that matched in the order its DFA met their matches, not in
// file order: here route i is "^/a{200-i}", so on "/aaa..." the last route's match ends
// first and the set reports 199, 198, ..., 0. Without the router's own ordering the last
// route would win.
TEST(RouterTest, FirstMatchInFileOrderWinsEvenWhenTheSetReportsALaterRouteFirst) {
  constexpr int kRoutes = 200;
  auto shorterEachRoute = [&](int i) { return "^/a{" + std::to_string(kRoutes - i) + "}"; };
  auto as = [](int n) { return "/" + std::string(static_cast<std::size_t>(n), 'a'); };

  std::vector<RouteSpec> anyMethod;
  for (int i = 0; i < kRoutes; ++i) anyMethod.push_back({shorterEachRoute(i), {}});
  Router all(anyMethod);
  expectProbes(all, {
                        {"GET", as(kRoutes), "route 0"},  // every route matches
                        {"GET", as(kRoutes + 5), "route 0"},
                        {"GET", as(100), "route 100"},  // routes 100..199 match
                        {"GET", as(1), "route 199"},    // only the last matches
                        {"GET", "/", "404"},
                    });

  // Same table, but only a few routes allow GET: the first of them in file order wins.
  for (int firstGet : {1, 57, 100, kRoutes - 2}) {
    SCOPED_TRACE("first GET route " + std::to_string(firstGet));
    std::vector<RouteSpec> specs;
    for (int i = 0; i < kRoutes; ++i) {
      bool get = i == firstGet || i == firstGet + 1 || i == kRoutes - 1;
      specs.push_back({shorterEachRoute(i), {get ? "GET" : "POST"}});
    }
    Router router(specs);
    EXPECT_EQ(outcome(router, "GET", as(kRoutes)), "route " + std::to_string(firstGet));
    EXPECT_EQ(outcome(router, "HEAD", as(kRoutes)), "route " + std::to_string(firstGet));
    EXPECT_EQ(outcome(router, "POST", as(kRoutes)), "route 0");
  }
}

// --- methods ----------------------------------------------------------------------------

TEST(RouterTest, ARouteThatRefusesTheMethodFallsThroughToALaterRoute) {
  Router router(Routes{
      {"^/api/items$", {"POST"}},
      {"^/api/items$", {"GET"}},
      {"^/api/", {"DELETE", "PUT"}},
      {"^/api/", {}},
  });
  expectProbes(router, {
                           {"POST", "/api/items", "route 0"},
                           {"GET", "/api/items", "route 1"},
                           {"PUT", "/api/items", "route 2"},
                           {"DELETE", "/api/other", "route 2"},
                           {"PATCH", "/api/items", "route 3"},
                           {"GET", "/api/other", "route 3"},
                       });
}

TEST(RouterTest, EmptyMethodsAcceptsEveryMethodIncludingUnknownOnes) {
  Router router(Routes{{"^/any$", {}}});
  for (const char* method :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "BREW"}) {
    SCOPED_TRACE(method);
    EXPECT_EQ(outcome(router, method, "/any"), "route 0");
  }
}

TEST(RouterTest, HeadIsServedByARouteThatAllowsGet) {
  Router router(Routes{
      {"^/x$", {"POST"}},  // matches the path but allows neither GET nor HEAD: skipped
      {"^/x$", {"GET"}},
      {"^/head-only$", {"HEAD"}},
      {"^/get-elsewhere$", {"PUT", "GET"}},
  });
  expectProbes(router, {
                           {"HEAD", "/x", "route 1"},
                           {"GET", "/x", "route 1"},
                           {"HEAD", "/head-only", "route 2"},
                           // HEAD does not imply GET: a HEAD-only route refuses GET.
                           {"GET", "/head-only", "405 Allow: HEAD"},
                           {"HEAD", "/get-elsewhere", "route 3"},
                       });
}

TEST(RouterTest, MethodNamesAreCaseSensitive) {
  Router router(Routes{{"^/x$", {"GET"}}});
  EXPECT_EQ(outcome(router, "get", "/x"), "405 Allow: GET, HEAD");
  EXPECT_EQ(outcome(router, "head", "/x"), "405 Allow: GET, HEAD");
}

// --- 405 and Allow ----------------------------------------------------------------------

TEST(RouterTest, MethodNotAllowedListsTheUnionOfMethodsOfEveryRouteMatchingThePathInFixedOrder) {
  Router router(Routes{
      {"^/a", {"TRACE", "DELETE"}},
      {"^/a/b$", {"POST", "GET"}},
      {"^/c$", {"PATCH"}},  // never matches /a/...: its method must not leak into Allow
      {"b$", {"OPTIONS", "POST"}},
      {"^/a/b", {"PUT", "GET"}},  // a method listed twice across routes appears once
      {"^/h$", {"HEAD"}},
      {"^/h", {"OPTIONS"}},
      {"^/d$", {"DELETE"}},
      {"^/d$", {"PUT", "PROPFIND"}},  // a method outside the fixed list is not in Allow
  });
  expectProbes(router, {
                           {"PATCH", "/a/b", "405 Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE"},
                           {"PATCH", "/a", "405 Allow: DELETE, TRACE"},
                           {"GET", "/a/x", "405 Allow: DELETE, TRACE"},
                           {"GET", "/xb", "405 Allow: POST, OPTIONS"},
                           {"GET", "/h", "405 Allow: HEAD, OPTIONS"},
                           {"GET", "/d", "405 Allow: PUT, DELETE"},
                           {"GET", "/c", "405 Allow: PATCH"},
                           {"PATCH", "/c", "route 2"},
                       });
}

TEST(RouterTest, AllowIncludesHeadWheneverAnyMatchingRouteAllowsGet) {
  Router router(Routes{{"^/g$", {"GET"}}, {"^/g", {"POST"}}, {"^/p$", {"POST"}}});
  EXPECT_EQ(outcome(router, "DELETE", "/g"), "405 Allow: GET, HEAD, POST");
  EXPECT_EQ(outcome(router, "DELETE", "/p"), "405 Allow: POST");  // no GET, so no HEAD
}

// Allow depends on the set reporting every matching route, including ones whose match ends
// early ("^/"), ones that only match at the end ("b$") and ones in the middle ("a").
TEST(RouterTest, AllowSeesEveryRouteMatchingThePathHoweverItMatches) {
  Router router(Routes{
      {"^/a", {"GET"}},
      {"b$", {"POST"}},
      {"^/ab$", {"PUT"}},
      {"a", {"DELETE"}},
      {"^/", {"PATCH"}},
      {"^/a.*b$", {"OPTIONS"}},
      {"/ab", {"TRACE"}},
      {"^/zzz", {"CONNECT"}},
  });
  EXPECT_EQ(outcome(router, "BREW", "/ab"), "405 Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE");
  EXPECT_EQ(outcome(router, "BREW", "/b"), "405 Allow: POST, PATCH");
}

// The 405 path walks every hit, so it must not stop at the first one the set reported.
TEST(RouterTest, AllowUnionCoversManyRoutesWhateverOrderTheSetReportsThem) {
  const char* const methods[] = {"TRACE", "OPTIONS", "PATCH", "DELETE", "PUT", "POST", "HEAD"};
  std::vector<RouteSpec> specs;
  for (int i = 0; i < 70; ++i) specs.push_back({"^/a{" + std::to_string(70 - i) + "}", {methods[i % 7]}});
  Router router(specs);
  EXPECT_EQ(outcome(router, "GET", "/" + std::string(70, 'a')),
            "405 Allow: HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE");
  EXPECT_EQ(outcome(router, "GET", "/a"), "405 Allow: HEAD");         // route 69 alone
  EXPECT_EQ(outcome(router, "GET", "/aa"), "405 Allow: HEAD, POST");  // routes 68 and 69
}

// --- captures ---------------------------------------------------------------------------

TEST(RouterTest, NamedCapturesAreReportedByName) {
  using Captures = std::map<std::string, std::string>;
  struct Case {
    std::string pattern, path;
    Captures expected;
  };
  const std::vector<Case> cases = {
      {"^/users/(?P<id>[0-9]+)$", "/users/42", {{"id", "42"}}},
      {"^/users/(?<id>[0-9]+)$", "/users/42", {{"id", "42"}}},  // translated form
      {"^/(?P<year>\\d{4})/(?<month>\\d{2})/(?P<slug>[^/]+)$",
       "/2024/05/hello",
       {{"year", "2024"}, {"month", "05"}, {"slug", "hello"}}},
      {"^/(?<outer>a(?<inner>b+))c$", "/abbc", {{"outer", "abb"}, {"inner", "bb"}}},
      {"^/([a-z]+)/(?P<n>\\d+)$", "/x/7", {{"n", "7"}}},  // unnamed groups are not reported
      {"^/plain$", "/plain", {}},
      {"^/posts/(?P<slug>[a-z-]+)(?:/(?P<page>\\d+))?$", "/posts/a-b/3", {{"slug", "a-b"}, {"page", "3"}}},
      // An optional group that did not take part is still reported, and empty.
      {"^/posts/(?P<slug>[a-z-]+)(?:/(?P<page>\\d+))?$", "/posts/a-b", {{"slug", "a-b"}, {"page", ""}}},
      {"^/(?P<a>x)|^/(?P<b>y)", "/y", {{"a", ""}, {"b", "y"}}},
      {"^/f/(?P<rest>.*)$", "/f/", {{"rest", ""}}},  // took part, matched nothing
      {"(?P<last>[^/]+)$", "/a/b/c", {{"last", "c"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.pattern + "' against '" + c.path + "'");
    Router router(Routes{{c.pattern, {}}});
    Routed r = route(router, "GET", c.path);
    ASSERT_EQ(r.outcome, "route 0");
    EXPECT_EQ(r.captures, c.expected);
  }
}

// Handlers keep captures as string_views for the life of the request, so they must point
// into the request's own path buffer, never into a copy the router made.
TEST(RouterTest, CapturesAreViewsIntoThePathString) {
  Router router(Routes{{"^/u/(?P<id>[0-9]+)/(?<name>[a-z]+)(?:/(?P<opt>x))?$", {}}});
  const std::string path = "/u/123/bob";
  RouteScratch scratch;
  std::size_t index = kUnset, matchEnd = kUnset;
  ASSERT_EQ(router.match("GET", "", path, scratch, index, matchEnd), Router::Outcome::Matched);
  std::map<std::string, std::ptrdiff_t> offsets;
  for (const auto& c : scratch.captures) {
    SCOPED_TRACE(std::string(c.name));
    if (c.value.empty()) continue;
    EXPECT_GE(c.value.data(), path.data());
    EXPECT_LE(c.value.data() + c.value.size(), path.data() + path.size());
    offsets[std::string(c.name)] = c.value.data() - path.data();
  }
  EXPECT_EQ(offsets, (std::map<std::string, std::ptrdiff_t>{{"id", 3}, {"name", 7}}));
}

// --- matchEnd ---------------------------------------------------------------------------

// The static-file handler serves path.substr(matchEnd): matchEnd is where the winning
// route's leftmost match ended.
TEST(RouterTest, MatchEndIsWhereTheWinningMatchEndedSoAMountPrefixCanBeStripped) {
  struct Case {
    std::string pattern, path;
    std::string rest;  // path.substr(matchEnd)
  };
  const std::vector<Case> cases = {
      {"^/static/", "/static/css/site.css", "css/site.css"},
      {"^/static", "/static", ""},
      {"^/static", "/static/", "/"},
      {"^/files(/|$)", "/files", ""},
      {"^/files(/|$)", "/files/a", "a"},
      {"/docs/", "/v1/docs/x/docs/y", "x/docs/y"},  // leftmost match, not the last one
      {"^/a|^/abc", "/abcd", "bcd"},                // leftmost-first alternation, not longest
      {"^/x/?", "/x/y", "y"},                       // greedy optional slash
      {"^/", "/", ""},
      {".*", "/anything", ""},
      {"", "/anything", "/anything"},  // the empty pattern matches at 0 with length 0
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.pattern + "' against '" + c.path + "'");
    Router router(Routes{{c.pattern, {}}});
    Routed r = route(router, "GET", c.path);
    ASSERT_EQ(r.outcome, "route 0");
    ASSERT_LE(r.matchEnd, c.path.size());
    EXPECT_EQ(c.path.substr(r.matchEnd), c.rest);
  }
}

TEST(RouterTest, MatchEndBelongsToTheWinnerNotToAnEarlierRouteSkippedForItsMethod) {
  Router router(Routes{{"^/static/deep/", {"POST"}}, {"^/static/", {"GET"}}});
  Routed r = route(router, "GET", "/static/deep/x");
  ASSERT_EQ(r.outcome, "route 1");
  EXPECT_EQ(r.matchEnd, 8u);
}

// --- translateNamedGroups ---------------------------------------------------------------

TEST(RouterTest, TranslateNamedGroupsRewritesOnlyRealNamedGroups) {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"(?<id>\\d+)", "(?P<id>\\d+)"},
      {"^/(?<a>x)/(?<b>y)/(?<c>z)$", "^/(?P<a>x)/(?P<b>y)/(?P<c>z)$"},
      {"(?<outer>a(?<inner>b))", "(?P<outer>a(?P<inner>b))"},
      {"(?P<id>x)", "(?P<id>x)"},         // already RE2's form
      {"\\(?<id>x)", "\\(?<id>x)"},       // an escaped '(' opens no group
      {"\\\\(?<id>x)", "\\\\(?P<id>x)"},  // an escaped backslash, then a real group
      {"(?<=a)b", "(?<=a)b"},             // lookbehind: left for RE2 to refuse
      {"(?<!a)b", "(?<!a)b"},             // negative lookbehind: likewise
      {"(?<=a)(?<n>b)", "(?<=a)(?P<n>b)"},
      {"(?:x)(?i)y(?=z)", "(?:x)(?i)y(?=z)"},  // other group kinds untouched
      {"[(?<]", "[(?<]"},                      // inside a class, "(?<" is three literals
      {"[a](?<n>b)", "[a](?P<n>b)"},           // ...and the class ends at its ']'
      {"[]a(?<]", "[]a(?<]"},                  // a leading ']' does not close the class
      {"[^](?<]", "[^](?<]"},                  // nor does one after '^'
      {"[\\](?<]", "[\\](?<]"},                // nor does an escaped one
      {"[\\]](?<n>x)", "[\\]](?P<n>x)"},
      {"", ""},
      {"x\\", "x\\"},  // a trailing backslash is copied, not read past
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("'" + c.in + "'");
    EXPECT_EQ(translateNamedGroups(c.in), c.out);
  }
}

// --- invalid patterns -------------------------------------------------------------------

TEST(RouterTest, AnInvalidPatternThrowsInvalidArgumentNamingTheRouteIndex) {
  for (const std::string bad : {"(", "[a", "a**", "x{1001}", "(?<=a)b", "(?<!a)b", "a(?=b)", "\\", "(?<"}) {
    SCOPED_TRACE("'" + bad + "'");
    std::string error = constructionError({{"^/ok$", {}}, {"^/also-ok$", {"GET"}}, {bad, {}}, {"^/never$", {}}});
    EXPECT_NE(error.find("route 2:"), std::string::npos) << error;
    EXPECT_NE(error.find(bad), std::string::npos) << error;  // the pattern as written
  }
  EXPECT_EQ(constructionError({{"(", {}}}).rfind("route 0:", 0), 0u);
}

// --- big tables and scratch reuse -------------------------------------------------------

TEST(RouterTest, AThousandRouteTableFindsTheRightRoute) {
  std::vector<RouteSpec> specs;
  for (int i = 0; i < 1000; ++i) specs.push_back({"^/r" + std::to_string(i) + "$", {}});
  specs.push_back({"^/", {}});  // catch-all, last
  Router router(specs);
  ASSERT_EQ(router.size(), 1001u);
  expectProbes(router, {
                           {"GET", "/r0", "route 0"},
                           {"GET", "/r1", "route 1"},
                           {"GET", "/r500", "route 500"},
                           {"GET", "/r999", "route 999"},
                           {"GET", "/r1000", "route 1000"},
                           {"GET", "/r10/x", "route 1000"},  // '$' keeps /r10 from claiming it
                           {"GET", "/nothing", "route 1000"},
                           {"GET", "/", "route 1000"},
                       });
  RouteScratch scratch;
  for (int i = 0; i < 1000; i += 7) {
    SCOPED_TRACE(i);
    EXPECT_EQ(routeWith(router, "GET", "/r" + std::to_string(i), scratch).route, static_cast<std::size_t>(i));
  }
}

// One scratch serves every request on a reactor thread: a match must not inherit captures,
// or an Allow value, from the request before it.
TEST(RouterTest, ReusingOneScratchAcrossManyMatchesLeavesNoStaleCaptures) {
  Router router(Routes{
      {"^/users/(?P<id>\\d+)$", {"GET"}},
      {"^/posts/(?P<slug>[a-z-]+)(?:/(?P<page>\\d+))?$", {}},
      {"^/plain$", {}},
      {"^/admin$", {"POST"}},
      {"^/files/(?P<rest>.*)$", {}},
  });
  using Captures = std::map<std::string, std::string>;
  struct Expected {
    std::string method, path, outcome;
    Captures captures;
  };
  const std::vector<Expected> rotation = {
      {"GET", "/users/12345", "route 0", {{"id", "12345"}}},
      {"GET", "/plain", "route 2", {}},
      {"GET", "/posts/long-slug/99", "route 1", {{"slug", "long-slug"}, {"page", "99"}}},
      {"GET", "/posts/s", "route 1", {{"slug", "s"}, {"page", ""}}},
      {"GET", "/admin", "405 Allow: POST", {}},
      {"GET", "/files/a/b", "route 4", {{"rest", "a/b"}}},
      {"GET", "/missing", "404", {}},
      {"POST", "/users/1", "405 Allow: GET, HEAD", {}},
      {"GET", "/users/7", "route 0", {{"id", "7"}}},
      {"POST", "/admin", "route 3", {}},
  };
  RouteScratch scratch;
  for (int round = 0; round < 300; ++round) {
    for (std::size_t k = 0; k < rotation.size(); ++k) {
      // Vary the order so each case follows different predecessors.
      const Expected& e = rotation[(k * 3 + static_cast<std::size_t>(round)) % rotation.size()];
      std::string path = e.path;  // a fresh buffer, as each request has
      Routed r = routeWith(router, e.method, path, scratch);
      ASSERT_EQ(r.outcome, e.outcome) << "round " << round << ": " << e.method << " " << e.path;
      if (r.route != kUnset) {
        ASSERT_EQ(r.captures, e.captures) << "round " << round << ": " << e.path;
        for (const auto& c : scratch.captures) {
          if (c.value.empty()) continue;
          ASSERT_TRUE(c.value.data() >= path.data() && c.value.data() < path.data() + path.size())
              << "capture " << c.name << " points outside this request's path";
        }
      }
    }
  }
}

// --- hostile input ----------------------------------------------------------------------

// Patterns that take exponential time in a backtracking engine; RE2 is linear, so these
// must simply return the right answer (no timing assertion: a hang fails the test run).
TEST(RouterTest, PathologicalPatternsOnAHundredKilobytePathReturnCorrectly) {
  const std::string as(100 * 1024, 'a');

  Router nested(Routes{{"(?P<run>a+)+$", {}}});
  Routed r = route(nested, "GET", as);
  ASSERT_EQ(r.outcome, "route 0");
  EXPECT_EQ(r.matchEnd, as.size());
  EXPECT_EQ(r.captures.at("run").size(), as.size());  // the first (greedy) repetition took all
  EXPECT_EQ(outcome(nested, "GET", as + "b"), "404");

  Router alternation(Routes{{"(a|aa)*b", {}}});
  EXPECT_EQ(outcome(alternation, "GET", as), "404");
  Routed withB = route(alternation, "GET", as + "b");
  ASSERT_EQ(withB.outcome, "route 0");
  EXPECT_EQ(withB.matchEnd, as.size() + 1);

  Router both(Routes{{"(a|aa)*b", {}}, {"(a+)+$", {"GET"}}, {"^/", {}}});
  EXPECT_EQ(outcome(both, "GET", as), "route 1");
  EXPECT_EQ(outcome(both, "POST", as), "405 Allow: GET, HEAD");
  EXPECT_EQ(outcome(both, "GET", "/" + as), "route 1");
}

// Hosts: nginx's server_name forms, compared without case or port.
std::string onHost(const Router& router, std::string_view authority, std::string_view path = "/",
                   std::string_view method = "GET") {
  RouteScratch scratch;
  Routed r = routeWith(router, method, path, scratch, authority);
  std::string out = r.outcome;
  for (const auto& [name, value] : r.captures) out += " " + name + "=" + value;
  return out;
}

TEST(RouterTest, RoutesServeTheirHostsExactlyByWildcardOrPattern) {
  Router router(Routes{{"^/", {}, {"example.com", "www.example.com"}},
                       {"^/", {}, {"*.example.org"}},
                       {"^/", {}, {"static.*"}},
                       {"^/(?P<page>[a-z]+)$", {}, {"~^(?P<user>[a-z]+)\\.users\\.test$"}},
                       {"^/", {}, {}}});
  EXPECT_EQ(onHost(router, "example.com"), "route 0");
  EXPECT_EQ(onHost(router, "EXAMPLE.com:8443"), "route 0") << "no case, no port";
  EXPECT_EQ(onHost(router, "www.example.com."), "route 0") << "a trailing dot is the same name";
  EXPECT_EQ(onHost(router, "a.example.org"), "route 1");
  EXPECT_EQ(onHost(router, "a.b.example.org"), "route 1");
  EXPECT_EQ(onHost(router, "example.org"), "route 4") << "*.example.org needs a label before it";
  EXPECT_EQ(onHost(router, "static.anything.net"), "route 2");
  EXPECT_EQ(onHost(router, "ada.users.test", "/home"), "route 3 page=home user=ada");
  EXPECT_EQ(onHost(router, "ada.users.test", "/a/b"), "route 4");
  EXPECT_EQ(onHost(router, "other.test"), "route 4") << "a route without hosts serves every host";
  EXPECT_EQ(onHost(router, ""), "route 4");
  EXPECT_EQ(onHost(router, "[::1]:8080"), "route 4");
}

TEST(RouterTest, ARouteForAnotherHostMakesNo405) {
  Router router(Routes{{"^/admin$", {"GET"}, {"admin.example.com"}}, {"^/admin$", {"POST"}, {}}});
  EXPECT_EQ(onHost(router, "admin.example.com", "/admin"), "route 0");
  EXPECT_EQ(onHost(router, "www.example.com", "/admin"), "405 Allow: POST") << "GET exists, but not for this host";
  EXPECT_EQ(onHost(router, "www.example.com", "/admin", "POST"), "route 1");
  Router only(Routes{{"^/", {}, {"a.test"}}});
  EXPECT_EQ(onHost(only, "b.test"), "404");
}

TEST(RouterTest, HostSpecsAreChecked) {
  EXPECT_EQ(Router::checkHostSpec("example.com"), "");
  EXPECT_EQ(Router::checkHostSpec("*.example.com"), "");
  EXPECT_EQ(Router::checkHostSpec("example.*"), "");
  EXPECT_EQ(Router::checkHostSpec("~^a+$"), "");
  EXPECT_EQ(Router::checkHostSpec("[::1]"), "");
  EXPECT_NE(Router::checkHostSpec("~(a"), "");
  EXPECT_NE(Router::checkHostSpec("*"), "");
  EXPECT_NE(Router::checkHostSpec("a.*.com"), "");
  EXPECT_NE(Router::checkHostSpec("example.com:8080"), "");
  EXPECT_NE(Router::checkHostSpec(""), "");
}

TEST(RouterTest, ARouteForOneHostDoesNotShadowRoutesForOthers) {
  Routes routes{{"^/", {}, {"a.test"}}, {"^/x", {}, {"b.test"}}, {"^/y", {}, {"a.test"}}};
  std::vector<ShadowedRoute> shadowed = findShadowedRoutes(routes);
  ASSERT_EQ(shadowed.size(), 1u);
  EXPECT_EQ(shadowed[0].route, 2u);
  EXPECT_EQ(shadowed[0].shadowedBy, 0u);
}
