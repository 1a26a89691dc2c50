// ChatStatus: the chat rooms as operators see them (microserver/Status.h): metrics for
// GET /metrics, readiness for GET /readyz, and a line for the console's `status`.
//
// One provider for the whole library, whatever the number of chat services: each metric
// is then declared once (# HELP / # TYPE) with a sample per room, as Prometheus wants.
// Every running service enrolls from its start() and withdraws in its stop(); the first
// one registers the provider, and when the last one withdraws the provider is destroyed,
// so the server's weak reference lapses.
//
//   chat_members{room="lobby",transport="tcp"} 9               gauge, members here now
//   chat_members{room="lobby",transport="websocket"} 3
//   chat_messages_in_total{room="lobby"} 120                   lines members here sent
//   chat_messages_out_total{room="lobby"} 1440                 deliveries to members here
//   chat_members_cut_total{room="lobby",reason="hard_limit"} 1  cut off as too slow, by reason:
//                                    hard_limit, soft_limit, room_budget, send_timeout
//   chat_queued_bytes{room="lobby"} 4096                        gauge, unsent, over the members
//   chat_flood_dropped_total{room="lobby",source="member"} 0    lines dropped by flood control
//   chat_flood_dropped_total{room="lobby",source="http"} 0      (flood_members, flood_http)
//   chat_redis_connected{room="lobby"} 1                       1 while linked (rooms with `redis:` only)
//
// Ready: false while a room with `redis:` is not linked ("chat room lobby: not linked to
// the other instances: Redis at 127.0.0.1:6379: ..."). Console:
//   chat lobby: 12 members (9 tcp, 3 websocket), redis connected
//   chat lobby: 2 members (2 tcp, 0 websocket), redis unreachable for 14 s (chatting locally)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <microserver/Status.h>

#include "RedisLink.h"
#include "Room.h"

namespace chat {

class ChatStatus : public microserver::StatusProvider {
 public:
  // One room as the provider reports it.
  struct Row {
    std::string room;
    Room::Totals totals;
    bool redis = false;  // configured
    RedisLink::Status link;
    std::string redisAddress;  // host:port, for messages
  };
  // What a running service shows: its room and its link (nullptr without `redis:`).
  struct Source {
    std::shared_ptr<Room> room;
    std::shared_ptr<RedisLink> link;
  };

  // Enrolls a source; the returned provider stays registered while someone holds it.
  static std::shared_ptr<ChatStatus> enroll(const void* owner, Source source, microserver::StatusRegistry& registry);
  static void withdraw(const void* owner);

  void appendMetrics(std::string& out) const override;
  bool ready(std::string& reason) const override;
  std::string statusLine() const override;

  // The same from given rows (tested without a server).
  static void appendMetrics(const std::vector<Row>& rows, std::string& out);
  static bool ready(const std::vector<Row>& rows, std::string& reason);
  static std::string statusLine(const std::vector<Row>& rows);

 private:
  static std::vector<Row> rows();
};

}  // namespace chat
