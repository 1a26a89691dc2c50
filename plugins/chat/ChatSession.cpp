// ChatSession: see ChatSession.h.
#include "ChatSession.h"

#include <string>
#include <utility>

namespace chat {

ChatSession::ChatSession(std::shared_ptr<Room> room, std::shared_ptr<const Room::Member> member,
                         std::size_t maxLineBytes)
    : room_(std::move(room)),
      member_(std::move(member)),
      framer_(maxLineBytes),
      webSocket_(member_->transport == microserver::ServiceConnection::Transport::WebSocket) {}

void ChatSession::onData(std::string_view bytes) {
  if (quit_) return;
  if (framer_.feed(bytes, *this) && webSocket_) framer_.finish(*this);
}

void ChatSession::onClose(microserver::ServiceConnection::CloseReason reason) { room_->leave(*member_, reason); }

bool ChatSession::onLine(std::string_view line) {
  if (line != "quit") {
    if (!room_->say(member_->address, line))
      member_->connection->send(
          Room::notice("line dropped: the link to the other instances is behind; try again in a moment"));
    return true;
  }
  // Leave at once rather than when the connection is finally gone: the client may keep
  // its side open for a while (plain `nc` does), and the others should hear it now.
  quit_ = true;
  member_->connection->send(Room::notice("bye"));
  member_->connection->close();  // after the "bye"
  room_->leave(*member_, microserver::ServiceConnection::CloseReason::ClosedByService);
  return false;
}

void ChatSession::onTooLong() {
  member_->connection->send(
      Room::notice("line too long (max " + std::to_string(framer_.maxLineBytes()) + " bytes): dropped"));
}

std::unique_ptr<microserver::ServiceSession> RoomEndpoint::accept(
    const std::shared_ptr<microserver::ServiceConnection>& connection) {
  const RoomSettings settings = room_->settings();
  connection->setSendLimit(settings.maxQueueBytes);
  std::shared_ptr<const Room::Member> member = room_->join(connection);
  if (!member) return nullptr;  // the room is full: it has been told, and is closed
  return std::make_unique<ChatSession>(room_, std::move(member), settings.maxLineBytes);
}

}  // namespace chat
