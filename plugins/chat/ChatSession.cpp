// ChatSession: see ChatSession.h.
#include "ChatSession.h"

#include <string>
#include <utility>

namespace chat {

ChatSession::ChatSession(std::shared_ptr<Room> room, std::shared_ptr<const Room::Member> member,
                         std::size_t maxLineBytes, const FloodLimits& flood)
    : room_(std::move(room)),
      member_(std::move(member)),
      framer_(maxLineBytes),
      webSocket_(member_->transport == microserver::ServiceConnection::Transport::WebSocket),
      flood_(flood),
      bucket_(flood, room_->now()) {}

void ChatSession::onData(std::string_view bytes) {
  if (quit_) return;
  if (framer_.feed(bytes, *this) && webSocket_) framer_.finish(*this);
}

void ChatSession::onClose(microserver::ServiceConnection::CloseReason reason) { room_->leave(*member_, reason); }

bool ChatSession::onLine(std::string_view line) {
  if (line != "quit") {
    if (flood_.enabled) {
      const std::int64_t now = room_->now();
      if (!bucket_.take(flood_, line.size(), now)) {
        ++dropped_;
        room_->noteFloodDropped(1);
        if (!noticed_ || now - lastNoticeUs_ >= 1000000) {
          room_->sendTo(*member_, Room::notice("slow down: " + std::to_string(dropped_) +
                                               (dropped_ == 1 ? " line" : " lines") +
                                               " dropped; this room takes at most " + flood_.describe() +
                                               " from each member"));
          room_->log().debug("room " + room_->name() + ": " + member_->address + " sends too fast; dropped " +
                             std::to_string(dropped_) + (dropped_ == 1 ? " line" : " lines") + " (flood_members)");
          noticed_ = true;
          lastNoticeUs_ = now;
          dropped_ = 0;
        }
        return true;
      }
    }
    if (!room_->say(member_->address, line))
      room_->sendTo(*member_,
                    Room::notice("line dropped: the link to the other instances is behind; try again in a moment"));
    return true;
  }
  // Leave at once rather than when the connection is finally gone: the client may keep
  // its side open for a while (plain `nc` does), and the others should hear it now.
  quit_ = true;
  room_->sendTo(*member_, Room::notice("bye"));
  member_->connection->close();  // after the "bye"
  room_->leave(*member_, microserver::ServiceConnection::CloseReason::ClosedByService);
  return false;
}

void ChatSession::onTooLong() {
  room_->sendTo(*member_,
                Room::notice("line too long (max " + std::to_string(framer_.maxLineBytes()) + " bytes): dropped"));
}

std::unique_ptr<microserver::ServiceSession> RoomEndpoint::accept(
    const std::shared_ptr<microserver::ServiceConnection>& connection) {
  const RoomSettings settings = room_->settings();
  std::shared_ptr<const Room::Member> member = room_->join(connection);  // with its send limit
  if (!member) return nullptr;  // the room is full: it has been told, and is closed
  return std::make_unique<ChatSession>(room_, std::move(member), settings.maxLineBytes, settings.memberFlood);
}

}  // namespace chat
