// HttpParser: see HttpParser.h for the rules and why each was chosen.
#include "http1/HttpParser.h"

#include <cstdint>
#include <cstring>

namespace microserver::core {

namespace {

// RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. A 256-entry table keeps the hot loop a load.
struct TokenTable {
  bool table[256] = {};
  TokenTable() {
    for (int c = '0'; c <= '9'; ++c) table[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  }
};
const TokenTable kToken;

// Field values may hold HTAB, SP, VCHAR and obs-text; every other control byte is refused
// (NUL and bare CR in particular, which downstream code could treat as terminators).
inline bool isFieldValueChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// request-target bytes: visible ASCII only; anything else is malformed.
inline bool isTargetChar(unsigned char c) { return c > 0x20 && c < 0x7f; }

inline bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Characters that can never appear in a Host value (RFC 3986 reg-name / IP-literal):
// they would let a client confuse code that builds URLs from it.
inline bool isHostChar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::strchr("-._~!$&'()*+,;=:[]%", c) != nullptr && c != 0;
}

constexpr std::size_t kMaxLeadingEmptyLines = 8;
constexpr std::size_t kMaxMethodBytes = 64;
// Room after the target on an unfinished request line: " HTTP/1.1\r".
constexpr std::size_t kVersionSlack = 10;

// Skips empty lines before the request line; returns the offset of its first byte.
std::size_t skipLeadingEmptyLines(const char* data, std::size_t len) {
  std::size_t pos = 0;
  for (std::size_t lines = 0; lines < kMaxLeadingEmptyLines; ++lines) {
    if (pos < len && data[pos] == '\n') {
      pos += 1;
    } else if (pos + 1 < len && data[pos] == '\r' && data[pos + 1] == '\n') {
      pos += 2;
    } else {
      break;
    }
  }
  return pos;
}

// Splits off one line ending at `nl` (the LF): strips an optional CR before it.
// Returns false if the line holds a CR anywhere else (a bare CR).
bool lineWithoutEnding(const char* begin, const char* nl, std::string_view& line) {
  const char* end = nl;
  if (end > begin && end[-1] == '\r') --end;
  line = std::string_view(begin, static_cast<std::size_t>(end - begin));
  return std::memchr(line.data(), '\r', line.size()) == nullptr;
}

bool parseVersion(std::string_view v, int& minor, ParseError& error) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7])) {
    error = {400, "malformed HTTP version"};
    return false;
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
    error = {505, "HTTP version not supported"};
    return false;
  }
  minor = v[7] - '0';
  return true;
}

struct RequestLine {
  std::string_view method, target, path, query, authority;
  int versionMinor = 1;
};

// Absolute-form targets (RFC 9112 3.2.2) must be accepted by servers; their authority
// replaces the Host header.
bool splitAbsoluteForm(std::string_view target, RequestLine& out, ParseError& error) {
  std::size_t schemeEnd = target.find("://");
  std::string_view scheme = target.substr(0, schemeEnd);
  if (schemeEnd == std::string_view::npos ||
      !(equalsIgnoreCase(scheme, "http") || equalsIgnoreCase(scheme, "https"))) {
    error = {400, "malformed request-target"};
    return false;
  }
  std::string_view rest = target.substr(schemeEnd + 3);
  std::size_t authEnd = rest.find_first_of("/?");
  out.authority = rest.substr(0, authEnd);
  if (out.authority.empty() || out.authority.find('@') != std::string_view::npos) {
    error = {400, "malformed authority in request-target"};
    return false;
  }
  // The authority replaces Host, so it must pass the same character check as Host.
  for (char c : out.authority)
    if (!isHostChar(static_cast<unsigned char>(c))) {
      error = {400, "malformed authority in request-target"};
      return false;
    }
  std::string_view pathAndQuery = authEnd == std::string_view::npos ? std::string_view{} : rest.substr(authEnd);
  std::size_t q = pathAndQuery.find('?');
  out.path = pathAndQuery.substr(0, q);
  if (q != std::string_view::npos) out.query = pathAndQuery.substr(q + 1);
  if (out.path.empty()) out.path = "/";
  return true;
}

bool parseRequestLine(std::string_view line, const ParserLimits& limits, RequestLine& out, ParseError& error) {
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) {
    error = {400, "malformed request line"};
    return false;
  }
  out.method = line.substr(0, sp1);
  if (out.method.size() > kMaxMethodBytes) {
    error = {501, "method too long"};
    return false;
  }
  for (char c : out.method)
    if (!kToken.table[static_cast<unsigned char>(c)]) {
      error = {400, "invalid method"};
      return false;
    }
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    // No version: either HTTP/0.9 or a target so long we have not seen its end.
    error = {400, "malformed request line"};
    return false;
  }
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (out.target.size() > limits.uriBytes) {
    error = {414, "request-target too long"};
    return false;
  }
  if (out.target.empty()) {
    error = {400, "empty request-target"};
    return false;
  }
  for (char c : out.target)
    if (!isTargetChar(static_cast<unsigned char>(c)) || c == '#') {
      error = {400, "invalid character in request-target"};
      return false;
    }
  if (!parseVersion(line.substr(sp2 + 1), out.versionMinor, error)) return false;

  if (out.method == "CONNECT") {
    error = {501, "CONNECT is not supported (this is not a proxy)"};
    return false;
  }
  if (out.target[0] == '/') {
    std::size_t q = out.target.find('?');
    out.path = out.target.substr(0, q);
    if (q != std::string_view::npos) out.query = out.target.substr(q + 1);
    return true;
  }
  if (out.target == "*") {
    if (out.method != "OPTIONS") {
      error = {400, "asterisk-form is only allowed with OPTIONS"};
      return false;
    }
    out.path = out.target;
    return true;
  }
  return splitAbsoluteForm(out.target, out, error);
}

// The first line has not ended yet: refuse as soon as the bytes so far can only be refused,
// whatever follows. Each rule fires at a prefix length: a line starting with a space (no
// method: 400) at its first byte; a method over 64 bytes (501) at its 65th byte; more bytes
// after the method than a target within uriBytes and a version can take (414); a line longer
// than the whole head may be (414) at byte headerBytes + 1. The verdict is the rule that fired
// at the shortest prefix, so it is the same however the bytes were cut into reads, and
// checkRequestLine() applies it to a complete line first. Only bytes not seen before are
// searched.
bool checkUnfinishedRequestLine(const char* data, std::size_t len, std::size_t start, const ParserLimits& limits,
                                HeadScanState& state, ParseError& error) {
  std::size_t methodEnd = state.methodEnd;  // 0: no space yet (a space at `start` is never stored)
  if (methodEnd == 0) {
    std::size_t from = state.scanned > start ? state.scanned : start;
    const char* sp = static_cast<const char*>(std::memchr(data + from, ' ', len - from));
    if (sp) methodEnd = static_cast<std::size_t>(sp - data);
  }
  std::size_t firedAt = SIZE_MAX;
  auto rule = [&](std::size_t at, ParseError why) {
    if (at <= len && at < firedAt) firedAt = at, error = why;
  };
  const bool methodEnded = methodEnd != 0 || (len > start && data[start] == ' ');
  if (methodEnded && methodEnd == start) rule(start + 1, {400, "malformed request line"});
  if (!methodEnded || methodEnd - start > kMaxMethodBytes) rule(start + kMaxMethodBytes + 1, {501, "method too long"});
  if (methodEnded) rule(methodEnd + 1 + limits.uriBytes + kVersionSlack + 1, {414, "request-target too long"});
  rule(limits.headerBytes + 1, {414, "request-target too long"});
  if (firedAt != SIZE_MAX) return false;
  state.methodEnd = methodEnd;
  return true;
}

// Validates the first line as soon as it is complete, so garbage (a TLS handshake, a
// binary protocol) is refused after one line rather than after 16 KiB of waiting.
bool checkRequestLine(const char* data, std::size_t len, const ParserLimits& limits, ParseError& error) {
  std::size_t start = skipLeadingEmptyLines(data, len);
  const char* nl = static_cast<const char*>(std::memchr(data + start, '\n', len - start));
  if (!nl) return true;
  // What the reads before the line end would have refused, this refuses alike.
  HeadScanState fresh;
  if (!checkUnfinishedRequestLine(data, static_cast<std::size_t>(nl - data), start, limits, fresh, error)) return false;
  std::string_view line;
  if (!lineWithoutEnding(data + start, nl, line)) {
    error = {400, "bare CR in request line"};
    return false;
  }
  RequestLine rl;
  return parseRequestLine(line, limits, rl, error);
}

bool parseDigits(std::string_view text, std::uint64_t& value) {
  if (text.empty() || text.size() > 19) return false;
  value = 0;
  for (char c : text) {
    if (!isDigit(c)) return false;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}


// Calls f(token) for each element of a comma-separated list (RFC 9110 5.6.1), skipping
// empty elements. Returns false as soon as f does.
template <typename F>
bool forEachListElement(std::string_view value, F f) {
  while (true) {
    std::size_t comma = value.find(',');
    std::string_view item = trimOws(value.substr(0, comma));
    if (!item.empty() && !f(item)) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

bool applyContentLength(std::string_view value, const ParserLimits& limits, RequestHead& out, bool& seen,
                        ParseError& error) {
  if (seen) {
    error = {400, "more than one Content-Length"};
    return false;
  }
  seen = true;
  if (value.size() > 19 && value.find_first_not_of("0123456789") == std::string_view::npos) {
    error = {413, "request body too large"};
    return false;
  }
  if (!parseDigits(value, out.contentLength)) {
    error = {400, "invalid Content-Length"};
    return false;
  }
  if (out.contentLength > limits.bodyBytes) {
    error = {413, "request body too large"};
    return false;
  }
  out.framing = out.contentLength > 0 ? BodyFraming::ContentLength : BodyFraming::None;
  return true;
}

bool applyTransferEncoding(std::string_view value, RequestHead& out, bool& seen, ParseError& error) {
  if (seen) {
    error = {400, "more than one Transfer-Encoding"};
    return false;
  }
  seen = true;
  if (out.versionMinor == 0) {
    error = {400, "Transfer-Encoding in an HTTP/1.0 request"};
    return false;
  }
  int codings = 0;
  bool chunkedLast = false, unknown = false;
  forEachListElement(value, [&](std::string_view coding) {
    ++codings;
    chunkedLast = equalsIgnoreCase(coding, "chunked");
    unknown = unknown || !chunkedLast;
    return true;
  });
  if (codings == 1 && chunkedLast) {
    out.framing = BodyFraming::Chunked;
    return true;
  }
  if (unknown && chunkedLast) {
    error = {501, "transfer coding not implemented (only chunked)"};
  } else {
    error = {400, "invalid Transfer-Encoding (chunked must be the only and final coding)"};
  }
  return false;
}

bool applyHeaderSemantics(const ParserLimits& limits, RequestHead& out, bool absoluteForm, ParseError& error) {
  bool seenLength = false, seenEncoding = false, connectionClose = false, connectionKeepAlive = false;
  int hosts = 0;
  std::string_view host;
  for (const Header& h : out.headers) {
    std::string_view n = h.name;
    switch (n.size()) {
      case 4:
        if (equalsIgnoreCase(n, "host")) {
          ++hosts;
          host = h.value;
        }
        break;
      case 6:
        if (equalsIgnoreCase(n, "expect")) {
          if (!equalsIgnoreCase(h.value, "100-continue")) {
            error = {417, "unsupported expectation"};
            return false;
          }
          out.expectContinue = out.versionMinor == 1;
        }
        break;
      case 10:
        if (equalsIgnoreCase(n, "connection")) {
          forEachListElement(h.value, [&](std::string_view option) {
            if (equalsIgnoreCase(option, "close")) connectionClose = true;
            if (equalsIgnoreCase(option, "keep-alive")) connectionKeepAlive = true;
            return true;
          });
        }
        break;
      case 14:
        if (equalsIgnoreCase(n, "content-length") && !applyContentLength(h.value, limits, out, seenLength, error))
          return false;
        break;
      case 17:
        if (equalsIgnoreCase(n, "transfer-encoding") && !applyTransferEncoding(h.value, out, seenEncoding, error))
          return false;
        break;
      default:
        break;
    }
  }
  if (seenLength && seenEncoding) {
    error = {400, "both Content-Length and Transfer-Encoding"};
    return false;
  }
  if (hosts > 1 || (hosts == 0 && out.versionMinor == 1)) {
    error = {400, hosts > 1 ? "more than one Host header" : "missing Host header"};
    return false;
  }
  for (char c : host)
    if (!isHostChar(static_cast<unsigned char>(c))) {
      error = {400, "invalid Host header"};
      return false;
    }
  if (!absoluteForm) out.authority = host;
  out.keepAlive = !connectionClose && (out.versionMinor == 1 || connectionKeepAlive);
  return true;
}

bool parseHeaderLine(std::string_view line, Header& header, ParseError& error) {
  if (line[0] == ' ' || line[0] == '\t') {
    error = {400, "obsolete line folding in header"};
    return false;
  }
  std::size_t i = 0;
  while (i < line.size() && kToken.table[static_cast<unsigned char>(line[i])]) ++i;
  if (i == line.size() || line[i] != ':') {
    error = {400, i < line.size() && (line[i] == ' ' || line[i] == '\t') ? "whitespace before colon in header"
                                                                         : "malformed header line"};
    return false;
  }
  if (i == 0) {
    error = {400, "empty header name"};
    return false;
  }
  header.name = line.substr(0, i);
  std::string_view value = line.substr(i + 1);
  for (char c : value)
    if (!isFieldValueChar(static_cast<unsigned char>(c))) {
      error = {400, "invalid character in header value"};
      return false;
    }
  header.value = trimOws(value);
  return true;
}

}  // namespace

bool isTokenChar(unsigned char c) { return kToken.table[c]; }

void RequestHead::clear() {
  method = target = path = query = authority = {};
  versionMinor = 1;
  headers.clear();
  framing = BodyFraming::None;
  contentLength = 0;
  keepAlive = true;
  expectContinue = false;
  headBytes = 0;
}

HeadStatus findHeadEnd(const char* data, std::size_t len, const ParserLimits& limits, HeadScanState& state,
                       std::size_t& headBytes, ParseError& error) {
  std::size_t start = skipLeadingEmptyLines(data, len);
  std::size_t pos = state.scanned > start ? state.scanned : start;
  while (pos < len) {
    const char* nl = static_cast<const char*>(std::memchr(data + pos, '\n', len - pos));
    if (!nl) break;
    std::size_t at = static_cast<std::size_t>(nl - data);
    if (!state.requestLineChecked) {
      state.requestLineChecked = true;
      if (!checkRequestLine(data, len, limits, error)) return HeadStatus::Error;
    }
    // An empty line ends the head: "\n\n" or "\n\r\n" (the request line is never empty).
    bool emptyLine = (at >= start + 1 && data[at - 1] == '\n') ||
                     (at >= start + 2 && data[at - 1] == '\r' && data[at - 2] == '\n');
    if (emptyLine) {
      headBytes = at + 1;
      if (headBytes > limits.headerBytes) {
        error = {431, "request header fields too large"};
        return HeadStatus::Error;
      }
      return HeadStatus::Complete;
    }
    pos = at + 1;
  }
  if (!state.requestLineChecked && !checkUnfinishedRequestLine(data, len, start, limits, state, error))
    return HeadStatus::Error;
  state.scanned = len;
  if (len > limits.headerBytes) {  // in the headers: the request line was checked above
    error = {431, "request header fields too large"};
    return HeadStatus::Error;
  }
  return HeadStatus::Incomplete;
}

bool parseHead(const char* data, std::size_t headBytes, const ParserLimits& limits, RequestHead& out,
               ParseError& error) {
  out.clear();
  out.headBytes = headBytes;
  std::size_t pos = skipLeadingEmptyLines(data, headBytes);
  const char* end = data + headBytes;

  const char* nl = static_cast<const char*>(std::memchr(data + pos, '\n', headBytes - pos));
  std::string_view line;
  if (!nl || !lineWithoutEnding(data + pos, nl, line)) {
    error = {400, "bare CR in request line"};
    return false;
  }
  RequestLine rl;
  if (!parseRequestLine(line, limits, rl, error)) return false;
  out.method = rl.method;
  out.target = rl.target;
  out.path = rl.path;
  out.query = rl.query;
  out.authority = rl.authority;
  out.versionMinor = rl.versionMinor;

  const char* cursor = nl + 1;
  while (cursor < end) {
    nl = static_cast<const char*>(std::memchr(cursor, '\n', static_cast<std::size_t>(end - cursor)));
    if (!nl || !lineWithoutEnding(cursor, nl, line)) {
      error = {400, "bare CR in header"};
      return false;
    }
    cursor = nl + 1;
    if (line.empty()) break;  // the end of the head
    if (out.headers.size() >= limits.headerCount) {
      error = {431, "too many header fields"};
      return false;
    }
    Header header;
    if (!parseHeaderLine(line, header, error)) return false;
    out.headers.push_back(header);
  }
  return applyHeaderSemantics(limits, out, !rl.authority.empty(), error);
}

HeadStatus parseRequest(const char* data, std::size_t len, const ParserLimits& limits, RequestHead& out,
                        ParseError& error) {
  HeadScanState state;
  std::size_t headBytes = 0;
  HeadStatus status = findHeadEnd(data, len, limits, state, headBytes, error);
  if (status != HeadStatus::Complete) return status;
  return parseHead(data, headBytes, limits, out, error) ? HeadStatus::Complete : HeadStatus::Error;
}

}  // namespace microserver::core
