// A minimal WebSocket client for tests, over a TestClient Connection: the opening
// handshake, masked frames out (as RFC 6455 requires of clients), frames in.
#pragma once

#include <cstdint>
#include <string>

#include "TestClient.h"

namespace e2e {

struct WsFrame {
  int opcode = 0;  // 1 text, 2 binary, 8 close, 9 ping, 10 pong
  bool fin = true;
  std::string payload;
};

// Sends the handshake for `path` and reads the answer; returns it (101 on success).
HttpResponse wsHandshake(Connection& c, const std::string& path, const std::string& extraHeaders = "");
// Sends one masked frame.
void wsSend(Connection& c, int opcode, const std::string& payload, bool fin = true);
// Reads one frame (server frames are unmasked).
WsFrame wsRead(Connection& c);

}  // namespace e2e
