// WebSocketClient: see WebSocketClient.h.
#include "WebSocketClient.h"

#include <stdexcept>

namespace e2e {

HttpResponse wsHandshake(Connection& c, const std::string& path, const std::string& extraHeaders) {
  c.sendAll("GET " + path +
            " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
            extraHeaders + "\r\n");
  return c.readResponse();
}

void wsSend(Connection& c, int opcode, const std::string& payload, bool fin) {
  std::string frame;
  frame.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  std::size_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff));
  }
  const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  frame.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  c.sendAll(frame);
}

WsFrame wsRead(Connection& c) {
  std::string head = c.readExactly(2);
  WsFrame f;
  f.fin = (static_cast<unsigned char>(head[0]) & 0x80) != 0;
  f.opcode = static_cast<unsigned char>(head[0]) & 0x0f;
  if (static_cast<unsigned char>(head[1]) & 0x80) throw std::runtime_error("the server masked a frame");
  std::uint64_t n = static_cast<unsigned char>(head[1]) & 0x7f;
  if (n == 126) {
    std::string ext = c.readExactly(2);
    n = (static_cast<unsigned char>(ext[0]) << 8) | static_cast<unsigned char>(ext[1]);
  } else if (n == 127) {
    std::string ext = c.readExactly(8);
    n = 0;
    for (char b : ext) n = (n << 8) | static_cast<unsigned char>(b);
  }
  f.payload = c.readExactly(static_cast<std::size_t>(n));
  return f;
}

}  // namespace e2e
