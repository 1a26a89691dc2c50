// Tests for the HTTP/1.1 request-head parser (HttpParser.h): the valid forms, every request
// split at every byte boundary, pipelining, and every malformed kind with its exact status.
// These tests are the specification (RFC 9112/9110 plus the decisions in HttpParser.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "http1/HttpParser.h"
#include "microserver/Request.h"

namespace microserver::core {
// Readable gtest failure messages for the status enums.
void PrintTo(HeadStatus s, std::ostream* os) {
  *os << (s == HeadStatus::Complete ? "Complete" : s == HeadStatus::Incomplete ? "Incomplete" : "Error");
}
void PrintTo(BodyFraming f, std::ostream* os) {
  *os << (f == BodyFraming::None ? "None" : f == BodyFraming::ContentLength ? "ContentLength" : "Chunked");
}
}  // namespace microserver::core

namespace {

using microserver::core::Header;
using microserver::core::Request;
using microserver::core::BodyFraming;
using microserver::core::findHeadEnd;
using microserver::core::HeadScanState;
using microserver::core::HeadStatus;
using microserver::core::isTokenChar;
using microserver::core::ParseError;
using microserver::core::parseHead;
using microserver::core::ParserLimits;
using microserver::core::parseRequest;
using microserver::core::RequestHead;

// ---------------------------------------------------------------------------------------
// Helpers

// "<requestLine>\r\n<h1>\r\n<h2>\r\n\r\n<body>".
std::string request(std::string_view requestLine, std::initializer_list<std::string_view> headers = {},
                    std::string_view body = {}) {
  std::string out(requestLine);
  out += "\r\n";
  for (std::string_view h : headers) {
    out += h;
    out += "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

// "GET / HTTP/1.1" with "Host: a" followed by the given header lines.
std::string get11(std::initializer_list<std::string_view> extraHeaders = {}) {
  std::string out = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (std::string_view h : extraHeaders) {
    out += h;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

// A GET head of exactly `size` bytes, padded with one X-Pad header.
std::string headOfSize(std::size_t size) {
  const std::string bare = get11({"X-Pad: "});
  EXPECT_GE(size, bare.size());
  return get11({"X-Pad: " + std::string(size - bare.size(), 'p')});
}

// Small limits keep the inputs of limit tests small.
ParserLimits smallLimits() {
  ParserLimits limits;
  limits.headerBytes = 256;
  limits.uriBytes = 32;
  limits.headerCount = 8;
  limits.bodyBytes = 1000;
  return limits;
}

struct Parsed {
  HeadStatus status = HeadStatus::Incomplete;
  RequestHead head;
  ParseError error;
};

// One-shot parse. The result's views point into `buffer`, so it must outlive the result
// (the rvalue overload is deleted to catch dangling views at compile time).
Parsed parse(const std::string& buffer, const ParserLimits& limits = ParserLimits{}) {
  Parsed p;
  p.status = parseRequest(buffer.data(), buffer.size(), limits, p.head, p.error);
  return p;
}
Parsed parse(std::string&&, const ParserLimits& = ParserLimits{}) = delete;

// The status a request would be answered with: 0 if it parsed, -1 if it is incomplete.
int statusOf(const Parsed& p) {
  if (p.status == HeadStatus::Complete) return 0;
  if (p.status == HeadStatus::Incomplete) return -1;
  return p.error.status;
}

// Everything in a parsed head, with the offset of every view into `base`, so two parses of
// the same buffer compare equal only if they found the very same bytes.
std::string dump(const RequestHead& h, const char* base) {
  std::ostringstream os;
  auto view = [&](const char* name, std::string_view v) {
    os << name << "=[" << v << "]";
    if (v.data() >= base && !v.empty()) os << "@" << (v.data() - base);
    os << " ";
  };
  view("method", h.method);
  view("target", h.target);
  view("path", h.path);
  view("query", h.query);
  view("authority", h.authority);
  os << "minor=" << h.versionMinor << " framing=" << static_cast<int>(h.framing) << " length=" << h.contentLength
     << " keepAlive=" << h.keepAlive << " expect=" << h.expectContinue << " headBytes=" << h.headBytes << "\n";
  for (const Header& header : h.headers) {
    view("  name", header.name);
    view("value", header.value);
    os << "\n";
  }
  return os.str();
}

// A Request view over a parsed head, to look headers up the way handlers do.
Request asRequest(const RequestHead& h) {
  Request::Parts parts;
  parts.method = h.method;
  parts.target = h.target;
  parts.path = h.path;
  parts.query = h.query;
  parts.versionMinor = h.versionMinor;
  parts.headers = microserver::core::Span<Header>(h.headers.data(), h.headers.size());
  return Request(parts);
}

// What a reactor sees when bytes arrive `step` at a time: findHeadEnd over the growing
// prefix with one HeadScanState. Stops at the first result that is not Incomplete.
struct Trickled {
  HeadStatus status = HeadStatus::Incomplete;
  std::size_t prefix = 0;     // bytes received when that result came
  std::size_t headBytes = 0;  // set when Complete
  ParseError error;
};

Trickled trickle(const std::string& buffer, const ParserLimits& limits, std::size_t step = 1) {
  Trickled t;
  HeadScanState state;
  while (t.prefix < buffer.size()) {
    t.prefix = std::min(t.prefix + step, buffer.size());
    t.status = findHeadEnd(buffer.data(), t.prefix, limits, state, t.headBytes, t.error);
    if (t.status != HeadStatus::Incomplete) break;
  }
  return t;
}

// The status the server ends up with when the bytes arrive one at a time: findHeadEnd
// incrementally, then parseHead once the head is complete. 0 = parsed, -1 = incomplete.
int trickledStatus(const std::string& buffer, const ParserLimits& limits) {
  Trickled t = trickle(buffer, limits);
  if (t.status == HeadStatus::Error) return t.error.status;
  if (t.status == HeadStatus::Incomplete) return -1;
  RequestHead head;
  ParseError error;
  return parseHead(buffer.data(), t.headBytes, limits, head, error) ? 0 : error.status;
}

// ---------------------------------------------------------------------------------------
// Valid requests

TEST(HttpParserValid, OriginFormWithoutQuery) {
  const std::string in = request("GET /index.html HTTP/1.1", {"Host: example.com", "Accept: */*"});
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.target, "/index.html");
  EXPECT_EQ(p.head.path, "/index.html");
  EXPECT_EQ(p.head.query, "");
  EXPECT_EQ(p.head.authority, "example.com");
  EXPECT_EQ(p.head.versionMinor, 1);
  ASSERT_EQ(p.head.headers.size(), 2u);
  EXPECT_EQ(p.head.headers[0].name, "Host");
  EXPECT_EQ(p.head.headers[0].value, "example.com");
  EXPECT_EQ(p.head.headers[1].name, "Accept");
  EXPECT_EQ(p.head.headers[1].value, "*/*");
  EXPECT_EQ(p.head.framing, BodyFraming::None);
  EXPECT_EQ(p.head.contentLength, 0u);
  EXPECT_TRUE(p.head.keepAlive);
  EXPECT_FALSE(p.head.expectContinue);
  EXPECT_EQ(p.head.headBytes, in.size());
}

TEST(HttpParserValid, OriginFormSplitsPathAndQueryAtTheFirstQuestionMark) {
  struct Row {
    const char* target;
    const char* path;
    const char* query;
  };
  const Row rows[] = {
      {"/search?q=a%20b&x=1", "/search", "q=a%20b&x=1"},
      {"/a?b?c", "/a", "b?c"},
      {"/a?", "/a", ""},  // an empty query is still a query
      {"/", "/", ""},
      {"/a%2Fb/c", "/a%2Fb/c", ""},  // the path stays percent-encoded
      {"/?x", "/", "x"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.target);
    const std::string in = request(std::string("GET ") + row.target + " HTTP/1.1", {"Host: a"});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.target, row.target);
    EXPECT_EQ(p.head.path, row.path);
    EXPECT_EQ(p.head.query, row.query);
  }
}

TEST(HttpParserValid, Http10NeedsNoHostAndIsNotKeptAlive) {
  const std::string in = request("GET /old HTTP/1.0");
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  EXPECT_EQ(p.head.versionMinor, 0);
  EXPECT_EQ(p.head.path, "/old");
  EXPECT_EQ(p.head.authority, "");
  EXPECT_FALSE(p.head.keepAlive);
  EXPECT_EQ(p.head.headBytes, in.size());
}

TEST(HttpParserValid, ExtensionMethodsAreTokens) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "PURGE", "M-SEARCH", "X_Y.Z~!"}) {
    SCOPED_TRACE(method);
    const std::string in = request(std::string(method) + " / HTTP/1.1", {"Host: a"});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.method, method);
  }
}

TEST(HttpParserValid, KeepAliveFollowsVersionAndConnectionOptions) {
  struct Row {
    const char* version;
    std::initializer_list<std::string_view> headers;
    bool keepAlive;
  };
  const Row rows[] = {
      {"HTTP/1.1", {}, true},
      {"HTTP/1.0", {}, false},
      {"HTTP/1.0", {"Connection: keep-alive"}, true},
      {"HTTP/1.0", {"Connection: Keep-Alive"}, true},
      {"HTTP/1.1", {"Connection: close"}, false},
      {"HTTP/1.1", {"Connection: CLOSE"}, false},
      {"HTTP/1.1", {"Connection: foo, close"}, false},
      {"HTTP/1.1", {"Connection: close,foo"}, false},
      {"HTTP/1.1", {"Connection: foo", "Connection: close"}, false},  // options span lines
      {"HTTP/1.0", {"Connection: keep-alive, close"}, false},         // close wins
      {"HTTP/1.1", {"Connection: keep-alive"}, true},
      {"HTTP/1.1", {"Connection: upgrade"}, true},
      {"HTTP/1.1", {"Connection: closed"}, true},  // a different token, not "close"
      {"HTTP/1.0", {"Connection: keep-alives"}, false},
  };
  for (const Row& row : rows) {
    std::string trace = row.version;
    for (std::string_view h : row.headers) trace += " | " + std::string(h);
    SCOPED_TRACE(trace);
    std::vector<std::string_view> headers = {"Host: a"};
    headers.insert(headers.end(), row.headers.begin(), row.headers.end());
    std::string in = std::string("GET / ") + row.version + "\r\n";
    for (std::string_view h : headers) in += std::string(h) + "\r\n";
    in += "\r\n";
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.keepAlive, row.keepAlive);
  }
}

TEST(HttpParserValid, HeaderValuesHaveOwsTrimmedOnBothSides) {
  struct Row {
    const char* line;
    const char* value;
  };
  const Row rows[] = {
      {"X: a", "a"},
      {"X:a", "a"},
      {"X: \t a b \t ", "a b"},  // inner whitespace is kept
      {"X:\ta\t", "a"},
      {"X:", ""},
      {"X:    ", ""},
      {"X: \"quoted value\" ", "\"quoted value\""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.line);
    const std::string in = get11({row.line});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    ASSERT_EQ(p.head.headers.size(), 2u);
    EXPECT_EQ(p.head.headers[1].name, "X");
    EXPECT_EQ(p.head.headers[1].value, row.value);
  }
}

TEST(HttpParserValid, HeaderNameCaseIsPreservedAndLookupIsCaseInsensitive) {
  const std::string in = request("GET / HTTP/1.1", {"hOsT: example.com", "X-CuStOm-Thing: v", "content-TYPE: text/plain"});
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  ASSERT_EQ(p.head.headers.size(), 3u);
  EXPECT_EQ(p.head.headers[0].name, "hOsT");
  EXPECT_EQ(p.head.headers[1].name, "X-CuStOm-Thing");
  EXPECT_EQ(p.head.headers[2].name, "content-TYPE");
  EXPECT_EQ(p.head.authority, "example.com");  // "hOsT" counts as the Host header

  Request r = asRequest(p.head);
  EXPECT_EQ(r.header("x-custom-thing"), "v");
  EXPECT_EQ(r.header("X-CUSTOM-THING"), "v");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_TRUE(r.hasHeader("HOST"));
  EXPECT_FALSE(r.hasHeader("X-Custom"));
  EXPECT_EQ(r.header("missing"), "");
}

TEST(HttpParserValid, ObsTextBytesInAHeaderValueAreAccepted) {
  // RFC 9110 5.5: field-vchar includes obs-text (0x80-0xFF), e.g. raw UTF-8 or Latin-1.
  const std::string value = "caf\xC3\xA9 \x80\xFF end";
  const std::string in = get11({"X-Name: " + value});
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  ASSERT_EQ(p.head.headers.size(), 2u);
  EXPECT_EQ(p.head.headers[1].value, value);
}

TEST(HttpParserValid, AbsoluteFormAuthorityOverridesHost) {
  const std::string in = request("GET http://example.com/a?b HTTP/1.1", {"Host: other.example"});
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  EXPECT_EQ(p.head.target, "http://example.com/a?b");
  EXPECT_EQ(p.head.path, "/a");
  EXPECT_EQ(p.head.query, "b");
  EXPECT_EQ(p.head.authority, "example.com");
}

TEST(HttpParserValid, AbsoluteFormVariants) {
  struct Row {
    const char* target;
    const char* path;
    const char* query;
    const char* authority;
  };
  const Row rows[] = {
      {"http://example.com", "/", "", "example.com"},  // empty path means "/"
      {"http://example.com/", "/", "", "example.com"},
      {"http://example.com?x=1", "/", "x=1", "example.com"},
      {"HTTP://Example.com:8080/p/q", "/p/q", "", "Example.com:8080"},  // the scheme is case-insensitive
      {"https://example.com/s", "/s", "", "example.com"},
      {"http://[::1]:8080/v6", "/v6", "", "[::1]:8080"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.target);
    const std::string in = request(std::string("GET ") + row.target + " HTTP/1.1", {"Host: h"});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.target, row.target);
    EXPECT_EQ(p.head.path, row.path);
    EXPECT_EQ(p.head.query, row.query);
    EXPECT_EQ(p.head.authority, row.authority);
  }
}

TEST(HttpParserValid, AbsoluteFormInHttp10NeedsNoHost) {
  const std::string in = request("GET http://example.com/x HTTP/1.0");
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  EXPECT_EQ(p.head.authority, "example.com");
  EXPECT_EQ(p.head.path, "/x");
}

TEST(HttpParserValid, OptionsAsteriskForm) {
  const std::string in = request("OPTIONS * HTTP/1.1", {"Host: a"});
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  EXPECT_EQ(p.head.method, "OPTIONS");
  EXPECT_EQ(p.head.target, "*");
  EXPECT_EQ(p.head.path, "*");
  EXPECT_EQ(p.head.query, "");
}

TEST(HttpParserValid, HostValuesThatAreValid) {
  for (const char* host : {"example.com", "example.com:8080", "[::1]:80", "127.0.0.1", "xn--bcher-kva.example"}) {
    SCOPED_TRACE(host);
    const std::string in = request("GET / HTTP/1.1", {std::string("Host: ") + host});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.authority, host);
  }
}

TEST(HttpParserValid, ContentLengthFramesTheBody) {
  const std::string head = request("POST /upload HTTP/1.1", {"Host: a", "Content-Length: 5"});
  const std::string in = head + "hello";
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  EXPECT_EQ(p.head.method, "POST");
  EXPECT_EQ(p.head.framing, BodyFraming::ContentLength);
  EXPECT_EQ(p.head.contentLength, 5u);
  EXPECT_EQ(p.head.headBytes, head.size());  // the body is not part of the head
  EXPECT_EQ(std::string_view(in).substr(p.head.headBytes, p.head.contentLength), "hello");
}

TEST(HttpParserValid, ContentLengthValuesThatAreValid) {
  struct Row {
    const char* line;
    std::uint64_t length;
    BodyFraming framing;
  };
  const Row rows[] = {
      {"Content-Length: 0", 0, BodyFraming::None},  // nothing to read
      {"Content-Length:  5", 5, BodyFraming::ContentLength},  // OWS is trimmed before the digits are checked
      {"Content-Length: 5 \t", 5, BodyFraming::ContentLength},
      {"content-length: 7", 7, BodyFraming::ContentLength},
      {"Content-Length: 007", 7, BodyFraming::ContentLength},
      {"Content-Length: 1000", 1000, BodyFraming::ContentLength},  // exactly the body limit
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.line);
    const std::string in = request("POST / HTTP/1.1", {"Host: a", row.line});
    Parsed p = parse(in, smallLimits());
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.contentLength, row.length);
    EXPECT_EQ(p.head.framing, row.framing);
  }
}

TEST(HttpParserValid, ChunkedTransferEncodingFramesTheBody) {
  for (const char* te : {"chunked", "Chunked", "CHUNKED", " chunked "}) {
    SCOPED_TRACE(te);
    const std::string in = request("POST / HTTP/1.1", {"Host: a", std::string("Transfer-Encoding:") + te});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.framing, BodyFraming::Chunked);
    EXPECT_EQ(p.head.contentLength, 0u);
  }
}

TEST(HttpParserValid, Expect100ContinueIsHonouredOnlyInHttp11) {
  {
    const std::string in = request("POST / HTTP/1.1", {"Host: a", "Expect: 100-continue", "Content-Length: 3"});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_TRUE(p.head.expectContinue);
  }
  {
    const std::string in = request("POST / HTTP/1.1", {"Host: a", "Expect: 100-Continue"});  // case-insensitive
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_TRUE(p.head.expectContinue);
  }
  {
    // RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
    const std::string in = request("POST / HTTP/1.0", {"Expect: 100-continue", "Content-Length: 3"});
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_FALSE(p.head.expectContinue);
  }
  {
    const std::string in = get11();
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_FALSE(p.head.expectContinue);
  }
}

TEST(HttpParserValid, LeadingEmptyLinesAreSkipped) {
  for (const char* prefix : {"\r\n", "\n", "\r\n\r\n", "\n\r\n\n"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(prefix)));
    const std::string in = prefix + get11();
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.method, "GET");
    EXPECT_EQ(p.head.method.data(), in.data() + std::string_view(prefix).size());
    EXPECT_EQ(p.head.headBytes, in.size());  // the skipped lines count as consumed
  }
}

TEST(HttpParserValid, BareLfLineEndingsAreAcceptedEverywhereInTheHead) {
  const char* inputs[] = {
      "GET /x HTTP/1.1\nHost: a\nX: y\n\n",
      "GET /x HTTP/1.1\r\nHost: a\nX: y\r\n\n",
      "GET /x HTTP/1.1\nHost: a\r\nX: y\n\r\n",
      "\nGET /x HTTP/1.1\nHost: a\nX: y\n\n",
  };
  for (const char* raw : inputs) {
    const std::string in = raw;
    SCOPED_TRACE(::testing::PrintToString(in));
    Parsed p = parse(in);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.path, "/x");
    ASSERT_EQ(p.head.headers.size(), 2u);
    EXPECT_EQ(p.head.headers[0].value, "a");  // no CR left in any value
    EXPECT_EQ(p.head.headers[1].name, "X");
    EXPECT_EQ(p.head.headers[1].value, "y");
    EXPECT_EQ(p.head.headBytes, in.size());
  }
}

TEST(HttpParserValid, HeadBytesStopsAtTheEmptyLine) {
  const std::string first = request("POST /a HTTP/1.1", {"Host: a", "Content-Length: 4"});
  const std::string in = first + "body" + get11();
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  EXPECT_EQ(p.head.headBytes, first.size());
  EXPECT_EQ(in.substr(p.head.headBytes - 4, 4), "\r\n\r\n");
}

TEST(HttpParserValid, ViewsPointIntoTheCallersBuffer) {
  const std::string in = request("GET /p?q HTTP/1.1", {"Host: h", "X: v"});
  Parsed p = parse(in);
  ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
  const char* b = in.data();
  EXPECT_EQ(p.head.method.data(), b);
  EXPECT_EQ(p.head.target.data(), b + 4);
  EXPECT_EQ(p.head.path.data(), b + 4);
  EXPECT_EQ(p.head.query.data(), b + 7);
  EXPECT_EQ(p.head.headers[1].value.data(), b + in.find("X: v") + 3);
  EXPECT_EQ(p.head.authority.data(), p.head.headers[0].value.data());
}

TEST(HttpParserValid, AReusedRequestHeadKeepsNothingFromTheLastRequest) {
  const ParserLimits limits;
  RequestHead head;
  ParseError error;
  const std::string first = request("POST /first?x HTTP/1.1",
                                    {"Host: a", "Expect: 100-continue", "Connection: close", "Content-Length: 9"});
  ASSERT_EQ(parseRequest(first.data(), first.size(), limits, head, error), HeadStatus::Complete);
  const std::string second = request("GET /second HTTP/1.1", {"Host: b"});
  ASSERT_EQ(parseRequest(second.data(), second.size(), limits, head, error), HeadStatus::Complete);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.query, "");
  EXPECT_EQ(head.headers.size(), 1u);
  EXPECT_EQ(head.framing, BodyFraming::None);
  EXPECT_EQ(head.contentLength, 0u);
  EXPECT_TRUE(head.keepAlive);
  EXPECT_FALSE(head.expectContinue);
  EXPECT_EQ(head.authority, "b");
  EXPECT_EQ(head.headBytes, second.size());
}

TEST(HttpParserValid, LimitsAreInclusive) {
  const ParserLimits limits = smallLimits();
  {
    const std::string target = "/" + std::string(limits.uriBytes - 1, 'u');  // exactly uriBytes
    const std::string in = request("GET " + target + " HTTP/1.1", {"Host: a"});
    Parsed p = parse(in, limits);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.target.size(), limits.uriBytes);
  }
  {
    const std::string in = headOfSize(limits.headerBytes);
    ASSERT_EQ(in.size(), limits.headerBytes);
    Parsed p = parse(in, limits);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.headBytes, limits.headerBytes);
    EXPECT_EQ(trickledStatus(in, limits), 0);
  }
  {
    std::string in = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (std::size_t i = 1; i < limits.headerCount; ++i) in += "X" + std::to_string(i) + ": v\r\n";
    in += "\r\n";
    Parsed p = parse(in, limits);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    EXPECT_EQ(p.head.headers.size(), limits.headerCount);
  }
}

TEST(HttpParserValid, IsTokenCharMatchesRfc9110) {
  const std::string tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int c = 0; c < 256; ++c) {
    const bool expected = tchars.find(static_cast<char>(c)) != std::string::npos;
    EXPECT_EQ(isTokenChar(static_cast<unsigned char>(c)), expected) << "byte " << c;
  }
}

// ---------------------------------------------------------------------------------------
// Incremental parsing: every request split at every byte boundary

// Valid requests the split tests run over; views must come out identical to a one-shot parse.
std::vector<std::string> splitCorpus() {
  return {
      request("GET /search?q=1&r=%20 HTTP/1.1",
              {"Host: example.com", "User-Agent: test/1.0", "Accept: */*", "X-Empty:", "Connection: keep-alive"}),
      request("POST /api/echo HTTP/1.1", {"Host: a", "Content-Type: text/plain", "Content-Length: 11"}, "hello world"),
      request("PUT /up HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked", "Expect: 100-continue"},
              "5\r\nhello\r\n0\r\n\r\n"),
      "\r\n\nGET /lf HTTP/1.1\nHost: a\r\nX: y\n\r\n",  // leading empty lines, mixed line endings
      request("GET http://example.com/abs?x HTTP/1.1", {"Host: other"}),
      request("GET / HTTP/1.0"),
      "GET / HTTP/1.0\n\n",
  };
}

TEST(HttpParserIncremental, EveryPrefixIsIncompleteUntilTheHeadEndsThenComplete) {
  const ParserLimits limits;
  for (const std::string& in : splitCorpus()) {
    SCOPED_TRACE(::testing::PrintToString(in));
    Parsed whole = parse(in, limits);
    ASSERT_EQ(whole.status, HeadStatus::Complete) << whole.error.reason;
    const std::size_t headBytes = whole.head.headBytes;

    HeadScanState state;
    for (std::size_t n = 1; n <= in.size(); ++n) {
      std::size_t found = 0;
      ParseError error;
      HeadStatus s = findHeadEnd(in.data(), n, limits, state, found, error);
      if (n < headBytes) {
        ASSERT_EQ(s, HeadStatus::Incomplete) << "prefix " << n << ": " << error.reason;
        continue;
      }
      ASSERT_EQ(s, HeadStatus::Complete) << "prefix " << n << ": " << error.reason;
      EXPECT_EQ(found, headBytes);
      RequestHead head;
      ASSERT_TRUE(parseHead(in.data(), found, limits, head, error)) << error.reason;
      EXPECT_EQ(dump(head, in.data()), dump(whole.head, in.data()));
      break;  // a reactor stops scanning once the head is complete
    }
  }
}

TEST(HttpParserIncremental, ArrivingInPiecesOfAnySizeGivesTheSameHead) {
  const ParserLimits limits;
  for (const std::string& in : splitCorpus()) {
    SCOPED_TRACE(::testing::PrintToString(in));
    Parsed whole = parse(in, limits);
    ASSERT_EQ(whole.status, HeadStatus::Complete) << whole.error.reason;
    for (std::size_t step : {2, 3, 5, 7, 16, 1000}) {
      SCOPED_TRACE("step " + std::to_string(step));
      Trickled t = trickle(in, limits, step);
      ASSERT_EQ(t.status, HeadStatus::Complete) << t.error.reason;
      EXPECT_EQ(t.headBytes, whole.head.headBytes);
      EXPECT_GE(t.prefix, t.headBytes);
      EXPECT_LT(t.prefix, t.headBytes + step);  // reported with the piece that completed it
    }
  }
}

TEST(HttpParserIncremental, TwoPiecesSplitAtEveryBoundary) {
  const ParserLimits limits;
  for (const std::string& in : splitCorpus()) {
    SCOPED_TRACE(::testing::PrintToString(in));
    Parsed whole = parse(in, limits);
    ASSERT_EQ(whole.status, HeadStatus::Complete) << whole.error.reason;
    const std::size_t headBytes = whole.head.headBytes;
    for (std::size_t k = 1; k < in.size(); ++k) {
      SCOPED_TRACE("split at " + std::to_string(k));
      HeadScanState state;
      std::size_t found = 0;
      ParseError error;
      HeadStatus first = findHeadEnd(in.data(), k, limits, state, found, error);
      if (k < headBytes) {
        ASSERT_EQ(first, HeadStatus::Incomplete) << error.reason;
        ASSERT_EQ(findHeadEnd(in.data(), in.size(), limits, state, found, error), HeadStatus::Complete)
            << error.reason;
      } else {
        ASSERT_EQ(first, HeadStatus::Complete) << error.reason;
      }
      EXPECT_EQ(found, headBytes);
      RequestHead head;
      ASSERT_TRUE(parseHead(in.data(), found, limits, head, error)) << error.reason;
      EXPECT_EQ(dump(head, in.data()), dump(whole.head, in.data()));
    }
  }
}

TEST(HttpParserIncremental, ALongMethodWithAShortTargetIsNotMistakenForAnOverlongTarget) {
  // findHeadEnd may refuse a request line early only when it can never become valid. A
  // 60-byte method (a valid token, within the 64-byte method limit) with a 2-byte target
  // is longer than uriBytes + slack in total, yet valid one-shot, so it must be valid
  // when it trickles in too.
  const ParserLimits limits = smallLimits();  // uriBytes 32, headerBytes 256
  const std::string in = request(std::string(60, 'M') + " /a HTTP/1.1", {"Host: a"});
  ASSERT_EQ(statusOf(parse(in, limits)), 0);
  EXPECT_EQ(trickledStatus(in, limits), 0);
}

TEST(HttpParserIncremental, AnOverlongMethodIs501AsSoonAsItPassesTheLimit) {
  // RFC 9112 3: a method longer than any the server implements SHOULD get 501.
  const ParserLimits limits = smallLimits();
  const std::string in = request(std::string(120, 'M') + " /a HTTP/1.1", {"Host: a"});
  EXPECT_EQ(statusOf(parse(in, limits)), 501);
  Trickled t = trickle(in, limits);
  EXPECT_EQ(t.error.status, 501);
  EXPECT_EQ(t.prefix, 65u) << "refused at the 65th method byte, not at the end of the line";
}

// ---------------------------------------------------------------------------------------
// Pipelining

TEST(HttpParserPipelining, RequestsInOneBufferParseOneAfterAnother) {
  const std::string buffer = get11({"X-N: 1"}) +
                             request("POST /b HTTP/1.1", {"Host: a", "Content-Length: 5"}, "hello") +
                             "GET /c?d HTTP/1.1\nHost: a\n\n" +  // bare LF in the middle of the pipeline
                             request("POST /e HTTP/1.1", {"Host: a", "Content-Length: 0"}) +
                             request("GET /f HTTP/1.0", {"Connection: close"});
  struct Expected {
    const char* method;
    const char* path;
    const char* query;
    const char* body;
    bool keepAlive;
  };
  const Expected expected[] = {
      {"GET", "/", "", "", true},       {"POST", "/b", "", "hello", true}, {"GET", "/c", "d", "", true},
      {"POST", "/e", "", "", true},     {"GET", "/f", "", "", false},
  };
  const ParserLimits limits;
  std::size_t offset = 0;
  for (const Expected& e : expected) {
    SCOPED_TRACE(std::string(e.method) + " " + e.path);
    RequestHead head;
    ParseError error;
    ASSERT_EQ(parseRequest(buffer.data() + offset, buffer.size() - offset, limits, head, error),
              HeadStatus::Complete)
        << error.reason;
    EXPECT_EQ(head.method, e.method);
    EXPECT_EQ(head.path, e.path);
    EXPECT_EQ(head.query, e.query);
    EXPECT_EQ(head.keepAlive, e.keepAlive);
    EXPECT_EQ(head.method.data(), buffer.data() + offset);
    EXPECT_EQ(buffer.substr(offset + head.headBytes, head.contentLength), e.body);
    offset += head.headBytes + head.contentLength;
  }
  EXPECT_EQ(offset, buffer.size());
}

TEST(HttpParserPipelining, APartialSecondRequestIsIncomplete) {
  const std::string first = get11();
  const std::string second = request("GET /two HTTP/1.1", {"Host: a"});
  const ParserLimits limits;
  for (std::size_t k = 0; k < second.size(); ++k) {
    SCOPED_TRACE(k);
    const std::string buffer = first + second.substr(0, k);
    Parsed p = parse(buffer, limits);
    ASSERT_EQ(p.status, HeadStatus::Complete) << p.error.reason;
    ASSERT_EQ(p.head.headBytes, first.size());
    RequestHead head;
    ParseError error;
    EXPECT_EQ(parseRequest(buffer.data() + first.size(), k, limits, head, error), HeadStatus::Incomplete)
        << error.reason;
  }
}

// ---------------------------------------------------------------------------------------
// Malformed requests: each kind with its exact status

struct MalformedCase {
  std::string name;
  std::string input;
  int status;
};

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

// A string literal with every byte, embedded NULs included.
template <std::size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// All rows use smallLimits(): headerBytes 256, uriBytes 32, headerCount 8, bodyBytes 1000.
std::vector<MalformedCase> malformedCases() {
  const ParserLimits limits = smallLimits();
  std::string tooManyHeaders = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (std::size_t i = 0; i < limits.headerCount; ++i) tooManyHeaders += "X" + std::to_string(i) + ": v\r\n";
  tooManyHeaders += "\r\n";
  std::string manyLeadingEmptyLines;
  for (int i = 0; i < 50; ++i) manyLeadingEmptyLines += "\r\n";

  // The start of a real TLS 1.2 ClientHello: record header, handshake header, version,
  // 32 random bytes, then the session-id length 0x20, which happens to be a space.
  const std::string tlsClientHello = bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") +
                                     std::string(32, '\x5a') + bytes("\x20") + std::string(32, '\x33') +
                                     bytes("\x00\x3e\x13\x02\x13\x03\x13\x01\xc0\x2c\x0a\x00");

  return {
      // Bare CR (RFC 9112 2.2) anywhere in the head.
      {"BareCrInRequestLine", "GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n", 400},
      {"BareCrInTarget", "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"BareCrInHeaderValue", get11({"X: a\rb"}), 400},
      {"DoubleCrBeforeLf", get11({"X: a\r"}), 400},
      {"BareCrInHeaderName", get11({"X\r: a"}), 400},
      // obs-fold (RFC 9112 5.2) and whitespace between name and colon (5.1).
      {"ObsFoldWithSpace", get11({"X: a", " b"}), 400},
      {"ObsFoldWithTab", get11({"X: a", "\tb"}), 400},
      {"WhitespaceLineBeforeFirstHeader", request("GET / HTTP/1.1", {" Host: a"}), 400},
      {"SpaceBeforeColon", get11({"X : a"}), 400},
      {"TabBeforeColon", get11({"X\t: a"}), 400},
      {"HostWithSpaceBeforeColon", request("GET / HTTP/1.1", {"Host : a"}), 400},
      {"EmptyHeaderName", get11({": a"}), 400},
      {"HeaderLineWithoutColon", get11({"NoColon"}), 400},
      {"NonTokenCharInHeaderName", get11({"X(y): a"}), 400},
      {"NonAsciiInHeaderName", get11({"X\xC3\xA9: a"}), 400},
      // Control bytes in a value (RFC 9110 5.5).
      {"NulInHeaderValue", get11({std::string_view("X: a\0b", 6)}), 400},
      {"SohInHeaderValue", get11({"X: a\x01" "b"}), 400},
      {"EscInHeaderValue", get11({"X: a\x1b" "b"}), 400},
      {"DelInHeaderValue", get11({"X: a\x7f" "b"}), 400},
      {"NulInHostValue", request("GET / HTTP/1.1", {std::string_view("Host: a\0", 8)}), 400},
      // Method.
      {"ParenInMethod", request("GE(T / HTTP/1.1", {"Host: a"}), 400},
      {"QuoteInMethod", request("GE\"T / HTTP/1.1", {"Host: a"}), 400},
      {"NonAsciiInMethod", request("G\xC9T / HTTP/1.1", {"Host: a"}), 400},
      {"EmptyMethod", request(" / HTTP/1.1", {"Host: a"}), 400},
      // Request-line shape and version (RFC 9112 3, 2.3).
      {"Http09StyleRequestLine", "GET /\r\n", 400},
      {"Http09StyleWithHeaders", "GET /\r\nHost: a\r\n\r\n", 400},
      {"RequestLineWithoutSpaces", "GET\r\n\r\n", 400},
      {"DoubleSpaceBeforeTarget", request("GET  / HTTP/1.1", {"Host: a"}), 400},
      {"DoubleSpaceBeforeVersion", request("GET /  HTTP/1.1", {"Host: a"}), 400},
      {"TrailingSpaceAfterVersion", request("GET / HTTP/1.1 ", {"Host: a"}), 400},
      {"TabsAsSeparators", request("GET\t/\tHTTP/1.1", {"Host: a"}), 400},
      {"VersionMinorNotADigit", request("GET / HTTP/1.x", {"Host: a"}), 400},
      {"VersionWithoutDot", request("GET / HTTP/11", {"Host: a"}), 400},
      {"VersionWithTwoDigitMinor", request("GET / HTTP/1.10", {"Host: a"}), 400},
      {"VersionMissingMinor", request("GET / HTTP/1.", {"Host: a"}), 400},
      {"LowercaseHttpName", request("GET / http/1.1", {"Host: a"}), 400},  // HTTP-name is case-sensitive
      {"NotHttpAtAll", request("GET / FTP/1.1", {"Host: a"}), 400},
      {"Http20", request("GET / HTTP/2.0", {"Host: a"}), 505},
      {"Http12", request("GET / HTTP/1.2", {"Host: a"}), 505},
      {"Http30", request("GET / HTTP/3.0", {"Host: a"}), 505},
      {"Http09Versioned", request("GET / HTTP/0.9", {"Host: a"}), 505},
      // request-target (RFC 9112 3.2).
      {"FragmentInTarget", request("GET /a#b HTTP/1.1", {"Host: a"}), 400},
      {"SpaceInTarget", request("GET /a b HTTP/1.1", {"Host: a"}), 400},
      {"TabInTarget", request("GET /a\tb HTTP/1.1", {"Host: a"}), 400},
      {"DelInTarget", request("GET /a\x7f" "b HTTP/1.1", {"Host: a"}), 400},
      {"NonAsciiInTarget", request("GET /caf\xC3\xA9 HTTP/1.1", {"Host: a"}), 400},
      {"HighByteInTarget", request("GET /\xFF HTTP/1.1", {"Host: a"}), 400},
      {"RelativeTarget", request("GET a/b HTTP/1.1", {"Host: a"}), 400},
      {"AuthorityFormWithGet", request("GET example.com:80 HTTP/1.1", {"Host: a"}), 400},
      {"UnknownSchemeInAbsoluteForm", request("GET ftp://example.com/ HTTP/1.1", {"Host: a"}), 400},
      {"AbsoluteFormWithEmptyAuthority", request("GET http:///a HTTP/1.1", {"Host: a"}), 400},
      {"AbsoluteFormWithUserinfo", request("GET http://user@example.com/ HTTP/1.1", {"Host: a"}), 400},
      // The authority replaces Host, so it obeys the same character rules as Host.
      {"AbsoluteFormWithInvalidAuthorityChar", request("GET http://exa<mple.com/ HTTP/1.1", {"Host: a"}), 400},
      {"AbsoluteFormWithBackslashInAuthority", request("GET http://a\\b/ HTTP/1.1", {"Host: a"}), 400},
      {"AsteriskWithGet", request("GET * HTTP/1.1", {"Host: a"}), 400},
      {"EmptyTarget", request("GET  HTTP/1.1", {"Host: a"}), 400},
      // Not a proxy.
      {"Connect", request("CONNECT example.com:443 HTTP/1.1", {"Host: example.com:443"}), 501},
      // Host (RFC 9112 3.2).
      {"MissingHostInHttp11", request("GET / HTTP/1.1"), 400},
      {"MissingHostWithAbsoluteForm", request("GET http://example.com/ HTTP/1.1"), 400},
      {"TwoHostHeaders", request("GET / HTTP/1.1", {"Host: a", "Host: a"}), 400},
      {"TwoHostHeadersDifferentCase", request("GET / HTTP/1.1", {"Host: a", "host: b"}), 400},
      {"TwoHostHeadersInHttp10", request("GET / HTTP/1.0", {"Host: a", "Host: b"}), 400},
      {"HostWithSlash", request("GET / HTTP/1.1", {"Host: a/b"}), 400},
      {"HostWithAt", request("GET / HTTP/1.1", {"Host: user@a"}), 400},
      {"HostWithInnerSpace", request("GET / HTTP/1.1", {"Host: a b"}), 400},
      {"HostWithBackslash", request("GET / HTTP/1.1", {"Host: a\\b"}), 400},
      {"HostWithObsText", request("GET / HTTP/1.1", {"Host: caf\xC3\xA9"}), 400},
      // Content-Length (RFC 9112 6.3, 9110 8.6).
      {"ContentLengthNonDigit", request("POST / HTTP/1.1", {"Host: a", "Content-Length: abc"}), 400},
      {"ContentLengthNegative", request("POST / HTTP/1.1", {"Host: a", "Content-Length: -1"}), 400},
      {"ContentLengthPlusSign", request("POST / HTTP/1.1", {"Host: a", "Content-Length: +5"}), 400},
      {"ContentLengthInnerSpace", request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5 5"}), 400},
      {"ContentLengthCommaList", request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5, 5"}), 400},
      {"ContentLengthEmpty", request("POST / HTTP/1.1", {"Host: a", "Content-Length:"}), 400},
      {"ContentLengthHex", request("POST / HTTP/1.1", {"Host: a", "Content-Length: 0x5"}), 400},
      {"ContentLengthDecimal", request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5.0"}), 400},
      {"ContentLengthDuplicatedEqual",
       request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5", "Content-Length: 5"}), 400},
      {"ContentLengthDuplicatedDifferentCase",
       request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5", "content-length: 5"}), 400},
      {"ContentLengthAboveBodyLimit", request("POST / HTTP/1.1", {"Host: a", "Content-Length: 1001"}), 413},
      {"ContentLength25Digits",
       request("POST / HTTP/1.1", {"Host: a", "Content-Length: 1234567890123456789012345"}), 413},
      {"ContentLengthJustAboveUint64",
       request("POST / HTTP/1.1", {"Host: a", "Content-Length: 18446744073709551616"}), 413},
      {"ContentLengthAndTransferEncoding",
       request("POST / HTTP/1.1", {"Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"}), 400},
      {"TransferEncodingAndContentLength",
       request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"}), 400},
      // Transfer-Encoding (RFC 9112 6.1, 6.3).
      {"TransferEncodingGzip", request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: gzip"}), 400},
      {"TransferEncodingGzipThenChunked",
       request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: gzip, chunked"}), 501},
      {"TransferEncodingChunkedNotLast",
       request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked, gzip"}), 400},
      {"TransferEncodingChunkedTwice",
       request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked, chunked"}), 400},
      {"TransferEncodingDuplicateLines",
       request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}), 400},
      {"TransferEncodingEmpty", request("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding:"}), 400},
      {"TransferEncodingInHttp10", request("POST / HTTP/1.0", {"Transfer-Encoding: chunked"}), 400},
      // Expect (RFC 9110 10.1.1).
      {"ExpectSomethingElse", request("POST / HTTP/1.1", {"Host: a", "Expect: something-else"}), 417},
      // Limits.
      {"TargetLongerThanUriBytes",
       request("GET /" + std::string(limits.uriBytes, 'u') + " HTTP/1.1", {"Host: a"}), 414},
      {"HeadLongerThanHeaderBytes", headOfSize(limits.headerBytes + 1), 431},
      {"MoreHeadersThanHeaderCount", tooManyHeaders, 431},
      // Garbage.
      {"TlsClientHello", tlsClientHello, 400},
      {"TooManyLeadingEmptyLines", manyLeadingEmptyLines + get11(), 400},
  };
}

class HttpParserMalformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(HttpParserMalformed, IsRefusedWithItsExactStatus) {
  const MalformedCase& c = GetParam();
  Parsed p = parse(c.input, smallLimits());
  ASSERT_EQ(p.status, HeadStatus::Error) << "input " << ::testing::PrintToString(c.input);
  EXPECT_EQ(p.error.status, c.status) << p.error.reason;
  EXPECT_STRNE(p.error.reason, "");
}

TEST_P(HttpParserMalformed, IsRefusedWithTheSameStatusWhenItArrivesByteByByte) {
  const MalformedCase& c = GetParam();
  EXPECT_EQ(trickledStatus(c.input, smallLimits()), c.status);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, HttpParserMalformed, ::testing::ValuesIn(malformedCases()),
                         [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(HttpParserMalformedDirect, TargetLongerThanUriBytesViaParseHead) {
  const ParserLimits limits = smallLimits();
  const std::string in = request("GET /" + std::string(limits.uriBytes, 'u') + " HTTP/1.1", {"Host: a"});
  RequestHead head;
  ParseError error;
  EXPECT_FALSE(parseHead(in.data(), in.size(), limits, head, error));
  EXPECT_EQ(error.status, 414);
}

// ---------------------------------------------------------------------------------------
// Errors reported early, while the head is still incomplete

TEST(HttpParserEarlyError, OverlongTargetIsRefusedBeforeTheRequestLineEnds) {
  ParserLimits limits = smallLimits();
  limits.headerBytes = 4096;  // the target limit, not the head limit, must trip
  const std::string in = request("GET /" + std::string(1000, 'u') + " HTTP/1.1", {"Host: a"});
  Trickled t = trickle(in, limits);
  ASSERT_EQ(t.status, HeadStatus::Error);
  EXPECT_EQ(t.error.status, 414);
  EXPECT_LT(t.prefix, in.find(" HTTP/1.1"));
}

TEST(HttpParserEarlyError, OverlongRequestLineBeyondHeaderBytesIs414) {
  ParserLimits limits = smallLimits();
  limits.uriBytes = 4096;
  limits.headerBytes = 128;  // here the head limit is reached first, still inside the target
  const std::string in = "GET /" + std::string(1000, 'u');
  Trickled t = trickle(in, limits);
  ASSERT_EQ(t.status, HeadStatus::Error);
  EXPECT_EQ(t.error.status, 414);
  EXPECT_LE(t.prefix, limits.headerBytes + 1);
}

TEST(HttpParserEarlyError, HeadLongerThanHeaderBytesIsRefusedWhileIncomplete) {
  const ParserLimits limits = smallLimits();
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (in.size() < 4 * limits.headerBytes) in += "X-Filler: 0123456789\r\n";  // never ends
  Trickled t = trickle(in, limits);
  ASSERT_EQ(t.status, HeadStatus::Error);
  EXPECT_EQ(t.error.status, 431);
  EXPECT_LE(t.prefix, limits.headerBytes + 1);

  // The same when all of it arrives at once.
  HeadScanState state;
  std::size_t headBytes = 0;
  ParseError error;
  EXPECT_EQ(findHeadEnd(in.data(), in.size(), limits, state, headBytes, error), HeadStatus::Error);
  EXPECT_EQ(error.status, 431);
}

TEST(HttpParserEarlyError, OneHugeHeaderLineIsRefusedWhileIncomplete) {
  const ParserLimits limits = smallLimits();
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'b');
  Trickled t = trickle(in, limits);
  ASSERT_EQ(t.status, HeadStatus::Error);
  EXPECT_EQ(t.error.status, 431);
  EXPECT_LE(t.prefix, limits.headerBytes + 1);
}

TEST(HttpParserEarlyError, MalformedRequestLineIsRefusedAsSoonAsItsLineEnds) {
  const ParserLimits limits = smallLimits();
  struct Row {
    std::string line;  // the first line, including its LF
    int status;
  };
  const Row rows[] = {
      {"GET / HTTP/2.0\r\n", 505},
      {"GET / HTTP/1.x\r\n", 400},
      {"GET /\r\n", 400},  // HTTP/0.9
      {"GET /a#b HTTP/1.1\r\n", 400},
      {"CONNECT a:443 HTTP/1.1\r\n", 501},
      {"GET * HTTP/1.1\n", 400},
      {"GET /" + std::string(limits.uriBytes, 'u') + " HTTP/1.1\r\n", 414},
      {"GET / HTTP/1.1\rX\r\n", 400},
      {bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") + std::string(20, '\x5a') + "\n", 400},  // TLS
      {bytes("SSH-2.0-OpenSSH_9.2\r\n"), 400},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(::testing::PrintToString(row.line));
    const std::string in = row.line + "Host: a\r\nX: y\r\n";  // the head never ends
    Trickled t = trickle(in, limits);
    ASSERT_EQ(t.status, HeadStatus::Error);
    EXPECT_EQ(t.error.status, row.status) << t.error.reason;
    // No later than the end of the line; a target already over its limit is refused
    // even before the line ends.
    if (row.status == 414) EXPECT_LE(t.prefix, row.line.size());
    else EXPECT_EQ(t.prefix, row.line.size());
  }
}

TEST(HttpParserEarlyError, TlsClientHelloIsRefusedInOneRead) {
  const std::string hello = bytes("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") + std::string(32, '\x5a') +
                            bytes("\x20") + std::string(32, '\x33') + bytes("\x00\x3e\x13\x02\x0a\x00\x01");
  HeadScanState state;
  std::size_t headBytes = 0;
  ParseError error;
  EXPECT_EQ(findHeadEnd(hello.data(), hello.size(), ParserLimits{}, state, headBytes, error), HeadStatus::Error);
  EXPECT_EQ(error.status, 400);
}

TEST(HttpParserEarlyError, AValidRequestLineAloneIsIncomplete) {
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\n";
  HeadScanState state;
  std::size_t headBytes = 0;
  ParseError error;
  EXPECT_EQ(findHeadEnd(in.data(), in.size(), ParserLimits{}, state, headBytes, error), HeadStatus::Incomplete)
      << error.reason;
}

}  // namespace
