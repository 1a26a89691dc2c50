// What the chat room's lines look like to a test: `<timestamp> <text>`, with members named
// by their address. Shared by the chat tests on one instance and across instances.
#pragma once

#include <cstddef>
#include <string>

#include <memory>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {

// A regular expression for the room's timestamp, `2026-11-26 17:45:03.123`, and its length.
extern const std::string kChatTimestamp;
constexpr std::size_t kChatTimestampLength = 23;

// "127.0.0.1:PORT" of our end of `c`: what the room calls this member.
std::string localAddress(const Connection& c);

// Starts a server with the chat room: its HTTP route (`routeConfig`: the route's config:
// map) and its TCP service (`serviceConfig`), the site in dir/www, `serverKeys` more keys
// of `server:` (", limits: {...}"). Sets `servicePort` from the service's line.
std::unique_ptr<ServerProcess> startChatServer(const TempDir& dir, const std::string& serviceConfig,
                                               const std::string& serverKeys, const std::string& routeConfig,
                                               int& servicePort);

// A line without its timestamp; throws if it does not start with one.
std::string untimed(const std::string& line);

}  // namespace e2e
