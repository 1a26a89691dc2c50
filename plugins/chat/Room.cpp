// Room: see Room.h.
#include "Room.h"

#include <algorithm>
#include <map>
#include <utility>

#include <microserver/Text.h>
#include <microserver/Timer.h>

#include "Timestamp.h"

namespace chat {

namespace {

const char* transportName(Room::Connection::Transport transport) {
  return transport == Room::Connection::Transport::WebSocket ? "websocket" : "tcp";
}

const char* kindName(Room::Kind kind) {
  switch (kind) {
    case Room::Kind::Join:
      return "join";
    case Room::Kind::Leave:
      return "leave";
    case Room::Kind::Message:
      break;
  }
  return "message";
}

// Why a member left, for the log.
const char* departure(Room::Connection::CloseReason reason) {
  switch (reason) {
    case Room::Connection::CloseReason::PeerClosed:
      return "it closed the connection";
    case Room::Connection::CloseReason::Error:
      return "connection error";
    case Room::Connection::CloseReason::ClosedByService:
      return "quit";
    case Room::Connection::CloseReason::TooSlow:
      return "too slow";
    case Room::Connection::CloseReason::ServerStopping:
      return "server stopping";
    case Room::Connection::CloseReason::Refused:
      return "refused";
  }
  return "?";
}

std::string memberCount(std::size_t n) { return std::to_string(n) + (n == 1 ? " member" : " members"); }

std::int64_t steadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "8388608 bytes" / "60 s" / "1.5 s", for log lines that name a setting's value.
std::string seconds(std::chrono::milliseconds d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// Sweeps run this often while anything is queued: a quarter of soft_queue_time (so a
// member is cut within soft_queue_time and a quarter), at most 250 ms, at least 20 ms.
std::chrono::milliseconds sweepInterval(const RoomSettings& s) {
  std::chrono::milliseconds tick{250};
  if (s.softQueueBytes > 0) tick = std::min(tick, s.softQueueTime / 4);
  return std::max(tick, std::chrono::milliseconds(20));
}

// A budget check from the broadcast path waits at least this long after the last sweep:
// the estimate only ever overshoots, and a room near its budget must not sweep per line.
constexpr std::int64_t kForcedSweepGapUs = 2000;

}  // namespace

const char* Room::cutName(Cut cut) {
  switch (cut) {
    case Cut::HardLimit:
      return "hard_limit";
    case Cut::SoftLimit:
      return "soft_limit";
    case Cut::RoomBudget:
      return "room_budget";
    case Cut::SendTimeout:
      return "send_timeout";
    case Cut::None:
      break;
  }
  return "none";
}

// ---------------------------------------------------------------------------------------
// RoomLog

void RoomLog::attach(const microserver::Logger* logger) {
  std::lock_guard<std::mutex> lock(mutex_);
  loggers_.push_back(logger);
}

void RoomLog::detach(const microserver::Logger* logger) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::find(loggers_.begin(), loggers_.end(), logger);
  if (it != loggers_.end()) loggers_.erase(it);
}

void RoomLog::info(std::string_view message) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!loggers_.empty()) loggers_.front()->info(message);
}

void RoomLog::debug(std::string_view message) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!loggers_.empty()) loggers_.front()->debug(message);
}

// ---------------------------------------------------------------------------------------
// Room

std::shared_ptr<Room> Room::named(const std::string& name) {
  // Statics of this library: created on first use, gone when it is unloaded (after every
  // service and handler holding a room is). Handlers are created on the main thread while
  // members join on reactors, hence the lock.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<Room>> rooms;
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<Room>& room = rooms[name];
  if (!room) room = std::make_shared<Room>(name);
  return room;
}

Room::Room(std::string name, RoomSettings settings)
    : name_(std::move(name)),
      members_(std::make_shared<const MemberList>()),
      settings_(settings),
      clock_(&steadyMicros),
      budget_(settings.roomQueueBytes) {
  ring_.resize(settings.history);
  scheduler_ = [](std::chrono::milliseconds delay, std::function<void()> fire) {
    try {
      microserver::after(delay, std::move(fire));
      return true;
    } catch (const std::exception&) {
      return false;  // no reactor (a test without a server)
    }
  };
}

void Room::setScheduler(Scheduler scheduler) {
  std::lock_guard<std::mutex> lock(sweepMutex_);
  scheduler_ = std::move(scheduler);
}

void Room::configure(const RoomSettings& settings) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    settings_ = settings;
    budget_.store(settings.roomQueueBytes, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(historyMutex_);
  rebound(settings.history);
}

RoomSettings Room::settings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return settings_;
}

void Room::rebound(std::size_t capacity) {
  if (capacity == ring_.size()) return;
  std::vector<Entry> kept(capacity);
  std::size_t keep = std::min(count_, capacity);
  // The newest `keep` entries, oldest first, from the start of the new ring.
  for (std::size_t i = 0; i < keep; ++i) kept[i] = std::move(ring_[(next_ + ring_.size() - keep + i) % ring_.size()]);
  ring_.swap(kept);
  count_ = keep;
  next_ = capacity == 0 ? 0 : keep % capacity;
}

microserver::SharedBytes Room::notice(std::string_view text) {
  std::string line;
  line.reserve(kTimestampLength + 4 + text.size());
  appendTimestamp(line, std::chrono::system_clock::now());
  line.append(" * ").append(text.data(), text.size()).push_back('\n');
  return microserver::makeShared(std::move(line));
}

std::shared_ptr<const Room::Member> Room::join(const std::shared_ptr<Connection>& connection) {
  auto member = std::make_shared<Member>();
  member->connection = connection;
  member->id = connection->id();
  member->address = std::string(connection->remoteAddress());
  member->transport = connection->transport();
  member->joined = timestamp();
  const std::string text = member->address + " joined";
  std::shared_ptr<RoomLink> link = this->link();
  Envelope envelope;  // with a link: what the others will hear
  microserver::SharedBytes line;
  if (link) {
    envelope.kind = Envelope::Kind::Join;
    envelope.instance = link->instance();
    envelope.time = member->joined;
    envelope.from = member->address;
    envelope.member = member->id;
    line = renderEnvelope(envelope).bytes;
  } else {
    line = notice(text);
  }

  std::shared_ptr<const MemberList> before;  // everyone else; released after the lock
  std::size_t count = 0;
  bool ownSent = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    count = members_->size();
    if (count < settings_.maxClients) {
      member->queueLimit = settings_.maxQueueBytes;
      connection->setSendLimit(member->queueLimit);
      // Its own "joined" is queued before it can be in any broadcast's snapshot, so it is
      // the first line it gets: a client (the chat page) can learn its own address from it.
      // One send() under the lock: it never blocks.
      ownSent = connection->send(line);
      if (ownSent) messagesOut_.fetch_add(1, std::memory_order_relaxed);
      auto next = std::make_shared<MemberList>();
      next->reserve(count + 1);
      next->assign(members_->begin(), members_->end());
      next->push_back(member);
      before = std::exchange(members_, std::move(next));
      ++count;
    }
  }
  if (!before) {
    connection->send(notice("the room is full (" + memberCount(count) + "); try again later"));
    log_.info("room " + name_ + ": turned " + member->address + " away: the room is full (" + memberCount(count) +
              "; max_clients raises the limit)");
    return nullptr;
  }

  if (link) {
    // The others (here and on every instance) hear it through the link; deliver() skips
    // this member, which has its line already.
    link->publish(std::move(envelope));
  } else {
    Entry entry{line, Kind::Join};
    entry.fromPos = static_cast<std::uint32_t>(kTimestampLength + 3);
    entry.fromLen = static_cast<std::uint32_t>(member->address.size());
    entry.textPos = entry.fromPos + entry.fromLen + 1;
    entry.textLen = static_cast<std::uint32_t>(text.size() - member->address.size() - 1);
    remember(std::move(entry));
    // The others: exactly the members before it (whoever joins after it hears nothing of
    // it, as it joined first; /chat/members lists it).
    std::uint64_t sent = 0;
    for (const std::shared_ptr<const Member>& other : *before) {
      if (other->connection->send(line))
        ++sent;
      else
        sendFailed(*other, line.size());
    }
    messagesOut_.fetch_add(sent, std::memory_order_relaxed);
    queued(line.size() * sent);
  }
  if (ownSent) queued(line.size());
  log_.info("room " + name_ + ": " + member->address + " joined over " + transportName(member->transport) + " (" +
            memberCount(count) + ")");
  return member;
}

void Room::leave(const Member& member, Connection::CloseReason reason) {
  std::shared_ptr<const MemberList> old;
  std::size_t count = 0;
  RoomSettings settings;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const MemberList& now = *members_;
    auto it = std::find_if(now.begin(), now.end(), [&](const auto& m) { return m->id == member.id; });
    if (it == now.end()) return;  // already gone (quit, then the close)
    auto next = std::make_shared<MemberList>();
    next->reserve(now.size() - 1);
    next->insert(next->end(), now.begin(), it);
    next->insert(next->end(), it + 1, now.end());
    count = next->size();
    settings = settings_;
    old = std::exchange(members_, std::move(next));
  }
  const std::string what =
      "room " + name_ + ": " + member.address + " (" + transportName(member.transport) + ") left: " + departure(reason);
  if (reason == Connection::CloseReason::ServerStopping) {
    log_.debug(what + " (" + memberCount(count) + " left)");
    return;
  }
  const bool tooSlow = reason == Connection::CloseReason::TooSlow;
  if (std::shared_ptr<RoomLink> link = this->link()) {
    Envelope envelope;
    envelope.kind = tooSlow ? Envelope::Kind::Slow : Envelope::Kind::Leave;
    envelope.time = timestamp();
    envelope.from = member.address;
    envelope.member = member.id;
    link->publish(std::move(envelope));
  } else {
    std::string text = member.address + (tooSlow ? " left (too slow)" : " left");
    microserver::SharedBytes line = notice(text);
    Entry entry{line, Kind::Leave};
    entry.fromPos = static_cast<std::uint32_t>(kTimestampLength + 3);
    entry.fromLen = static_cast<std::uint32_t>(member.address.size());
    entry.textPos = entry.fromPos + entry.fromLen + 1;
    entry.textLen = static_cast<std::uint32_t>(text.size() - member.address.size() - 1);
    remember(std::move(entry));
    broadcast(line);
  }
  if (tooSlow) {
    // Ours (a sweep, or a failed send), or else the server's send_timeout.
    Cut why = static_cast<Cut>(member.cut.load());
    if (why == Cut::None) why = Cut::SendTimeout;
    slow_.fetch_add(1, std::memory_order_relaxed);
    cut_.fetch_add(1, std::memory_order_relaxed);
    cutBy_[static_cast<int>(why)].fetch_add(1, std::memory_order_relaxed);
    std::string because;
    switch (why) {
      case Cut::HardLimit:
        because = "it fell more than max_queue_bytes (" + std::to_string(member.queueLimit) + " bytes) behind";
        break;
      case Cut::SoftLimit:
        because = "it stayed more than soft_queue_bytes (" + std::to_string(settings.softQueueBytes) +
                  " bytes) behind for longer than soft_queue_time (" + seconds(settings.softQueueTime) + ")";
        break;
      case Cut::RoomBudget:
        because = "the room's members had more than room_queue_bytes (" + std::to_string(settings.roomQueueBytes) +
                  " bytes) queued, and it was the furthest behind";
        break;
      default:
        because = "it took nothing of what it was sent for server.limits.send_timeout";
        break;
    }
    log_.info(what + ": " + because + " and was cut off; the others go on (" + memberCount(count) + ")");
  } else {
    log_.info(what + " (" + memberCount(count) + ")");
  }
}

bool Room::say(std::string_view from, std::string_view text) {
  messagesIn_.fetch_add(1, std::memory_order_relaxed);
  messages_.fetch_add(1, std::memory_order_relaxed);
  if (std::shared_ptr<RoomLink> link = this->link()) {
    Envelope envelope;
    envelope.kind = Envelope::Kind::Message;
    envelope.time = timestamp();
    envelope.from = std::string(from);
    microserver::appendValidUtf8(envelope.text, text);
    return link->publish(std::move(envelope));
  }
  std::string line;
  line.reserve(kTimestampLength + from.size() + text.size() + 3);
  appendTimestamp(line, std::chrono::system_clock::now());
  line.push_back(' ');
  line.append(from.data(), from.size()).push_back(' ');
  const std::size_t textPos = line.size();
  microserver::appendValidUtf8(line, text);
  const std::size_t textLen = line.size() - textPos;
  line.push_back('\n');
  Entry entry{microserver::makeShared(std::move(line)), Kind::Message};
  entry.fromPos = static_cast<std::uint32_t>(kTimestampLength + 1);
  entry.fromLen = static_cast<std::uint32_t>(from.size());
  entry.textPos = static_cast<std::uint32_t>(textPos);
  entry.textLen = static_cast<std::uint32_t>(textLen);
  microserver::SharedBytes bytes = entry.line;
  remember(std::move(entry));
  broadcast(bytes);
  return true;
}

void Room::announceStopping() {
  if (stopping_.exchange(true)) return;
  broadcast(notice("the server is stopping"));
}

void Room::broadcast(const microserver::SharedBytes& line, std::uint64_t skipMember) {
  std::shared_ptr<const MemberList> snapshot = members();
  // A false send() means that member is closed or too far behind: the server cuts it off
  // and its session's onClose() removes it. Nobody waits for it.
  std::uint64_t sent = 0;
  for (const std::shared_ptr<const Member>& member : *snapshot) {
    if (member->id == skipMember && skipMember != 0) continue;
    if (member->connection->send(line))
      ++sent;
    else
      sendFailed(*member, line.size());
  }
  messagesOut_.fetch_add(sent, std::memory_order_relaxed);
  queued(line.size() * sent);
}

bool Room::sendTo(const Member& member, const microserver::SharedBytes& bytes) {
  if (member.connection->send(bytes)) {
    queued(bytes.size());
    return true;
  }
  sendFailed(member, bytes.size());
  return false;
}

void Room::sendFailed(const Member& member, std::size_t size) {
  // Past its hard limit the connection keeps its queue until the server cuts it; a
  // connection that is closing anyway (or was cut) fails with less, or nothing, queued.
  if (member.cut.load(std::memory_order_relaxed) != 0) return;
  if (member.connection->queuedBytes() + size <= member.queueLimit) return;
  int none = 0;
  member.cut.compare_exchange_strong(none, static_cast<int>(Cut::HardLimit));
}

void Room::cut(const Member& member, Cut why) {
  int none = 0;
  if (!member.cut.compare_exchange_strong(none, static_cast<int>(why))) return;  // already on its way out
  // A send past a limit of 0 fails, and the server closes the connection as TooSlow at
  // once, dropping its queue (Service.h): its session's onClose() brings it to leave().
  member.connection->setSendLimit(0);
  member.connection->send(microserver::makeShared("\n"));
}

void Room::queued(std::uint64_t bytes) {
  if (bytes == 0) return;
  const std::uint64_t since = queuedSinceSweep_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (!sweepArmed_.load(std::memory_order_relaxed)) armSweep();
  const std::uint64_t budget = budget_.load(std::memory_order_relaxed);
  if (budget == 0 || lastSweepQueued_.load(std::memory_order_relaxed) + since <= budget) return;
  // Perhaps over the budget: sweep now, unless one ran a moment ago or runs right now.
  const std::int64_t now = clock_();
  if (now - lastSweepUs_.load(std::memory_order_relaxed) < kForcedSweepGapUs) return;
  std::unique_lock<std::mutex> lock(sweepMutex_, std::try_to_lock);
  if (lock.owns_lock()) sweepLocked(now);
}

void Room::armSweep() {
  if (sweepArmed_.exchange(true)) return;
  std::chrono::milliseconds delay = sweepInterval(settings());
  Scheduler scheduler;
  {
    std::lock_guard<std::mutex> lock(sweepMutex_);
    scheduler = scheduler_;
  }
  std::weak_ptr<Room> weak = weak_from_this();
  if (scheduler && !weak.expired() &&
      scheduler(delay, [weak] {
        if (std::shared_ptr<Room> room = weak.lock()) room->onSweepTimer();
      }))
    return;
  // Stays armed: no more tries (only a room outside a server, in a test, gets here).
  if (!schedulerFailed_.exchange(true))
    log_.debug("room " + name_ + ": no timer for the queue checks: the soft limit and the room budget are not checked");
}

void Room::onSweepTimer() {
  sweepArmed_.store(false);
  Sweep found = sweep(clock_());
  // Again while anything is queued (a member over the soft limit has something queued).
  if (found.queuedBytes > 0) armSweep();
}

Room::Sweep Room::sweep(std::int64_t nowUs) {
  std::lock_guard<std::mutex> sweeping(sweepMutex_);
  return sweepLocked(nowUs);
}

Room::Sweep Room::sweepLocked(std::int64_t nowUs) {
  // Taken first: what is queued from now on counts towards the next estimate.
  queuedSinceSweep_.store(0, std::memory_order_relaxed);
  RoomSettings s = settings();
  const std::int64_t softUs = static_cast<std::int64_t>(s.softQueueTime.count()) * 1000;
  std::shared_ptr<const MemberList> snapshot = members();
  std::vector<std::pair<std::uint64_t, const Member*>> queues;
  queues.reserve(snapshot->size());
  Sweep found;
  for (const std::shared_ptr<const Member>& m : *snapshot) {
    if (m->cut.load(std::memory_order_relaxed) != 0) continue;  // its queue is on its way out
    const std::uint64_t q = m->connection->queuedBytes();
    if (s.softQueueBytes > 0 && q > s.softQueueBytes) {
      if (m->overSoftSinceUs == 0) m->overSoftSinceUs = nowUs == 0 ? 1 : nowUs;
      if (nowUs - m->overSoftSinceUs > softUs) {
        cut(*m, Cut::SoftLimit);
        ++found.cutSoft;
        continue;
      }
    } else {
      m->overSoftSinceUs = 0;
    }
    found.queuedBytes += q;
    if (q > 0) queues.emplace_back(q, m.get());
  }
  const std::uint64_t budget = s.roomQueueBytes;
  if (budget > 0 && found.queuedBytes > budget) {
    // The furthest behind first, until the rest fits.
    std::sort(queues.begin(), queues.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [q, m] : queues) {
      if (found.queuedBytes <= budget) break;
      cut(*m, Cut::RoomBudget);
      found.queuedBytes -= q;
      ++found.cutBudget;
    }
    log_.info("room " + name_ + ": its members had more than room_queue_bytes (" + std::to_string(budget) +
              " bytes) queued; cut off the " + memberCount(found.cutBudget) + " furthest behind");
  }
  lastSweepQueued_.store(found.queuedBytes, std::memory_order_relaxed);
  lastSweepUs_.store(nowUs, std::memory_order_relaxed);
  return found;
}

AddressBuckets::Admitted Room::admitPost(std::string_view address, const std::vector<std::size_t>& lineBytes) {
  const RoomSettings s = settings();
  if (!s.httpFlood.enabled) return {lineBytes.size(), 0};
  AddressBuckets::Admitted admitted = posters_.admit(AddressBuckets::clientKey(address), lineBytes, s.httpFlood, now());
  floodDroppedHttp_.fetch_add(lineBytes.size() - admitted.lines, std::memory_order_relaxed);
  return admitted;
}

void Room::setLink(std::shared_ptr<RoomLink> link) {
  std::lock_guard<std::mutex> lock(mutex_);
  link_ = std::move(link);
}

std::shared_ptr<RoomLink> Room::link() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return link_;
}

void Room::deliver(const Envelope& envelope, std::uint64_t skipMember) {
  // After "the server is stopping" members get nothing more (as without a link).
  if (stopping_.load(std::memory_order_relaxed)) return;
  RenderedLine rendered = renderEnvelope(envelope);
  Entry entry{rendered.bytes, envelope.kind == Envelope::Kind::Message ? Kind::Message
                              : envelope.kind == Envelope::Kind::Join  ? Kind::Join
                                                                       : Kind::Leave};
  entry.fromPos = rendered.fromPos;
  entry.fromLen = rendered.fromLen;
  entry.textPos = rendered.textPos;
  entry.textLen = rendered.textLen;
  remember(std::move(entry));
  broadcast(rendered.bytes, skipMember);
}

void Room::announceLocally(std::string_view text) {
  if (stopping_.load(std::memory_order_relaxed)) return;
  broadcast(notice(text));
}

void Room::remember(Entry entry) {
  std::lock_guard<std::mutex> lock(historyMutex_);
  if (ring_.empty()) return;  // history: 0
  // The entry replaced here is freed under the lock, but that is at most a decrement:
  // its bytes are usually still queued for some member.
  ring_[next_] = std::move(entry);
  next_ = (next_ + 1) % ring_.size();
  count_ = std::min(count_ + 1, ring_.size());
}

std::shared_ptr<const Room::MemberList> Room::members() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return members_;
}

namespace {
// One item of a history answer; `from` may be "<address>@<instance>" (a line that came
// through a link), which is split in two.
void appendHistoryItem(std::string& out, bool first, std::string_view time, std::string_view from,
                       std::string_view text, const char* kind, bool withInstance) {
  out.append(first ? "{" : ",{");
  out.append(R"("time":)");
  microserver::appendJsonString(out, time);
  out.append(R"(,"from":)");
  if (withInstance) {
    const std::size_t at = from.rfind('@');
    microserver::appendJsonString(out, from.substr(0, at));
    out.append(R"(,"instance":)");
    microserver::appendJsonString(out, at == std::string_view::npos ? std::string_view() : from.substr(at + 1));
  } else {
    microserver::appendJsonString(out, from);
  }
  out.append(R"(,"text":)");
  microserver::appendJsonString(out, text);
  out.append(R"(,"kind":")").append(kind).append("\"}");
}
}  // namespace

std::string Room::historyJson() const {
  std::shared_ptr<RoomLink> link = this->link();
  if (link && link->linked()) {
    if (std::shared_ptr<const RoomLink::FleetView> view = link->fleetView()) return view->historyJson;
  }
  return localHistoryJson(link != nullptr);
}

std::string Room::localHistoryJson(bool linkMode) const {
  std::vector<Entry> entries;
  {
    std::lock_guard<std::mutex> lock(historyMutex_);
    entries.reserve(count_);
    for (std::size_t i = 0; i < count_; ++i)
      entries.push_back(ring_[(next_ + ring_.size() - count_ + i) % ring_.size()]);
  }
  std::string out = R"({"room":)";
  microserver::appendJsonString(out, name_);
  if (linkMode) out.append(R"(,"scope":"local")");
  out.append(R"(,"messages":[)");
  bool first = true;
  for (const Entry& e : entries) {
    std::string_view line = e.line.view();
    appendHistoryItem(out, first, line.substr(0, kTimestampLength), line.substr(e.fromPos, e.fromLen),
                      line.substr(e.textPos, e.textLen), kindName(e.kind), linkMode);
    first = false;
  }
  out.append("]}\n");
  return out;
}

std::string Room::fleetHistoryJson(const std::string& room, const std::vector<Envelope>& lines) {
  std::string out = R"({"room":)";
  microserver::appendJsonString(out, room);
  out.append(R"(,"scope":"fleet","messages":[)");
  bool first = true;
  for (const Envelope& e : lines) {
    const RenderedLine rendered = renderEnvelope(e);
    std::string_view line = rendered.bytes.view();
    const char* kind = e.kind == Envelope::Kind::Message ? "message"
                       : e.kind == Envelope::Kind::Join  ? "join"
                                                         : "leave";
    appendHistoryItem(out, first, e.time, line.substr(rendered.fromPos, rendered.fromLen),
                      line.substr(rendered.textPos, rendered.textLen), kind, true);
    first = false;
  }
  out.append("]}\n");
  return out;
}

std::string Room::membersJson() const {
  std::shared_ptr<const MemberList> snapshot;
  std::shared_ptr<RoomLink> link;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot = members_;
    link = link_;
  }
  std::shared_ptr<const RoomLink::FleetView> view = link && link->linked() ? link->fleetView() : nullptr;
  const std::size_t others = view ? view->members.size() : 0;
  std::string out = R"({"room":)";
  microserver::appendJsonString(out, name_);
  if (link) out.append(view ? R"(,"scope":"fleet")" : R"(,"scope":"local")");
  out.append(R"(,"count":)").append(std::to_string(snapshot->size() + others)).append(R"(,"members":[)");
  bool first = true;
  auto item = [&](std::string_view address, const std::string* instance, bool webSocket, std::string_view joined) {
    out.append(first ? "{" : ",{");
    first = false;
    out.append(R"("address":)");
    microserver::appendJsonString(out, address);
    if (instance) {
      out.append(R"(,"instance":)");
      microserver::appendJsonString(out, *instance);
    }
    out.append(R"(,"transport":")").append(webSocket ? "websocket" : "tcp").append(R"(","joined":)");
    microserver::appendJsonString(out, joined);
    out.push_back('}');
  };
  for (const std::shared_ptr<const Member>& m : *snapshot)
    item(m->address, link ? &link->instance() : nullptr, m->transport == Connection::Transport::WebSocket, m->joined);
  if (view)
    for (const FleetMember& m : view->members) item(m.address, &m.instance, m.webSocket, m.joined);
  out.append("]}\n");
  return out;
}

Room::Summary Room::takeSummary() {
  Summary summary;
  std::shared_ptr<const MemberList> snapshot = members();
  for (const std::shared_ptr<const Member>& m : *snapshot)
    (m->transport == Connection::Transport::WebSocket ? summary.webSocket : summary.tcp)++;
  summary.messages = messages_.exchange(0, std::memory_order_relaxed);
  summary.slow = slow_.exchange(0, std::memory_order_relaxed);
  return summary;
}

Room::Totals Room::totals() const {
  Totals totals;
  std::shared_ptr<const MemberList> snapshot = members();
  for (const std::shared_ptr<const Member>& m : *snapshot) {
    (m->transport == Connection::Transport::WebSocket ? totals.webSocket : totals.tcp)++;
    totals.queuedBytes += m->connection->queuedBytes();
  }
  totals.messagesIn = messagesIn_.load(std::memory_order_relaxed);
  totals.messagesOut = messagesOut_.load(std::memory_order_relaxed);
  totals.cut = cut_.load(std::memory_order_relaxed);
  for (int i = 0; i < kCutReasons; ++i) totals.cutBy[i] = cutBy_[i].load(std::memory_order_relaxed);
  totals.floodDroppedMember = floodDroppedMember_.load(std::memory_order_relaxed);
  totals.floodDroppedHttp = floodDroppedHttp_.load(std::memory_order_relaxed);
  return totals;
}

}  // namespace chat
