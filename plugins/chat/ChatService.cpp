// ChatService: see ChatService.h.
#include "ChatService.h"

#include <exception>
#include <string>

namespace chat {

ChatService::ChatService(const microserver::PluginContext& context)
    : ChatService(parseServiceConfig(context.config), context.logger, &context.status) {}

ChatService::ChatService(const ServiceConfig& config, const microserver::Logger& logger,
                         microserver::StatusRegistry* status)
    : RoomEndpoint(Room::named(config.room)),
      config_(config),
      logger_(logger),
      status_(status),
      instance_(config.instance.empty() ? defaultInstanceName() : config.instance) {
  room_->configure(config_.settings);
  room_->log().attach(&logger_);
}

ChatService::~ChatService() {
  stopSummary();
  stopLink();
  if (statusProvider_) ChatStatus::withdraw(this);
  room_->log().detach(&logger_);
}

void ChatService::start() {
  std::shared_ptr<RedisLink> link;
  if (config_.redis) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!link_) {
      RedisLink::Options options;
      options.redis = *config_.redis;
      options.instance = instance_;
      options.history = config_.settings.history;
      options.maxTextBytes = 3 * config_.settings.maxLineBytes;
      link_ = std::make_shared<RedisLink>(room_, options, logger_);
      link = link_;
    }
  }
  if (link) {
    logger_.info("room " + room_->name() + ": spanning the instances that share Redis at " + config_.redis->display() +
                 "; this one is '" + instance_ + "'");
    link->start();
    room_->setLink(link);
  }
  if (status_ && !statusProvider_) statusProvider_ = ChatStatus::enroll(this, {room_, this->link()}, *status_);
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
  stopLink();
  if (statusProvider_) {
    ChatStatus::withdraw(this);
    statusProvider_.reset();
  }
}

void ChatService::stopLink() {
  std::shared_ptr<RedisLink> link;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    link = std::move(link_);
  }
  if (!link) return;
  // Detached first: from now on the room is local, and the link says goodbye for its members.
  if (room_->link() == link) room_->setLink(nullptr);
  link->stop();
}

std::shared_ptr<RedisLink> ChatService::link() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_;
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
