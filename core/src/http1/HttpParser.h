// HttpParser: the strict, incremental, zero-copy HTTP/1.1 request-head parser (RFC 9112).
//
// A reactor receives bytes in arbitrary pieces, so parsing is split in two pure steps:
// findHeadEnd() remembers how far it has scanned, so a head trickled in one byte at a time
// costs O(n) in total, not O(n^2); parseHead() then parses a complete head once, into
// string_views that point into the caller's buffer (nothing is copied or allocated once
// the header vector has grown to its working size).
//
// Decisions (each has a test):
//  - Lines end in CRLF; a bare LF is accepted as a line end (RFC 9112 2.2 allows it, and
//    people typing requests into nc send it); a bare CR anywhere is refused (400).
//  - Empty lines before the request line are skipped (RFC 9112 2.2), at most a few.
//  - obs-fold (a header line starting with SP/HTAB) is refused (400), as is whitespace
//    between a field name and its colon (RFC 9112 5.1, 5.2).
//  - Content-Length must be digits only and appear once; duplicates, even equal ones, and
//    comma-joined lists are refused (400). Content-Length with Transfer-Encoding: 400.
//  - Transfer-Encoding must be exactly "chunked" (case-insensitive) in HTTP/1.1. If chunked
//    is not the final coding the length is unknowable: 400 (RFC 9112 6.3). Chunked after
//    another coding we do not implement ("gzip, chunked") is 501; chunked twice, or TE in
//    HTTP/1.0, is 400.
//  - Methods longer than 64 bytes are 501 (RFC 9112 3), checked while the line arrives.
//  - HTTP/1.1 without exactly one valid Host is 400. Versions other than 1.0/1.1 are 505.
//  - Expect: 100-continue is honoured; any other expectation is 417.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "site/Request.h"

namespace microserver::core {

struct ParserLimits {
  std::size_t headerBytes = 16 * 1024;  // whole head: request line + header lines
  std::size_t uriBytes = 8 * 1024;      // request-target
  std::size_t headerCount = 100;
  std::uint64_t bodyBytes = 1024 * 1024;
};

enum class BodyFraming { None, ContentLength, Chunked };

// A parsed request head. Views point into the buffer given to parseHead().
struct RequestHead {
  std::string_view method;
  std::string_view target;     // as sent
  std::string_view path;       // raw (still percent-encoded) path part of the target
  std::string_view query;      // after '?', without it
  std::string_view authority;  // Host header, or the authority of an absolute-form target
  int versionMinor = 1;
  std::vector<Header> headers;
  BodyFraming framing = BodyFraming::None;
  std::uint64_t contentLength = 0;
  bool keepAlive = true;
  bool expectContinue = false;
  std::size_t headBytes = 0;   // bytes of the head including the final empty line

  void clear();
};

// Why a request was refused: the status to answer with and a short reason for the log
// and the error body. Static strings only, so errors cost no allocation.
struct ParseError {
  int status = 0;
  const char* reason = "";
};

// Remembers progress of findHeadEnd() between reads of one connection.
struct HeadScanState {
  std::size_t scanned = 0;         // bytes already searched for the end of the head
  std::size_t methodEnd = 0;       // offset of the space after the method, once seen
  bool requestLineChecked = false; // the first line was validated early
  void reset() { *this = HeadScanState{}; }
};

enum class HeadStatus { Incomplete, Complete, Error };

// Looks for the end of the head in data[0, len). Returns Complete with `headBytes` set,
// Incomplete if more bytes are needed, or Error (431/414/400...) as soon as the bytes so
// far can never become a valid head (too long, or a malformed request line).
HeadStatus findHeadEnd(const char* data, std::size_t len, const ParserLimits& limits, HeadScanState& state,
                       std::size_t& headBytes, ParseError& error);

// Parses a complete head of exactly `headBytes` bytes (as found by findHeadEnd). Returns
// false with `error` set if it is invalid.
bool parseHead(const char* data, std::size_t headBytes, const ParserLimits& limits, RequestHead& out,
               ParseError& error);

// Convenience for tests and the fuzzer: both steps over a buffer at once.
HeadStatus parseRequest(const char* data, std::size_t len, const ParserLimits& limits, RequestHead& out,
                        ParseError& error);

// RFC 9110 token characters (method names, header names).
bool isTokenChar(unsigned char c);

}  // namespace microserver::core
