// Fuzzes the chat plugin's line framer (plugins/chat/LineFramer.cpp): the stream arrives whole
// and in the pieces the fuzzer chooses (see FuzzInput.h). The flavour nibble picks the line
// limit and whether the stream ends with finish() (a WebSocket message, an HTTP body) or
// just stops (a TCP connection still open).
//
// Invariants (any violation traps):
//  - whole and split give the same events: the same lines, in order, and the same
//    too-long notices between them; and the same feed()/finish() verdicts;
//  - a line is never empty, never longer than the limit and never holds "\n";
//  - a sink that says stop ("quit") is never called again for that input;
//  - the framer never buffers more than limit + 1 bytes, and is empty after finish().
// The framer does not promise valid UTF-8 (it frames bytes), so none is checked.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzInput.h"
#include "chat/LineFramer.h"

namespace {

std::size_t maxLineFor(unsigned flavour) {
  static const std::size_t kMax[8] = {4096, 0, 1, 2, 3, 8, 64, 255};
  return kMax[flavour & 7];
}

class RecordingSink : public chat::LineSink {
 public:
  explicit RecordingSink(std::size_t max) : max_(max) {}

  bool onLine(std::string_view line) override {
    FUZZ_CHECK(!stopped_);
    FUZZ_CHECK(!line.empty() && line.size() <= max_);
    FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    events.push_back("L" + std::string(line));
    if (line == "quit") stopped_ = true;
    return !stopped_;
  }
  void onTooLong() override {
    FUZZ_CHECK(!stopped_);
    events.push_back("T");
  }

  std::vector<std::string> events;

 private:
  std::size_t max_;
  bool stopped_ = false;
};

struct Result {
  std::vector<std::string> events;
  bool go = true;
};

Result frame(const char* data, const std::vector<std::size_t>& cuts, std::size_t max, bool finish) {
  chat::LineFramer framer(max);
  FUZZ_CHECK(framer.maxLineBytes() == max);
  RecordingSink sink(max);
  Result r;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    const fuzz::ExactCopy piece(data + from, cut - from);
    from = cut;
    r.go = framer.feed(piece.view(), sink);
    FUZZ_CHECK(framer.buffered() <= max + 1);
    if (!r.go) break;
  }
  if (r.go && finish) {
    r.go = framer.finish(sink);
    FUZZ_CHECK(framer.buffered() == 0);
  }
  r.events = std::move(sink.events);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::SplitInput in(data, size);
  const std::size_t max = maxLineFor(in.flavour);
  const bool finish = (in.flavour & 8) == 0;
  std::vector<std::size_t> whole;
  if (in.size > 0) whole.push_back(in.size);
  const Result a = frame(in.payload, whole, max, finish);
  const Result b = frame(in.payload, in.cuts(), max, finish);
  FUZZ_CHECK(a.go == b.go);
  FUZZ_CHECK(a.events == b.events);
  return 0;
}
