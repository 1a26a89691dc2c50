// ChatConfig: see ChatConfig.h.
#include "ChatConfig.h"

namespace chat {

namespace {
std::string roomName(const microserver::ConfigNode& node) {
  std::string room = node.getString("room", "lobby");
  if (room.empty()) node.find("room")->fail("the room name must not be empty");
  return room;
}
}  // namespace

ServiceConfig parseServiceConfig(const microserver::ConfigNode& node) {
  node.allowKeys({"room", "history", "max_queue_bytes", "max_line_bytes", "max_clients", "summary_interval"});
  ServiceConfig config;
  RoomSettings& s = config.settings;
  config.room = roomName(node);
  s.history = static_cast<std::size_t>(node.getInt("history", 100, 0, 10000));
  s.maxQueueBytes = static_cast<std::size_t>(node.getInt("max_queue_bytes", 1048576, 4096, 1073741824));
  s.maxLineBytes = static_cast<std::size_t>(node.getInt("max_line_bytes", 4096, 1, 1048576));
  s.maxClients = static_cast<std::size_t>(node.getInt("max_clients", 1000, 1, 1000000));
  config.summaryInterval = std::chrono::seconds(node.getInt("summary_interval", 60, 0, 86400));
  const std::size_t least = 3 * s.maxLineBytes + 1024;
  if (s.maxQueueBytes < least) {
    const microserver::ConfigNode* at = node.find("max_queue_bytes");
    if (!at) at = node.find("max_line_bytes");
    at->fail("max_queue_bytes (" + std::to_string(s.maxQueueBytes) + ") must be at least 3 * max_line_bytes + 1024 = " +
             std::to_string(least) + ", or one long line would cut every member off");
  }
  return config;
}

HandlerConfig parseHandlerConfig(const microserver::ConfigNode& node) {
  node.allowKeys({"room"});
  HandlerConfig config;
  config.room = roomName(node);
  return config;
}

}  // namespace chat
