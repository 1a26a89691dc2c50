// Room: one chat room: who is in it, what was said lately, and the one way a line reaches
// everyone. TCP members (the service's listener), WebSocket members (GET /chat/ws) and
// HTTP posters (POST /chat/messages) all meet here, found by the room's name.
//
// Threads: every method may be called from any thread at once (members live on different
// reactor threads). The member list is copy-on-write: join and leave build a new list and
// swap it in under `mutex_`; a broadcast takes the current list under that lock (one
// pointer copy) and sends outside it, so no lock is held while thousands of sends run, and
// a member joining or leaving never waits for a broadcast. ServiceConnection::send() never
// blocks: a member too far behind fails the send and the server cuts it off (TooSlow),
// which comes back here as leave(). Each broadcast line is formatted once into one
// SharedBytes that every member's queue (and the history) shares: no copy per member.
//
// Limits (Redis' client-output-buffer-limit for pubsub, plus a budget for the room):
// - the hard limit (max_queue_bytes) is each connection's send limit: a send() past it
//   fails and the server cuts that member at once;
// - the soft limit (soft_queue_bytes for longer than soft_queue_time) and the room's
//   budget (room_queue_bytes: everything queued for this instance's members, the members
//   furthest behind cut first) are checked by sweep(): on a timer (every quarter of
//   soft_queue_time, at most 250 ms) while anything is queued, and at once from a
//   broadcast that may have passed the budget. The timer runs only while something is
//   queued: an idle room costs nothing. Cutting is setSendLimit(0) + send(): the server
//   closes the connection as TooSlow at once and frees its queue; leave() then says why.
// - send_timeout (server.limits): a member that took no byte for that long is cut by the
//   server (TooSlow without a reason of ours).
// Cuts are counted by reason (chat_members_cut_total{reason=...}).
//
// Order: a member's lines are broadcast by its one reactor thread, in the order it sent
// them, and each member's queue keeps the order of the send() calls, so everyone sees a
// sender's lines in its order. Lines of different senders interleave as they come.
//
// A room may have a link to the same room on other instances (RoomLink, the service's
// RedisLink when `redis:` is configured). Then say(), join() and leave() only hand an
// Envelope to the link (a queue: the reactor never waits) and the link calls deliver()
// for every line of the fleet, this instance's own included, from its own threads, in
// one order; a joiner still gets its own `joined` first and at once. History and members
// over HTTP then come from the link's view of the fleet (RoomLink::fleetView).
#pragma once

#include <atomic>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <microserver/Logger.h>
#include <microserver/Service.h>

#include "ChatConfig.h"
#include "Envelope.h"
#include "FloodControl.h"

namespace chat {

// The loggers a room writes through. A room outlives any one handler (it is kept by the
// library, see Room::named), and the SDK's loggers live only as long as the handler or
// service they were given to: each attaches its logger while it lives, and the room uses
// whichever is still there (they all write `plugin chat: ...`). A line is dropped only
// when none is left (a WebSocket member outliving every handler and service).
class RoomLog {
 public:
  void attach(const microserver::Logger* logger);
  void detach(const microserver::Logger* logger);
  void info(std::string_view message) const;
  void debug(std::string_view message) const;

 private:
  mutable std::mutex mutex_;  // held while a line is written: the logger must not go meanwhile
  std::vector<const microserver::Logger*> loggers_;
};

// The room's side of a link to other instances (see RedisLink.h).
class RoomLink {
 public:
  // What the link last learnt of the fleet (refreshed about every second).
  struct FleetView {
    std::string historyJson;           // the whole /chat/history answer, "scope":"fleet"
    std::vector<FleetMember> members;  // the members of the OTHER instances
  };

  virtual ~RoomLink() = default;
  virtual const std::string& instance() const = 0;
  // Queues a line for the fleet (its instance, epoch and seq are the link's to fill in).
  // Never blocks; false when the queue is full and the line was dropped.
  virtual bool publish(Envelope envelope) = 0;
  // True while lines reach the other instances.
  virtual bool linked() const = 0;
  // The fleet as last fetched, or nullptr (not linked, or nothing fetched yet).
  virtual std::shared_ptr<const FleetView> fleetView() const = 0;
};

class Room : public std::enable_shared_from_this<Room> {
 public:
  using Connection = microserver::ServiceConnection;

  enum class Kind { Message, Join, Leave };

  // Why a member was cut off (it hears TooSlow in every case).
  enum class Cut : int { None = 0, HardLimit, SoftLimit, RoomBudget, SendTimeout };
  static constexpr int kCutReasons = 5;
  static const char* cutName(Cut cut);  // "hard_limit", ...: the metric's label

  struct Member {
    std::shared_ptr<Connection> connection;
    std::uint64_t id = 0;
    std::string address;  // "ip:port"
    Connection::Transport transport = Connection::Transport::Tcp;
    std::string joined;  // timestamp
    std::size_t queueLimit = 0;  // the hard limit it joined with
    // Set once, by whoever decides to cut it (a sweep, or a send that failed past the hard
    // limit); read by leave().
    mutable std::atomic<int> cut{0};
    // When its queue went over the soft limit (0: it is not); sweeps only (sweepMutex_).
    mutable std::int64_t overSoftSinceUs = 0;
  };
  using MemberList = std::vector<std::shared_ptr<const Member>>;

  // Counts for the periodic summary; messages and slow are since the last call.
  struct Summary {
    std::size_t tcp = 0, webSocket = 0, messages = 0, slow = 0;
  };
  // Counts since the room was made, for the metrics.
  struct Totals {
    std::size_t tcp = 0, webSocket = 0;  // members now
    std::uint64_t messagesIn = 0;        // lines members of this instance sent
    std::uint64_t messagesOut = 0;       // lines queued to members of this instance
    std::uint64_t cut = 0;               // members cut off as too slow, for any reason
    std::uint64_t queuedBytes = 0;       // unsent, summed over the members now
    std::uint64_t cutBy[kCutReasons] = {};  // by Cut (index 0 unused)
    std::uint64_t floodDroppedMember = 0;   // lines dropped by flood_members
    std::uint64_t floodDroppedHttp = 0;     // lines dropped by flood_http
  };
  // What a sweep found and did.
  struct Sweep {
    std::uint64_t queuedBytes = 0;  // left queued for members not being cut
    std::size_t cutSoft = 0, cutBudget = 0;
  };
  // Runs `fire` once after `delay` (on some thread); false if it cannot.
  using Scheduler = std::function<bool(std::chrono::milliseconds delay, std::function<void()> fire)>;

  // The room called `name`, created with the default settings on first use.
  //
  // Why a registry (as kv's stores): the service (created once at start-up) and the HTTP
  // routes (a new handler per route at every reload of routes.yaml) are created apart, by
  // the server, and must share one room. The registry belongs to the library, so the room,
  // its members and its history survive reloads while libchat.so is unchanged.
  static std::shared_ptr<Room> named(const std::string& name);

  explicit Room(std::string name, RoomSettings settings = {});

  const std::string& name() const { return name_; }
  // A service's settings; the history keeps its newest lines when its bound shrinks.
  // Members keep the line and queue limits they joined with.
  void configure(const RoomSettings& settings);
  RoomSettings settings() const;
  RoomLog& log() { return log_; }

  // Adds the connection's member and announces it to everyone, itself included (its own
  // "joined" is the first line it gets). When the room already holds max_clients members,
  // tells the client so and returns nullptr.
  std::shared_ptr<const Member> join(const std::shared_ptr<Connection>& connection);
  // Removes the member and announces it ("left", or "left (too slow)" for TooSlow; nothing
  // when the server is stopping: everyone is leaving). Only the first call for a member
  // does anything, so a quit followed by the close is one departure.
  void leave(const Member& member, Connection::CloseReason reason);
  // Broadcasts one line of text from `from` ("ip:port"): `<timestamp> <from> <text>\n`,
  // with ill-formed UTF-8 replaced by U+FFFD. The caller has framed and limited it.
  // With a link: `<timestamp> <from>@<instance> <text>\n`, through the link; false if the
  // link's queue is full and the line was dropped (the sender should be told).
  bool say(std::string_view from, std::string_view text);
  // Tells every member the server is stopping (once).
  void announceStopping();

  // The link to the other instances (nullptr: none). The link calls deliver() for every
  // line of the fleet, in one order, from one thread at a time; `skipMember` (a connection
  // id, or 0) does not get it: a joiner that already has its own `joined`.
  void setLink(std::shared_ptr<RoomLink> link);
  std::shared_ptr<RoomLink> link() const;
  void deliver(const Envelope& envelope, std::uint64_t skipMember = 0);
  // `<timestamp> * <text>\n` to the members of this instance only (not kept in history).
  void announceLocally(std::string_view text);

  // `<timestamp> * <text>\n`: the room's own lines.
  static microserver::SharedBytes notice(std::string_view text);
  // {"room":...,"scope":"fleet","messages":[{"time","from","instance","text","kind"}...]}:
  // the answer of /chat/history for lines as they came through a link, oldest first.
  static std::string fleetHistoryJson(const std::string& room, const std::vector<Envelope>& lines);

  std::shared_ptr<const MemberList> members() const;
  // {"room":"lobby","messages":[{"time","from","text","kind"}...]}, oldest first.
  std::string historyJson() const;
  // {"room":"lobby","count":N,"members":[{"address","transport","joined"}...]}.
  std::string membersJson() const;
  Summary takeSummary();
  Totals totals() const;

  // Checks every member's queue against the soft limit and the room's budget, cutting who
  // must go (see above). Runs by itself; public for tests, which drive time.
  Sweep sweep(std::int64_t nowUs);
  // Monotonic microseconds: the room's clock (tests may replace it before use).
  std::int64_t now() const { return clock_(); }
  void setClock(std::int64_t (*clock)()) { clock_ = clock; }
  // How sweeps are scheduled (default: a server timer); tests may replace it before use.
  void setScheduler(Scheduler scheduler);
  // Cuts the member off now (its queue dropped): `why` is what leave() will say.
  void cut(const Member& member, Cut why);
  // Sends to one member (a notice to itself); a failure past its hard limit is noted.
  bool sendTo(const Member& member, const microserver::SharedBytes& bytes);

  // Flood control: counts a member's line dropped; and for POST /chat/messages, which of
  // these lines (their sizes, in order) the client `address` ("ip:port") may send now.
  void noteFloodDropped(std::size_t lines) { floodDroppedMember_.fetch_add(lines, std::memory_order_relaxed); }
  AddressBuckets::Admitted admitPost(std::string_view address, const std::vector<std::size_t>& lineBytes);

 private:
  // One remembered line: the broadcast bytes themselves, and where its parts are in them.
  struct Entry {
    microserver::SharedBytes line;
    Kind kind = Kind::Message;
    std::uint32_t fromPos = 0, fromLen = 0, textPos = 0, textLen = 0;
  };

  void broadcast(const microserver::SharedBytes& line, std::uint64_t skipMember = 0);
  // After `bytes` were queued for members: keeps the sweeps going, and sweeps at once when
  // the room may be over its budget.
  void queued(std::uint64_t bytes);
  void armSweep();
  Sweep sweepLocked(std::int64_t nowUs);  // sweepMutex_ held
  void onSweepTimer();
  // A send() to `member` failed: past its hard limit (else it was closing anyway).
  void sendFailed(const Member& member, std::size_t size);
  void remember(Entry entry);
  std::string localHistoryJson(bool linkMode) const;
  void rebound(std::size_t capacity);  // historyMutex_ held

  const std::string name_;
  RoomLog log_;

  mutable std::mutex mutex_;  // members_, settings_ and link_
  std::shared_ptr<const MemberList> members_;
  RoomSettings settings_;
  std::shared_ptr<RoomLink> link_;

  mutable std::mutex historyMutex_;  // the ring below
  std::vector<Entry> ring_;          // capacity = settings' history
  std::size_t next_ = 0;             // where the next entry goes
  std::size_t count_ = 0;            // entries held, <= ring_.size()

  std::atomic<std::size_t> messages_{0};  // since the last summary
  std::atomic<std::size_t> slow_{0};
  std::atomic<std::uint64_t> messagesIn_{0}, cut_{0};  // totals
  std::atomic<std::uint64_t> cutBy_[kCutReasons] = {};
  std::atomic<std::uint64_t> floodDroppedMember_{0}, floodDroppedHttp_{0};
  std::atomic<std::uint64_t> messagesOut_{0};
  std::atomic<bool> stopping_{false};

  // Sweeps. The budget check on the broadcast path is an estimate that never falls short:
  // what the last sweep found plus everything queued since (ignoring what was sent since).
  std::int64_t (*clock_)();
  std::mutex sweepMutex_;  // one sweep at a time; guards each Member's overSoftSinceUs
  Scheduler scheduler_;    // set before members join
  std::atomic<bool> sweepArmed_{false};
  std::atomic<bool> schedulerFailed_{false};
  std::atomic<std::uint64_t> queuedSinceSweep_{0};
  std::atomic<std::uint64_t> lastSweepQueued_{0};
  std::atomic<std::int64_t> lastSweepUs_{0};
  std::atomic<std::uint64_t> budget_{0};  // settings' roomQueueBytes, read without the lock
  AddressBuckets posters_;                // flood_http
};

}  // namespace chat
