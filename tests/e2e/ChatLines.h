// What the chat room's lines look like to a test: `<timestamp> <text>`, with members named
// by their address. Shared by the chat tests on one instance and across instances.
#pragma once

#include <cstddef>
#include <string>

#include "TestClient.h"

namespace e2e {

// A regular expression for the room's timestamp, `2026-11-26 17:45:03.123`, and its length.
extern const std::string kChatTimestamp;
constexpr std::size_t kChatTimestampLength = 23;

// "127.0.0.1:PORT" of our end of `c`: what the room calls this member.
std::string localAddress(const Connection& c);

// A line without its timestamp; throws if it does not start with one.
std::string untimed(const std::string& line);

}  // namespace e2e
