// Reads the Prometheus text format that GET /metrics answers, for the tests that check it.
#pragma once

#include <map>
#include <string>

namespace e2e {

// name{labels} -> value for every sample line of a Prometheus text answer. A malformed
// sample or comment line fails the calling test (ADD_FAILURE) and is skipped.
std::map<std::string, double> parsePrometheus(const std::string& text);

}  // namespace e2e
