// ChatService: the chat plugin's TCP service (routes.yaml `services:`): applies its
// `config:` to its room, lets raw-TCP clients join it, logs a periodic summary, and says
// goodbye to everyone when the server stops.
//
// Lifecycle and threads (see microserver/Service.h): constructed on the main thread at
// start-up; start() and stop() on the main thread; accept() on reactor threads. The only
// thread of its own is the summary's, which sleeps on a condition variable: stop() wakes
// it at once, and a stop() without a start() (a failed start-up) is fine.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include <microserver/Plugin.h>
#include <microserver/Service.h>

#include "ChatConfig.h"
#include "ChatSession.h"

namespace chat {

class ChatService : public RoomEndpoint {
 public:
  explicit ChatService(const microserver::PluginContext& context);
  ChatService(const ServiceConfig& config, const microserver::Logger& logger);
  ~ChatService() override;
  ChatService(const ChatService&) = delete;
  ChatService& operator=(const ChatService&) = delete;

  void start() override;
  void stop() override;

  // The summary line, as logged every summary_interval.
  static std::string summaryLine(const std::string& room, const Room::Summary& summary, std::chrono::seconds interval);

 private:
  void summarize();
  void stopSummary();

  const ServiceConfig config_;
  const microserver::Logger& logger_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread summary_;
};

}  // namespace chat
