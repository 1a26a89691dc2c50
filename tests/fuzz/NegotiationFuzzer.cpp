// Fuzzes the parsers of the headers that choose what a static answer is
// (core/src/site/Negotiation.cpp): Accept-Encoding, Range, If-Match / If-None-Match,
// If-Modified-Since / If-Unmodified-Since (HttpDate) and If-Range.
//
// Input: the first byte picks the representation's size (flavour nibble) and which codings
// are available; the rest is split at '\n' into the header values, in the order above
// (Accept-Encoding, Range, If-Match, If-None-Match, If-Modified-Since,
// If-Unmodified-Since, If-Range); a missing line is an absent header.
//
// Invariants (any violation traps):
//  - chooseCoding returns identity or one of the available codings; refused only with
//    identity; no header is identity, never refused;
//  - parseRanges: Satisfiable gives 1..maxRanges ranges, each non-empty, inside the size,
//    none overlapping; the other verdicts give none; the same input gives the same answer;
//  - a strong entity-tag match implies a weak one;
//  - no validator header: Proceed; If-Range absent: the range applies.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>
#include <vector>

#include "FuzzInput.h"
#include "site/Negotiation.h"

using namespace microserver::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::uint64_t kSizes[16] = {0, 1, 2, 10, 100, 1023, 1024, 4096, 65535, 65536, 1u << 20,
                                           UINT32_MAX, UINT64_MAX / 2, UINT64_MAX - 1, UINT64_MAX, 7};
  const std::uint64_t length = kSizes[data[0] >> 4];
  std::vector<Coding> available;
  if (data[0] & 1) available.push_back(Coding::Brotli);
  if (data[0] & 2) available.push_back(Coding::Gzip);
  if ((data[0] & 4) && available.size() == 2) std::swap(available[0], available[1]);
  const std::size_t maxRanges = (data[0] & 8) ? 1 : 16;

  std::vector<std::string_view> fields;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!rest.empty() && fields.size() < 7) {
    std::size_t nl = rest.find('\n');
    fields.push_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  auto field = [&](std::size_t i) { return i < fields.size() ? fields[i] : std::string_view(); };
  auto has = [&](std::size_t i) { return i < fields.size(); };

  // Accept-Encoding
  bool refused = false;
  Coding chosen = chooseCoding(field(0), available, refused);
  bool offered = chosen == Coding::Identity;
  for (Coding c : available) offered = offered || c == chosen;
  FUZZ_CHECK(offered);
  FUZZ_CHECK(!refused || chosen == Coding::Identity);
  if (field(0).empty()) FUZZ_CHECK(chosen == Coding::Identity && !refused);
  (void)codingName(chosen);

  // Range
  std::vector<ByteRange> ranges, again;
  RangeVerdict verdict = parseRanges(field(1), length, maxRanges, ranges);
  FUZZ_CHECK(parseRanges(field(1), length, maxRanges, again) == verdict && again.size() == ranges.size());
  if (verdict == RangeVerdict::Satisfiable) {
    FUZZ_CHECK(!ranges.empty() && ranges.size() <= maxRanges);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const ByteRange& r = ranges[i];
      FUZZ_CHECK(r.length > 0 && r.start < length && r.length <= length - r.start);
      FUZZ_CHECK(again[i].start == r.start && again[i].length == r.length);
      for (std::size_t j = 0; j < i; ++j) {
        const ByteRange& o = ranges[j];
        FUZZ_CHECK(r.start + r.length <= o.start || o.start + o.length <= r.start);
      }
    }
  } else {
    FUZZ_CHECK(ranges.empty());
  }

  // Entity tags, against a tag of ours and against the client's own text.
  const std::string_view ours = "\"5f3a-1c\"";
  for (std::string_view tag : {ours, std::string_view("W/\"5f3a-1c\""), field(3)}) {
    for (std::size_t i : {2u, 3u}) {
      if (etagListMatches(field(i), tag, true)) FUZZ_CHECK(etagListMatches(field(i), tag, false));
    }
  }

  // Preconditions
  Validators v;
  v.hasIfMatch = has(2) && !field(2).empty();
  v.ifMatch = field(2);
  v.hasIfNoneMatch = has(3) && !field(3).empty();
  v.ifNoneMatch = field(3);
  v.ifModifiedSince = field(4);
  v.ifUnmodifiedSince = field(5);
  const std::time_t modified = 784111777;
  for (bool getOrHead : {true, false}) {
    Precondition p = evaluatePreconditions(v, getOrHead, ours, modified);
    FUZZ_CHECK(p == Precondition::Proceed || p == Precondition::NotModified || p == Precondition::Failed);
    if (!getOrHead) FUZZ_CHECK(p != Precondition::NotModified);
  }
  FUZZ_CHECK(evaluatePreconditions(Validators{}, true, ours, modified) == Precondition::Proceed);

  // If-Range
  FUZZ_CHECK(ifRangeAllows(field(6), false, ours, modified));
  (void)ifRangeAllows(field(6), has(6), ours, modified);
  return 0;
}
