// ChatConfig: the chat plugin's two `config:` nodes from routes.yaml, read and checked once
// when they are loaded (beside the code that uses them, as h2o pairs handlers and their
// configurators). Unknown keys and out-of-range values are errors with file:line:col.
//
// The service (`services:`; sizes take k/KiB, m/MiB, g/GiB, powers of 1024; durations
// ms, s, m, h, a bare number being seconds):
//   room              the room's name, default "lobby": the HTTP routes naming the same
//                     room serve the same members and history
//   history           0..10000, default 100: lines kept for GET /chat/history
//   max_queue_bytes   the HARD limit: 4096..1GiB, default 32MiB: a member with more than
//                     this unsent is cut off at once (the others never wait for it)
//   soft_queue_bytes  the SOFT limit: off, or 1..max_queue_bytes - 1, default 8MiB (a
//                     quarter of max_queue_bytes when that is less than 32MiB): a member
//   soft_queue_time   more than this behind for longer than soft_queue_time (100ms..1h,
//                     default 60s) without a break is cut off. Redis' pubsub defaults
//                     (`client-output-buffer-limit pubsub 32mb 8mb 60`): a burst of several
//                     MB reaches every member that keeps reading, one that stopped is gone
//                     within the minute (or sooner: server.limits.send_timeout, time
//                     without any byte taken, cuts a member whatever it holds)
//   room_queue_bytes  the room's budget: off, or 4096..1TiB, default 1GiB: what all of this
//                     instance's members may hold unsent together; past it the members
//                     furthest behind are cut off first until it holds again. (Counted as
//                     the members' queues add up; a line is stored once whoever has it
//                     queued, so the memory behind it is less.)
//   max_line_bytes    1..1048576, default 4096: longer lines are refused
//   max_clients       1..1000000, default 10000: members at once; more are turned away
//   flood_members     off (default), on, or { lines_per_second, burst_lines,
//                     bytes_per_second, burst_bytes } (defaults 20, 200, 64KiB, 256KiB):
//                     each member's token buckets; a line over them is dropped and its
//                     sender told (at most once a second), never cut off
//   flood_http        on (default), off, or the same map (defaults 10, 64, 64KiB, 256KiB):
//                     the same per client address for POST /chat/messages (429 beyond)
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
// max_queue_bytes (and room_queue_bytes) must hold a few lines of max_line_bytes (a line of
// invalid UTF-8 grows up to three times when each bad byte becomes U+FFFD), or every long
// line would cut every member off: at least 3 * max_line_bytes + 1024; and a burst must
// let one line through (burst_bytes >= max_line_bytes). The history holds up to
// history * 3 * max_line_bytes bytes of text (400 KiB with the defaults): keep the product
// of the two sensible.
//
// An HTTP route (`handler: chat`): room, default "lobby"; allowed_origins, a list of
// origins (`https://chat.example.com`, `http://localhost:3000`, `null`, or `*` for any)
// whose pages may join over the WebSocket or POST, besides the server's own (an Origin
// whose host:port is the request's Host); a request without Origin (not from a browser)
// is let in. A room that no service configures (HTTP and WebSocket members only) uses the
// defaults above.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <microserver/ConfigNode.h>

#include "FloodControl.h"

namespace chat {

// The settings a room runs with (a service's, or these defaults).
struct RoomSettings {
  std::size_t history = 100;
  std::size_t maxQueueBytes = 32u << 20;                 // hard limit, per member
  std::size_t softQueueBytes = 8u << 20;                 // soft limit (0: off) ...
  std::chrono::milliseconds softQueueTime{60000};        // ... for longer than this
  std::uint64_t roomQueueBytes = std::uint64_t(1) << 30;  // the room's budget (0: off)
  std::size_t maxLineBytes = 4096;
  std::size_t maxClients = 10000;
  FloodLimits memberFlood = defaultMemberFlood();  // off unless configured
  FloodLimits httpFlood = defaultHttpFlood();      // on

  static FloodLimits defaultMemberFlood() { return {false, 20, 200, 65536, 262144}; }
  static FloodLimits defaultHttpFlood() { return {true, 10, 64, 65536, 262144}; }
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
  // Origins (lower case, "scheme://host[:port]" without a default port) allowed besides
  // the request's own host; "*" allows any.
  std::vector<std::string> allowedOrigins;
};

// Each throws microserver::ConfigError naming file:line:col and the key for any mistake.
ServiceConfig parseServiceConfig(const microserver::ConfigNode& node);
HandlerConfig parseHandlerConfig(const microserver::ConfigNode& node);

// "scheme://host[:port]" in lower case, without the scheme's default port (80 for http,
// 443 for https), or "" when `origin` is not such an origin ("null" stays "null").
std::string normalizeOrigin(std::string_view origin);
// Whether a browser page from `origin` (the Origin header) may use a route answering for
// `host` (the Host header): its host:port is the request's, or it is allowed.
bool originAllowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed);

// Parses a `redis:` URL; throws std::invalid_argument saying what is wrong (the config
// parser adds the place).
RedisAddress parseRedisUrl(std::string_view url);
// 1..64 characters of A-Z a-z 0-9 . _ : - (no '@', which separates it from an address).
bool isInstanceName(std::string_view name);
// The host name (up to its first '.', cleaned to the characters above) + ":" + the pid.
std::string defaultInstanceName();

}  // namespace chat
