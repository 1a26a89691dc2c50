// JsonString: appends text to a JSON document as a string literal that is always valid
// JSON, whatever bytes the text holds (request bodies, headers and paths are arbitrary).
//
//   - '"' and '\' are escaped; every control character U+0000..U+001F as \u00XX
//     (lowercase hex), so a NUL or a newline in the input cannot end or break the string.
//   - Well-formed UTF-8 is copied as it is.
//   - Bytes that are not well-formed UTF-8 (stray continuation bytes, overlong forms,
//     surrogates, code points above U+10FFFF, truncated sequences) become U+FFFD, one per
//     "maximal subpart" as Unicode 15 section 3.9 and the WHATWG decoder do.
//     Not \u00XX of the byte: that would decode as the Latin-1 character U+00XX, so the
//     invalid byte 0xE9 and a real "é" would look the same to the client. U+FFFD says
//     plainly that something was not text.
//
// Kept in step with plugins/echo/JsonString.h: the SDK has no JSON helper (yet).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kv {

inline void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
  out.push_back('"');
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Plain printable ASCII in one append: the common case, and the 1 MiB body case.
    std::size_t run = i;
    while (run < n) {
      unsigned char c = static_cast<unsigned char>(text[run]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
      ++run;
    }
    out.append(text.data() + i, run - i);
    i = run;
    if (i == n) break;

    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else {
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
      }
      ++i;
      continue;
    }

    // A multi-byte sequence: how many continuation bytes, and the range allowed for the
    // first of them (Unicode Table 3-7 rules out overlongs, surrogates and > U+10FFFF).
    std::size_t need = 0;  // lead bytes 0x80..0xC1 and 0xF5..0xFF start nothing
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    if (c >= 0xE0 && c <= 0xEF) need = 2;
    if (c >= 0xF0 && c <= 0xF4) need = 3;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;  // below: overlong
    if (c == 0xED) hi = 0x9F;  // above: UTF-16 surrogates
    if (c == 0xF0) lo = 0x90;  // below: overlong
    if (c == 0xF4) hi = 0x8F;  // above: beyond U+10FFFF
    std::size_t j = i + 1, got = 0;
    while (got < need && j < n) {
      unsigned char d = static_cast<unsigned char>(text[j]);
      if (d < (got == 0 ? lo : 0x80) || d > (got == 0 ? hi : 0xBF)) break;
      ++j;
      ++got;
    }
    if (need != 0 && got == need)
      out.append(text.data() + i, j - i);
    else
      out.append(kReplacement);  // the maximal subpart [i, j); go on at the byte that broke it
    i = j;
  }
  out.push_back('"');
}

}  // namespace kv
