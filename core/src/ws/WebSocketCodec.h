// WebSocketCodec: the server side of RFC 6455. An incremental, strict frame decoder for
// client-to-server frames, the encoder for server-to-client frames, and the opening
// handshake check.
//
// A reactor receives bytes in arbitrary pieces, so the decoder is a pure state machine
// over bytes, like HttpParser and ChunkedDecoder: it never blocks, never reads past the
// event it returns, and its work is linear in the bytes fed. A fuzzer is pointed at it,
// so every rule below holds for any input, and no hostile input can make it crash, loop
// or allocate without bound.
//
// Decoder rules (each has a test). Every violation fails the connection with the close
// code the server must send (RFC 6455 7.4.1): 1002 protocol error, 1007 invalid UTF-8,
// 1009 message too big.
//  - Client frames MUST be masked (RFC 6455 5.1, 5.3): unmasked -> 1002. The mask keeps
//    a script from putting chosen bytes on the wire to confuse intermediaries.
//  - RSV1-3 must be 0: no extension (permessage-deflate...) is ever negotiated -> 1002.
//  - Opcodes other than 0x0-0x2 and 0x8-0xA are reserved -> 1002.
//  - Control frames (close 0x8, ping 0x9, pong 0xA) must have FIN set and a payload of
//    at most 125 bytes (RFC 6455 5.5) -> 1002. Both are checked on the frame's second
//    byte, so a control frame never costs more than 125 bytes of buffer.
//  - Control frames may arrive between the fragments of a data message (RFC 6455 5.4);
//    each is returned as its own event and the message being reassembled is untouched.
//  - A continuation frame without a message in progress, or a new Text/Binary frame
//    while one is in progress -> 1002 (RFC 6455 5.4: fragments are never interleaved).
//  - A 64-bit length with the most significant bit set -> 1002 (RFC 6455 5.2).
//  - Lengths must be minimally encoded: the 16-bit form for 126..65535 only, the 64-bit
//    form for 65536 and up; anything else -> 1002. RFC 6455 5.2 says the minimal number
//    of bytes MUST be used; no real client sends other forms, and accepting two encodings
//    of one frame only helps someone hide frames from a middlebox that reads one of them.
//  - A data message whose total length (fragments so far + this frame) would exceed
//    WebSocketLimits::maxMessageBytes -> 1009, decided from the frame header alone,
//    before any of its payload is buffered. Control frames are bounded by 125 instead.
//  - Text messages must be valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
//    nothing above U+10FFFF) -> 1007. The check runs over the reassembled message, so a
//    character may be split across fragments; it runs incrementally as bytes arrive, so
//    the first invalid byte fails the connection at once (RFC 6455 8.1 allows this, and
//    a hostile client cannot make us buffer a megabyte we will refuse anyway).
//  - Close payload: empty (code 1005 is reported), or a 2-byte code followed by a UTF-8
//    reason. A 1-byte payload -> 1002. The code must be 1000-1003, 1007-1011 or 3000-4999
//    (RFC 6455 7.4; 1004/1005/1006/1015 are reserved never to be sent, and the rest of
//    0-2999 is unassigned or, like 1012-1014, registered after RFC 6455 for servers, so a
//    client sending it is in error) -> 1002. An invalid reason -> 1007.
//  - After a Close event the connection is closing (RFC 6455 5.5.1: nothing may follow a
//    Close frame): later bytes are consumed and ignored, feed() returns NeedMore.
//  - After an Error, feed() returns Error again, consuming nothing (sticky): the caller
//    sends a Close with errorCode() and closes the socket.
//
// Memory: the decoder holds the data message being reassembled (never more than
// maxMessageBytes, and its capacity grows with the bytes actually received, never with
// what a header merely announces), at most 125 bytes of control payload, and one frame
// header (at most 14 bytes). A message buffer above a small size is released once the
// message has been delivered, so an idle connection keeps no large buffer.
#pragma once

#include "microserver/Text.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace microserver::core {

enum class WebSocketOpcode : std::uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

struct WebSocketLimits {
  std::size_t maxMessageBytes = 1 << 20;  // a whole (reassembled) data message
};

// Close codes the server sends or reports (RFC 6455 7.4.1).
constexpr std::uint16_t kCloseNormal = 1000;
constexpr std::uint16_t kCloseProtocolError = 1002;
constexpr std::uint16_t kCloseNoStatus = 1005;  // reported, never sent on the wire
constexpr std::uint16_t kCloseInvalidData = 1007;
constexpr std::uint16_t kCloseTooBig = 1009;

// Decodes the frames a client sends, one event at a time. Not thread-safe: one decoder
// per connection, used on that connection's reactor thread.
class WebSocketDecoder {
 public:
  enum class Event { NeedMore, Text, Binary, Ping, Pong, Close, Error };

  explicit WebSocketDecoder(WebSocketLimits limits = {});

  // Consumes bytes from data[0, len) up to and including the first complete event: a
  // whole reassembled data message, or one control frame. `consumed` is how many bytes
  // were used; call again with the rest. On NeedMore every byte was consumed (partial
  // frames are kept inside), so the caller never has to keep input around. On Error,
  // `consumed` is how far the decoder read; the rest is to be dropped.
  Event feed(const char* data, std::size_t len, std::size_t& consumed);

  // The unmasked payload of the last Text/Binary/Ping/Pong/Close event (for Close the
  // raw payload: code and reason). Valid until the next feed().
  const std::string& payload() const { return lastWasMessage_ ? message_ : control_; }

  // Of the last Close event: its code (1005 if the frame had none) and reason (UTF-8).
  std::uint16_t closeCode() const { return closeCode_; }
  std::string_view closeReason() const;

  // On Error: the close code to send (1002, 1007 or 1009) and a short static text for logs.
  std::uint16_t errorCode() const { return errorCode_; }
  const char* errorReason() const { return errorReason_; }

 private:
  enum class Phase : std::uint8_t { Header, Payload, Closed, Failed };
  enum class HeaderStage : std::uint8_t { Base, Length, Mask };

  bool readHeader(const unsigned char* in, std::size_t len, std::size_t& i);
  bool checkBaseHeader();
  bool acceptLength(std::uint64_t length, std::size_t lengthBytes);
  void startPayload();
  bool appendPayload(const unsigned char* p, std::size_t n);
  Event endFrame();
  Event endClose();
  void releaseMessage();
  bool fail(std::uint16_t code, const char* reason);

  WebSocketLimits limits_;
  std::string message_;            // the data message being reassembled, unmasked
  std::string control_;            // the current or last control frame's payload (<= 125 bytes)
  Utf8Validator utf8_;             // over the fragments of the Text message in progress (microserver/Text.h)
  std::uint64_t remaining_ = 0;    // payload bytes of the current frame still to come
  std::size_t maskPhase_ = 0;      // payload bytes of the current frame so far, mod 4
  unsigned char header_[14] = {};  // 2 + up to 8 length bytes + 4 mask bytes
  std::uint8_t headerHave_ = 0;
  std::uint8_t headerWant_ = 2;
  HeaderStage stage_ = HeaderStage::Base;
  Phase phase_ = Phase::Header;
  std::uint8_t opcode_ = 0;         // of the current frame
  bool fin_ = false;                // of the current frame
  std::uint8_t messageOpcode_ = 0;  // Text/Binary while a data message is in progress, else 0
  bool lastWasMessage_ = false;     // payload() is message_ (else control_)
  bool delivered_ = false;          // message_ was returned: empty it on the next feed()
  std::uint16_t closeCode_ = kCloseNoStatus;
  std::uint16_t errorCode_ = 0;
  const char* errorReason_ = "";
};

// Encoder. Server-to-client frames are never masked (RFC 6455 5.1) and always have FIN set.
constexpr std::size_t kMaxFrameHeaderBytes = 10;

// Writes the header of a frame with `payloadLength` bytes of payload into `out`, with the
// minimal length encoding; returns its length (2, 4 or 10). For sending a large payload
// without copying it (the caller writes header and payload separately). A control frame's
// payload must be at most 125 bytes; this function does not check.
std::size_t frameHeader(char out[kMaxFrameHeaderBytes], WebSocketOpcode opcode, std::uint64_t payloadLength);

// Appends a whole frame. A control frame's payload is cut to 125 bytes, so an invalid
// frame is never sent (use appendCloseFrame for Close).
void appendFrame(std::string& out, WebSocketOpcode opcode, std::string_view payload);

// Appends a Close frame: the code, then the reason cut to 123 bytes at a UTF-8 character
// boundary. 1005, 1006 and 1015 must never be sent (RFC 6455 7.4.1): for them the frame has
// an empty payload, which is exactly the reply to a Close that came without a code.
void appendCloseFrame(std::string& out, std::uint16_t code, std::string_view reason);

// The opening handshake (RFC 6455 4.2.1). Checks a client's request: method GET, HTTP/1.1,
// `Upgrade` listing the `websocket` token and `Connection` listing the `upgrade` token
// (comma lists, case-insensitive, as RFC 9110 7.6.1/7.8 define both headers),
// `Sec-WebSocket-Version: 13`, and `Sec-WebSocket-Key` the canonical base64 of 16 bytes
// (24 characters ending in "=="; a key with stray bits in its last character is refused).
// `header(name)` returns a header's value, or an empty view if it is absent.
// On success: true, status 101 and `acceptKey` set (the value of Sec-WebSocket-Accept).
// On failure: false, status 400 (or 426 when Sec-WebSocket-Version is present but not
// 13; that response must carry `Sec-WebSocket-Version: 13`, RFC 6455 4.4) and a reason.
// No subprotocol or extension is negotiated: the response carries neither header.
bool checkWebSocketHandshake(std::string_view method, int versionMinor,
                             const std::function<std::string_view(std::string_view)>& header, std::string& acceptKey,
                             int& status, std::string& reason);

// base64(SHA-1(clientKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) (RFC 6455 4.2.2).
std::string webSocketAcceptKey(std::string_view clientKey);

}  // namespace microserver::core
