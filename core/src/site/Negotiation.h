// Negotiation: the request headers that decide which representation, which part of it,
// and whether any of it is sent (RFC 9110 12 and 13, 14): Accept-Encoding, Range, and the
// validators (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range).
//
// Pure functions over header values, with no I/O: every one of them reads text a client
// wrote, so each is fuzzed (tests/fuzz/NegotiationFuzzer.cpp) and unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>
#include <vector>

namespace microserver::core {

// ---- Accept-Encoding (RFC 9110 12.5.3)

enum class Coding : std::uint8_t { Identity, Gzip, Brotli };

// Which of the codings we have the client accepts best: `available` lists what could be
// sent (identity is always possible unless the client refuses it); ties go to the order
// of `available` (put the smallest first). No header: identity. Identity refused
// ("identity;q=0" or "*;q=0" without identity) and nothing else acceptable: `refused`.
Coding chooseCoding(std::string_view acceptEncoding, const std::vector<Coding>& available, bool& refused);
std::string_view codingName(Coding coding);  // "gzip", "br", "identity"

// ---- Range (RFC 9110 14)

struct ByteRange {
  std::uint64_t start = 0, length = 0;
};

enum class RangeVerdict { Ignore, Unsatisfiable, Satisfiable };

// Parses "bytes=a-b, c-, -n" for a representation of `size` bytes into `ranges` (in the
// order asked). Ignore: not a byte range, malformed, or more than `maxRanges` ranges or
// ranges that overlap (a request that could multiply the response, RFC 9110 14.2 lets us
// answer the whole representation). Unsatisfiable: none of them starts inside.
// Satisfiable: at least one does (the others are dropped).
RangeVerdict parseRanges(std::string_view header, std::uint64_t size, std::size_t maxRanges,
                         std::vector<ByteRange>& ranges);

// ---- Validators (RFC 9110 8.8, 13)

// An entity tag list (If-Match, If-None-Match) against `etag` (a quoted tag, possibly
// W/-prefixed). Weak comparison ignores "W/"; strong comparison needs both tags strong
// and equal. "*" matches any current representation.
bool etagListMatches(std::string_view list, std::string_view etag, bool strong);

enum class Precondition { Proceed, NotModified, Failed };

// RFC 9110 13.2.2's order: If-Match, else If-Unmodified-Since (412 when false); then for
// GET/HEAD If-None-Match, else If-Modified-Since (304 when false); for other methods a
// matching If-None-Match is 412. Header values are passed as found (empty = absent;
// `has*` tell an empty value from an absent header).
struct Validators {
  bool hasIfMatch = false, hasIfNoneMatch = false;
  std::string_view ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince;
};
Precondition evaluatePreconditions(const Validators& validators, bool getOrHead, std::string_view etag,
                                   std::time_t lastModified);

// If-Range (RFC 9110 13.1.5): true when the Range applies: no If-Range, a strong entity
// tag equal to `etag`, or exactly the Last-Modified date.
bool ifRangeAllows(std::string_view ifRange, bool hasIfRange, std::string_view etag, std::time_t lastModified);

}  // namespace microserver::core
