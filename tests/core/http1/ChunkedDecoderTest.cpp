// Tests for ChunkedDecoder: the strict, incremental `Transfer-Encoding: chunked` body decoder
// (RFC 9112 7.1). Valid bodies decode identically however the bytes are split; every
// malformed kind is refused with its exact status; limits hold while decoding.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "http1/ChunkedDecoder.h"

namespace microserver::core {
// Readable gtest failure messages for the decoder's status.
void PrintTo(ChunkedDecoder::Status s, std::ostream* os) {
  *os << (s == ChunkedDecoder::Status::Done ? "Done" : s == ChunkedDecoder::Status::NeedMore ? "NeedMore" : "Error");
}
}  // namespace microserver::core

namespace {

using microserver::core::ChunkedDecoder;
using Status = ChunkedDecoder::Status;

constexpr std::uint64_t kBodyLimit = 1024;
constexpr std::size_t kTrailerLimit = 256;
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

// A string literal with every byte, embedded NULs included.
template <std::size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

struct Decoded {
  Status status = Status::NeedMore;
  std::string body;
  std::size_t consumed = 0;  // input bytes used, over all feeds
  int errorStatus = 0;       // ParseError::status when status is Error
  std::string reason;
};

// Feeds `input` in pieces cut at `cuts` (ascending offsets) the way a connection does:
// received bytes go into a buffer, the decoder is fed the buffer, and the bytes it consumed
// are dropped. Stops at Done or Error.
Decoded decodeInPieces(std::string_view input, const std::vector<std::size_t>& cuts,
                       std::uint64_t maxBody = kBodyLimit, std::size_t maxTrailer = kTrailerLimit) {
  ChunkedDecoder decoder;
  decoder.reset(maxBody, maxTrailer);
  Decoded d;
  std::string pending;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : input.size();
    pending.append(input.substr(from, to - from));
    from = to;
    std::size_t consumed = 12345;  // must be overwritten
    d.status = decoder.feed(pending.data(), pending.size(), consumed, d.body);
    EXPECT_LE(consumed, pending.size());
    d.consumed += consumed;
    pending.erase(0, consumed);
    if (d.status == Status::NeedMore) {
      EXPECT_TRUE(pending.empty()) << "NeedMore must consume every byte";
    }
    if (d.status != Status::NeedMore) break;
  }
  if (d.status == Status::Error) {
    d.errorStatus = decoder.error().status;
    d.reason = decoder.error().reason;
  }
  return d;
}

Decoded decode(std::string_view input, std::uint64_t maxBody = kBodyLimit, std::size_t maxTrailer = kTrailerLimit) {
  return decodeInPieces(input, {}, maxBody, maxTrailer);
}

std::vector<std::size_t> everyByte(std::size_t size) {
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1; k < size; ++k) cuts.push_back(k);
  return cuts;
}

// What follows the body in a pipelined connection; the decoder must leave it alone.
const std::string kNextRequest = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

// ---------------------------------------------------------------------------------------
// Valid bodies

struct ValidCase {
  std::string name;
  std::string input;  // exactly one chunked body
  std::string body;
  std::uint64_t maxBody = kBodyLimit;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.name; }

std::vector<ValidCase> validCases() {
  return {
      {"EmptyBody", "0\r\n\r\n", ""},
      {"SingleChunk", "5\r\nhello\r\n0\r\n\r\n", "hello"},
      {"MultipleChunks", "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", "hello world"},
      {"UppercaseHex", "A\r\n0123456789\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
       "0123456789abcdefghijklmnopqrstuvwxyz"},
      {"LowercaseHex", "a\r\n0123456789\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
       "0123456789abcdefghijklmnopqrstuvwxyz"},
      {"LeadingZeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"},
      {"SixteenHexDigits", "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello"},
      // Data is opaque: CRLF, NUL and high bytes inside it are payload.
      {"DataHoldingCrlf", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"},
      {"DataHoldingBinary", bytes("3\r\n\x00\xff\n\r\n0\r\n\r\n"), bytes("\x00\xff\n")},
      // Extensions (RFC 9112 7.1.1) are accepted and ignored.
      {"ExtensionNameValue", "5;a=b\r\nhello\r\n0\r\n\r\n", "hello"},
      {"ExtensionNameOnly", "5;name\r\nhello\r\n0;last\r\n\r\n", "hello"},
      {"ExtensionQuotedValue", "5;a=\"q s\"\r\nhello\r\n0\r\n\r\n", "hello"},
      {"ExtensionQuotedValueWithEscape", "5;a=\"q\\\"s;x\"\r\nhello\r\n0\r\n\r\n", "hello"},
      {"SeveralExtensions", "5;a=b;c;d=\"e\"\r\nhello\r\n0\r\n\r\n", "hello"},
      {"BwsBeforeSemicolon", "5 ;a=b\r\nhello\r\n0\t;x\r\n\r\n", "hello"},
      {"BwsAroundEquals", "5;a = b\r\nhello\r\n0\r\n\r\n", "hello"},
      // Trailers are accepted and dropped.
      {"OneTrailer", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "hello"},
      {"SeveralTrailers", "5\r\nhello\r\n0\r\nX-A: 1\r\nx-b:2\r\nX-Empty:\r\n\r\n", "hello"},
      {"TrailerWithObsText", "5\r\nhello\r\n0\r\nX: caf\xC3\xA9\r\n\r\n", "hello"},
      {"BodyExactlyAtTheLimit", "400\r\n" + std::string(1024, 'x') + "\r\n0\r\n\r\n", std::string(1024, 'x')},
  };
}

class ChunkedValid : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ChunkedValid, DecodesInOneFeed) {
  const ValidCase& c = GetParam();
  Decoded d = decode(c.input, c.maxBody);
  ASSERT_EQ(d.status, Status::Done) << d.errorStatus << " " << d.reason;
  EXPECT_EQ(d.body, c.body);
  EXPECT_EQ(d.consumed, c.input.size());
}

TEST_P(ChunkedValid, LeavesThePipelinedNextRequestUnconsumed) {
  const ValidCase& c = GetParam();
  Decoded d = decode(c.input + kNextRequest, c.maxBody);
  ASSERT_EQ(d.status, Status::Done) << d.errorStatus << " " << d.reason;
  EXPECT_EQ(d.body, c.body);
  EXPECT_EQ(d.consumed, c.input.size());
}

TEST_P(ChunkedValid, DecodesTheSameWhenSplitAtEveryBoundary) {
  const ValidCase& c = GetParam();
  const std::string input = c.input + kNextRequest;
  for (std::size_t k = 1; k < input.size(); ++k) {
    SCOPED_TRACE("split at " + std::to_string(k));
    Decoded d = decodeInPieces(input, {k}, c.maxBody);
    ASSERT_EQ(d.status, Status::Done) << d.errorStatus << " " << d.reason;
    EXPECT_EQ(d.body, c.body);
    EXPECT_EQ(d.consumed, c.input.size());
  }
}

TEST_P(ChunkedValid, DecodesTheSameWhenItArrivesByteByByte) {
  const ValidCase& c = GetParam();
  const std::string input = c.input + kNextRequest;
  Decoded d = decodeInPieces(input, everyByte(input.size()), c.maxBody);
  ASSERT_EQ(d.status, Status::Done) << d.errorStatus << " " << d.reason;
  EXPECT_EQ(d.body, c.body);
  EXPECT_EQ(d.consumed, c.input.size());
}

INSTANTIATE_TEST_SUITE_P(AllForms, ChunkedValid, ::testing::ValuesIn(validCases()),
                         [](const ::testing::TestParamInfo<ValidCase>& info) { return info.param.name; });

TEST(ChunkedDecoder, EveryPrefixOfABodyNeedsMore) {
  const std::string input = "5;a=b\r\nhello\r\n3\r\nabc\r\n0\r\nX: y\r\n\r\n";
  for (std::size_t k = 0; k < input.size(); ++k) {
    SCOPED_TRACE(k);
    Decoded d = decode(std::string_view(input).substr(0, k));
    EXPECT_EQ(d.status, Status::NeedMore) << d.reason;
    EXPECT_EQ(d.consumed, k);
  }
}

TEST(ChunkedDecoder, DataIsDeliveredAsItArrives) {
  ChunkedDecoder decoder;
  decoder.reset(kBodyLimit, kTrailerLimit);
  std::string body;
  std::size_t consumed = 0;
  const std::string first = "a\r\nhello";
  ASSERT_EQ(decoder.feed(first.data(), first.size(), consumed, body), Status::NeedMore);
  EXPECT_EQ(body, "hello");  // no need to wait for the whole chunk
  const std::string second = "world\r\n0\r\n\r\n";
  ASSERT_EQ(decoder.feed(second.data(), second.size(), consumed, body), Status::Done);
  EXPECT_EQ(body, "helloworld");
  EXPECT_EQ(consumed, second.size());
}

TEST(ChunkedDecoder, FeedingAfterDoneConsumesNothing) {
  ChunkedDecoder decoder;
  decoder.reset(kBodyLimit, kTrailerLimit);
  std::string body;
  std::size_t consumed = 0;
  const std::string input = "0\r\n\r\n";
  ASSERT_EQ(decoder.feed(input.data(), input.size(), consumed, body), Status::Done);
  consumed = 99;
  EXPECT_EQ(decoder.feed(kNextRequest.data(), kNextRequest.size(), consumed, body), Status::Done);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(body, "");
}

TEST(ChunkedDecoder, ResetStartsAFreshBody) {
  ChunkedDecoder decoder;
  decoder.reset(kBodyLimit, kTrailerLimit);
  std::string body;
  std::size_t consumed = 0;
  const std::string half = "5\r\nhel";  // abandoned mid-chunk
  ASSERT_EQ(decoder.feed(half.data(), half.size(), consumed, body), Status::NeedMore);
  decoder.reset(kBodyLimit, kTrailerLimit);
  body.clear();
  const std::string input = "2\r\nok\r\n0\r\n\r\n";
  ASSERT_EQ(decoder.feed(input.data(), input.size(), consumed, body), Status::Done);
  EXPECT_EQ(body, "ok");
  EXPECT_EQ(consumed, input.size());
}

TEST(ChunkedDecoder, ABodyWithoutTrailersFitsEvenAZeroTrailerLimit) {
  // The trailer limit bounds trailer fields; the empty line that ends the body is not one.
  Decoded d = decode("5\r\nhello\r\n0\r\n\r\n", kBodyLimit, 0);
  ASSERT_EQ(d.status, Status::Done) << d.errorStatus << " " << d.reason;
  EXPECT_EQ(d.body, "hello");
}

TEST(ChunkedDecoder, TrailersWithinTheLimitAreAccepted) {
  const std::string trailer = "X-Sum: " + std::string(40, 'a') + "\r\n";
  Decoded d = decode("1\r\nx\r\n0\r\n" + trailer + "\r\n", kBodyLimit, 64);
  ASSERT_EQ(d.status, Status::Done) << d.errorStatus << " " << d.reason;
  EXPECT_EQ(d.body, "x");
}

// ---------------------------------------------------------------------------------------
// Limits

TEST(ChunkedDecoderLimits, OneHugeDeclaredSizeIsRefusedBeforeAnyDataArrives) {
  for (const char* size : {"401", "FFFFFFFF", "FFFFFFFFFFFFFFFF", "0000000000000401"}) {
    SCOPED_TRACE(size);
    ChunkedDecoder decoder;
    decoder.reset(kBodyLimit, kTrailerLimit);
    std::string body;
    std::size_t consumed = 0;
    const std::string line = std::string(size) + "\r\n";  // the size line alone, no data yet
    ASSERT_EQ(decoder.feed(line.data(), line.size(), consumed, body), Status::Error);
    EXPECT_EQ(decoder.error().status, 413);
    EXPECT_EQ(body, "");
  }
}

TEST(ChunkedDecoderLimits, OneHugeDeclaredSizeWithAnExtensionIsRefusedToo) {
  Decoded d = decode("401;a=b\r\n");
  ASSERT_EQ(d.status, Status::Error);
  EXPECT_EQ(d.errorStatus, 413);
}

TEST(ChunkedDecoderLimits, ManySmallChunksOverTheLimitAreRefused) {
  std::string atLimit;
  for (std::uint64_t i = 0; i < kBodyLimit / 4; ++i) atLimit += "4\r\nabcd\r\n";
  {
    Decoded d = decode(atLimit + "0\r\n\r\n");
    ASSERT_EQ(d.status, Status::Done) << d.reason;
    EXPECT_EQ(d.body.size(), kBodyLimit);
  }
  {
    Decoded d = decode(atLimit + "1\r\nz\r\n0\r\n\r\n");  // one byte too many
    ASSERT_EQ(d.status, Status::Error);
    EXPECT_EQ(d.errorStatus, 413);
    EXPECT_LE(d.body.size(), kBodyLimit);  // never buffered past the limit
  }
  {
    std::string endless;
    for (int i = 0; i < 1000; ++i) endless += "3\r\nabc\r\n";
    Decoded d = decodeInPieces(endless, everyByte(endless.size()));
    ASSERT_EQ(d.status, Status::Error);
    EXPECT_EQ(d.errorStatus, 413);
    EXPECT_LE(d.body.size(), kBodyLimit);
  }
}

TEST(ChunkedDecoderLimits, TrailerOverTheLimitIs431) {
  const std::string input = "1\r\nx\r\n0\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
  Decoded d = decode(input, kBodyLimit, 16);
  ASSERT_EQ(d.status, Status::Error);
  EXPECT_EQ(d.errorStatus, 431);
  // Endless trailer lines are refused too, whatever their size.
  std::string endless = "0\r\n";
  for (int i = 0; i < 100; ++i) endless += "X: y\r\n";
  Decoded e = decodeInPieces(endless, everyByte(endless.size()), kBodyLimit, 64);
  ASSERT_EQ(e.status, Status::Error);
  EXPECT_EQ(e.errorStatus, 431);
}

TEST(ChunkedDecoderLimits, OverlongExtensionLineIs400) {
  Decoded d = decode("5;" + std::string(5000, 'a') + "\r\nhello\r\n0\r\n\r\n");
  ASSERT_EQ(d.status, Status::Error);
  EXPECT_EQ(d.errorStatus, 400);
  EXPECT_LT(d.consumed, 5000u);  // refused at the limit, not at the end of the line
}

// ---------------------------------------------------------------------------------------
// Malformed bodies: each kind with its exact status, however it is split

struct ErrorCase {
  std::string name;
  std::string input;
  int status;
  std::uint64_t maxBody = kBodyLimit;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

std::vector<ErrorCase> errorCases() {
  return {
      // The size (RFC 9112 7.1: chunk-size = 1*HEXDIG).
      {"NonHexSize", "g\r\nhello\r\n0\r\n\r\n", 400},
      {"NonHexAfterDigits", "5g\r\nhello\r\n0\r\n\r\n", 400},
      {"EmptySizeLine", "\r\nhello\r\n0\r\n\r\n", 400},
      {"HexPrefix0x", "0x10\r\n" + std::string(16, 'a') + "\r\n0\r\n\r\n", 400},
      {"NegativeSize", "-1\r\nx\r\n0\r\n\r\n", 400},
      {"PlusSign", "+1\r\nx\r\n0\r\n\r\n", 400},
      {"LeadingSpace", " 1\r\nx\r\n0\r\n\r\n", 400},
      {"SeventeenHexDigitsOverflow", "10000000000000000\r\nx\r\n0\r\n\r\n", 400, kNoBodyLimit},
      {"SeventeenHexDigitsWouldWrapToSmall", "10000000000000005\r\nhello\r\n0\r\n\r\n", 400, kNoBodyLimit},
      // Line endings: CRLF only (a bare LF is a smuggling vector here).
      {"BareLfAfterSize", "5\nhello\r\n0\r\n\r\n", 400},
      {"BareLfAfterExtension", "5;a=b\nhello\r\n0\r\n\r\n", 400},
      {"CrWithoutLfAfterSize", "5\rhello\r\n0\r\n\r\n", 400},
      {"BareLfAfterLastChunkSize", "0\n\r\n", 400},
      // The data and the CRLF after it.
      {"MissingCrlfAfterData", "5\r\nhello0\r\n\r\n", 400},
      {"BareLfAfterData", "5\r\nhello\n0\r\n\r\n", 400},
      {"CrWithoutLfAfterData", "5\r\nhello\r0\r\n\r\n", 400},
      {"DataLongerThanDeclared", "3\r\nhello\r\n0\r\n\r\n", 400},
      // Extensions: no control bytes (a CR or LF inside one must not end the line).
      {"SohInExtension", "5;a=\x01\r\nhello\r\n0\r\n\r\n", 400},
      {"NulInExtension", bytes("5;a=\0\r\nhello\r\n0\r\n\r\n"), 400},
      {"DelInExtension", "5;a\x7f\r\nhello\r\n0\r\n\r\n", 400},
      {"BareLfInExtension", "5;a\nb\r\nhello\r\n0\r\n\r\n", 400},
      {"CrInsideExtension", "5;a\rb\r\nhello\r\n0\r\n\r\n", 400},
      // Trailers are header fields (RFC 9112 7.1.2, 9110 5).
      {"TrailerWithoutColon", "0\r\nNoColon\r\n\r\n", 400},
      {"TrailerObsFold", "0\r\nX: a\r\n b\r\n\r\n", 400},
      {"TrailerWhitespaceBeforeColon", "0\r\nX : a\r\n\r\n", 400},
      {"TrailerEmptyName", "0\r\n: a\r\n\r\n", 400},
      {"TrailerControlByte", "0\r\nX: a\x01" "b\r\n\r\n", 400},
      {"TrailerNul", bytes("0\r\nX: a\0\r\n\r\n"), 400},
      {"TrailerBareLf", "0\r\nX: a\n\r\n", 400},
      {"TrailerCrWithoutLf", "0\r\nX: a\rb\r\n\r\n", 400},
      {"FinalEmptyLineBareLf", "0\r\n\n", 400},
      {"FinalEmptyLineCrWithoutLf", "0\r\n\rX", 400},
      // Limits.
      {"SizeOverTheBodyLimit", "401\r\n" + std::string(1025, 'x') + "\r\n0\r\n\r\n", 413},
      {"ChunksAddingUpOverTheBodyLimit", "200\r\n" + std::string(512, 'x') + "\r\n201\r\n" + std::string(513, 'y') +
                                             "\r\n0\r\n\r\n",
       413},
  };
}

class ChunkedMalformed : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ChunkedMalformed, IsRefusedWithItsExactStatus) {
  const ErrorCase& c = GetParam();
  Decoded d = decode(c.input, c.maxBody);
  ASSERT_EQ(d.status, Status::Error) << "body so far " << ::testing::PrintToString(d.body);
  EXPECT_EQ(d.errorStatus, c.status) << d.reason;
  EXPECT_FALSE(d.reason.empty());
}

TEST_P(ChunkedMalformed, IsRefusedWithTheSameStatusWhenSplitAtEveryBoundary) {
  const ErrorCase& c = GetParam();
  Decoded whole = decode(c.input, c.maxBody);
  for (std::size_t k = 1; k < c.input.size(); ++k) {
    SCOPED_TRACE("split at " + std::to_string(k));
    Decoded d = decodeInPieces(c.input, {k}, c.maxBody);
    ASSERT_EQ(d.status, Status::Error);
    EXPECT_EQ(d.errorStatus, c.status) << d.reason;
    EXPECT_EQ(d.consumed, whole.consumed);  // refused at the same byte
  }
  Decoded d = decodeInPieces(c.input, everyByte(c.input.size()), c.maxBody);
  ASSERT_EQ(d.status, Status::Error);
  EXPECT_EQ(d.errorStatus, c.status) << d.reason;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, ChunkedMalformed, ::testing::ValuesIn(errorCases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

// RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
// with chunk-ext-name = token and chunk-ext-val = token / quoted-string. The decoder's
// header promises extensions are "syntax-checked": anything off this grammar is a framing
// disagreement waiting to happen between two parsers, so it is refused.
TEST(ChunkedDecoderExtensions, ExtensionsOffTheRfcGrammarAreRefused) {
  const char* sizeLines[] = {
      "5 x",             // BWS must be followed by ';'
      "5 5",             // two numbers: which one is the size?
      "5;",              // empty name
      "5;=b",            // empty name with a value
      "5;a=",            // '=' without a value
      "5;a=\"open",      // unterminated quoted-string
      "5;a=b c",         // junk after the value
      "5;a(b)=c",        // non-token name
      "5;a=\"x\"y",      // junk after the quoted-string
  };
  for (const char* line : sizeLines) {
    SCOPED_TRACE(line);
    Decoded d = decode(std::string(line) + "\r\nhello\r\n0\r\n\r\n");
    EXPECT_EQ(d.errorStatus, 400) << (d.status == Status::Error ? d.reason : "accepted as a valid chunk");
  }
}

}  // namespace
