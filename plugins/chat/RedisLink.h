// RedisLink: one room spanning several microserver instances through Redis pub/sub (the
// service's `redis:` setting). Every line a member of this instance sends is published to
// the room's channel; every instance (this one included) delivers what comes through its
// subscription to its own members. History is a capped Redis list, members a hash per
// instance that expires unless its instance keeps refreshing it.
//
// Redis keys (`<room>` as configured; Redis channels are not per database, so two fleets
// sharing one Redis need different room names):
//   microserver:chat:<room>                           the channel (PUBLISH / SUBSCRIBE)
//   microserver:chat:<room>:history                   list of envelopes, RPUSH + LTRIM
//                                                     to the last `history`
//   microserver:chat:<room>:members:<instance>        hash address -> "tcp|websocket\t<joined>",
//                                                     rewritten every 2 s, PEXPIRE 6 s
//   microserver:chat:<room>:instances                 sorted set of instance names (score:
//                                                     when its hash expires, ms since 1970)
//   microserver:chat:<room>:control:<instance>:<epoch> this instance's own channel: heartbeats
//                                                     and the stop signal for its subscriber
// What travels is an Envelope (Envelope.h): sender address, instance, an epoch per start
// and a sequence number per line.
//
// Threads (all of them the link's own, each with its own Poco::Redis::Client; no Poco
// object is ever shared between threads, and reactor threads never wait for Redis):
//   publisher   takes lines from the outbox (a bounded FIFO the reactors push into) in
//               batches: PUBLISH each, then one RPUSH + LTRIM for the history, pipelined on
//               one connection, so a sender's lines reach Redis in its order. When idle it
//               publishes a heartbeat on the control channel every second.
//   subscriber  SUBSCRIBEs the room's and its control channel and delivers every envelope to
//               the room (Room::deliver), one at a time, in the order Redis sends them. Its
//               read times out after 3.5 s of silence (no line, no heartbeat): Redis is then
//               taken as gone (a hung Redis is detected too, not only a closed one).
//   keeper      every second: rewrites this instance's members (every 2 s), and fetches the
//               history and the other instances' members into the fleet view that
//               GET /chat/history and /chat/members answer from (HTTP never waits for Redis).
//   local       while not linked, delivers the outbox to this instance's members.
//
// Exactly once: while linked, a line of this instance is NOT delivered here directly; it
// comes back through the subscription like everybody else's (so all members of all
// instances see one order per sender). The outbox keeps a line until its echo arrives;
// when the link breaks, whatever has not come back is delivered locally at once, in order,
// and an echo arriving later (seq not above the last delivered) is dropped.
//
// Faults: linked = subscribed AND the publisher connected. Each connection retries with
// exponential backoff (100 ms doubling to 5 s, +-20 % jitter) and logs once per change of
// the link, not per attempt. While not linked, the room goes on locally: lines reach this
// instance's members only and are NOT published later (no replay: once delivered here, a
// late copy elsewhere would arrive out of context). Members are told when it breaks and
// when it is back:
//   <ts> * connection to the other instances lost (lines now reach this instance only)
//   <ts> * connection to the other instances restored (lines sent meanwhile reached this instance only)
// and, when Redis was unreachable at start-up, once it is reached:
//   <ts> * connected to the other instances (lines sent before reached this instance only)
// A SIGKILLed instance's members vanish from /chat/members when its hash expires (<= 6 s);
// a stopped instance removes its hash and publishes a `left` for each of its members.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <microserver/Logger.h>

#include "ChatConfig.h"
#include "Envelope.h"
#include "Room.h"

namespace Poco::Redis {
class Client;
}

namespace chat {

class RedisLink : public RoomLink {
 public:
  struct Options {
    RedisAddress redis;
    std::string instance;
    std::size_t history = 100;         // lines kept in the Redis list (0: none)
    std::size_t maxTextBytes = 12288;  // longer texts from the channel are dropped
    std::chrono::milliseconds backoffMin{100}, backoffMax{5000};
    std::chrono::milliseconds connectTimeout{1000}, replyTimeout{2000};
    std::chrono::milliseconds heartbeat{1000};  // the publisher's, when idle
    std::chrono::milliseconds silence{3500};    // the subscriber's read timeout
    std::chrono::milliseconds refresh{1000};    // the keeper's fetch period
    std::chrono::milliseconds membersRefresh{2000}, membersTtl{6000};
    std::size_t maxQueue = 16384;                  // lines waiting in the outbox
    std::size_t maxQueueBytes = 16 * 1024 * 1024;  // and their bytes
  };

  // The state for metrics, readiness and the console.
  struct Status {
    bool linked = false;
    bool everLinked = false;
    std::chrono::steady_clock::duration inState{};  // since the last change
    std::string lastError;                          // why the last attempt failed
    std::uint64_t dropped = 0;                      // lines refused: the outbox was full
  };

  RedisLink(std::shared_ptr<Room> room, Options options, const microserver::Logger& logger);
  ~RedisLink() override;
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();
  // Publishes a `left` for each member of this instance (when linked), stops every thread
  // (at once when Redis is up or gone; up to the 3.5 s silence when it hangs) and removes
  // this instance's members from Redis. Idempotent.
  void stop();

  // RoomLink
  const std::string& instance() const override { return options_.instance; }
  bool publish(Envelope envelope) override;
  bool linked() const override { return linked_.load(std::memory_order_acquire); }
  std::shared_ptr<const FleetView> fleetView() const override;

  Status status() const;
  const Options& options() const { return options_; }

  // What members of this instance are told when the link breaks and comes back.
  static constexpr const char* kLostNotice =
      "connection to the other instances lost (lines now reach this instance only)";
  static constexpr const char* kRestoredNotice =
      "connection to the other instances restored (lines sent meanwhile reached this instance only)";
  static constexpr const char* kFirstLinkNotice =
      "connected to the other instances (lines sent before reached this instance only)";

  // The Redis names of a room.
  static std::string channelName(const std::string& room);
  static std::string historyKey(const std::string& room);
  static std::string membersKey(const std::string& room, const std::string& instance);
  static std::string instancesKey(const std::string& room);

 private:
  struct Pending {
    std::uint64_t seq = 0;
    Envelope envelope;
    std::string payload;
  };
  enum class Side { Publisher, Subscriber };

  void runPublisher();
  void runSubscriber();
  void runKeeper();
  void runLocal();

  std::unique_ptr<Poco::Redis::Client> connect(std::chrono::milliseconds receiveTimeout) const;
  // A connection of `side` came up (up) or failed / could not be made (!up, with why).
  void update(Side side, bool up, const std::string& why);
  // Delivers the outbox here, in order, and forgets it (not linked, or the link broke).
  // deliverMutex_ held.
  void flushLocallyLocked();
  void flushLocally();
  void deliverOwn(std::uint64_t seq);
  void deliverRemote(const Envelope& envelope);
  void onChannelMessage(const std::string& channel, const std::string& payload);
  bool publishBatch(Poco::Redis::Client& client, const std::vector<std::string>& payloads, std::string& error);
  void writeMembers(Poco::Redis::Client& client);
  void fetchView(Poco::Redis::Client& client);
  void removeMembers(Poco::Redis::Client& client);
  std::chrono::milliseconds nextBackoff(std::chrono::milliseconds& current) const;
  bool hasUnsentLocked() const;

  const std::shared_ptr<Room> room_;
  const Options options_;
  const microserver::Logger& logger_;
  const std::string channel_, historyKey_, membersKey_, instancesKey_;
  std::uint64_t epoch_ = 0;
  std::string controlChannel_;

  // Order of locks: deliverMutex_, then mutex_. deliverMutex_ makes the room's deliveries
  // from the link's threads one sequence (a line, a notice, a flush).
  std::mutex deliverMutex_;
  mutable std::mutex mutex_;
  std::condition_variable publisherWake_, localWake_, keeperWake_, subscriberWake_;
  std::deque<Pending> outbox_;  // by seq; a line stays until its echo or a local flush
  std::size_t outboxBytes_ = 0;
  std::uint64_t nextSeq_ = 1;
  std::uint64_t sentUpTo_ = 0;          // every outbox line with seq <= this was handed to Redis
  std::uint64_t lastOwnDelivered_ = 0;  // our own lines up to here were delivered here
  bool subscribed_ = false, publisherUp_ = false;
  std::atomic<bool> linked_{false};
  bool everLinked_ = false;
  bool unreachableLogged_ = false;  // the start-up warning (before the first link)
  std::uint64_t generation_ = 0;    // +1 each time the subscription is lost
  bool started_ = false, stopping_ = false;
  std::chrono::steady_clock::time_point since_;
  std::string lastError_;
  std::uint64_t dropped_ = 0;
  bool membersDirty_ = false;  // a join or leave since the keeper last wrote the members
  bool keeperPoke_ = false;    // the link came up: refresh now

  // The subscriber's alone: the last seq delivered per other (instance, epoch).
  std::map<std::string, std::pair<std::uint64_t, std::chrono::steady_clock::time_point>> lastSeen_;
  std::chrono::steady_clock::time_point lastBadLog_{};
  bool twinWarned_ = false;

  std::set<std::string> viewErrors_;  // the keeper's: errors already logged
  mutable std::mutex viewMutex_;
  std::shared_ptr<const FleetView> view_;

  std::thread publisher_, subscriber_, keeper_, local_;
};

}  // namespace chat
