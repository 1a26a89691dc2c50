// ChatConfig: the chat plugin's two `config:` nodes from routes.yaml, read and checked once
// when they are loaded (beside the code that uses them, as h2o pairs handlers and their
// configurators). Unknown keys and out-of-range values are errors with file:line:col.
//
// The service (`services: - { plugin: chat, listen: ..., config: {...} }`):
//   room              the room's name, default "lobby": the HTTP routes naming the same
//                     room serve the same members and history
//   history           0..10000, default 100: lines kept for GET /chat/history
//   max_queue_bytes   4096..1073741824, default 1048576: what one member may have unsent
//                     before it is cut off as too slow (the others never wait for it)
//   max_line_bytes    1..1048576, default 4096: longer lines are refused
//   max_clients       1..1000000, default 1000: members at once; more are turned away
//   summary_interval  seconds, 0..86400, default 60: a debug-level summary of the room;
//                     0 turns it off
//   redis             optional, `redis://[[user]:password@]host[:port][/db]` (port 6379 and
//                     db 0 by default; an IPv6 host in brackets): the room spans every
//                     instance configured with the same Redis and room (see RedisLink.h).
//                     Without it the room is this instance's alone.
//   instance          this instance's name in a fleet, shown after each member's address
//                     (`127.0.0.1:53122@node-a`): 1..64 of A-Z a-z 0-9 . _ : -; default the
//                     host name and the process id (`web1:4242`). Every instance sharing a
//                     room needs its own. Used only with `redis`.
// max_queue_bytes must hold a few lines of max_line_bytes (a line of invalid UTF-8 grows
// up to three times when each bad byte becomes U+FFFD), or every long line would cut
// every member off: at least 3 * max_line_bytes + 1024. The history holds up to
// history * 3 * max_line_bytes bytes of text (400 KiB with the defaults): keep the product
// of the two sensible.
//
// An HTTP route (`handler: chat`): room, default "lobby". A room that no service
// configures (HTTP and WebSocket members only) uses the defaults above.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <microserver/ConfigNode.h>

namespace chat {

// The settings a room runs with (a service's, or these defaults).
struct RoomSettings {
  std::size_t history = 100;
  std::size_t maxQueueBytes = 1048576;
  std::size_t maxLineBytes = 4096;
  std::size_t maxClients = 1000;
};

// Where the room's Redis is: `redis://[[user]:password@]host[:port][/db]`.
struct RedisAddress {
  std::string host;  // without brackets for IPv6
  int port = 6379;
  int db = 0;
  std::string user;      // AUTH user password (Redis 6 ACLs) when both are given
  std::string password;  // AUTH password when only this is given
  // host:port (IPv6 in brackets), for logs: never the password.
  std::string display() const;
};

struct ServiceConfig {
  std::string room = "lobby";
  RoomSettings settings;
  std::chrono::seconds summaryInterval{60};
  std::optional<RedisAddress> redis;
  std::string instance;  // empty: defaultInstanceName()
};

struct HandlerConfig {
  std::string room = "lobby";
};

// Each throws microserver::ConfigError naming file:line:col and the key for any mistake.
ServiceConfig parseServiceConfig(const microserver::ConfigNode& node);
HandlerConfig parseHandlerConfig(const microserver::ConfigNode& node);

// Parses a `redis:` URL; throws std::invalid_argument saying what is wrong (the config
// parser adds the place).
RedisAddress parseRedisUrl(std::string_view url);
// 1..64 characters of A-Z a-z 0-9 . _ : - (no '@', which separates it from an address).
bool isInstanceName(std::string_view name);
// The host name (up to its first '.', cleaned to the characters above) + ":" + the pid.
std::string defaultInstanceName();

}  // namespace chat
