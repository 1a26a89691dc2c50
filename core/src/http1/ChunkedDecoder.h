// ChunkedDecoder: decodes a `Transfer-Encoding: chunked` request body (RFC 9112 7.1)
// incrementally, from bytes that arrive in arbitrary pieces.
//
// Strict on purpose, because lenient chunk parsing is a classic request-smuggling vector:
// chunk lines must end in CRLF (a bare LF is refused here, unlike in the head), the size
// is 1-16 hex digits (no sign, no 0x, no overflow), extensions are syntax-checked and
// ignored, the data must be followed by CRLF, and trailer fields are checked like header
// fields and then discarded. Every limit (body bytes, line bytes, trailer bytes) is
// enforced while decoding, so a hostile sender cannot make it buffer more than the limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "http1/HttpParser.h"

namespace microserver::core {

class ChunkedDecoder {
 public:
  enum class Status { NeedMore, Done, Error };

  void reset(std::uint64_t maxBodyBytes, std::size_t maxTrailerBytes);

  // Consumes as much of data[0, len) as it can, appending decoded payload to `body`.
  // `consumed` says how many input bytes were used; on Done, the bytes after them belong
  // to the next request (pipelining).
  Status feed(const char* data, std::size_t len, std::size_t& consumed, std::string& body);

  const ParseError& error() const { return error_; }

 private:
  enum class State { Size, Extension, SizeLF, Data, DataCR, DataLF, TrailerLine, TrailerLF, Done };
  Status fail(int status, const char* reason);
  Status endTrailerLine();

  State state_ = State::Size;
  std::uint64_t chunkSize_ = 0;
  std::uint64_t remaining_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t maxBody_ = 0;
  int sizeDigits_ = 0;
  std::size_t maxTrailer_ = 0;
  std::size_t lineBytes_ = 0;       // bytes of the current size/extension line
  std::size_t trailerBytes_ = 0;
  std::string line_;                // the current trailer line, checked when it ends
  ParseError error_;
};

}  // namespace microserver::core
