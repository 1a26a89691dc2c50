// Fuzzes the chunked request-body decoder (core/src/ChunkedDecoder.cpp): the body bytes
// arrive whole and in the pieces the fuzzer chooses (see FuzzInput.h); the limits come from
// the flavour nibble.
//
// Invariants (any violation traps):
//  - whole and split give the same status, the same decoded body, the same number of
//    bytes consumed, and on Error the same status and reason;
//  - NeedMore consumes every byte it was given (the connection keeps none);
//  - consumed <= the bytes given; the decoded body never exceeds the body limit;
//  - Done and Error are final: feeding more consumes nothing and says the same again.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "http1/ChunkedDecoder.h"
#include "FuzzInput.h"

using microserver::core::ChunkedDecoder;
using Status = ChunkedDecoder::Status;

namespace {

struct Limits {
  std::uint64_t body;
  std::size_t trailer;
};

Limits limitsFor(unsigned flavour) {
  static const Limits kLimits[16] = {
      {1 << 20, 16384}, {1 << 20, 16384}, {1 << 20, 16384}, {1 << 20, 16384},  // the server's defaults
      {0, 0},           {1, 1},           {16, 8},          {64, 64},
      {1000, 16},       {4096, 0},        {65536, 256},     {std::numeric_limits<std::uint64_t>::max(), 16384},
      {15, 1},          {255, 4096},      {256, 2},         {std::numeric_limits<std::uint64_t>::max(), 0}};
  return kLimits[flavour & 15];
}

struct Result {
  Status status = Status::NeedMore;
  std::size_t consumed = 0;
  std::string body;
  int errorStatus = 0;
  std::string errorReason;
};

// Feeds [data, data + len) cut at `cuts`; each piece in its own exact-size buffer.
Result decode(const char* data, const std::vector<std::size_t>& cuts, const Limits& limits) {
  ChunkedDecoder decoder;
  decoder.reset(limits.body, limits.trailer);
  Result r;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    const fuzz::ExactCopy piece(data + from, cut - from);
    std::size_t used = 0;
    const std::size_t before = r.body.size();
    r.status = decoder.feed(piece.data(), piece.size(), used, r.body);
    FUZZ_CHECK(used <= piece.size());
    FUZZ_CHECK(r.body.size() - before <= used);  // payload comes out of the bytes consumed
    FUZZ_CHECK(r.body.size() <= limits.body);
    r.consumed += used;
    if (r.status == Status::NeedMore) {
      FUZZ_CHECK(used == piece.size());
      from = cut;
      continue;
    }
    // Final: another feed takes nothing and repeats the verdict.
    std::size_t again = 1;
    std::string more;
    FUZZ_CHECK(decoder.feed(piece.data(), piece.size(), again, more) == r.status && again == 0 && more.empty());
    if (r.status == Status::Error) {
      r.errorStatus = decoder.error().status;
      r.errorReason = decoder.error().reason;
      FUZZ_CHECK(r.errorStatus == 400 || r.errorStatus == 413 || r.errorStatus == 431);
      FUZZ_CHECK(!r.errorReason.empty());
    }
    break;
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::SplitInput in(data, size);
  const Limits limits = limitsFor(in.flavour);
  std::vector<std::size_t> whole;
  if (in.size > 0) whole.push_back(in.size);

  const Result a = decode(in.payload, whole, limits);
  const Result b = decode(in.payload, in.cuts(), limits);
  FUZZ_CHECK(a.status == b.status);
  FUZZ_CHECK(a.consumed == b.consumed);
  FUZZ_CHECK(a.body == b.body);
  FUZZ_CHECK(a.errorStatus == b.errorStatus && a.errorReason == b.errorReason);
  if (a.status == Status::Done) {
    // A complete body ends with "0" [extensions] CRLF [trailers] CRLF.
    FUZZ_CHECK(a.consumed >= 5 && std::memcmp(in.payload + a.consumed - 2, "\r\n", 2) == 0);
  }
  return 0;
}
