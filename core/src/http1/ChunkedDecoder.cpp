// ChunkedDecoder: see ChunkedDecoder.h for the rules and why they are strict.
#include "http1/ChunkedDecoder.h"

#include <algorithm>
#include <string_view>

namespace microserver::core {

namespace {

constexpr int kMaxSizeDigits = 16;           // 64 bits of hex; more can only be an overflow
constexpr std::size_t kMaxChunkLineBytes = 4096;  // size + extensions of one chunk

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Extension bytes: anything visible, SP, HTAB and obs-text; never a control byte, so a
// CR or LF hidden in an extension cannot end the line early for one parser and not another.
bool isExtensionChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
// a name being a token and a value a token or a quoted-string. Anything else ("5 5",
// "5;", "5;a=b c") is refused: a front proxy might read such a line differently.
bool isValidExtension(std::string_view s) {
  std::size_t i = 0;
  auto skipBws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  auto token = [&] {
    std::size_t from = i;
    while (i < s.size() && isTokenChar(static_cast<unsigned char>(s[i]))) ++i;
    return i > from;
  };
  while (i < s.size()) {
    skipBws();
    if (i == s.size() || s[i] != ';') return false;
    ++i;
    skipBws();
    if (!token()) return false;
    std::size_t afterName = i;
    skipBws();
    if (i == s.size() || s[i] != '=') {
      i = afterName;
      continue;
    }
    ++i;
    skipBws();
    if (i < s.size() && s[i] == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i)
        if (s[i] == '\\' && ++i == s.size()) return false;
      if (i == s.size()) return false;
      ++i;
    } else if (!token()) {
      return false;
    }
  }
  return true;
}

}  // namespace

void ChunkedDecoder::reset(std::uint64_t maxBodyBytes, std::size_t maxTrailerBytes) {
  *this = ChunkedDecoder{};
  maxBody_ = maxBodyBytes;
  maxTrailer_ = maxTrailerBytes;
}

ChunkedDecoder::Status ChunkedDecoder::fail(int status, const char* reason) {
  error_ = {status, reason};
  return Status::Error;
}

ChunkedDecoder::Status ChunkedDecoder::endTrailerLine() {
  if (line_.empty()) {
    state_ = State::Done;
    return Status::Done;
  }
  // A trailer field is a header field: token ":" value. It is checked, then dropped:
  // nothing downstream may treat a trailer as a header (RFC 9110 6.5.1).
  std::size_t i = 0;
  while (i < line_.size() && isTokenChar(static_cast<unsigned char>(line_[i]))) ++i;
  if (i == 0 || i == line_.size() || line_[i] != ':') return fail(400, "malformed trailer field");
  for (std::size_t j = i + 1; j < line_.size(); ++j) {
    unsigned char c = static_cast<unsigned char>(line_[j]);
    if (c != '\t' && (c < 0x20 || c == 0x7f)) return fail(400, "invalid character in trailer field");
  }
  line_.clear();
  state_ = State::TrailerLine;
  return Status::NeedMore;
}

ChunkedDecoder::Status ChunkedDecoder::feed(const char* data, std::size_t len, std::size_t& consumed,
                                            std::string& body) {
  if (error_.status != 0) {  // errors are final: nothing after one may be decoded
    consumed = 0;
    return Status::Error;
  }
  std::size_t i = 0;
  auto done = [&](Status s) {
    consumed = i;
    return s;
  };
  while (i < len) {
    char c = data[i];
    switch (state_) {
      case State::Size: {
        int v = hexValue(c);
        if (v >= 0) {
          if (++sizeDigits_ > kMaxSizeDigits) return done(fail(400, "chunk size too long"));
          chunkSize_ = chunkSize_ * 16 + static_cast<std::uint64_t>(v);
          ++i;
          break;
        }
        if (sizeDigits_ == 0) return done(fail(400, "invalid chunk size"));
        if (chunkSize_ > maxBody_ - total_) return done(fail(413, "request body too large"));
        if (c == '\r') {
          state_ = State::SizeLF;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::Extension;
          line_.assign(1, c);
        } else {
          return done(fail(400, "invalid chunk size"));
        }
        lineBytes_ = static_cast<std::size_t>(sizeDigits_) + 1;
        ++i;
        break;
      }
      case State::Extension:
        if (c == '\r') {
          if (!isValidExtension(line_)) return done(fail(400, "invalid chunk extension"));
          line_.clear();
          state_ = State::SizeLF;
        } else if (!isExtensionChar(static_cast<unsigned char>(c))) {
          return done(fail(400, "invalid chunk extension"));
        } else if (++lineBytes_ > kMaxChunkLineBytes) {
          return done(fail(400, "chunk extension too long"));
        } else {
          line_.push_back(c);
        }
        ++i;
        break;
      case State::SizeLF:
        if (c != '\n') return done(fail(400, "chunk size line must end in CRLF"));
        ++i;
        if (chunkSize_ == 0) {
          state_ = State::TrailerLine;
        } else {
          remaining_ = chunkSize_;
          state_ = State::Data;
        }
        break;
      case State::Data: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, len - i));
        body.append(data + i, n);
        i += n;
        remaining_ -= n;
        total_ += n;
        if (remaining_ == 0) state_ = State::DataCR;
        break;
      }
      case State::DataCR:
        if (c != '\r') return done(fail(400, "chunk data must be followed by CRLF"));
        state_ = State::DataLF;
        ++i;
        break;
      case State::DataLF:
        if (c != '\n') return done(fail(400, "chunk data must be followed by CRLF"));
        state_ = State::Size;
        chunkSize_ = 0;
        sizeDigits_ = 0;
        ++i;
        break;
      case State::TrailerLine:
        ++i;
        // The empty line that ends the body is not a trailer field: it does not count.
        if (!(c == '\r' && line_.empty()) && ++trailerBytes_ > maxTrailer_)
          return done(fail(431, "trailer fields too large"));
        if (c == '\r') {
          state_ = State::TrailerLF;
        } else if (c == '\n') {
          return done(fail(400, "trailer line must end in CRLF"));
        } else {
          line_.push_back(c);
        }
        break;
      case State::TrailerLF: {
        if (c != '\n') return done(fail(400, "trailer line must end in CRLF"));
        ++i;
        Status s = endTrailerLine();
        if (s != Status::NeedMore) return done(s);
        break;
      }
      case State::Done:
        return done(Status::Done);
    }
  }
  return done(state_ == State::Done ? Status::Done : Status::NeedMore);
}

}  // namespace microserver::core
