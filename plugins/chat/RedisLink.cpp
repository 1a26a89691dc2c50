// RedisLink: see RedisLink.h.
#include "RedisLink.h"

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Redis/Array.h>
#include <Poco/Redis/Client.h>
#include <Poco/Redis/Type.h>
#include <Poco/Timespan.h>

#include <algorithm>
#include <optional>
#include <random>
#include <tuple>
#include <utility>

#include "Timestamp.h"

namespace chat {

namespace {

using Clock = std::chrono::steady_clock;
using Poco::Redis::Array;
using Poco::Redis::BulkString;
using Poco::Redis::RedisType;

constexpr std::size_t kBatchLines = 256;
constexpr std::size_t kBatchBytes = 256 * 1024;
constexpr std::size_t kMaxInstances = 1000;  // listed in /chat/members at most
constexpr std::string_view kPrefix = "microserver:chat:";

const Array* asArray(const RedisType::Ptr& reply) {
  const auto* typed = dynamic_cast<const Poco::Redis::Type<Array>*>(reply.get());
  return typed ? &typed->value() : nullptr;
}

// Poco's Array is "null" until it holds an element (an empty reply, `*0`, too), and then
// size() and begin() throw: count with this.
std::size_t sizeOf(const Array& array) { return array.isNull() ? 0 : array.size(); }
std::vector<RedisType::Ptr> elements(const Array& array) {
  if (array.isNull()) return {};
  return std::vector<RedisType::Ptr>(array.begin(), array.end());
}

std::optional<std::string> bulkAt(const Array& array, std::size_t i) {
  try {
    BulkString value = array.get<BulkString>(i);
    if (value.isNull()) return std::nullopt;
    return value.value();
  } catch (const Poco::Exception&) {
    return std::nullopt;
  }
}

// An error reply's text, without the "-" and CRLF of the protocol.
std::string errorText(const RedisType::Ptr& reply) {
  std::string text = reply->toString();
  if (!text.empty() && text.front() == '-') text.erase(0, 1);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string describe(const Poco::Exception& e) {
  // Poco::Redis::Client turns a closed connection (and a read timeout) into an
  // unreadable reply; say what that means.
  if (e.message().find("Invalid Redis type returned") != std::string::npos)
    return "the connection was closed, or Redis did not answer in time";
  return e.displayText();
}

std::string seconds(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
}

std::uint64_t randomEpoch() {
  std::random_device device;
  std::uint64_t epoch = (static_cast<std::uint64_t>(device()) << 32) ^ device() ^
                        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  return epoch ? epoch : 1;
}

std::uint64_t skipFor(const Envelope& envelope) { return envelope.kind == Envelope::Kind::Join ? envelope.member : 0; }

std::string hex(std::uint64_t value) {
  static const char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[static_cast<std::size_t>(i)] = digits[value & 15];
  return out;
}

}  // namespace

std::string RedisLink::channelName(const std::string& room) { return std::string(kPrefix) + room; }
std::string RedisLink::historyKey(const std::string& room) { return std::string(kPrefix) + room + ":history"; }
std::string RedisLink::membersKey(const std::string& room, const std::string& instance) {
  return std::string(kPrefix) + room + ":members:" + instance;
}
std::string RedisLink::instancesKey(const std::string& room) { return std::string(kPrefix) + room + ":instances"; }

RedisLink::RedisLink(std::shared_ptr<Room> room, Options options, const microserver::Logger& logger)
    : room_(std::move(room)),
      options_(std::move(options)),
      logger_(logger),
      channel_(channelName(room_->name())),
      historyKey_(historyKey(room_->name())),
      membersKey_(membersKey(room_->name(), options_.instance)),
      instancesKey_(instancesKey(room_->name())),
      epoch_(randomEpoch()),
      controlChannel_(std::string(kPrefix) + room_->name() + ":control:" + options_.instance + ":" + hex(epoch_)),
      since_(Clock::now()) {}

RedisLink::~RedisLink() { stop(); }

void RedisLink::start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_) return;
    started_ = true;
    since_ = Clock::now();
  }
  auto guarded = [this](void (RedisLink::*run)(), const char* name) {
    return std::thread([this, run, name] {
      try {
        (this->*run)();
      } catch (const std::exception& e) {
        logger_.error("room " + room_->name() + ": the Redis " + name + " thread failed: " + e.what() +
                      "; restart the server to link the room again");
      }
    });
  };
  publisher_ = guarded(&RedisLink::runPublisher, "publisher");
  subscriber_ = guarded(&RedisLink::runSubscriber, "subscriber");
  keeper_ = guarded(&RedisLink::runKeeper, "housekeeping");
  local_ = guarded(&RedisLink::runLocal, "local delivery");
}

void RedisLink::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!started_ || stopping_) return;
  }
  // The fleet hears that this instance's members leave (the room goes on elsewhere).
  if (linked()) {
    std::shared_ptr<const Room::MemberList> members = room_->members();
    for (const std::shared_ptr<const Room::Member>& member : *members) {
      Envelope envelope;
      envelope.kind = Envelope::Kind::Leave;
      envelope.time = timestamp();
      envelope.from = member->address;
      envelope.member = member->id;
      publish(std::move(envelope));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  publisherWake_.notify_all();
  subscriberWake_.notify_all();
  keeperWake_.notify_all();
  localWake_.notify_all();
  // The publisher first: it drains the leaves and then wakes the subscriber through the
  // control channel.
  for (std::thread* t : {&publisher_, &subscriber_, &keeper_, &local_})
    if (t->joinable()) t->join();
}

bool RedisLink::publish(Envelope envelope) {
  envelope.instance = options_.instance;
  envelope.epoch = epoch_;
  bool linkedNow = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (outbox_.size() >= options_.maxQueue || outboxBytes_ >= options_.maxQueueBytes) {
      ++dropped_;
      return false;
    }
    envelope.seq = nextSeq_++;
    if (envelope.kind != Envelope::Kind::Message) membersDirty_ = true;
    Pending pending;
    pending.seq = envelope.seq;
    pending.payload = encodeEnvelope(envelope);
    pending.envelope = std::move(envelope);
    outboxBytes_ += pending.payload.size();
    outbox_.push_back(std::move(pending));
    linkedNow = linked_.load(std::memory_order_relaxed);
  }
  (linkedNow ? publisherWake_ : localWake_).notify_one();
  return true;
}

std::shared_ptr<const RoomLink::FleetView> RedisLink::fleetView() const {
  std::lock_guard<std::mutex> lock(viewMutex_);
  return view_;
}

RedisLink::Status RedisLink::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Status status;
  status.linked = linked_.load(std::memory_order_relaxed);
  status.everLinked = everLinked_;
  status.inState = Clock::now() - since_;
  status.lastError = lastError_;
  status.dropped = dropped_;
  return status;
}

std::chrono::milliseconds RedisLink::nextBackoff(std::chrono::milliseconds& current) const {
  current = current.count() == 0 ? options_.backoffMin : std::min(current * 2, options_.backoffMax);
  // +-20 %, so that instances that lost Redis together do not all knock at once.
  thread_local std::minstd_rand random(std::random_device{}());
  const auto spread = current.count() / 5;
  const auto jitter =
      spread > 0 ? static_cast<long>(random() % static_cast<unsigned long>(2 * spread + 1)) - spread : 0;
  return current + std::chrono::milliseconds(jitter);
}

bool RedisLink::hasUnsentLocked() const { return !outbox_.empty() && outbox_.back().seq > sentUpTo_; }

std::unique_ptr<Poco::Redis::Client> RedisLink::connect(std::chrono::milliseconds receiveTimeout) const {
  auto client = std::make_unique<Poco::Redis::Client>();
  const RedisAddress& a = options_.redis;
  client->connect(Poco::Net::SocketAddress(a.host, static_cast<Poco::UInt16>(a.port)),
                  Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(options_.connectTimeout.count()) * 1000));
  client->setReceiveTimeout(Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(receiveTimeout.count()) * 1000));
  if (!a.password.empty()) {
    Array auth;
    auth << "AUTH";
    if (!a.user.empty()) auth << a.user;
    auth << a.password;
    client->execute<std::string>(auth);
  }
  if (a.db != 0) {
    Array select;
    select << "SELECT" << std::to_string(a.db);
    client->execute<std::string>(select);
  }
  Array ping;
  ping << "PING";
  client->execute<std::string>(ping);
  return client;
}

// ---------------------------------------------------------------------------------------
// State

void RedisLink::update(Side side, bool up, const std::string& why) {
  std::lock_guard<std::mutex> deliverLock(deliverMutex_);
  bool wentUp = false, wentDown = false, firstFailure = false, wasEverLinked = false, quiet = false;
  bool startedDown = false;
  std::string error;
  Clock::duration before{};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bool& flag = side == Side::Subscriber ? subscribed_ : publisherUp_;
    if (side == Side::Subscriber && flag && !up) ++generation_;
    flag = up;
    if (!up && !why.empty()) lastError_ = why;
    const bool now = subscribed_ && publisherUp_;
    wasEverLinked = everLinked_;
    startedDown = unreachableLogged_;
    if (now != linked_.load(std::memory_order_relaxed)) {
      before = Clock::now() - since_;
      since_ = Clock::now();
      linked_.store(now, std::memory_order_release);
      if (now) {
        wentUp = true;
        everLinked_ = true;
        keeperPoke_ = true;  // the fleet's members and history, now
        membersDirty_ = true;
      } else {
        wentDown = true;
      }
    }
    if (!up && !everLinked_ && !unreachableLogged_ && !stopping_) {
      unreachableLogged_ = true;
      firstFailure = true;
    }
    error = lastError_;
    quiet = stopping_;
  }
  publisherWake_.notify_all();
  localWake_.notify_all();
  keeperWake_.notify_all();
  const std::string where = "Redis at " + options_.redis.display();
  if (wentDown) {
    {
      std::lock_guard<std::mutex> lock(viewMutex_);
      view_.reset();
    }
    flushLocallyLocked();
    if (!quiet) {
      logger_.warning("room " + room_->name() + ": lost the link to the other instances (" + where + ": " + error +
                      "); members on this instance (" + options_.instance +
                      ") chat locally until it is back; retrying every 0.1 to 5 s");
      room_->announceLocally(kLostNotice);
    }
  }
  if (firstFailure)
    logger_.warning("room " + room_->name() + ": " + where + " is unreachable (" + error +
                    "); members on this instance (" + options_.instance +
                    ") chat locally until it is reached; retrying every 0.1 to 5 s");
  if (!up && !wentDown && !firstFailure && !quiet && !why.empty())
    logger_.debug("room " + room_->name() + ": " + where + ": " +
                  (side == Side::Subscriber ? "subscription" : "publisher connection") + " failed: " + why);
  if (wentUp && !quiet) {
    logger_.info("room " + room_->name() + ": linked to the other instances through " + where + " as instance " +
                 options_.instance + (wasEverLinked || startedDown ? " (after " + seconds(before) + " without)" : ""));
    if (wasEverLinked)
      room_->announceLocally(kRestoredNotice);
    else if (startedDown)
      room_->announceLocally(kFirstLinkNotice);
  }
}

// ---------------------------------------------------------------------------------------
// Delivery

void RedisLink::flushLocallyLocked() {
  std::deque<Pending> ready;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (linked_.load(std::memory_order_relaxed) || outbox_.empty()) return;
    ready.swap(outbox_);
    outboxBytes_ = 0;
    lastOwnDelivered_ = std::max(lastOwnDelivered_, ready.back().seq);
    sentUpTo_ = std::max(sentUpTo_, ready.back().seq);  // never published now
  }
  for (const Pending& p : ready) room_->deliver(p.envelope, skipFor(p.envelope));
}

void RedisLink::flushLocally() {
  std::lock_guard<std::mutex> deliverLock(deliverMutex_);
  flushLocallyLocked();
}

void RedisLink::deliverOwn(std::uint64_t seq) {
  std::lock_guard<std::mutex> deliverLock(deliverMutex_);
  std::vector<Pending> ready;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Already delivered (here, while the link was down), or not a line we sent.
    if (seq <= lastOwnDelivered_ || seq > sentUpTo_) return;
    auto it = std::lower_bound(outbox_.begin(), outbox_.end(), seq,
                               [](const Pending& p, std::uint64_t s) { return p.seq < s; });
    if (it == outbox_.end() || it->seq != seq) return;
    ++it;
    // Anything before it whose echo never came goes first: nothing is lost, order is kept.
    for (auto p = outbox_.begin(); p != it; ++p) {
      outboxBytes_ -= p->payload.size();
      ready.push_back(std::move(*p));
    }
    outbox_.erase(outbox_.begin(), it);
    lastOwnDelivered_ = seq;
  }
  for (const Pending& p : ready) room_->deliver(p.envelope, skipFor(p.envelope));
}

void RedisLink::deliverRemote(const Envelope& envelope) {
  const auto now = Clock::now();
  const std::string key = envelope.instance + "/" + hex(envelope.epoch);
  auto [it, inserted] = lastSeen_.try_emplace(key, 0, now);
  if (!inserted && envelope.seq <= it->second.first) return;  // a repeat
  it->second = {envelope.seq, now};
  if (lastSeen_.size() > 4096) {  // instances come and go (each start is a new epoch)
    auto oldest = std::min_element(lastSeen_.begin(), lastSeen_.end(),
                                   [](const auto& a, const auto& b) { return a.second.second < b.second.second; });
    lastSeen_.erase(oldest);
  }
  std::lock_guard<std::mutex> deliverLock(deliverMutex_);
  room_->deliver(envelope, 0);
}

void RedisLink::onChannelMessage(const std::string& channel, const std::string& payload) {
  if (channel != channel_) return;  // the control channel: a heartbeat, or stop
  std::string why;
  std::optional<Envelope> envelope = decodeEnvelope(payload, options_.maxTextBytes, &why);
  if (!envelope) {
    const auto now = Clock::now();
    if (now - lastBadLog_ > std::chrono::minutes(1)) {
      lastBadLog_ = now;
      logger_.warning("room " + room_->name() + ": dropped a message on " + channel_ + " that is not a chat line (" +
                      why + "); is something else publishing there? (said once a minute at most)");
    }
    return;
  }
  if (envelope->instance == options_.instance) {
    if (envelope->epoch == epoch_) return deliverOwn(envelope->seq);
    if (!twinWarned_) {
      twinWarned_ = true;
      logger_.warning("room " + room_->name() + ": another running instance also calls itself '" + options_.instance +
                      "'; give each instance its own `instance:` (its members' addresses are ambiguous)");
    }
  }
  deliverRemote(*envelope);
}

// ---------------------------------------------------------------------------------------
// Threads

void RedisLink::runLocal() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    localWake_.wait(lock,
                    [this] { return stopping_ || (!linked_.load(std::memory_order_relaxed) && !outbox_.empty()); });
    if (linked_.load(std::memory_order_relaxed) || outbox_.empty()) return;  // stopping, nothing to deliver
    lock.unlock();
    flushLocally();
    lock.lock();
  }
}

bool RedisLink::publishBatch(Poco::Redis::Client& client, const std::vector<std::string>& payloads,
                             std::string& error) {
  std::vector<Array> commands;
  commands.reserve(payloads.size() + 2);
  for (const std::string& payload : payloads) {
    Array publish;
    publish << "PUBLISH" << channel_ << payload;
    commands.push_back(std::move(publish));
  }
  if (options_.history > 0) {
    Array push;
    push << "RPUSH" << historyKey_;
    for (const std::string& payload : payloads) push << payload;
    commands.push_back(std::move(push));
    Array trim;
    trim << "LTRIM" << historyKey_ << "-" + std::to_string(options_.history) << "-1";
    commands.push_back(std::move(trim));
  }
  Array replies = client.sendCommands(commands);
  const std::vector<RedisType::Ptr> answers = elements(replies);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const RedisType::Ptr& reply = answers[i];
    if (!reply->isError()) continue;
    error = errorText(reply);
    if (i < payloads.size()) return false;  // a line was not published
    // The history only: the lines went out; say so once per kind of error.
    static thread_local std::string lastHistoryError;
    if (error != lastHistoryError) {
      lastHistoryError = error;
      logger_.warning("room " + room_->name() + ": could not keep the history in " + historyKey_ + ": " + error +
                      " (is the key used by something else?)");
    }
  }
  return true;
}

void RedisLink::runPublisher() {
  std::unique_ptr<Poco::Redis::Client> client;
  std::chrono::milliseconds backoff{0};
  Clock::time_point nextAttempt = Clock::now(), lastWrite = Clock::now();
  std::uint64_t generation = 0;
  enum class Do { Connect, Publish, Heartbeat, Drop, Quit };
  for (;;) {
    Do what = Do::Quit;
    std::vector<std::string> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        const Clock::time_point now = Clock::now();
        if (stopping_) {
          what = Do::Quit;
          break;
        }
        if (client && generation != generation_) {
          what = Do::Drop;
          break;
        }
        if (!client) {
          if (now >= nextAttempt) {
            what = Do::Connect;
            generation = generation_;
            break;
          }
          publisherWake_.wait_until(lock, nextAttempt);
          continue;
        }
        if (linked_.load(std::memory_order_relaxed) && hasUnsentLocked()) {
          auto it = std::upper_bound(outbox_.begin(), outbox_.end(), sentUpTo_,
                                     [](std::uint64_t s, const Pending& p) { return s < p.seq; });
          std::size_t bytes = 0;
          for (; it != outbox_.end() && batch.size() < kBatchLines && bytes < kBatchBytes; ++it) {
            batch.push_back(it->payload);
            bytes += it->payload.size();
            sentUpTo_ = it->seq;
          }
          what = Do::Publish;
          break;
        }
        if (now >= lastWrite + options_.heartbeat) {
          what = Do::Heartbeat;
          break;
        }
        publisherWake_.wait_until(lock, lastWrite + options_.heartbeat);
      }
    }
    std::string failure;
    try {
      switch (what) {
        case Do::Quit:
          if (client) {
            // What is left (the members' leaves), briefly, then wake our subscriber.
            const Clock::time_point deadline = Clock::now() + std::chrono::seconds(1);
            try {
              while (Clock::now() < deadline) {
                std::vector<std::string> rest;
                {
                  std::lock_guard<std::mutex> lock(mutex_);
                  if (!linked_.load(std::memory_order_relaxed) || !hasUnsentLocked()) break;
                  auto it = std::upper_bound(outbox_.begin(), outbox_.end(), sentUpTo_,
                                             [](std::uint64_t s, const Pending& p) { return s < p.seq; });
                  for (; it != outbox_.end() && rest.size() < kBatchLines; ++it) {
                    rest.push_back(it->payload);
                    sentUpTo_ = it->seq;
                  }
                }
                std::string error;
                if (!publishBatch(*client, rest, error)) break;
              }
              Array stop;
              stop << "PUBLISH" << controlChannel_ << "stop";
              client->execute<Poco::Int64>(stop);
            } catch (const Poco::Exception&) {
              // Redis is gone: the subscriber times out on its own.
            }
          }
          return;
        case Do::Drop:
          client.reset();
          update(Side::Publisher, false, "");
          nextAttempt = Clock::now();
          continue;
        case Do::Connect:
          client = connect(options_.replyTimeout);
          backoff = std::chrono::milliseconds(0);
          lastWrite = Clock::now();
          update(Side::Publisher, true, "");
          continue;
        case Do::Publish: {
          std::string error;
          if (publishBatch(*client, batch, error)) {
            lastWrite = Clock::now();
            continue;
          }
          failure = "PUBLISH refused: " + error;
          logger_.warning("room " + room_->name() + ": Redis refused to publish: " + error);
          break;
        }
        case Do::Heartbeat: {
          Array beat;
          beat << "PUBLISH" << controlChannel_ << "hb";
          client->execute<Poco::Int64>(beat);
          lastWrite = Clock::now();
          continue;
        }
      }
    } catch (const Poco::Exception& e) {
      failure = describe(e);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    // The connection could not be made, or broke.
    client.reset();
    update(Side::Publisher, false, failure);
    nextAttempt = Clock::now() + nextBackoff(backoff);
  }
}

void RedisLink::runSubscriber() {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    std::unique_ptr<Poco::Redis::Client> client;
    std::string why;
    try {
      client = connect(options_.silence);
      Array subscribe;
      subscribe << "SUBSCRIBE" << channel_ << controlChannel_;
      client->execute<void>(subscribe);
      client->flush();
      for (int i = 0; i < 2; ++i) {
        RedisType::Ptr reply = client->readReply();
        const Array* answer = asArray(reply);
        if (!answer || bulkAt(*answer, 0) != std::optional<std::string>("subscribe"))
          throw Poco::ProtocolException("unexpected answer to SUBSCRIBE: " + reply->toString().substr(0, 200));
      }
    } catch (const Poco::Exception& e) {
      why = describe(e);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (why.empty()) {
      backoff = std::chrono::milliseconds(0);
      update(Side::Subscriber, true, "");
      try {
        for (;;) {
          RedisType::Ptr reply = client->readReply();
          {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) break;
          }
          const Array* message = asArray(reply);
          if (!message || sizeOf(*message) != 3 || bulkAt(*message, 0) != std::optional<std::string>("message"))
            continue;
          std::optional<std::string> channel = bulkAt(*message, 1), payload = bulkAt(*message, 2);
          if (channel && payload) onChannelMessage(*channel, *payload);
        }
      } catch (const Poco::Exception& e) {
        why = describe(e);
      } catch (const std::exception& e) {
        why = e.what();
      }
      if (why.empty()) why = "stopping";
    }
    client.reset();
    update(Side::Subscriber, false, why);
    std::unique_lock<std::mutex> lock(mutex_);
    subscriberWake_.wait_for(lock, nextBackoff(backoff), [this] { return stopping_; });
  }
}

void RedisLink::writeMembers(Poco::Redis::Client& client) {
  std::shared_ptr<const Room::MemberList> members = room_->members();
  const auto expires = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch() + options_.membersTtl)
                           .count();
  std::vector<Array> commands;
  Array multi, del, exec;
  multi << "MULTI";
  del << "DEL" << membersKey_;
  exec << "EXEC";
  commands.push_back(multi);
  commands.push_back(del);
  if (!members->empty()) {
    Array hset, expire, zadd;
    hset << "HSET" << membersKey_;
    for (const std::shared_ptr<const Room::Member>& m : *members)
      hset << m->address
           << encodeMemberValue(m->transport == microserver::ServiceConnection::Transport::WebSocket, m->joined);
    expire << "PEXPIRE" << membersKey_ << std::to_string(options_.membersTtl.count());
    zadd << "ZADD" << instancesKey_ << std::to_string(expires) << options_.instance;
    commands.push_back(std::move(hset));
    commands.push_back(std::move(expire));
    commands.push_back(std::move(zadd));
  } else {
    Array zrem;
    zrem << "ZREM" << instancesKey_ << options_.instance;
    commands.push_back(std::move(zrem));
  }
  commands.push_back(exec);
  Array replies = client.sendCommands(commands);
  for (const RedisType::Ptr& reply : elements(replies))
    if (reply->isError()) throw Poco::ProtocolException("writing the members: " + errorText(reply));
}

void RedisLink::fetchView(Poco::Redis::Client& client) {
  std::vector<Array> first;
  Array range, instances;
  range << "LRANGE" << historyKey_ << "-" + std::to_string(std::max<std::size_t>(options_.history, 1)) << "-1";
  instances << "ZRANGE" << instancesKey_ << "0" << std::to_string(kMaxInstances - 1);
  first.push_back(range);
  first.push_back(instances);
  const std::vector<RedisType::Ptr> replies = elements(client.sendCommands(first));
  if (replies.size() != 2) throw Poco::ProtocolException("unexpected answer reading the room");
  // An error here (a key used by something else: WRONGTYPE) is said once; the rest goes on.
  auto items = [&](const RedisType::Ptr& reply, const std::string& key) {
    std::vector<std::string> out;
    if (reply->isError()) {
      const std::string error = errorText(reply);
      if (viewErrors_.insert(key + error).second)
        logger_.warning("room " + room_->name() + ": cannot read " + key + " from Redis: " + error +
                        " (is the key used by something else?)");
      return out;
    }
    if (const Array* array = asArray(reply))
      for (std::size_t k = 0; k < sizeOf(*array); ++k)
        if (std::optional<std::string> item = bulkAt(*array, k)) out.push_back(std::move(*item));
    return out;
  };
  std::vector<Envelope> history;
  if (options_.history > 0)
    for (const std::string& item : items(replies[0], historyKey_))
      if (std::optional<Envelope> e = decodeEnvelope(item, options_.maxTextBytes)) history.push_back(std::move(*e));
  std::vector<std::string> others;
  for (std::string& item : items(replies[1], instancesKey_))
    if (item != options_.instance && isInstanceName(item)) others.push_back(std::move(item));

  std::vector<FleetMember> members;
  if (!others.empty()) {
    std::vector<Array> reads;
    for (const std::string& other : others) {
      Array hgetall;
      hgetall << "HGETALL" << membersKey(room_->name(), other);
      reads.push_back(std::move(hgetall));
    }
    const std::vector<RedisType::Ptr> answers = elements(client.sendCommands(reads));
    Array gone;
    gone << "ZREM" << instancesKey_;
    std::size_t goneCount = 0;
    for (std::size_t k = 0; k < answers.size() && k < others.size(); ++k) {
      const std::vector<std::string> fields = items(answers[k], membersKey(room_->name(), others[k]));
      if (fields.empty()) {  // its hash expired (or it has nobody): off the index
        gone << others[k];
        ++goneCount;
        continue;
      }
      for (std::size_t f = 0; f + 1 < fields.size(); f += 2)
        if (std::optional<FleetMember> m = decodeMember(others[k], fields[f], fields[f + 1]))
          members.push_back(std::move(*m));
    }
    if (goneCount > 0) client.sendCommands({gone});
  }
  std::sort(members.begin(), members.end(), [](const FleetMember& a, const FleetMember& b) {
    return std::tie(a.instance, a.joined, a.address) < std::tie(b.instance, b.joined, b.address);
  });
  auto view = std::make_shared<FleetView>();
  view->historyJson = Room::fleetHistoryJson(room_->name(), history);
  view->members = std::move(members);
  // Kept even while not linked (the room uses it only when linked): right after the link
  // comes up, the fleet is then already known.
  std::lock_guard<std::mutex> lock(viewMutex_);
  view_ = std::move(view);
}

void RedisLink::removeMembers(Poco::Redis::Client& client) {
  Array del, zrem;
  del << "DEL" << membersKey_;
  zrem << "ZREM" << instancesKey_ << options_.instance;
  client.sendCommands({del, zrem});
}

void RedisLink::runKeeper() {
  std::unique_ptr<Poco::Redis::Client> client;
  std::chrono::milliseconds backoff{0};
  Clock::time_point nextAttempt = Clock::now(), nextMembers = Clock::now();
  std::uint64_t generation = 0;
  for (;;) {
    bool stale = false, dirty = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
      stale = client && generation != generation_;
      generation = generation_;
      dirty = std::exchange(membersDirty_, false);
    }
    if (stale) client.reset();  // Redis went away and came back: a fresh connection
    Clock::time_point now = Clock::now();
    if (!client && now >= nextAttempt) {
      try {
        client = connect(options_.replyTimeout);
        backoff = std::chrono::milliseconds(0);
        nextMembers = now;
      } catch (const std::exception&) {
        nextAttempt = now + nextBackoff(backoff);
      }
    }
    if (client) {
      try {
        if (now >= nextMembers || dirty) {
          writeMembers(*client);
          nextMembers = now + options_.membersRefresh;
        }
        fetchView(*client);
      } catch (const std::exception& e) {
        const auto* poco = dynamic_cast<const Poco::Exception*>(&e);
        logger_.debug("room " + room_->name() + ": Redis housekeeping failed: " + (poco ? describe(*poco) : e.what()));
        client.reset();
        nextAttempt = now + nextBackoff(backoff);
        // What it fetched before may be stale now: the room answers for this instance.
        std::lock_guard<std::mutex> lock(viewMutex_);
        view_.reset();
      }
    }
    Clock::time_point wake = now + options_.refresh;
    if (!client) wake = std::min(wake, nextAttempt);
    std::unique_lock<std::mutex> lock(mutex_);
    keeperWake_.wait_until(lock, wake, [this] { return stopping_ || keeperPoke_; });
    keeperPoke_ = false;
  }
  if (client) {
    try {
      removeMembers(*client);
    } catch (const std::exception&) {
      // They expire on their own.
    }
  }
}

}  // namespace chat
