// Fuzzes the WebSocket frame decoder (core/src/WebSocketCodec.cpp): the client's bytes arrive
// whole and in the pieces the fuzzer chooses (see FuzzInput.h); maxMessageBytes comes from
// the flavour nibble.
//
// Invariants (any violation traps):
//  - whole and split give the same sequence of (event, payload), the same close code and
//    reason for a Close, and the same error code for an Error;
//  - NeedMore consumes every byte given; an event consumes at least one byte and at most
//    what it was given (so the caller's loop always ends);
//  - Text/Binary payloads are at most maxMessageBytes, control payloads at most 125 bytes;
//    a Text payload and a close reason are valid UTF-8 (checked by an independent decoder
//    here); a Close code is one a client may send (or 1005 for none);
//  - after an Error, feed() says Error again and consumes nothing; after a Close, every
//    byte is consumed and ignored.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "FuzzInput.h"
#include "ws/WebSocketCodec.h"

using microserver::core::WebSocketDecoder;
using microserver::core::WebSocketLimits;
using Event = WebSocketDecoder::Event;

namespace {

std::size_t maxMessageFor(unsigned flavour) {
  static const std::size_t kMax[16] = {1 << 20, 1 << 20, 1 << 20, 1 << 20, 0,    1,     2,     3,
                                       125,     126,     127,     1000,    4096, 65535, 65536, 65537};
  return kMax[flavour & 15];
}

// A plain reference decoder for RFC 3629 UTF-8: no overlongs, no surrogates, <= U+10FFFF.
bool validUtf8(const std::string& s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned c = p[i];
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0)
      n = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
      n = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
      n = 3, cp = c & 0x07;
    else
      return false;
    if (n >= s.size() - i) return false;  // cut short
    for (std::size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static const std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool validReceivedCloseCode(std::uint16_t code) {
  return code == 1005 || (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

struct Record {
  Event event;
  std::string payload;
  std::uint16_t code;  // close code for Close, error code for Error
  bool operator==(const Record& o) const { return event == o.event && payload == o.payload && code == o.code; }
};

std::vector<Record> decode(const char* data, const std::vector<std::size_t>& cuts, std::size_t maxMessage) {
  WebSocketDecoder decoder(WebSocketLimits{maxMessage});
  std::vector<Record> events;
  bool closed = false;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    const fuzz::ExactCopy piece(data + from, cut - from);
    from = cut;
    std::size_t at = 0;
    while (at < piece.size()) {
      std::size_t used = 0;
      const Event e = decoder.feed(piece.data() + at, piece.size() - at, used);
      FUZZ_CHECK(used <= piece.size() - at);
      at += used;
      if (closed) FUZZ_CHECK(e == Event::NeedMore && at == piece.size());
      switch (e) {
        case Event::NeedMore:
          FUZZ_CHECK(at == piece.size());
          continue;
        case Event::Error: {
          const std::uint16_t code = decoder.errorCode();
          FUZZ_CHECK(code == 1002 || code == 1007 || code == 1009);
          FUZZ_CHECK(decoder.errorReason() && *decoder.errorReason());
          std::size_t again = 1;
          FUZZ_CHECK(decoder.feed(piece.data(), piece.size(), again) == Event::Error && again == 0);
          FUZZ_CHECK(decoder.errorCode() == code);
          events.push_back({e, {}, code});
          return events;
        }
        case Event::Text:
        case Event::Binary:
          FUZZ_CHECK(used > 0);
          FUZZ_CHECK(decoder.payload().size() <= maxMessage);
          if (e == Event::Text) FUZZ_CHECK(validUtf8(decoder.payload()));
          events.push_back({e, decoder.payload(), 0});
          break;
        case Event::Ping:
        case Event::Pong:
          FUZZ_CHECK(used > 0 && decoder.payload().size() <= 125);
          events.push_back({e, decoder.payload(), 0});
          break;
        case Event::Close: {
          FUZZ_CHECK(used > 0 && decoder.payload().size() <= 125);
          const std::uint16_t code = decoder.closeCode();
          FUZZ_CHECK(validReceivedCloseCode(code));
          FUZZ_CHECK(decoder.payload().size() != 1);
          if (code == 1005)
            FUZZ_CHECK(decoder.payload().empty() && decoder.closeReason().empty());
          else
            FUZZ_CHECK(decoder.closeReason().size() + 2 == decoder.payload().size());
          FUZZ_CHECK(validUtf8(std::string(decoder.closeReason())));
          events.push_back({e, decoder.payload(), code});
          closed = true;
          break;
        }
      }
    }
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::SplitInput in(data, size);
  const std::size_t maxMessage = maxMessageFor(in.flavour);
  std::vector<std::size_t> whole;
  if (in.size > 0) whole.push_back(in.size);
  FUZZ_CHECK(decode(in.payload, whole, maxMessage) == decode(in.payload, in.cuts(), maxMessage));
  return 0;
}
