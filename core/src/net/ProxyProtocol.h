// ProxyProtocol: the header a load balancer (HAProxy, AWS NLB, ...) sends first on a
// connection to say who the real client is: version 1 (one text line) and version 2
// (binary), as https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt describes.
//
// A pure function over the bytes received so far, so the reader on the reactor
// (ProxyHeaderReader) can hand it whatever has arrived, in any pieces: it says whether a
// header is complete (and how many bytes it takes: nothing beyond is consumed, the
// protocol after it, TLS or HTTP or a chat line, starts right there), needs more bytes,
// or cannot be one. It never needs more than kMaxHeaderBytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace microserver::core {

struct ProxyHeader {
  enum class Status { NeedMore, Done, Invalid };
  Status status = Status::NeedMore;
  // Done: the header's length in bytes (the protocol's own bytes start after it).
  std::size_t length = 0;
  // Done: the real client, "ip:port" ("[v6]:port"), or empty when the header says to keep
  // the connection's own address (v2 LOCAL, v1 UNKNOWN, v2 for a family other than IP).
  std::string source;
  // Invalid: why, for the debug log.
  std::string why;
  // Done: 1 or 2.
  int version = 0;
};

// The largest v1 header (the specification's limit, CRLF included).
constexpr std::size_t kMaxProxyV1Bytes = 107;
// v2: the 16 fixed bytes plus at most this many of addresses and TLVs. HAProxy's own TLVs
// (ALPN, authority, unique id, TLS details) fit many times over; more is refused.
constexpr std::size_t kMaxProxyV2Payload = 2048;
constexpr std::size_t kMaxProxyHeaderBytes = 16 + kMaxProxyV2Payload;

// Looks at the first bytes of a connection (everything received so far).
ProxyHeader parseProxyHeader(std::string_view bytes);

}  // namespace microserver::core
