// ChatHandler: the chat room over HTTP, for browsers and scripts: GET /chat/ws (a
// WebSocket member), GET /chat/history, POST /chat/messages, GET /chat/members. Which one
// is the route's capture `action` (or, without one, the last segment of the path).
//
// Browsers: a WebSocket or a POST whose Origin is another site's (its host:port is not the
// request's Host, and the route's allowed_origins does not list it) gets 403, so a page
// elsewhere cannot make its visitors join or post. POST /chat/messages is flood-limited
// per client address (flood_http): lines beyond get 429 with Retry-After.
//
// Threads: handle() runs on reactor threads, several at once; it keeps nothing but the
// room (thread-safe) and never blocks. A handler is created per route at every load of
// routes.yaml; the room outlives it (Room::named), and so do the WebSocket members it
// accepted (each holds the endpoint, not the handler).
#pragma once

#include <memory>

#include <microserver/Plugin.h>

#include "ChatConfig.h"
#include "ChatSession.h"
#include "Room.h"

namespace chat {

class ChatHandler : public microserver::Handler {
 public:
  explicit ChatHandler(const microserver::PluginContext& context);
  ~ChatHandler() override;
  ChatHandler(const ChatHandler&) = delete;
  ChatHandler& operator=(const ChatHandler&) = delete;

  void handle(const microserver::Request& request, microserver::Response& response) override;

 private:
  void post(const microserver::Request& request, microserver::Response& response) const;
  // False (and a 403 given) when a browser page from another origin asks.
  bool originOk(const microserver::Request& request, microserver::Response& response) const;

  const HandlerConfig config_;
  const microserver::Logger& logger_;
  const std::shared_ptr<Room> room_;
  const std::shared_ptr<RoomEndpoint> endpoint_;
};

}  // namespace chat
