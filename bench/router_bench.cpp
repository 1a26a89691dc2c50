// Router matching cost against the size of the route table: 10, 100 and 1,000 routes, the
// request matching the LAST route (the worst case for anything that tries routes one by
// one), plus a path that matches nothing (404). Run:
//
//   build/release/bench/router_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// A benchmark, not a test: it never runs in the test suite.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "site/Router.h"

namespace {

using microserver::core::RouteScratch;
using microserver::core::Router;
using microserver::core::RouteSpec;

// Routes shaped like a real API: /api/v1/<resource>/<id> with a named capture.
std::vector<RouteSpec> table(int n) {
  std::vector<RouteSpec> routes;
  for (int i = 0; i < n; ++i)
    routes.push_back({"^/api/v1/resource" + std::to_string(i) + "/(?P<id>[0-9]+)$", {"GET", "PUT"}});
  return routes;
}

void BM_MatchLastRoute(benchmark::State& state) {
  int n = static_cast<int>(state.range(0));
  Router router(table(n));
  RouteScratch scratch;
  std::string path = "/api/v1/resource" + std::to_string(n - 1) + "/12345";
  std::size_t index = 0, end = 0;
  for (auto _ : state) {
    auto outcome = router.match("GET", "", path, scratch, index, end);
    benchmark::DoNotOptimize(outcome);
  }
  if (index != static_cast<std::size_t>(n - 1)) state.SkipWithError("matched the wrong route");
}
BENCHMARK(BM_MatchLastRoute)->Arg(10)->Arg(100)->Arg(1000);

void BM_MatchNothing(benchmark::State& state) {
  Router router(table(static_cast<int>(state.range(0))));
  RouteScratch scratch;
  std::size_t index = 0, end = 0;
  for (auto _ : state) {
    auto outcome = router.match("GET", "", "/static/css/site.css", scratch, index, end);
    benchmark::DoNotOptimize(outcome);
  }
}
BENCHMARK(BM_MatchNothing)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
