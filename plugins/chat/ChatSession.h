// ChatSession: one member's side of the room: frames what it sends into lines, turns them
// into broadcasts, and answers `quit` and over-long lines; and RoomEndpoint, the Service
// a member joins a room through (the chat service's TCP listener and GET /chat/ws both
// end up in its accept()).
//
// Flood control (flood_members, off by default): each member has token buckets for lines
// and bytes a second; a line over them is dropped and its sender told, never cut off.
//
// Threads: a session lives on its connection's reactor thread (onData/onClose are never
// called at once for one session), so its framer needs no lock; the Room it talks to is
// shared and thread-safe. accept() runs on the reactor thread of the new connection.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include <microserver/Service.h>

#include "FloodControl.h"
#include "LineFramer.h"
#include "Room.h"

namespace chat {

class ChatSession : public microserver::ServiceSession, private LineSink {
 public:
  // `flood`: the member's token buckets (flood_members; off: every line goes).
  ChatSession(std::shared_ptr<Room> room, std::shared_ptr<const Room::Member> member, std::size_t maxLineBytes,
              const FloodLimits& flood = {});

  // TCP: any piece of the stream. WebSocket: one whole message, framed like a piece of
  // the stream that ends with it (a message without "\n" is one line).
  void onData(std::string_view bytes) override;
  void onClose(microserver::ServiceConnection::CloseReason reason) override;

 private:
  bool onLine(std::string_view line) override;
  void onTooLong() override;

  const std::shared_ptr<Room> room_;
  const std::shared_ptr<const Room::Member> member_;
  LineFramer framer_;
  const bool webSocket_;
  bool quit_ = false;  // said `quit`: whatever it sends until the close is ignored
  // Flood control: a line over the buckets is dropped; the sender hears of it at once,
  // then at most once a second (how many were dropped meanwhile), so a flood cannot make
  // the room flood its own sender with notices.
  const FloodLimits flood_;
  TokenBucket bucket_;
  std::int64_t lastNoticeUs_ = 0;
  bool noticed_ = false;       // lastNoticeUs_ is set
  std::uint64_t dropped_ = 0;  // since the last notice
};

// Joins the connections it is given to one room, with the room's send and line limits.
class RoomEndpoint : public microserver::Service {
 public:
  explicit RoomEndpoint(std::shared_ptr<Room> room) : room_(std::move(room)) {}
  std::unique_ptr<microserver::ServiceSession> accept(
      const std::shared_ptr<microserver::ServiceConnection>& connection) override;
  const std::shared_ptr<Room>& room() const { return room_; }

 protected:
  const std::shared_ptr<Room> room_;
};

}  // namespace chat
