// chat: one broadcast room shared by raw-TCP clients (`nc`, `telnet`) and browsers (the
// chat page over a WebSocket), with its history and member list over HTTP.
//
//   services:
//     - { plugin: chat, listen: 127.0.0.1:9999, config: { room: lobby, history: 100 } }
//   routes:
//     - { path: '^/chat/(?P<action>ws|history|messages|members)$', handler: chat, config: { room: lobby } }
//
// Service config (see ChatConfig.h): room, history, max_queue_bytes, soft_queue_bytes,
// soft_queue_time, room_queue_bytes, max_line_bytes, max_clients, flood_members,
// flood_http, summary_interval, redis, instance. Route config: room, allowed_origins. They
// meet by the room's name; a room that only routes name (no service) runs with the
// defaults.
//
// The line protocol (TCP; a WebSocket text message is framed the same way, a message
// without "\n" being one line):
//   - a line ends at "\n" (one "\r" before it is dropped); empty lines are ignored;
//   - each line goes to every member, the sender included, as
//       2026-11-26 14:03:07.512 127.0.0.1:53122 hello
//     (local time, the sender's ip:port, the text with any invalid UTF-8 replaced by U+FFFD);
//   - the room's own lines have a `*` for a sender:
//       ... * 127.0.0.1:53122 joined        ... * 127.0.0.1:53122 left
//       ... * 127.0.0.1:53122 left (too slow)     (cut off: past max_queue_bytes, over
//                                                  soft_queue_bytes for soft_queue_time,
//                                                  furthest behind when the room passed
//                                                  room_queue_bytes, or send_timeout)
//       ... * the room is full (1000 members); try again later      (then closed)
//       ... * the server is stopping
//   - `quit` alone on a line: the sender gets `... * bye`, is closed, the room hears `left`;
//   - with flood_members, a line over the sender's token buckets is dropped and the sender
//     alone told (at once, then at most once a second; it stays):
//       ... * slow down: 3 lines dropped; this room takes at most 20 lines/s (bursts of 200)
//           and 65536 bytes/s (bursts of 262144) from each member
//   - a line longer than max_line_bytes: its sender alone gets
//       ... * line too long (max 4096 bytes): dropped
//     and the rest of that line (up to its "\n") is discarded. The connection STAYS: an
//     over-long paste is a mistake, not an attack worth a reconnect, and the framer never
//     holds more than max_line_bytes of it, so staying costs nothing. (A client that never
//     sends "\n" is only discarded, byte for byte, without a line ever reaching anyone.)
//
//   $ nc 127.0.0.1 9999
//   2026-11-26 14:03:07.512 * 127.0.0.1:53122 joined
//   hello
//   2026-11-26 14:03:09.001 127.0.0.1:53122 hello
//   quit
//   2026-11-26 14:03:11.250 * bye
//
// HTTP (every answer is JSON, application/json; charset=utf-8):
//   GET  /chat/ws        a WebSocket member (101; 400/426 for a bad handshake; 403 when a
//                        browser's Origin is another host:port than Host and not in
//                        allowed_origins, as for POST)
//   GET  /chat/history   200 {"room":"lobby","messages":[{"time":"2026-11-26 14:03:07.512",
//                            "from":"127.0.0.1:53122","text":"hello","kind":"message"},...]}
//                        the last `history` lines, oldest first; kind is message, join or
//                        leave (the text of a join/leave is "joined", "left", "left (too slow)")
//   POST /chat/messages  the body's lines, sent from the poster's ip:port (framed as above;
//                        `quit` is plain text here): 202 {"sent":N}; an empty body (or only
//                        empty lines) 400; a body over 64 * max_line_bytes, or any line over
//                        max_line_bytes, 413 and nothing is sent; lines over the client
//                        address' flood_http buckets 429 with Retry-After and
//                        {"error":...,"sent":N,"dropped":M,"retry_after":S}
//   GET  /chat/members   200 {"room":"lobby","count":2,"members":[{"address":"127.0.0.1:53122",
//                            "transport":"tcp","joined":"2026-11-26 14:03:07.512"},...]}
//   other methods        405 with Allow (GET for ws, GET, HEAD for history and members, POST
//                        for messages); another last path segment 404
//
//   curl -s http://127.0.0.1:8080/chat/history
//   curl -s --data-binary $'hello from curl\nsecond line' http://127.0.0.1:8080/chat/messages
//                                                                   -> {"sent":2}
//   curl -s http://127.0.0.1:8080/chat/members
//
// Logs (`plugin chat: ...`): joins, leaves, members cut for slowness and refusals at info
// level; every summary_interval seconds a debug-level summary (members by transport,
// messages and slow members since the last one).
//
// One room across several instances (`redis: redis://127.0.0.1:6379/0`, `instance: node-a`;
// see RedisLink.h for the keys, threads and faults): every instance configured with the
// same Redis and room shares one room. Then a sender is shown with its instance, for
// messages, joins and leaves alike:
//   2026-11-26 14:03:07.512 127.0.0.1:53122@node-a hello
//   2026-11-26 14:03:07.512 * 127.0.0.1:53122@node-a joined
// (the time is the sender's instance's). Every member of every instance gets each line
// once, each sender's lines in its order. GET /chat/history and /chat/members then cover
// the whole room, from a view refreshed about every second ("scope":"fleet"; each item
// also has "instance"); while Redis is unreachable they cover this instance
// ("scope":"local"). While Redis is unreachable (at start-up or later) the instance keeps
// running its room locally; lines sent meanwhile reach this instance's members only and
// are not replayed later. Its members are told:
//   ... * connection to the other instances lost (lines now reach this instance only)
//   ... * connection to the other instances restored (lines sent meanwhile reached this instance only)
//   ... * connected to the other instances (lines sent before reached this instance only)   (Redis back after a start
//   without it)
// A line that cannot even be queued for Redis (its queue full) is refused:
//   ... * line dropped: the link to the other instances is behind; try again in a moment
// (POST /chat/messages: 503 {"error":...,"sent":N,"dropped":M}).
//
// Operators (ChatStatus.h): /metrics has chat_members, chat_messages_in_total,
// chat_messages_out_total, chat_members_cut_total{reason}, chat_queued_bytes,
// chat_flood_dropped_total{source} and, with `redis:`, chat_redis_connected;
// /readyz is 503 while a room with `redis:` is not linked; the console's status has a line
// per room.
//
// Threads and speed: see Room.h (copy-on-write member list, one formatted buffer per
// broadcast shared by every member, nothing slow under a lock) and ChatSession.h.
#include <microserver/Plugin.h>
#include <microserver/Service.h>

#include "ChatHandler.h"
#include "ChatService.h"

MICROSERVER_PLUGIN_WITH_SERVICE("chat", "1.0.0", "A chat room for nc/telnet clients and browsers", chat::ChatHandler,
                                chat::ChatService)
