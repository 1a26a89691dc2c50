// Regression tests for the bugs the fuzzers found (tests/fuzz/README.md, "Findings"): each
// failed on the code the fuzzers first ran against. The inputs themselves are in
// tests/fuzz/regressions/<Fuzzer>/, replayed by the fuzz tests on every run.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "base/Config.h"
#include "http1/HttpParser.h"

namespace microserver::core {
namespace {

// --- HttpParser -------------------------------------------------------------------------
// Found by HttpParserFuzzer (regressions/HttpParserFuzzer/): while the request line is
// unfinished, findHeadEnd() refuses early, and that verdict depended on how the bytes were cut
// into reads. A server must answer the same bytes the same way however TCP delivers them.

// Feeds `bytes` to findHeadEnd() in reads of `piece` bytes with one HeadScanState, as
// HttpConnection does, until it stops saying Incomplete.
HeadStatus scanInReads(std::string_view bytes, std::size_t piece, const ParserLimits& limits, ParseError& error) {
  HeadScanState state;
  std::size_t headBytes = 0;
  for (std::size_t end = std::min(piece, bytes.size());; end = std::min(end + piece, bytes.size())) {
    const std::string copy(bytes.substr(0, end));  // a fresh buffer per read, as the connection's may be
    const HeadStatus status = findHeadEnd(copy.data(), copy.size(), limits, state, headBytes, error);
    if (status != HeadStatus::Incomplete || end == bytes.size()) return status;
  }
}

struct SplitCase {
  const char* why;
  std::string bytes;
  ParserLimits limits;
  int status;
};

TEST(HttpParserTest, AnUnfinishedRequestLineGetsOneVerdictWhateverTheReads) {
  const ParserLimits defaults;
  const ParserLimits small{64, 16, 100, 1024};
  const SplitCase cases[] = {
      // One read: 400 "malformed request line" (no space); byte by byte: 501 at the 65th byte.
      {"a method over 64 bytes, no space at all", std::string(70, 'A') + "\r\n\r\n", defaults, 501},
      // One read finds the space and never checks the method's length: Incomplete, not 501.
      {"a method over 64 bytes, its space in the same read", std::string(70, 'A') + " /", defaults, 501},
      // HeadScanState::methodEnd == 0 means "no space yet": a space at offset 0 is searched for
      // again, from the start in one read (501) but from the last byte scanned over several
      // reads (Incomplete).
      {"a line starting with a space (no method)", " " + std::string(70, 'x') + " /", defaults, 400},
      // Early: 414 (more than uriBytes + 10 bytes after the method); the whole line: 400
      // (the target fits, the version is junk).
      {"a short target and a long junk version", "GET /abc HTTP/1.1" + std::string(20, 'x') + "\r\n\r\n", small, 414},
      // Early: 414 (the unfinished line passed headerBytes); the whole line: 400 (version).
      {"a request line longer than headerBytes", "GET / HTTP/1.1" + std::string(60, 'x') + "\r\n\r\n", small, 414},
  };
  for (const SplitCase& c : cases) {
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, c.bytes.size()}) {
      ParseError error;
      EXPECT_EQ(scanInReads(c.bytes, piece, c.limits, error), HeadStatus::Error) << c.why << ", reads of " << piece;
      EXPECT_EQ(error.status, c.status) << c.why << ", reads of " << piece << ": " << error.reason;
    }
  }
}

// --- Config -----------------------------------------------------------------------------
// Found by ConfigFuzzer (regressions/ConfigFuzzer/): yaml-cpp 0.7's YAML::LoadAll() loops
// forever on some invalid input, appending an empty document each turn until memory runs out
// (about 350 MB/s; jbeder/yaml-cpp#1040). `microserver --check`, a start and a SIGHUP reload
// with such a file never return. The load runs in a child that SIGALRM ends after 2 s, so a
// regression fails this test instead of taking the machine's memory. (The file the fuzzer found,
// regressions/ConfigFuzzer/yaml-cpp-loadall-loop-found.yaml, minimises to this comma.)

std::string errorOf(const std::string& yaml) {
  try {
    loadConfigText(yaml, "routes.yaml", "/srv/site");
  } catch (const ConfigLoadError& e) {
    return e.what();
  }
  return "(loaded without error)";
}

TEST(ConfigTest, ACommaAloneIsAnErrorNotAnEndlessLoop) {
  EXPECT_EXIT(
      {
        alarm(2);
        std::fputs(errorOf(",").c_str(), stderr);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "routes.yaml:1:1: invalid YAML: unexpected ','");
}

}  // namespace
}  // namespace microserver::core
