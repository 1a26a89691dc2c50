// Text: handling arbitrary bytes as text, safely. Request bodies, headers, paths and chat
// lines are whatever a client sent; these helpers compare them as HTTP asks, decode them,
// and make them valid UTF-8 and valid JSON. Pure functions: the server uses them too.
//
// Bytes that are not well-formed UTF-8 (stray continuation bytes, overlong forms,
// surrogates, code points above U+10FFFF, truncated sequences) become U+FFFD, one per
// "maximal subpart", as Unicode 15 section 3.9 and the WHATWG decoder do. Not \u00XX of
// the byte in JSON: that would read as the Latin-1 character U+00XX, so an invalid 0xE9
// and a real "é" would look the same. U+FFFD says plainly that something was not text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace microserver {

// Case-insensitive ASCII comparison, as header names require (RFC 9110 5.1).
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Optional whitespace (spaces and tabs) trimmed from both ends (RFC 9110 5.6.3).
inline std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Decodes %XX escapes (and '+' as space when plusAsSpace) into out. Returns false on a
// malformed escape; out then holds the bytes decoded so far.
inline bool percentDecode(std::string_view in, std::string& out, bool plusAsSpace = false) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;  // needs two hex digits after '%'
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plusAsSpace) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// What a UTF-8 lead byte promises (Unicode 15 Table 3-7): how many continuation bytes
// follow (0: not a lead byte at all, or ASCII) and the range allowed for the first of
// them, which is what rules out overlong forms (E0, F0), UTF-16 surrogates (ED) and code
// points above U+10FFFF (F4). C0, C1 and F5..FF lead nothing.
struct Utf8Lead {
  unsigned char need = 0, lo = 0x80, hi = 0xBF;
};
constexpr Utf8Lead utf8Lead(unsigned char c) {
  Utf8Lead lead;
  if (c >= 0xC2 && c <= 0xDF) lead.need = 1;
  if (c >= 0xE0 && c <= 0xEF) lead.need = 2;
  if (c >= 0xF0 && c <= 0xF4) lead.need = 3;
  if (c == 0xE0) lead.lo = 0xA0;  // below: overlong
  if (c == 0xED) lead.hi = 0x9F;  // above: UTF-16 surrogates
  if (c == 0xF0) lead.lo = 0x90;  // below: overlong
  if (c == 0xF4) lead.hi = 0x8F;  // above: beyond U+10FFFF
  return lead;
}

// Checks UTF-8 fed in pieces (a code point may be split between feed() calls), as a
// WebSocket text message arriving in fragments needs.
class Utf8Validator {
 public:
  // False at the first byte that cannot belong to valid UTF-8.
  bool feed(const unsigned char* p, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
      if (need_ == 0) {
        // ASCII runs, the common case, 8 bytes at a time.
        while (i + 8 <= n) {
          unsigned long long word = 0;
          for (int b = 0; b < 8; ++b) word |= static_cast<unsigned long long>(p[i + b]) << (8 * b);
          if ((word & 0x8080808080808080ULL) != 0) break;
          i += 8;
        }
        if (i == n) break;
        const unsigned char c = p[i++];
        if (c < 0x80) continue;
        Utf8Lead lead = utf8Lead(c);
        if (lead.need == 0) return false;  // a continuation byte with no lead, C0/C1, F5..FF
        need_ = lead.need;
        lo_ = lead.lo;
        hi_ = lead.hi;
      } else {
        const unsigned char c = p[i++];
        if (c < lo_ || c > hi_) return false;
        --need_;
        lo_ = 0x80;
        hi_ = 0xBF;
      }
    }
    return true;
  }
  // True if no code point is left unfinished.
  bool complete() const { return need_ == 0; }
  void reset() { *this = Utf8Validator{}; }

 private:
  unsigned char need_ = 0;   // continuation bytes still expected
  unsigned char lo_ = 0x80;  // range allowed for the next continuation byte
  unsigned char hi_ = 0xBF;
};

namespace detail {
// Walks `text`, calling valid(run) for each run of well-formed UTF-8 and invalid() for each
// maximal ill-formed subpart. `stop(c)` marks ASCII bytes the caller wants to see alone
// (they end a run and come as a one-byte run).
template <typename Stop, typename Valid, typename Invalid>
void scanUtf8(std::string_view text, Stop stop, Valid valid, Invalid invalid) {
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    std::size_t run = i;  // plain ASCII in one piece: the common case
    while (run < n) {
      unsigned char c = static_cast<unsigned char>(text[run]);
      if (c >= 0x80 || stop(c)) break;
      ++run;
    }
    if (run > i) valid(text.substr(i, run - i));
    i = run;
    if (i == n) break;
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      valid(text.substr(i, 1));
      ++i;
      continue;
    }
    // A multi-byte sequence (lead bytes 0x80..0xC1 and 0xF5..0xFF start nothing).
    const Utf8Lead lead = utf8Lead(c);
    const std::size_t need = lead.need;
    const unsigned char lo = lead.lo, hi = lead.hi;
    std::size_t j = i + 1, got = 0;
    while (got < need && j < n) {
      unsigned char d = static_cast<unsigned char>(text[j]);
      if (d < (got == 0 ? lo : 0x80) || d > (got == 0 ? hi : 0xBF)) break;
      ++j;
      ++got;
    }
    if (need != 0 && got == need) valid(text.substr(i, j - i));
    else invalid();  // the maximal subpart [i, j); go on at the byte that broke it
    i = j;
  }
}
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD
}  // namespace detail

// Appends `text` with every ill-formed UTF-8 subpart replaced by U+FFFD.
inline void appendValidUtf8(std::string& out, std::string_view text) {
  detail::scanUtf8(
      text, [](unsigned char) { return false; }, [&](std::string_view run) { out.append(run.data(), run.size()); },
      [&] { out.append(detail::kReplacementCharacter); });
}

// Appends `text` as a JSON string literal (with the quotes) that is valid whatever bytes
// it holds: '"' and '\' escaped, control characters as \u00xx, ill-formed UTF-8 as U+FFFD.
inline void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  detail::scanUtf8(
      text, [](unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; },
      [&](std::string_view run) {
        unsigned char c = static_cast<unsigned char>(run[0]);
        if (run.size() == 1 && (c == '"' || c == '\\')) {
          out.push_back('\\');
          out.push_back(static_cast<char>(c));
        } else if (run.size() == 1 && c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.append(run.data(), run.size());
        }
      },
      [&] { out.append(detail::kReplacementCharacter); });
  out.push_back('"');
}

}  // namespace microserver
