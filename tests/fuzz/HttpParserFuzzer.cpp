// Fuzzes the HTTP/1.1 request-head parser (core/src/HttpParser.cpp) the way a connection
// drives it: the bytes of a keep-alive connection arrive in pieces chosen by the fuzzer
// (see FuzzInput.h), findHeadEnd() is called on each longer prefix with one HeadScanState,
// and after each request the next pipelined one starts right after its body
// (Content-Length, or a chunked body decoded by ChunkedDecoder as HttpConnection does).
//
// Invariants (any violation traps, so libFuzzer saves the input):
//  - the incremental result equals a one-shot parseRequest() over the same bytes: the same
//    HeadStatus, the same headBytes, the same error status;
//  - 0 < headBytes <= the bytes given; an error always carries a 4xx/5xx status;
//  - every string_view of a parsed RequestHead lies inside the head it was parsed from
//    (the one exception, documented in HttpParser.cpp: an absolute-form target without a
//    path gets the static path "/");
//  - what parsed agrees with itself: tokens are tokens, header values hold no CR/LF/NUL,
//    Content-Length is within the limit, framing matches the headers;
//  - pipelined parsing always advances, so it terminates;
//  - the WebSocket opening-handshake check (WebSocketCodec.cpp) over every parsed head, as
//    HttpConnection calls it: 101 with a 28-byte Sec-WebSocket-Accept, or 400/426 with a reason;
//  - percent-decoding the path (as the connection does before routing) never reads past it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "http1/ChunkedDecoder.h"
#include "FuzzInput.h"
#include "http1/HttpParser.h"
#include "ws/WebSocketCodec.h"

using namespace microserver::core;

namespace {

ParserLimits limitsFor(unsigned flavour) {
  ParserLimits l;  // flavour 0..7: the defaults (16 KiB head, 8 KiB URI, 100 headers, 1 MiB body)
  switch (flavour) {
    case 8:
    case 9:
    case 10:
      l = {512, 128, 8, 64};
      break;
    case 11:
    case 12:
      l = {64, 32, 3, 0};
      break;
    case 13:
      l = {4096, 4096, 1000, std::numeric_limits<std::uint64_t>::max()};
      break;
    case 14:
      l = {24, 8, 1, 1};
      break;
    case 15:
      l = {1024, 16, 2, 10};
      break;
    default:
      break;
  }
  return l;
}

bool isErrorStatus(int status) {
  switch (status) {
    case 400:
    case 413:
    case 414:
    case 417:
    case 431:
    case 501:
    case 505:
      return true;
    default:
      return false;
  }
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!isTokenChar(static_cast<unsigned char>(c))) return false;
  return true;
}

// Everything parseHead() promises about a head it accepted, parsed from buf[0, headBytes).
void checkHead(const RequestHead& h, const char* buf, std::size_t headBytes, const ParserLimits& limits) {
  FUZZ_CHECK(h.headBytes == headBytes);
  for (std::string_view v : {h.method, h.target, h.query, h.authority}) FUZZ_CHECK(fuzz::inside(v, buf, headBytes));
  FUZZ_CHECK(fuzz::inside(h.path, buf, headBytes) || h.path == "/");
  FUZZ_CHECK(isToken(h.method) && h.method.size() <= 64 && h.method != "CONNECT");
  FUZZ_CHECK(!h.target.empty() && !h.path.empty());
  FUZZ_CHECK(h.versionMinor == 0 || h.versionMinor == 1);
  FUZZ_CHECK(h.headers.size() <= limits.headerCount);
  for (const microserver::core::Header& hd : h.headers) {
    FUZZ_CHECK(fuzz::inside(hd.name, buf, headBytes) && fuzz::inside(hd.value, buf, headBytes));
    FUZZ_CHECK(isToken(hd.name));
    for (char c : hd.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    if (!hd.value.empty()) FUZZ_CHECK(hd.value.front() != ' ' && hd.value.back() != ' ');
  }
  FUZZ_CHECK(h.contentLength <= limits.bodyBytes);
  switch (h.framing) {
    case BodyFraming::None:
      FUZZ_CHECK(h.contentLength == 0);
      break;
    case BodyFraming::ContentLength:
      FUZZ_CHECK(h.contentLength > 0);
      break;
    case BodyFraming::Chunked:
      FUZZ_CHECK(h.contentLength == 0 && h.versionMinor == 1);
      break;
  }
  if (h.expectContinue) FUZZ_CHECK(h.versionMinor == 1);
}

// Same fields, at the same offsets into their own buffers.
void checkSameHead(const RequestHead& a, const char* abuf, std::size_t alen, const RequestHead& b, const char* bbuf,
                   std::size_t blen) {
  auto same = [&](std::string_view x, std::string_view y) {
    FUZZ_CHECK(x == y);
    const bool xIn = fuzz::inside(x, abuf, alen);
    FUZZ_CHECK(xIn == fuzz::inside(y, bbuf, blen));
    if (xIn && !x.empty()) FUZZ_CHECK(x.data() - abuf == y.data() - bbuf);
  };
  same(a.method, b.method);
  same(a.target, b.target);
  same(a.path, b.path);
  same(a.query, b.query);
  same(a.authority, b.authority);
  FUZZ_CHECK(a.versionMinor == b.versionMinor && a.framing == b.framing && a.contentLength == b.contentLength &&
             a.keepAlive == b.keepAlive && a.expectContinue == b.expectContinue && a.headBytes == b.headBytes &&
             a.headers.size() == b.headers.size());
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    same(a.headers[i].name, b.headers[i].name);
    same(a.headers[i].value, b.headers[i].value);
  }
}

// What HttpConnection does with a head before routing it.
void checkDownstream(const RequestHead& h) {
  std::string decoded;
  if (microserver::percentDecode(h.path, decoded)) FUZZ_CHECK(decoded.size() <= h.path.size());

  auto header = [&](std::string_view name) -> std::string_view {  // as Request::header: the first
    for (const microserver::core::Header& hd : h.headers)
      if (microserver::equalsIgnoreCase(hd.name, name)) return hd.value;
    return {};
  };
  std::string acceptKey, reason;
  int status = 0;
  if (checkWebSocketHandshake(h.method, h.versionMinor, header, acceptKey, status, reason)) {
    FUZZ_CHECK(status == 101 && acceptKey.size() == 28 && acceptKey.back() == '=' && reason.empty());
    FUZZ_CHECK(h.method == "GET" && h.versionMinor == 1);
  } else {
    FUZZ_CHECK((status == 400 || status == 426) && !reason.empty());
  }
}

struct Outcome {
  HeadStatus status = HeadStatus::Incomplete;
  std::size_t headBytes = 0;
  int errorStatus = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::SplitInput in(data, size);
  const ParserLimits limits = limitsFor(in.flavour);
  const std::vector<std::size_t> cuts = in.cuts();
  const char* const payload = in.payload;
  const std::size_t len = in.size;

  RequestHead head, oneShotHead;
  std::string chunkedBody;
  std::size_t pos = 0;
  std::size_t requests = 0;
  while (pos < len) {
    FUZZ_CHECK(++requests <= len);  // every request takes at least one byte: the loop must end

    // 1. Incremental, as a connection: each read appends a piece; findHeadEnd() sees the
    //    whole unconsumed input every time, in a fresh exact-size buffer.
    Outcome inc;
    HeadScanState state;
    std::size_t end = pos;
    for (std::size_t cut : cuts) {
      if (cut <= pos) continue;
      end = cut;
      const fuzz::ExactCopy buf(payload + pos, end - pos);
      ParseError error;
      std::size_t headBytes = 0;
      inc.status = findHeadEnd(buf.data(), buf.size(), limits, state, headBytes, error);
      FUZZ_CHECK(state.scanned <= buf.size());
      if (inc.status == HeadStatus::Error) {
        FUZZ_CHECK(isErrorStatus(error.status) && error.reason && *error.reason);
        inc.errorStatus = error.status;
        break;
      }
      if (inc.status == HeadStatus::Complete) {
        FUZZ_CHECK(headBytes > 0 && headBytes <= buf.size() && headBytes <= limits.headerBytes);
        inc.headBytes = headBytes;
        if (parseHead(buf.data(), headBytes, limits, head, error)) {
          checkHead(head, buf.data(), headBytes, limits);
        } else {
          FUZZ_CHECK(isErrorStatus(error.status) && error.reason && *error.reason);
          inc.status = HeadStatus::Error;
          inc.errorStatus = error.status;
        }
        break;
      }
    }

    // 2. One-shot over all the bytes there are: the same verdict.
    const fuzz::ExactCopy all(payload + pos, len - pos);
    ParseError oneShotError;
    const HeadStatus oneShot = parseRequest(all.data(), all.size(), limits, oneShotHead, oneShotError);
    const bool same = oneShot == inc.status && (oneShot != HeadStatus::Error || oneShotError.status == inc.errorStatus);
    // The same bytes get the same verdict however they were cut into reads.
    FUZZ_CHECK(same);
    if (oneShot != HeadStatus::Complete) break;  // the connection waits for more, or answers and closes
    FUZZ_CHECK(oneShotHead.headBytes == inc.headBytes);
    checkHead(oneShotHead, all.data(), oneShotHead.headBytes, limits);
    checkDownstream(oneShotHead);
    {
      // Compare with the head parsed incrementally: same fields at the same offsets.
      const fuzz::ExactCopy again(payload + pos, end - pos);
      ParseError e;
      FUZZ_CHECK(parseHead(again.data(), inc.headBytes, limits, head, e));
      checkSameHead(head, again.data(), again.size(), oneShotHead, all.data(), all.size());
    }

    // 3. The body, then the next pipelined request.
    pos += oneShotHead.headBytes;
    if (oneShotHead.framing == BodyFraming::Chunked) {
      ChunkedDecoder decoder;
      decoder.reset(limits.bodyBytes, limits.headerBytes);
      chunkedBody.clear();
      std::size_t used = 0;
      const fuzz::ExactCopy rest(payload + pos, len - pos);
      ChunkedDecoder::Status s = decoder.feed(rest.data(), rest.size(), used, chunkedBody);
      FUZZ_CHECK(used <= rest.size() && chunkedBody.size() <= limits.bodyBytes);
      if (s != ChunkedDecoder::Status::Done) break;
      pos += used;
    } else {
      if (oneShotHead.contentLength > len - pos) break;
      pos += static_cast<std::size_t>(oneShotHead.contentLength);
    }
  }
  return 0;
}
