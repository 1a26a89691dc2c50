// Tests for WebSocketCodec: the strict, incremental RFC 6455 frame decoder, the server-side
// encoder and the opening-handshake check. Valid streams give the same events however the
// bytes are split; every malformed kind fails with its exact close code; memory stays
// within the message limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ws/WebSocketCodec.h"

namespace microserver::core {
// Readable gtest failure messages for decoder events.
void PrintTo(WebSocketDecoder::Event e, std::ostream* os) {
  static const char* const kNames[] = {"NeedMore", "Text", "Binary", "Ping", "Pong", "Close", "Error"};
  *os << kNames[static_cast<int>(e)];
}
}  // namespace microserver::core

namespace {

using microserver::core::appendCloseFrame;
using microserver::core::appendFrame;
using microserver::core::checkWebSocketHandshake;
using microserver::core::frameHeader;
using microserver::core::kMaxFrameHeaderBytes;
using microserver::core::webSocketAcceptKey;
using microserver::core::WebSocketDecoder;
using microserver::core::WebSocketLimits;
using Op = microserver::core::WebSocketOpcode;
using Event = WebSocketDecoder::Event;

// A string literal with every byte, embedded NULs included.
template <std::size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

constexpr std::uint8_t kFin = 0x80;
constexpr std::array<std::uint8_t, 4> kMask = {0x37, 0xfa, 0x21, 0x3d};  // RFC 6455 5.7

// How a test frame encodes its length: minimally, or forced into the 16/64-bit form.
enum class LengthForm { Minimal, Force16, Force64 };

struct FrameSpec {
  std::uint8_t first;  // FIN | RSV | opcode
  std::string payload;
  bool masked = true;
  LengthForm form = LengthForm::Minimal;
  std::array<std::uint8_t, 4> mask = kMask;
};

// Builds a client frame (masked unless told otherwise).
std::string clientFrame(const FrameSpec& f) {
  std::string out(1, static_cast<char>(f.first));
  const std::uint8_t maskBit = f.masked ? 0x80 : 0x00;
  const std::uint64_t n = f.payload.size();
  LengthForm form = f.form;
  if (form == LengthForm::Minimal) form = n < 126 ? form : n <= 0xFFFF ? LengthForm::Force16 : LengthForm::Force64;
  if (form == LengthForm::Minimal) {
    out.push_back(static_cast<char>(maskBit | n));
  } else if (form == LengthForm::Force16) {
    out.push_back(static_cast<char>(maskBit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(maskBit | 127));
    for (int k = 0; k < 8; ++k) out.push_back(static_cast<char>((n >> (56 - 8 * k)) & 0xFF));
  }
  if (!f.masked) return out + f.payload;
  for (std::uint8_t m : f.mask) out.push_back(static_cast<char>(m));
  for (std::size_t i = 0; i < f.payload.size(); ++i)
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(f.payload[i]) ^ f.mask[i % 4]));
  return out;
}

std::string frame(std::uint8_t first, std::string_view payload) { return clientFrame({first, std::string(payload)}); }
std::string text(std::string_view s) { return frame(kFin | 0x1, s); }
std::string binary(std::string_view s) { return frame(kFin | 0x2, s); }
std::string ping(std::string_view s) { return frame(kFin | 0x9, s); }
std::string pong(std::string_view s) { return frame(kFin | 0xA, s); }
std::string closeFrame(std::string_view s) { return frame(kFin | 0x8, s); }
std::string closePayload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  return p.append(reason);
}

// One decoder event, with everything the API reports about it.
struct Ev {
  Event event = Event::NeedMore;
  std::string payload;
  std::uint16_t code = 0;  // closeCode() for Close, errorCode() for Error
  std::string reason;      // closeReason() for Close

  bool operator==(const Ev& o) const {
    return event == o.event && payload == o.payload && code == o.code && reason == o.reason;
  }
};

void PrintTo(const Ev& e, std::ostream* os) {
  *os << ::testing::PrintToString(e.event) << "(" << e.payload.size() << " bytes, code " << e.code << ")";
}

struct Decoded {
  std::vector<Ev> events;
  std::size_t consumed = 0;     // input bytes used, over all feeds
  std::size_t maxCapacity = 0;  // largest payload() capacity seen
};

// Feeds `input` in pieces cut at `cuts` (ascending offsets) the way a connection does:
// received bytes are appended to a buffer, the decoder is fed the buffer until it needs
// more, consumed bytes are dropped. Stops at the first Error.
Decoded decodeInPieces(std::string_view input, const std::vector<std::size_t>& cuts, WebSocketLimits limits = {}) {
  WebSocketDecoder decoder(limits);
  Decoded d;
  std::string pending;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : input.size();
    pending.append(input.substr(from, to - from));
    from = to;
    while (true) {
      std::size_t consumed = 12345;  // must be overwritten
      const Event e = decoder.feed(pending.data(), pending.size(), consumed);
      EXPECT_LE(consumed, pending.size());
      d.consumed += consumed;
      pending.erase(0, consumed);
      if (e == Event::NeedMore) {
        EXPECT_TRUE(pending.empty()) << "NeedMore must consume every byte";
        break;
      }
      Ev ev;
      ev.event = e;
      if (e == Event::Error) {
        ev.code = decoder.errorCode();
        EXPECT_STRNE(decoder.errorReason(), "");
        d.events.push_back(ev);
        return d;
      }
      ev.payload = decoder.payload();
      d.maxCapacity = std::max(d.maxCapacity, decoder.payload().capacity());
      if (e == Event::Close) {
        ev.code = decoder.closeCode();
        ev.reason = std::string(decoder.closeReason());
      }
      d.events.push_back(ev);
      if (pending.empty()) break;
    }
  }
  return d;
}

Decoded decode(std::string_view input, WebSocketLimits limits = {}) { return decodeInPieces(input, {}, limits); }

std::vector<std::size_t> everyByte(std::size_t size) {
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1; k < size; ++k) cuts.push_back(k);
  return cuts;
}

Ev ev(Event e, std::string payload = {}, std::uint16_t code = 0, std::string reason = {}) {
  return {e, std::move(payload), code, std::move(reason)};
}
Ev error(std::uint16_t code) { return {Event::Error, {}, code, {}}; }

// ---------------------------------------------------------------------------------------
// RFC 6455 5.7 examples

TEST(WebSocketDecoder, Rfc6455MaskedHello) {
  const std::string input = bytes("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
  EXPECT_EQ(input, text("Hello"));  // the test helper masks like the RFC
  Decoded d = decode(input);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Text, "Hello"));
  EXPECT_EQ(d.consumed, input.size());
}

TEST(WebSocketDecoder, Rfc6455MaskedPong) {
  Decoded d = decode(bytes("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Pong, "Hello"));
}

TEST(WebSocketDecoder, Rfc6455UnmaskedExamplesAreRefusedFromClients) {
  for (const std::string& input : {bytes("\x81\x05\x48\x65\x6c\x6c\x6f"),     // text "Hello"
                                   bytes("\x01\x03\x48\x65\x6c"),             // fragment "Hel"
                                   bytes("\x89\x05\x48\x65\x6c\x6c\x6f")}) {  // ping "Hello"
    Decoded d = decode(input);
    ASSERT_EQ(d.events.size(), 1u);
    EXPECT_EQ(d.events[0], error(1002));
    EXPECT_EQ(d.consumed, 2u) << "refused on the second byte, before any payload";
  }
}

TEST(WebSocketDecoder, MaskPhaseCarriesAcrossFeedsAndFragments) {
  // Fragments of odd sizes with different keys: unmasking restarts per frame, and a
  // frame split between feeds at any offset continues with the right key byte.
  std::string payload;
  for (int i = 0; i < 300; ++i) payload.push_back(static_cast<char>(i * 7));
  const std::string input = clientFrame({0x2, payload.substr(0, 13), true, LengthForm::Minimal, {1, 2, 3, 4}}) +
                            clientFrame({0x0, payload.substr(13, 200), true, LengthForm::Minimal, {0xff, 0, 0x80, 9}}) +
                            clientFrame({kFin, payload.substr(213), true, LengthForm::Minimal, {0, 0, 0, 0}});
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    Decoded d = decodeInPieces(input, {cut});
    ASSERT_EQ(d.events.size(), 1u) << "cut " << cut;
    ASSERT_EQ(d.events[0], ev(Event::Binary, payload)) << "cut " << cut;
  }
}

// ---------------------------------------------------------------------------------------
// Lengths

TEST(WebSocketDecoder, SixteenBitLength) {
  for (std::size_t n : {126u, 200u, 65535u}) {
    const std::string payload(n, 'x');
    const std::string input = text(payload);
    ASSERT_EQ(static_cast<unsigned char>(input[1]), 0x80 | 126);
    Decoded d = decode(input);
    ASSERT_EQ(d.events.size(), 1u);
    EXPECT_EQ(d.events[0], ev(Event::Text, payload));
  }
}

TEST(WebSocketDecoder, SixtyFourBitLength70000ByteBinary) {
  std::string payload(70000, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i % 251);
  const std::string input = binary(payload);
  ASSERT_EQ(static_cast<unsigned char>(input[1]), 0x80 | 127);
  ASSERT_EQ(input.size(), 2 + 8 + 4 + payload.size());
  Decoded d = decode(input);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Binary, payload));
  // Also in 1000-byte reads, the way a socket delivers it.
  std::vector<std::size_t> cuts;
  for (std::size_t k = 1000; k < input.size(); k += 1000) cuts.push_back(k);
  d = decodeInPieces(input, cuts);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Binary, payload));
}

TEST(WebSocketDecoder, EmptyFramesAndLengthBoundaries) {
  for (std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u}) {
    const std::string payload(n, 'a');
    Decoded d = decode(binary(payload));
    ASSERT_EQ(d.events.size(), 1u) << n;
    EXPECT_EQ(d.events[0], ev(Event::Binary, payload)) << n;
  }
  // A control frame of exactly 125 bytes is fine.
  Decoded d = decode(ping(std::string(125, 'p')));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Ping, std::string(125, 'p')));
}

// ---------------------------------------------------------------------------------------
// Fragmentation and several frames

TEST(WebSocketDecoder, ThreeFragmentsWithPingInTheMiddle) {
  const std::string input =
      frame(0x1, "Hel") + frame(0x0, "lo, ") + ping("are you there?") + frame(kFin | 0x0, "world");
  Decoded d = decode(input);
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(d.events[0], ev(Event::Ping, "are you there?"));
  EXPECT_EQ(d.events[1], ev(Event::Text, "Hello, world"));
  EXPECT_EQ(d.consumed, input.size());
}

TEST(WebSocketDecoder, FeedStopsAfterEachEvent) {
  const std::string first = text("one");
  const std::string input = first + binary("two") + ping("") + pong("p");
  WebSocketDecoder decoder;
  std::size_t consumed = 0;
  ASSERT_EQ(decoder.feed(input.data(), input.size(), consumed), Event::Text);
  EXPECT_EQ(consumed, first.size()) << "the bytes after the event belong to the next call";
  EXPECT_EQ(decoder.payload(), "one");
  std::size_t offset = consumed;
  ASSERT_EQ(decoder.feed(input.data() + offset, input.size() - offset, consumed), Event::Binary);
  EXPECT_EQ(decoder.payload(), "two");
  offset += consumed;
  ASSERT_EQ(decoder.feed(input.data() + offset, input.size() - offset, consumed), Event::Ping);
  EXPECT_EQ(decoder.payload(), "");
  offset += consumed;
  ASSERT_EQ(decoder.feed(input.data() + offset, input.size() - offset, consumed), Event::Pong);
  EXPECT_EQ(decoder.payload(), "p");
  offset += consumed;
  EXPECT_EQ(offset, input.size());
  EXPECT_EQ(decoder.feed(input.data() + offset, 0, consumed), Event::NeedMore);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(decoder.feed(nullptr, 0, consumed), Event::NeedMore);
}

TEST(WebSocketDecoder, FragmentedMessagesOneAfterAnother) {
  const std::string input = frame(0x2, "ab") + frame(kFin | 0x0, "cd") + frame(0x1, "ef") + pong("x") + frame(0x0, "") +
                            frame(kFin | 0x0, "gh") + text("") + frame(0x1, "") + frame(kFin, "");
  Decoded d = decode(input);
  ASSERT_EQ(d.events.size(), 5u);
  EXPECT_EQ(d.events[0], ev(Event::Binary, "abcd"));
  EXPECT_EQ(d.events[1], ev(Event::Pong, "x"));
  EXPECT_EQ(d.events[2], ev(Event::Text, "efgh"));
  EXPECT_EQ(d.events[3], ev(Event::Text, ""));
  EXPECT_EQ(d.events[4], ev(Event::Text, ""));
}

TEST(WebSocketDecoder, Utf8CharacterSplitAcrossFragments) {
  // "€" is E2 82 AC; "😀" is F0 9F 98 80.
  const std::string input =
      frame(0x1, "\xE2") + frame(0x0, "\x82") + ping("") + frame(0x0, "\xAC\xF0\x9F") + frame(kFin | 0x0, "\x98\x80");
  Decoded d = decode(input);
  ASSERT_EQ(d.events.size(), 2u);
  EXPECT_EQ(d.events[1], ev(Event::Text, "\xE2\x82\xAC\xF0\x9F\x98\x80"));
}

// A stream with every kind of event, decoded whole, split once at every offset, split at
// every pair of offsets, and fed one byte at a time: the events must be identical.
TEST(WebSocketDecoder, EverySplitGivesIdenticalEvents) {
  const std::string input = text("caf\xC3\xA9") + frame(0x2, std::string(130, 'b')) + ping("mid") +
                            frame(0x0, bytes("\x00\x01")) + pong("") + frame(kFin | 0x0, "end") + text("") +
                            frame(0x1, "\xF0\x9F") + frame(kFin | 0x0, "\x98\x80") +
                            closeFrame(closePayload(1000, "bye"));
  const std::vector<Ev> expected = {
      ev(Event::Text, "caf\xC3\xA9"),
      ev(Event::Ping, "mid"),
      ev(Event::Pong, ""),
      ev(Event::Binary, std::string(130, 'b') + bytes("\x00\x01") + "end"),
      ev(Event::Text, ""),
      ev(Event::Text, "\xF0\x9F\x98\x80"),
      ev(Event::Close, closePayload(1000, "bye"), 1000, "bye"),
  };
  Decoded whole = decode(input);
  ASSERT_EQ(whole.events, expected);
  EXPECT_EQ(whole.consumed, input.size());
  for (std::size_t a = 0; a <= input.size(); ++a) {
    Decoded d = decodeInPieces(input, {a});
    ASSERT_EQ(d.events, expected) << "cut at " << a;
    ASSERT_EQ(d.consumed, input.size());
    for (std::size_t b = a; b <= input.size(); ++b) {
      d = decodeInPieces(input, {a, b});
      ASSERT_EQ(d.events, expected) << "cuts at " << a << ", " << b;
    }
  }
  Decoded trickled = decodeInPieces(input, everyByte(input.size()));
  EXPECT_EQ(trickled.events, expected);
  EXPECT_EQ(trickled.consumed, input.size());
}

// ---------------------------------------------------------------------------------------
// Errors: each with its exact close code, however the input is split.

struct ErrorCase {
  std::string name;
  std::string input;
  std::uint16_t code;
  std::size_t eventsBefore = 0;  // valid events expected before the error
  std::size_t maxMessageBytes = 1 << 20;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

std::vector<ErrorCase> errorCases() {
  std::vector<ErrorCase> cases = {
      {"UnmaskedText", clientFrame({kFin | 0x1, "Hello", false}), 1002},
      {"UnmaskedBinaryEmpty", clientFrame({kFin | 0x2, "", false}), 1002},
      {"UnmaskedClose", clientFrame({kFin | 0x8, "", false}), 1002},
      {"Rsv1", frame(kFin | 0x40 | 0x1, "x"), 1002},
      {"Rsv2", frame(kFin | 0x20 | 0x1, "x"), 1002},
      {"Rsv3", frame(kFin | 0x10 | 0x2, "x"), 1002},
      {"Rsv1OnPing", frame(kFin | 0x40 | 0x9, ""), 1002},
      {"PingWithoutFin", frame(0x9, "x"), 1002},
      {"PongWithoutFin", frame(0xA, ""), 1002},
      {"CloseWithoutFin", frame(0x8, closePayload(1000)), 1002},
      {"Ping126Bytes", ping(std::string(126, 'x')), 1002},
      {"PongLength126FormForSmallPayload", clientFrame({kFin | 0xA, "x", true, LengthForm::Force16}), 1002},
      {"CloseLength64Form", clientFrame({kFin | 0x8, std::string(70000, 'x')}), 1002},
      {"ContinuationWithoutMessage", frame(kFin | 0x0, "x"), 1002},
      {"NonFinalContinuationWithoutMessage", frame(0x0, "x"), 1002},
      {"ContinuationAfterFinishedMessage", text("a") + frame(kFin | 0x0, "b"), 1002, 1},
      {"TextDuringFragmentedText", frame(0x1, "a") + text("b"), 1002},
      {"BinaryDuringFragmentedText", frame(0x1, "a") + ping("") + binary("b"), 1002, 1},
      {"NonFinalTextDuringFragmentedBinary", frame(0x2, "a") + frame(0x1, "b"), 1002},
      {"Length64WithMsbSet", bytes("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00") + "mask", 1002},
      {"Length64AllOnes", bytes("\x82\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF") + "mask", 1002},
      {"NonMinimal16For5", clientFrame({kFin | 0x1, "Hello", true, LengthForm::Force16}), 1002},
      {"NonMinimal16For0", clientFrame({kFin | 0x2, "", true, LengthForm::Force16}), 1002},
      {"NonMinimal16For125", clientFrame({kFin | 0x2, std::string(125, 'x'), true, LengthForm::Force16}), 1002},
      {"NonMinimal64For100", clientFrame({kFin | 0x2, std::string(100, 'x'), true, LengthForm::Force64}), 1002},
      {"NonMinimal64For65535", clientFrame({kFin | 0x2, std::string(65535, 'x'), true, LengthForm::Force64}), 1002},
      {"NonMinimalContinuation", frame(0x2, "a") + clientFrame({kFin, "b", true, LengthForm::Force16}), 1002},
      {"MessageOverLimit", binary(std::string(101, 'x')), 1009, 0, 100},
      {"TextOverLimit64BitHeader", text(std::string(70000, 'x')), 1009, 0, 65536},
      {"FragmentsOverLimit", frame(0x1, std::string(60, 'x')) + frame(kFin, std::string(41, 'x')), 1009, 0, 100},
      {"FragmentsOverLimitAfterPing", frame(0x2, std::string(100, 'x')) + ping("") + frame(kFin, "x"), 1009, 1, 100},
      {"HugeDeclaredLength", bytes("\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF") + "mask", 1009},
      {"InvalidUtf8Text", text("\xFF"), 1007},
      {"InvalidUtf8InLaterFragment", frame(0x1, "ok") + frame(kFin, "\xC0\x80"), 1007},
      {"TextEndsInsideCharacter", frame(0x1, "\xE2\x82") + frame(kFin, ""), 1007},
      {"OneByteClose", closeFrame("\x03"), 1002},
      {"CloseReasonInvalidUtf8", closeFrame(closePayload(1000, "\xED\xA0\x80")), 1007},
      {"CloseReasonTruncatedUtf8", closeFrame(closePayload(1001, "\xE2\x82")), 1007},
  };
  // Every reserved opcode, data (3-7) and control (B-F).
  for (int op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF})
    cases.push_back({"ReservedOpcode" + std::to_string(op), frame(static_cast<std::uint8_t>(kFin | op), ""), 1002});
  // Close codes that must not be received (RFC 6455 7.4).
  for (int code : {0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535})
    cases.push_back(
        {"CloseCode" + std::to_string(code), closeFrame(closePayload(static_cast<std::uint16_t>(code))), 1002});
  return cases;
}

class WebSocketErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(WebSocketErrors, FailsWithExactCodeHoweverSplit) {
  const ErrorCase& c = GetParam();
  const WebSocketLimits limits{c.maxMessageBytes};
  Decoded d = decode(c.input, limits);
  ASSERT_EQ(d.events.size(), c.eventsBefore + 1);
  EXPECT_EQ(d.events.back(), error(c.code));
  if (c.input.size() < 1000) {
    Decoded trickled = decodeInPieces(c.input, everyByte(c.input.size()), limits);
    EXPECT_EQ(trickled.events, d.events);
    // The error is found at the same byte. (Invalid UTF-8 is checked per piece of payload,
    // so in one piece the whole piece is consumed.)
    if (c.code != 1007) {
      EXPECT_EQ(trickled.consumed, d.consumed);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, WebSocketErrors, ::testing::ValuesIn(errorCases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(WebSocketDecoder, HeaderErrorsAreFoundBeforeThePayload) {
  // Too big: refused on the length, before the mask key and the payload are read.
  const std::string big = binary(std::string(101, 'x'));
  Decoded d = decode(big, WebSocketLimits{100});
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.consumed, 2u);
  d = decode(text(std::string(70000, 'x')), WebSocketLimits{65536});
  EXPECT_EQ(d.consumed, 10u);
  d = decode(frame(0x1, std::string(60, 'x')) + frame(kFin, std::string(41, 'x')), WebSocketLimits{100});
  EXPECT_EQ(d.consumed, 2 + 4 + 60 + 2u);
  // A message exactly at the limit is fine.
  d = decode(frame(0x1, std::string(60, 'x')) + frame(kFin, std::string(40, 'x')), WebSocketLimits{100});
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].payload.size(), 100u);
  // Invalid UTF-8 is refused as soon as the bad byte arrives, not at the end of the
  // message: fed byte by byte, the decoder stops reading at it.
  const std::string badText = text("abc\xC1" + std::string(1000, 'x'));
  d = decodeInPieces(badText, everyByte(badText.size()));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], error(1007));
  EXPECT_EQ(d.consumed, 2 + 2 + 4 + 4u);
}

TEST(WebSocketDecoder, ErrorIsSticky) {
  WebSocketDecoder decoder;
  const std::string bad = clientFrame({kFin | 0x1, "x", false});
  std::size_t consumed = 0;
  ASSERT_EQ(decoder.feed(bad.data(), bad.size(), consumed), Event::Error);
  EXPECT_EQ(decoder.errorCode(), 1002);
  const std::string good = text("fine");
  EXPECT_EQ(decoder.feed(good.data(), good.size(), consumed), Event::Error);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(decoder.errorCode(), 1002);
  EXPECT_EQ(decoder.feed(nullptr, 0, consumed), Event::Error);
}

// ---------------------------------------------------------------------------------------
// UTF-8

TEST(WebSocketDecoder, Utf8Validation) {
  struct Case {
    const char* name;
    std::string s;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"Ascii", "hello", true},
      {"Nul", bytes("a\x00z"), true},
      {"TwoByteMin", "\xC2\x80", true},            // U+0080
      {"TwoByteMax", "\xDF\xBF", true},            // U+07FF
      {"ThreeByteMin", "\xE0\xA0\x80", true},      // U+0800
      {"BeforeSurrogates", "\xED\x9F\xBF", true},  // U+D7FF
      {"AfterSurrogates", "\xEE\x80\x80", true},   // U+E000
      {"Bmp Max", "\xEF\xBF\xBF", true},           // U+FFFF
      {"FourByteMin", "\xF0\x90\x80\x80", true},   // U+10000
      {"UnicodeMax", "\xF4\x8F\xBF\xBF", true},    // U+10FFFF
      {"LongMixed", std::string(37, 'a') + "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5" + std::string(20, 'z'), true},
      {"OverlongSlash2", "\xC0\xAF", false},
      {"OverlongNul2", "\xC0\x80", false},
      {"OverlongC1", "\xC1\xBF", false},
      {"Overlong3", "\xE0\x80\xAF", false},
      {"Overlong3Max", "\xE0\x9F\xBF", false},
      {"Overlong4", "\xF0\x80\x80\xAF", false},
      {"Overlong4Max", "\xF0\x8F\xBF\xBF", false},
      {"SurrogateHigh", "\xED\xA0\x80", false},  // U+D800
      {"SurrogateLow", "\xED\xBF\xBF", false},   // U+DFFF
      {"SurrogatePair", "\xED\xA0\xBD\xED\xB2\xA9", false},
      {"AboveMax", "\xF4\x90\x80\x80", false},  // U+110000
      {"F5", "\xF5\x80\x80\x80", false},
      {"FE", "\xFE", false},
      {"FF", "\xFF", false},
      {"LoneContinuation", "a\x80", false},
      {"MissingContinuation", "\xC3(", false},
      {"TruncatedAtEnd", "ok\xE2\x82", false},
      {"TruncatedFourByte", "\xF0\x9F\x98", false},
      {"InvalidAfterAsciiRun", std::string(64, 'a') + "\xFF", false},
  };
  for (const Case& c : cases) {
    Decoded d = decode(text(c.s));
    ASSERT_EQ(d.events.size(), 1u) << c.name;
    if (c.valid)
      EXPECT_EQ(d.events[0], ev(Event::Text, c.s)) << c.name;
    else
      EXPECT_EQ(d.events[0], error(1007)) << c.name;
    // Binary messages are not checked.
    d = decode(binary(c.s));
    EXPECT_EQ(d.events[0], ev(Event::Binary, c.s)) << c.name;
    // Split across fragments at every offset: the same verdict.
    for (std::size_t k = 0; k <= c.s.size(); ++k) {
      d = decode(frame(0x1, c.s.substr(0, k)) + frame(kFin, c.s.substr(k)));
      ASSERT_EQ(d.events.size(), 1u);
      EXPECT_EQ(d.events[0].event, c.valid ? Event::Text : Event::Error) << c.name << " split at " << k;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Close

TEST(WebSocketDecoder, CloseWithoutPayloadReports1005) {
  Decoded d = decode(closeFrame(""));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Close, "", 1005, ""));
}

TEST(WebSocketDecoder, CloseWithValidCodes) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    const auto c = static_cast<std::uint16_t>(code);
    Decoded d = decode(closeFrame(closePayload(c)));
    ASSERT_EQ(d.events.size(), 1u) << code;
    EXPECT_EQ(d.events[0], ev(Event::Close, closePayload(c), c, "")) << code;
  }
  const std::string reason = "going away \xE2\x9C\x93";
  Decoded d = decode(closeFrame(closePayload(1001, reason)));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Close, closePayload(1001, reason), 1001, reason));
}

TEST(WebSocketDecoder, CloseDuringFragmentedMessage) {
  Decoded d = decode(frame(0x1, "partial") + closeFrame(closePayload(1000)));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].event, Event::Close);
}

TEST(WebSocketDecoder, BytesAfterCloseAreIgnored) {
  WebSocketDecoder decoder;
  const std::string input = closeFrame(closePayload(1000)) + text("late") + "garbage";
  std::size_t consumed = 0;
  ASSERT_EQ(decoder.feed(input.data(), input.size(), consumed), Event::Close);
  const std::size_t rest = input.size() - consumed;
  EXPECT_EQ(decoder.feed(input.data() + consumed, rest, consumed), Event::NeedMore);
  EXPECT_EQ(consumed, rest);
  EXPECT_EQ(decoder.closeCode(), 1000);
}

// ---------------------------------------------------------------------------------------
// Memory

TEST(WebSocketDecoder, BufferNeverExceedsTheMessageLimit) {
  const std::size_t limit = 70000;
  std::string payload(limit, 'm');
  const std::string input = binary(payload);
  for (std::size_t piece : {1u, 7u, 100u, 1000u, 4096u, 65536u}) {
    std::vector<std::size_t> cuts;
    for (std::size_t k = piece; k < input.size(); k += piece) cuts.push_back(k);
    Decoded d = decodeInPieces(input, cuts, WebSocketLimits{limit});
    ASSERT_EQ(d.events.size(), 1u);
    EXPECT_EQ(d.events[0].payload.size(), limit);
    EXPECT_LE(d.maxCapacity, limit) << "pieces of " << piece;
  }
}

TEST(WebSocketDecoder, MemoryFollowsReceivedBytesNotAnnouncedLength) {
  // A header announcing 1 MiB followed by a trickle must not reserve 1 MiB.
  WebSocketDecoder decoder;
  std::string head = binary(std::string(1 << 20, 'x')).substr(0, 2 + 8 + 4 + 10);
  std::size_t consumed = 0;
  ASSERT_EQ(decoder.feed(head.data(), head.size(), consumed), Event::NeedMore);
  EXPECT_LT(decoder.payload().capacity(), 1024u);
}

TEST(WebSocketDecoder, LargeMessageBufferIsReleasedAfterDelivery) {
  WebSocketDecoder decoder;
  const std::string big = binary(std::string(100000, 'b'));
  const std::string small = text("hi");
  std::size_t consumed = 0;
  ASSERT_EQ(decoder.feed(big.data(), big.size(), consumed), Event::Binary);
  EXPECT_GE(decoder.payload().capacity(), 100000u);
  ASSERT_EQ(decoder.feed(small.data(), small.size(), consumed), Event::Text);
  EXPECT_EQ(decoder.payload(), "hi");
  EXPECT_LT(decoder.payload().capacity(), 100000u);
}

// ---------------------------------------------------------------------------------------
// Encoder

std::string header(Op op, std::uint64_t length) {
  char out[kMaxFrameHeaderBytes];
  return std::string(out, frameHeader(out, op, length));
}

TEST(WebSocketEncoder, HeaderLengths) {
  EXPECT_EQ(header(Op::Text, 0), bytes("\x81\x00"));
  EXPECT_EQ(header(Op::Text, 5), bytes("\x81\x05"));
  EXPECT_EQ(header(Op::Binary, 125), bytes("\x82\x7D"));
  EXPECT_EQ(header(Op::Binary, 126), bytes("\x82\x7E\x00\x7E"));
  EXPECT_EQ(header(Op::Binary, 256), bytes("\x82\x7E\x01\x00"));  // RFC 6455 5.7
  EXPECT_EQ(header(Op::Binary, 65535), bytes("\x82\x7E\xFF\xFF"));
  EXPECT_EQ(header(Op::Binary, 65536), bytes("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"));  // RFC 6455 5.7
  EXPECT_EQ(header(Op::Binary, 0x0123456789ABCDEFull), bytes("\x82\x7F\x01\x23\x45\x67\x89\xAB\xCD\xEF"));
  EXPECT_EQ(header(Op::Ping, 0), bytes("\x89\x00"));
  EXPECT_EQ(header(Op::Pong, 3), bytes("\x8A\x03"));
}

TEST(WebSocketEncoder, Frames) {
  std::string out;
  appendFrame(out, Op::Text, "Hello");
  EXPECT_EQ(out, bytes("\x81\x05\x48\x65\x6c\x6c\x6f"));  // RFC 6455 5.7, unmasked
  out.clear();
  appendFrame(out, Op::Ping, "Hello");
  EXPECT_EQ(out, bytes("\x89\x05\x48\x65\x6c\x6c\x6f"));
  out = "keep";
  appendFrame(out, Op::Binary, std::string(300, 'z'));
  EXPECT_EQ(out, "keep" + bytes("\x82\x7E\x01\x2C") + std::string(300, 'z')) << "appends";
  out.clear();
  appendFrame(out, Op::Pong, std::string(200, 'p'));
  EXPECT_EQ(out, bytes("\x8A\x7D") + std::string(125, 'p')) << "control payload cut to 125";
}

TEST(WebSocketEncoder, CloseFrames) {
  std::string out;
  appendCloseFrame(out, 1000, "bye");
  EXPECT_EQ(out, bytes("\x88\x05\x03\xE8") + "bye");
  out.clear();
  appendCloseFrame(out, 1009, "");
  EXPECT_EQ(out, bytes("\x88\x02\x03\xF1"));
  for (std::uint16_t reserved : {1005, 1006, 1015}) {
    out.clear();
    appendCloseFrame(out, reserved, "ignored");
    EXPECT_EQ(out, bytes("\x88\x00")) << reserved;
  }
  // A long reason is cut to 123 bytes, never inside a character: 122 ASCII + "€" would
  // cut the euro sign, so it is dropped whole.
  out.clear();
  appendCloseFrame(out, 1001, std::string(122, 'r') + "\xE2\x82\xAC" + "tail");
  EXPECT_EQ(out, bytes("\x88\x7C\x03\xE9") + std::string(122, 'r'));
  out.clear();
  appendCloseFrame(out, 1001, std::string(200, 'r'));
  EXPECT_EQ(out.size(), 2 + 125u);
}

TEST(WebSocketEncoder, CloseFrameRoundTripsThroughTheDecoder) {
  // Our own close frame, masked as a client would send it, decodes to the same code and reason.
  std::string out;
  appendCloseFrame(out, 4000, "custom \xC3\xA9");
  const std::string payload = out.substr(2);
  Decoded d = decode(closeFrame(payload));
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0], ev(Event::Close, payload, 4000, "custom \xC3\xA9"));
}

// ---------------------------------------------------------------------------------------
// Handshake

TEST(WebSocketHandshake, Rfc6455AcceptKey) {
  EXPECT_EQ(webSocketAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

struct Handshake {
  std::string method = "GET";
  int versionMinor = 1;
  std::map<std::string, std::string> headers = {
      {"host", "server.example.com"},  {"upgrade", "websocket"},
      {"connection", "Upgrade"},       {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"sec-websocket-version", "13"}, {"origin", "http://example.com"},
  };
  std::string acceptKey;
  int status = 0;
  std::string reason;

  Handshake& set(const std::string& name, const std::string& value) {
    headers[lower(name)] = value;
    return *this;
  }
  Handshake& remove(const std::string& name) {
    headers.erase(lower(name));
    return *this;
  }
  bool check() {
    auto lookup = [this](std::string_view name) -> std::string_view {
      auto it = headers.find(lower(std::string(name)));
      return it == headers.end() ? std::string_view() : std::string_view(it->second);
    };
    return checkWebSocketHandshake(method, versionMinor, lookup, acceptKey, status, reason);
  }
  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
};

TEST(WebSocketHandshake, AcceptsTheRfcExample) {
  Handshake h;
  ASSERT_TRUE(h.check()) << h.reason;
  EXPECT_EQ(h.status, 101);
  EXPECT_EQ(h.acceptKey, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, AcceptsListsAndAnyCase) {
  for (const char* connection : {"keep-alive, Upgrade", "upgrade", "UPGRADE", "Upgrade,keep-alive", " , upgrade ,"}) {
    Handshake h;
    h.set("Connection", connection);
    EXPECT_TRUE(h.check()) << connection << ": " << h.reason;
  }
  for (const char* upgrade : {"WebSocket", "WEBSOCKET", "websocket, h2c", " websocket "}) {
    Handshake h;
    h.set("Upgrade", upgrade);
    EXPECT_TRUE(h.check()) << upgrade << ": " << h.reason;
  }
  Handshake h;
  h.set("Sec-WebSocket-Key", " AAAAAAAAAAAAAAAAAAAAAA== ").set("Sec-WebSocket-Version", " 13 ");
  EXPECT_TRUE(h.check()) << h.reason;
  EXPECT_EQ(h.acceptKey, webSocketAcceptKey("AAAAAAAAAAAAAAAAAAAAAA=="));
}

struct Refusal {
  std::string name;
  std::function<void(Handshake&)> change;
  int status;
};

void PrintTo(const Refusal& r, std::ostream* os) { *os << r.name; }

class WebSocketHandshakeRefusals : public ::testing::TestWithParam<Refusal> {};

TEST_P(WebSocketHandshakeRefusals, RefusedWithStatus) {
  Handshake h;
  GetParam().change(h);
  EXPECT_FALSE(h.check());
  EXPECT_EQ(h.status, GetParam().status);
  EXPECT_FALSE(h.reason.empty());
  EXPECT_TRUE(h.acceptKey.empty());
}

INSTANTIATE_TEST_SUITE_P(
    All, WebSocketHandshakeRefusals,
    ::testing::Values(
        Refusal{"Post", [](Handshake& h) { h.method = "POST"; }, 400},
        Refusal{"LowercaseGet", [](Handshake& h) { h.method = "get"; }, 400},
        Refusal{"Http10", [](Handshake& h) { h.versionMinor = 0; }, 400},
        Refusal{"MissingUpgrade", [](Handshake& h) { h.remove("Upgrade"); }, 400},
        Refusal{"WrongUpgrade", [](Handshake& h) { h.set("Upgrade", "h2c"); }, 400},
        Refusal{"UpgradeNotAToken", [](Handshake& h) { h.set("Upgrade", "websockets"); }, 400},
        Refusal{"MissingConnection", [](Handshake& h) { h.remove("Connection"); }, 400},
        Refusal{"ConnectionWithoutUpgradeToken", [](Handshake& h) { h.set("Connection", "keep-alive"); }, 400},
        Refusal{"ConnectionUpgradeAsSubstring", [](Handshake& h) { h.set("Connection", "upgrade-please"); }, 400},
        Refusal{"MissingVersion", [](Handshake& h) { h.remove("Sec-WebSocket-Version"); }, 400},
        Refusal{"Version8", [](Handshake& h) { h.set("Sec-WebSocket-Version", "8"); }, 426},
        Refusal{"Version14", [](Handshake& h) { h.set("Sec-WebSocket-Version", "14"); }, 426},
        Refusal{"VersionList", [](Handshake& h) { h.set("Sec-WebSocket-Version", "13, 8"); }, 426},
        Refusal{"MissingKey", [](Handshake& h) { h.remove("Sec-WebSocket-Key"); }, 400},
        Refusal{"KeyOf15Bytes", [](Handshake& h) { h.set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"); }, 400},
        Refusal{"KeyOf17Bytes", [](Handshake& h) { h.set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA="); }, 400},
        Refusal{"KeyWithoutPadding", [](Handshake& h) { h.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"); }, 400},
        Refusal{"KeyNotBase64", [](Handshake& h) { h.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j!Q=="); }, 400},
        Refusal{"KeyWithStrayBits", [](Handshake& h) { h.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR=="); }, 400},
        Refusal{"KeyPlainText", [](Handshake& h) { h.set("Sec-WebSocket-Key", "not a key"); }, 400}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return info.param.name; });

TEST(WebSocketHandshake, WrongVersionReasonNamesTheHeaderToSend) {
  Handshake h;
  h.set("Sec-WebSocket-Version", "8");
  ASSERT_FALSE(h.check());
  EXPECT_NE(h.reason.find("Sec-WebSocket-Version: 13"), std::string::npos) << h.reason;
}

}  // namespace
