#include "PrometheusText.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

namespace e2e {

std::map<std::string, double> parsePrometheus(const std::string& text) {
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) ([-+0-9.eE]+|NaN|[+-]Inf)$)");
  static const std::regex meta(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::map<std::string, double> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::smatch m;
    if (line[0] == '#') {
      EXPECT_TRUE(std::regex_match(line, meta)) << "bad comment line: " << line;
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      ADD_FAILURE() << "not a Prometheus sample: " << line;
      continue;
    }
    samples[m[1]] = std::stod(m[3]);
  }
  return samples;
}

}  // namespace e2e
