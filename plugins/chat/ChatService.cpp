// ChatService: see ChatService.h.
#include "ChatService.h"

#include <exception>
#include <string>

namespace chat {

ChatService::ChatService(const microserver::PluginContext& context)
    : ChatService(parseServiceConfig(context.config), context.logger) {}

ChatService::ChatService(const ServiceConfig& config, const microserver::Logger& logger)
    : RoomEndpoint(Room::named(config.room)), config_(config), logger_(logger) {
  room_->configure(config_.settings);
  room_->log().attach(&logger_);
}

ChatService::~ChatService() {
  stopSummary();
  room_->log().detach(&logger_);
}

void ChatService::start() {
  if (config_.summaryInterval.count() == 0 || summary_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }
  summary_ = std::thread([this] { summarize(); });
}

void ChatService::stop() {
  stopSummary();
  room_->announceStopping();
}

void ChatService::stopSummary() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (summary_.joinable()) summary_.join();
}

void ChatService::summarize() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, config_.summaryInterval, [this] { return stopping_; })) {
    lock.unlock();
    try {
      logger_.debug(summaryLine(room_->name(), room_->takeSummary(), config_.summaryInterval));
    } catch (const std::exception&) {
      // Out of memory for a log line: skip this summary, the room goes on.
    }
    lock.lock();
  }
}

std::string ChatService::summaryLine(const std::string& room, const Room::Summary& s, std::chrono::seconds interval) {
  auto count = [](std::size_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); };
  return "room " + room + ": " + count(s.tcp + s.webSocket, "member") + " (" + std::to_string(s.tcp) + " tcp, " +
         std::to_string(s.webSocket) + " websocket); " + count(s.messages, "message") + " and " +
         count(s.slow, "member") + " cut off as too slow in the last " + std::to_string(interval.count()) + " s";
}

}  // namespace chat
