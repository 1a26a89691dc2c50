// Fuzzes the PROXY protocol header parser (core/src/net/ProxyProtocol.cpp) the way
// ProxyHeaderReader drives it: the bytes arrive in the pieces the fuzzer chooses (see
// FuzzInput.h) and are parsed again after each piece until the verdict is not NeedMore.
//
// Invariants (any violation traps):
//  - split and whole give the same verdict, length and source address (a header followed
//    by the protocol's own bytes is the same header however they arrive);
//  - Done: 0 < length <= bytes seen, length <= kMaxProxyHeaderBytes (v1: <= 107), and
//    parsing exactly the first `length` bytes gives the same result (nothing after the
//    header is claimed); every shorter prefix of it needs more;
//  - Invalid always says why; NeedMore never happens with kMaxProxyHeaderBytes in hand;
//  - a source address is "a.b.c.d:port" or "[v6]:port".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzInput.h"
#include "net/ProxyProtocol.h"

namespace {

using microserver::core::kMaxProxyHeaderBytes;
using microserver::core::kMaxProxyV1Bytes;
using microserver::core::parseProxyHeader;
using microserver::core::ProxyHeader;

ProxyHeader parseExact(const char* data, std::size_t size) {
  const fuzz::ExactCopy copy(data, size);
  return parseProxyHeader(copy.view());
}

void checkResult(const ProxyHeader& r, std::size_t seen) {
  if (r.status == ProxyHeader::Status::Invalid) FUZZ_CHECK(!r.why.empty());
  if (r.status == ProxyHeader::Status::NeedMore) FUZZ_CHECK(seen < kMaxProxyHeaderBytes);
  if (r.status != ProxyHeader::Status::Done) return;
  FUZZ_CHECK(r.length > 0 && r.length <= seen && r.length <= kMaxProxyHeaderBytes);
  FUZZ_CHECK(r.version == 1 || r.version == 2);
  if (r.version == 1) FUZZ_CHECK(r.length <= kMaxProxyV1Bytes);
  if (r.source.empty()) return;
  const std::size_t colon = r.source.rfind(':');
  FUZZ_CHECK(colon != std::string::npos && colon + 1 < r.source.size());
  if (r.source[0] == '[')
    FUZZ_CHECK(colon > 0 && r.source[colon - 1] == ']');
  else
    FUZZ_CHECK(r.source.find(':') == colon);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::SplitInput in(data, size);
  // As the reader: never more than the largest header.
  const std::size_t usable = in.size < kMaxProxyHeaderBytes ? in.size : kMaxProxyHeaderBytes;
  const ProxyHeader whole = parseExact(in.payload, usable);
  checkResult(whole, usable);

  ProxyHeader split;
  std::size_t seen = 0;
  for (std::size_t cut : in.cuts()) {
    seen = cut < usable ? cut : usable;
    split = parseExact(in.payload, seen);
    checkResult(split, seen);
    if (split.status != ProxyHeader::Status::NeedMore || seen == usable) break;
  }
  if (usable == 0) return 0;
  FUZZ_CHECK(split.status == whole.status);
  FUZZ_CHECK(split.length == whole.length && split.source == whole.source && split.version == whole.version);

  if (whole.status == ProxyHeader::Status::Done) {
    const ProxyHeader exact = parseExact(in.payload, whole.length);
    FUZZ_CHECK(exact.status == ProxyHeader::Status::Done && exact.length == whole.length &&
               exact.source == whole.source);
    FUZZ_CHECK(parseExact(in.payload, whole.length - 1).status == ProxyHeader::Status::NeedMore);
  }
  return 0;
}
