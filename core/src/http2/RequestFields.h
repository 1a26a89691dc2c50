// RequestFields: the header block of one HTTP/2 request, field by field as nghttp2 hands
// it over (HPACK decoded; pseudo-headers, names and values already checked against RFC 9113
// 8.2 and 8.3 by nghttp2), assembled into what the site reads, within the server's limits.
//
// Kept apart from the session so that its input, which a client controls completely, can
// be fuzzed behind a real nghttp2 session (tests/fuzz/Http2RequestFuzzer.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http1/HttpParser.h"
#include "site/Request.h"

namespace microserver::core {

struct RequestFields {
  std::string method, target, authority, scheme;
  std::string host;    // a `host` field (HTTP/2 prefers :authority; either may be missing)
  std::string cookie;  // every `cookie` field, joined with "; " (RFC 9113 8.2.3)
  std::vector<std::pair<std::string, std::string>> fields;  // the others, names lowercase
  std::vector<Header> headers;  // views into `fields` and `cookie`: made by finish()
  std::size_t bytes = 0;        // RFC 9113's measure: name + value + 32 per field
  bool tooLarge = false;        // over header_bytes, header_count or uri_bytes: answer 431

  // One field. Once over a limit, it and every later field are dropped (tooLarge).
  void add(std::string_view name, std::string_view value, const ParserLimits& limits);
  // The block is complete: makes `headers`, and takes the authority from `host` when the
  // request has no :authority. Call once; nothing may be added afterwards.
  void finish();
  // The Content-Length it announced (nghttp2 has checked it is digits that match the body),
  // or nullopt.
  std::optional<std::uint64_t> contentLength() const;
};

}  // namespace microserver::core
