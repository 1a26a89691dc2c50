// WebSocketCodec: see WebSocketCodec.h for the rules and why each was chosen.
#include "ws/WebSocketCodec.h"

#include <Poco/Base64Encoder.h>
#include <Poco/SHA1Engine.h>

#include <algorithm>
#include <cstring>
#include <sstream>

namespace microserver::core {

namespace {

constexpr unsigned char kFin = 0x80;
constexpr unsigned char kRsv = 0x70;
constexpr unsigned char kOpcodeMask = 0x0F;
constexpr unsigned char kMasked = 0x80;
constexpr unsigned char kLengthMask = 0x7F;
constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaskBytes = 4;

// A delivered message buffer up to this size is kept for the next message (no allocation
// per message for chat-sized traffic); a larger one is freed, so thousands of idle
// connections do not each hold the biggest message they ever received.
constexpr std::size_t kKeptMessageCapacity = 4096;

bool isControl(std::uint8_t opcode) { return (opcode & 0x08) != 0; }

bool isKnownOpcode(std::uint8_t opcode) {
  switch (static_cast<WebSocketOpcode>(opcode)) {
    case WebSocketOpcode::Continuation:
    case WebSocketOpcode::Text:
    case WebSocketOpcode::Binary:
    case WebSocketOpcode::Close:
    case WebSocketOpcode::Ping:
    case WebSocketOpcode::Pong:
      return true;
  }
  return false;
}

// RFC 6455 7.4.1/7.4.2 codes an endpoint may send; see the header for why 1012-1014 are not here.
bool isValidReceivedCloseCode(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

// XORs p[0, n) with the 4-byte key, starting at key byte `phase`. After lining the key up,
// 8 bytes go at a time as one word (memcpy keeps it free of alignment and aliasing issues);
// a byte-by-byte loop with `(phase + k) & 3` indexing does not vectorise.
void unmask(unsigned char* p, std::size_t n, const unsigned char* key, std::size_t phase) {
  std::size_t k = 0;
  for (; k < n && ((phase + k) & 3) != 0; ++k) p[k] ^= key[(phase + k) & 3];
  const unsigned char key8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  std::uint64_t keyWord;
  std::memcpy(&keyWord, key8, sizeof keyWord);
  for (; k + 8 <= n; k += 8) {
    std::uint64_t word;
    std::memcpy(&word, p + k, sizeof word);
    word ^= keyWord;
    std::memcpy(p + k, &word, sizeof word);
  }
  for (; k < n; ++k) p[k] ^= key[(phase + k) & 3];
}

// Appends n bytes to `buf`, growing it geometrically but never past `bound` (the end of the
// current frame, itself within maxMessageBytes). std::string::reserve may round a request
// up to twice the old capacity, so growth builds a fresh string of exactly the wanted size.
void appendBounded(std::string& buf, const unsigned char* p, std::size_t n, std::size_t bound) {
  const std::size_t need = buf.size() + n;
  if (need > buf.capacity()) {
    std::string bigger;
    bigger.reserve(std::min(std::max(need, 2 * buf.capacity()), bound));
    bigger.append(buf);
    buf.swap(bigger);
  }
  buf.append(reinterpret_cast<const char*>(p), n);
}

// RFC 9110 5.6.1: `#token`, elements separated by commas with optional whitespace; empty
// elements are allowed and ignored. True if one element equals `token` case-insensitively.
bool listHasToken(std::string_view list, std::string_view token) {
  while (true) {
    const std::size_t comma = list.find(',');
    if (equalsIgnoreCase(trimOws(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

bool isBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// 16 bytes are 128 bits: 21 full base64 characters (126 bits), a 22nd holding the last 2
// bits in its high bits (so its low 4 bits are zero: A, Q, g or w), then "==".
bool isBase64Of16Bytes(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 21; ++i)
    if (!isBase64Char(key[i])) return false;
  return key[21] == 'A' || key[21] == 'Q' || key[21] == 'g' || key[21] == 'w';
}

}  // namespace

// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Decoder

WebSocketDecoder::WebSocketDecoder(WebSocketLimits limits) : limits_(limits) {}

std::string_view WebSocketDecoder::closeReason() const {
  if (phase_ != Phase::Closed || control_.size() < 2) return {};
  return std::string_view(control_).substr(2);
}

bool WebSocketDecoder::fail(std::uint16_t code, const char* reason) {
  phase_ = Phase::Failed;
  errorCode_ = code;
  errorReason_ = reason;
  return false;
}

void WebSocketDecoder::releaseMessage() {
  delivered_ = false;
  if (message_.capacity() > kKeptMessageCapacity)
    std::string().swap(message_);
  else
    message_.clear();
}

WebSocketDecoder::Event WebSocketDecoder::feed(const char* data, std::size_t len, std::size_t& consumed) {
  consumed = 0;
  if (phase_ == Phase::Failed) return Event::Error;
  if (phase_ == Phase::Closed) {
    consumed = len;
    return Event::NeedMore;
  }
  if (delivered_) releaseMessage();

  const auto* in = reinterpret_cast<const unsigned char*>(data);
  std::size_t i = 0;
  while (true) {
    if (phase_ == Phase::Header && !readHeader(in, len, i)) {
      consumed = i;
      return phase_ == Phase::Failed ? Event::Error : Event::NeedMore;
    }
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, len - i));
    if (take > 0) {
      const bool ok = appendPayload(in + i, take);
      i += take;
      if (!ok) {
        consumed = i;
        return Event::Error;
      }
    }
    if (remaining_ > 0) {
      consumed = i;
      return Event::NeedMore;
    }
    const Event event = endFrame();
    if (event != Event::NeedMore) {
      consumed = i;
      return event;
    }
    // A non-final data fragment: go on with the next frame.
  }
}

// Collects the header in three stages, checking each as soon as it is complete, so a bad
// frame is refused on its second byte and an oversized one before its mask key. Returns
// true when the whole header is in; false if it needs more bytes or failed (phase_).
bool WebSocketDecoder::readHeader(const unsigned char* in, std::size_t len, std::size_t& i) {
  while (true) {
    const std::size_t take = std::min<std::size_t>(headerWant_ - headerHave_, len - i);
    if (take > 0) {
      std::memcpy(header_ + headerHave_, in + i, take);
      headerHave_ = static_cast<std::uint8_t>(headerHave_ + take);
      i += take;
    }
    if (headerHave_ < headerWant_) return false;

    switch (stage_) {
      case HeaderStage::Base: {
        if (!checkBaseHeader()) return false;
        const std::uint8_t length7 = header_[1] & kLengthMask;
        if (length7 == 126 || length7 == 127) {
          stage_ = HeaderStage::Length;
          headerWant_ = static_cast<std::uint8_t>(2 + (length7 == 126 ? 2 : 8));
        } else {
          if (!acceptLength(length7, 0)) return false;
          stage_ = HeaderStage::Mask;
          headerWant_ = 2 + kMaskBytes;
        }
        break;
      }
      case HeaderStage::Length: {
        const std::size_t lengthBytes = headerWant_ - 2u;
        std::uint64_t length = 0;
        for (std::size_t k = 0; k < lengthBytes; ++k) length = (length << 8) | header_[2 + k];
        if (!acceptLength(length, lengthBytes)) return false;
        stage_ = HeaderStage::Mask;
        headerWant_ = static_cast<std::uint8_t>(headerWant_ + kMaskBytes);
        break;
      }
      case HeaderStage::Mask:
        startPayload();
        return true;
    }
  }
}

// Everything the first two bytes decide.
bool WebSocketDecoder::checkBaseHeader() {
  const unsigned char b0 = header_[0];
  const unsigned char b1 = header_[1];
  opcode_ = b0 & kOpcodeMask;
  fin_ = (b0 & kFin) != 0;
  if ((b0 & kRsv) != 0) return fail(kCloseProtocolError, "reserved bits set (no extension was negotiated)");
  if (!isKnownOpcode(opcode_)) return fail(kCloseProtocolError, "reserved opcode");
  if ((b1 & kMasked) == 0) return fail(kCloseProtocolError, "client frame is not masked");
  if (isControl(opcode_)) {
    if (!fin_) return fail(kCloseProtocolError, "fragmented control frame");
    // 126 and 127 announce extended lengths, which are all over 125 once minimal.
    if ((b1 & kLengthMask) > kMaxControlPayload)
      return fail(kCloseProtocolError, "control frame payload over 125 bytes");
    return true;
  }
  const auto opcode = static_cast<WebSocketOpcode>(opcode_);
  if (opcode == WebSocketOpcode::Continuation && messageOpcode_ == 0)
    return fail(kCloseProtocolError, "continuation frame without a message in progress");
  if (opcode != WebSocketOpcode::Continuation && messageOpcode_ != 0)
    return fail(kCloseProtocolError, "new data frame while a fragmented message is in progress");
  return true;
}

// Checks the payload length (`lengthBytes` is 0 for the 7-bit form, else 2 or 8).
bool WebSocketDecoder::acceptLength(std::uint64_t length, std::size_t lengthBytes) {
  if (lengthBytes == 8 && (length >> 63) != 0)
    return fail(kCloseProtocolError, "64-bit payload length with the most significant bit set");
  if ((lengthBytes == 2 && length < 126) || (lengthBytes == 8 && length <= 0xFFFF))
    return fail(kCloseProtocolError, "payload length not minimally encoded");
  if (!isControl(opcode_)) {
    // Fragments so far (none for a first frame) plus this one, without overflow.
    const std::size_t sofar = messageOpcode_ != 0 ? message_.size() : 0;
    if (length > limits_.maxMessageBytes - sofar) return fail(kCloseTooBig, "message larger than the limit");
  }
  remaining_ = length;
  return true;
}

void WebSocketDecoder::startPayload() {
  phase_ = Phase::Payload;
  maskPhase_ = 0;
  if (isControl(opcode_)) {
    control_.clear();
  } else if (messageOpcode_ == 0) {
    messageOpcode_ = opcode_;
    message_.clear();
    utf8_.reset();
  }
}

bool WebSocketDecoder::appendPayload(const unsigned char* p, std::size_t n) {
  const unsigned char* key = header_ + headerHave_ - kMaskBytes;
  std::string& buf = isControl(opcode_) ? control_ : message_;
  const std::size_t old = buf.size();
  appendBounded(buf, p, n, old + static_cast<std::size_t>(remaining_));
  auto* out = reinterpret_cast<unsigned char*>(&buf[old]);
  unmask(out, n, key, maskPhase_);
  maskPhase_ = (maskPhase_ + n) & 3;
  remaining_ -= n;
  if (!isControl(opcode_) && messageOpcode_ == static_cast<std::uint8_t>(WebSocketOpcode::Text) && !utf8_.feed(out, n))
    return fail(kCloseInvalidData, "text message is not valid UTF-8");
  return true;
}

// The current frame's payload is complete: returns its event, or NeedMore for a non-final
// data fragment (or Error).
WebSocketDecoder::Event WebSocketDecoder::endFrame() {
  phase_ = Phase::Header;
  stage_ = HeaderStage::Base;
  headerHave_ = 0;
  headerWant_ = 2;
  switch (static_cast<WebSocketOpcode>(opcode_)) {
    case WebSocketOpcode::Ping:
      lastWasMessage_ = false;
      return Event::Ping;
    case WebSocketOpcode::Pong:
      lastWasMessage_ = false;
      return Event::Pong;
    case WebSocketOpcode::Close:
      return endClose();
    default:
      break;
  }
  if (!fin_) return Event::NeedMore;
  const bool text = messageOpcode_ == static_cast<std::uint8_t>(WebSocketOpcode::Text);
  if (text && !utf8_.complete()) {
    fail(kCloseInvalidData, "text message ends inside a UTF-8 character");
    return Event::Error;
  }
  messageOpcode_ = 0;
  lastWasMessage_ = true;
  delivered_ = true;
  return text ? Event::Text : Event::Binary;
}

WebSocketDecoder::Event WebSocketDecoder::endClose() {
  lastWasMessage_ = false;
  if (control_.size() == 1) {
    fail(kCloseProtocolError, "close frame with a 1-byte payload");
    return Event::Error;
  }
  closeCode_ = kCloseNoStatus;
  if (control_.size() >= 2) {
    const auto* p = reinterpret_cast<const unsigned char*>(control_.data());
    const auto code = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
    if (!isValidReceivedCloseCode(code)) {
      fail(kCloseProtocolError, "invalid close code");
      return Event::Error;
    }
    Utf8Validator reason;
    if (!reason.feed(p + 2, control_.size() - 2) || !reason.complete()) {
      fail(kCloseInvalidData, "close reason is not valid UTF-8");
      return Event::Error;
    }
    closeCode_ = code;
  }
  phase_ = Phase::Closed;
  return Event::Close;
}

// ---------------------------------------------------------------------------------------
// Encoder

std::size_t frameHeader(char out[kMaxFrameHeaderBytes], WebSocketOpcode opcode, std::uint64_t payloadLength) {
  out[0] = static_cast<char>(kFin | static_cast<unsigned char>(opcode));
  if (payloadLength < 126) {
    out[1] = static_cast<char>(payloadLength);
    return 2;
  }
  if (payloadLength <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>(payloadLength >> 8);
    out[3] = static_cast<char>(payloadLength & 0xFF);
    return 4;
  }
  out[1] = 127;
  for (int k = 0; k < 8; ++k) out[2 + k] = static_cast<char>((payloadLength >> (56 - 8 * k)) & 0xFF);
  return 10;
}

void appendFrame(std::string& out, WebSocketOpcode opcode, std::string_view payload) {
  if (isControl(static_cast<std::uint8_t>(opcode))) payload = payload.substr(0, kMaxControlPayload);
  char header[kMaxFrameHeaderBytes];
  out.append(header, frameHeader(header, opcode, payload.size()));
  out.append(payload);
}

void appendCloseFrame(std::string& out, std::uint16_t code, std::string_view reason) {
  if (code == kCloseNoStatus || code == 1006 || code == 1015) {
    appendFrame(out, WebSocketOpcode::Close, {});
    return;
  }
  // Cut at a character boundary: never before a continuation byte (10xxxxxx).
  constexpr std::size_t kMaxReason = kMaxControlPayload - 2;
  if (reason.size() > kMaxReason) {
    std::size_t cut = kMaxReason;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  char header[kMaxFrameHeaderBytes];
  out.append(header, frameHeader(header, WebSocketOpcode::Close, 2 + reason.size()));
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason);
}

// ---------------------------------------------------------------------------------------
// Handshake

std::string webSocketAcceptKey(std::string_view clientKey) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  Poco::SHA1Engine sha1;
  sha1.update(clientKey.data(), static_cast<unsigned>(clientKey.size()));
  sha1.update(kGuid.data(), static_cast<unsigned>(kGuid.size()));
  const Poco::DigestEngine::Digest& digest = sha1.digest();
  std::ostringstream encoded;
  Poco::Base64Encoder encoder(encoded);
  encoder.rdbuf()->setLineLength(0);  // one line: the default breaks lines at 72 characters
  encoder.write(reinterpret_cast<const char*>(digest.data()), static_cast<std::streamsize>(digest.size()));
  encoder.close();
  return encoded.str();
}

bool checkWebSocketHandshake(std::string_view method, int versionMinor,
                             const std::function<std::string_view(std::string_view)>& header, std::string& acceptKey,
                             int& status, std::string& reason) {
  auto refuse = [&](int code, const char* text) {
    status = code;
    reason = text;
    return false;
  };
  if (method != "GET") return refuse(400, "a WebSocket handshake must use GET");
  if (versionMinor != 1) return refuse(400, "a WebSocket handshake needs HTTP/1.1");
  if (!listHasToken(header("Upgrade"), "websocket"))
    return refuse(400, "a WebSocket handshake needs 'Upgrade: websocket'");
  if (!listHasToken(header("Connection"), "upgrade"))
    return refuse(400, "a WebSocket handshake needs 'Connection: Upgrade'");
  const std::string_view version = trimOws(header("Sec-WebSocket-Version"));
  if (version.empty()) return refuse(400, "missing Sec-WebSocket-Version (this server speaks version 13)");
  if (version != "13") return refuse(426, "unsupported Sec-WebSocket-Version: answer with 'Sec-WebSocket-Version: 13'");
  const std::string_view key = trimOws(header("Sec-WebSocket-Key"));
  if (!isBase64Of16Bytes(key)) return refuse(400, "Sec-WebSocket-Key must be the base64 of 16 bytes");
  acceptKey = webSocketAcceptKey(key);
  status = 101;
  reason.clear();
  return true;
}

}  // namespace microserver::core
