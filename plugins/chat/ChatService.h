// ChatService: the chat plugin's TCP service (routes.yaml `services:`): applies its
// `config:` to its room, lets raw-TCP clients join it, logs a periodic summary, and says
// goodbye to everyone when the server stops.
//
// Lifecycle and threads (see microserver/Service.h): constructed on the main thread at
// start-up (and once more to check the config, never started); start() and stop() on the
// main thread; accept() on reactor threads. Its own threads: the summary's, which sleeps
// on a condition variable (stop() wakes it at once), and with `redis:` those of its
// RedisLink, made in start() and gone in stop(). A stop() without a start() (a failed
// start-up) is fine. start() also enrolls the room in ChatStatus (metrics, readiness,
// console); stop() withdraws it.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include <microserver/Plugin.h>
#include <microserver/Service.h>

#include "ChatConfig.h"
#include "ChatSession.h"
#include "ChatStatus.h"
#include "RedisLink.h"

namespace chat {

class ChatService : public RoomEndpoint {
 public:
  explicit ChatService(const microserver::PluginContext& context);
  // `status`: where to register the room's metrics (none: not registered).
  ChatService(const ServiceConfig& config, const microserver::Logger& logger,
              microserver::StatusRegistry* status = nullptr);
  ~ChatService() override;
  ChatService(const ChatService&) = delete;
  ChatService& operator=(const ChatService&) = delete;

  void start() override;
  void stop() override;

  // The summary line, as logged every summary_interval.
  static std::string summaryLine(const std::string& room, const Room::Summary& summary, std::chrono::seconds interval);
  // The link to the other instances while started with `redis:`, else nullptr.
  std::shared_ptr<RedisLink> link() const;
  // The instance name this service uses (configured, or the default).
  const std::string& instance() const { return instance_; }

 private:
  void summarize();
  void stopSummary();
  void stopLink();

  const ServiceConfig config_;
  const microserver::Logger& logger_;
  microserver::StatusRegistry* const status_;
  const std::string instance_;
  std::shared_ptr<ChatStatus> statusProvider_;  // main thread only
  mutable std::mutex mutex_;
  std::shared_ptr<RedisLink> link_;  // guarded by mutex_
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread summary_;
};

}  // namespace chat
