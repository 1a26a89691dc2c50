// The chat plugin: its framing, room and sessions compiled in and driven in-process with
// fake connections (which record what they are sent and can play a member that stops
// reading), its config parsing, and its HTTP routes through the real libchat.so.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "PluginTestSupport.h"
#include "ws/ServicePeer.h"
#include "chat/ChatConfig.h"
#include "chat/ChatService.h"
#include "chat/ChatSession.h"
#include "chat/ChatStatus.h"
#include "chat/Envelope.h"
#include "chat/LineFramer.h"
#include "chat/RedisLink.h"
#include "chat/Room.h"
#include "chat/Timestamp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using microserver::ServiceConnection;
using Transport = ServiceConnection::Transport;
using CloseReason = ServiceConnection::CloseReason;

const std::string kTs = R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})";

// Replaces every timestamp with "TS", so whole lines and JSON can be compared exactly.
std::string untimed(const std::string& text) { return std::regex_replace(text, std::regex(kTs), "TS"); }

// ---------------------------------------------------------------------------------------
// Fakes

class FakeLogger : public microserver::Logger {
 public:
  void error(std::string_view m) const override { add("error", m); }
  void warning(std::string_view m) const override { add("warning", m); }
  void info(std::string_view m) const override { add("info", m); }
  void debug(std::string_view m) const override { add("debug", m); }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  bool has(const std::string& levelAndText) const {
    for (const std::string& line : lines())
      if (line.find(levelAndText) != std::string::npos) return true;
    return false;
  }
  // Waits (bounded) for a line holding `levelAndText`.
  bool waitFor(const std::string& levelAndText, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return added_.wait_for(lock, timeout, [&] {
      for (const std::string& line : lines_)
        if (line.find(levelAndText) != std::string::npos) return true;
      return false;
    });
  }

 private:
  void add(const char* level, std::string_view m) const {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.push_back(std::string(level) + ": " + std::string(m));
    added_.notify_all();
  }
  mutable std::mutex mutex_;
  mutable std::condition_variable added_;
  mutable std::vector<std::string> lines_;
};

// A ServiceConnection as the server's, minus the socket: send() queues (and records) the
// bytes, and fails and marks the connection too slow past the send limit, as the real one
// does. Nothing is ever written, so queued bytes stay queued until drain().
class FakeConnection : public ServiceConnection {
 public:
  FakeConnection(std::string address, Transport transport = Transport::Tcp)
      : address_(std::move(address)), transport_(transport), id_(nextId()++) {}

  bool send(const microserver::SharedBytes& bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    if (queued_ + bytes.size() > limit_) {
      tooSlow_ = true;
      closed_ = true;
      return false;
    }
    queued_ += bytes.size();
    sent_.push_back(bytes);
    return true;
  }
  void close() override {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    closeRequested_ = true;
  }
  void setSendLimit(std::size_t bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
  }
  std::uint64_t queuedBytes() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return queued_;
  }
  Transport transport() const override { return transport_; }
  std::string_view remoteAddress() const override { return address_; }
  std::uint64_t id() const override { return id_; }

  // The client read everything, or all but `left` bytes.
  void drain(std::size_t left = 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_ = std::min(queued_, left);
  }
  // The server cut it off and freed its queue (as its close does).
  void freed() {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_ = 0;
  }
  std::vector<microserver::SharedBytes> sentBytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
  }
  // Everything received, timestamps as "TS".
  std::vector<std::string> received() const {
    std::vector<std::string> out;
    for (const auto& b : sentBytes()) out.push_back(untimed(std::string(b.view())));
    return out;
  }
  std::vector<std::string> takeReceived() {
    std::vector<std::string> out = received();
    std::lock_guard<std::mutex> lock(mutex_);
    sent_.clear();
    return out;
  }
  bool closeRequested() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closeRequested_;
  }
  bool tooSlow() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return tooSlow_;
  }
  std::size_t limit() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }

 private:
  static std::atomic<std::uint64_t>& nextId() {
    static std::atomic<std::uint64_t> id{1};
    return id;
  }
  const std::string address_;
  const Transport transport_;
  const std::uint64_t id_;
  mutable std::mutex mutex_;
  std::vector<microserver::SharedBytes> sent_;
  std::size_t queued_ = 0;
  std::size_t limit_ = 1 << 20;
  bool closed_ = false;
  bool closeRequested_ = false;
  bool tooSlow_ = false;
};

// A member as a reactor would hold it: its connection and its session.
struct Member {
  std::shared_ptr<FakeConnection> connection;
  std::unique_ptr<microserver::ServiceSession> session;
  void say(std::string_view bytes) { session->onData(bytes); }
  void closed(CloseReason reason = CloseReason::PeerClosed) {
    session->onClose(reason);
    session.reset();
  }
};

// A room with its own name (rooms are found by name in the library's registry, and the
// tests share this process), its endpoint, and a logger attached.
// The rooms' clock in these tests: monotonic microseconds that only the test moves.
std::atomic<std::int64_t> gFakeNowUs{1000000};
std::int64_t fakeNow() { return gFakeNowUs.load(); }
void advance(std::chrono::milliseconds d) { gFakeNowUs += d.count() * 1000; }

struct TestRoom {
  std::shared_ptr<chat::Room> room;
  chat::RoomEndpoint endpoint;
  FakeLogger logger;
  // Sweeps the room asked for (its timer), not run until the test runs them.
  std::mutex timersMutex;
  std::vector<std::pair<std::chrono::milliseconds, std::function<void()>>> timers;

  explicit TestRoom(chat::RoomSettings settings = {})
      : room(std::make_shared<chat::Room>("test", settings)), endpoint(room) {
    room->log().attach(&logger);
    room->setClock(&fakeNow);
    room->setScheduler([this](std::chrono::milliseconds delay, std::function<void()> fire) {
      std::lock_guard<std::mutex> lock(timersMutex);
      timers.emplace_back(delay, std::move(fire));
      return true;
    });
  }
  std::size_t pendingTimers() {
    std::lock_guard<std::mutex> lock(timersMutex);
    return timers.size();
  }
  // Moves the clock by each pending timer's delay and fires it; returns how many fired.
  std::size_t fireTimers() {
    std::vector<std::pair<std::chrono::milliseconds, std::function<void()>>> due;
    {
      std::lock_guard<std::mutex> lock(timersMutex);
      due.swap(timers);
    }
    for (auto& [delay, fire] : due) {
      advance(delay);
      fire();
    }
    return due.size();
  }
  ~TestRoom() { room->log().detach(&logger); }

  Member join(const std::string& address, Transport transport = Transport::Tcp) {
    Member m;
    m.connection = std::make_shared<FakeConnection>(address, transport);
    m.session = endpoint.accept(m.connection);
    return m;
  }
};

// ---------------------------------------------------------------------------------------
// LineFramer

struct RecordingSink : chat::LineSink {
  std::vector<std::string> lines;
  int tooLong = 0;
  std::string stopAt;  // onLine returns false for this line
  bool onLine(std::string_view line) override {
    lines.emplace_back(line);
    return line != stopAt || stopAt.empty();
  }
  void onTooLong() override {
    lines.push_back("<too long>");
    ++tooLong;
  }
};

std::vector<std::string> frame(const std::vector<std::string>& pieces, std::size_t max = 100) {
  chat::LineFramer framer(max);
  RecordingSink sink;
  for (const std::string& piece : pieces) framer.feed(piece, sink);
  return sink.lines;
}

using Lines = std::vector<std::string>;

TEST(ChatLineFramer, ALineSplitAcrossReadsIsOneLine) {
  EXPECT_EQ(frame({"hel", "lo wor", "ld\n"}), Lines({"hello world"}));
}

TEST(ChatLineFramer, SeveralLinesInOneReadAreSeveralLines) {
  EXPECT_EQ(frame({"one\ntwo\nthree\n"}), Lines({"one", "two", "three"}));
  EXPECT_EQ(frame({"one\ntw", "o\nthree\nfo"}), Lines({"one", "two", "three"})) << "the unterminated 'fo' waits";
}

TEST(ChatLineFramer, ATrailingCarriageReturnIsStrippedOthersAreKept) {
  EXPECT_EQ(frame({"a\r\nb\r", "\n"}), Lines({"a", "b"}));
  EXPECT_EQ(frame({"a\rb\n"}), Lines({"a\rb"}));
  EXPECT_EQ(frame({"a\r\r\n"}), Lines({"a\r"})) << "one \\r only";
}

TEST(ChatLineFramer, EmptyLinesAreIgnored) {
  EXPECT_EQ(frame({"\n\r\n\n", "x\n", "\r", "\n"}), Lines({"x"}));
  EXPECT_EQ(frame({" \n"}), Lines({" "})) << "a space is text";
}

TEST(ChatLineFramer, EverySplitOfTheStreamGivesTheSameLines) {
  const std::string stream = "first\r\nsecond line\n\nthird\n";
  const Lines expected = {"first", "second line", "third"};
  for (std::size_t i = 0; i <= stream.size(); ++i)
    for (std::size_t j = i; j <= stream.size(); ++j)
      EXPECT_EQ(frame({stream.substr(0, i), stream.substr(i, j - i), stream.substr(j)}), expected) << i << "," << j;
}

TEST(ChatLineFramer, ALineOfExactlyTheLimitPassesOneMoreIsRefused) {
  EXPECT_EQ(frame({"12345\n"}, 5), Lines({"12345"}));
  EXPECT_EQ(frame({"12345\r\n"}, 5), Lines({"12345"})) << "the \\r does not count";
  EXPECT_EQ(frame({"123", "45\r", "\n"}, 5), Lines({"12345"}));
  EXPECT_EQ(frame({"123456\n"}, 5), Lines({"<too long>"}));
  EXPECT_EQ(frame({"123456\r\n"}, 5), Lines({"<too long>"}));
}

TEST(ChatLineFramer, AnOverLongLineIsRefusedOnceAndTheRestOfItDiscardedThenFramingGoesOn) {
  chat::LineFramer framer(5);
  RecordingSink sink;
  framer.feed("12345678", sink);  // known too long before its end: refused at once
  EXPECT_EQ(sink.lines, Lines({"<too long>"}));
  EXPECT_EQ(framer.buffered(), 0u) << "nothing of it is kept";
  framer.feed(std::string(100000, 'x'), sink);  // still the same line: dropped as it comes
  EXPECT_EQ(framer.buffered(), 0u);
  framer.feed("yyy\nok\nab", sink);
  framer.feed("c\n", sink);
  EXPECT_EQ(sink.lines, Lines({"<too long>", "ok", "abc"}));
  EXPECT_EQ(sink.tooLong, 1);
}

TEST(ChatLineFramer, NeverBuffersMoreThanTheLimit) {
  chat::LineFramer framer(10);
  RecordingSink sink;
  for (int i = 0; i < 1000; ++i) {
    framer.feed("abc", sink);
    EXPECT_LE(framer.buffered(), 11u);
  }
  EXPECT_EQ(sink.tooLong, 1);
}

TEST(ChatLineFramer, FinishEndsAnUnterminatedLineAndResets) {
  chat::LineFramer framer(5);
  RecordingSink sink;
  framer.feed("one\ntwo", sink);
  framer.finish(sink);
  EXPECT_EQ(sink.lines, Lines({"one", "two"}));
  framer.feed("123456", sink);  // refused...
  framer.finish(sink);
  framer.feed("ok", sink);  // ...but the next message starts clean
  framer.finish(sink);
  EXPECT_EQ(sink.lines, Lines({"one", "two", "<too long>", "ok"}));
  framer.feed("12345\r", sink);
  framer.finish(sink);
  EXPECT_EQ(sink.lines.back(), "12345");
}

TEST(ChatLineFramer, StopsWhenTheSinkSaysSo) {
  chat::LineFramer framer(100);
  RecordingSink sink;
  sink.stopAt = "quit";
  EXPECT_FALSE(framer.feed("a\nquit\nb\nc", sink));
  EXPECT_EQ(sink.lines, Lines({"a", "quit"}));
  EXPECT_EQ(framer.buffered(), 0u);
}

// ---------------------------------------------------------------------------------------
// Timestamp

TEST(ChatTimestamp, IsLocalTimeWithMilliseconds) {
  const std::time_t t = 1795000000;  // some second in 2026
  std::tm local{};
  localtime_r(&t, &local);
  char expected[32];
  std::strftime(expected, sizeof expected, "%Y-%m-%d %H:%M:%S", &local);
  for (int ms : {0, 5, 42, 512, 999}) {
    std::string out;
    chat::appendTimestamp(out, std::chrono::system_clock::from_time_t(t) + std::chrono::milliseconds(ms));
    char millis[8];
    std::snprintf(millis, sizeof millis, ".%03d", ms);
    EXPECT_EQ(out, std::string(expected) + millis);
  }
  EXPECT_TRUE(std::regex_match(chat::timestamp(), std::regex(kTs)));
  EXPECT_EQ(chat::timestamp().size(), chat::kTimestampLength);
}

// ---------------------------------------------------------------------------------------
// The room: formats, joins, leaves, quit

TEST(ChatRoom, ALineReachesEveryMemberSenderIncludedInTheExactFormat) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1001"), b = t.join("10.0.0.2:1002"), c = t.join("10.0.0.3:1003");
  a.connection->takeReceived();
  b.connection->takeReceived();
  c.connection->takeReceived();
  a.say("hello there\n");
  for (Member* m : {&a, &b, &c}) {
    auto got = m->connection->sentBytes();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(std::regex_match(std::string(got[0].view()), std::regex(kTs + " 10\\.0\\.0\\.1:1001 hello there\n"))) << got[0].view();
  }
}

TEST(ChatRoom, ABroadcastIsFormattedOnceAndTheSameBytesGoToEveryMember) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2");
  a.connection->takeReceived();
  b.connection->takeReceived();
  a.say("x\n");
  ASSERT_EQ(a.connection->sentBytes().size(), 1u);
  ASSERT_EQ(b.connection->sentBytes().size(), 1u);
  EXPECT_EQ(a.connection->sentBytes()[0].handle(), b.connection->sentBytes()[0].handle()) << "one buffer, shared";
}

TEST(ChatRoom, JoinsAndLeavesAreAnnouncedToTheRoom) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1");
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * 10.0.0.1:1 joined\n"})) << "a member sees its own join";
  Member b = t.join("10.0.0.2:2");
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * 10.0.0.2:2 joined\n"}));
  EXPECT_EQ(b.connection->takeReceived(), Lines({"TS * 10.0.0.2:2 joined\n"}));
  b.closed(CloseReason::PeerClosed);
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * 10.0.0.2:2 left\n"}));
  EXPECT_TRUE(b.connection->received().empty());
  EXPECT_TRUE(t.logger.has("info: room test: 10.0.0.1:1 joined over tcp (1 member)"));
  EXPECT_TRUE(t.logger.has("info: room test: 10.0.0.2:2 (tcp) left: it closed the connection (1 member)"));
  a.say("still here\n");
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS 10.0.0.1:1 still here\n"}));
  EXPECT_TRUE(b.connection->received().empty()) << "nothing reaches a member that left";
}

TEST(ChatRoom, QuitSaysByeClosesAndTheOthersHearItLeftOnce) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2");
  a.connection->takeReceived();
  b.connection->takeReceived();
  a.say("last words\nquit\nnot sent\n");
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS 10.0.0.1:1 last words\n", "TS * bye\n"}));
  EXPECT_TRUE(a.connection->closeRequested());
  EXPECT_EQ(b.connection->takeReceived(), Lines({"TS 10.0.0.1:1 last words\n", "TS * 10.0.0.1:1 left\n"}));
  a.say("more\n");  // what it sends until the server closes is ignored
  a.closed(CloseReason::ClosedByService);
  EXPECT_TRUE(b.connection->received().empty()) << "no second 'left', no 'more'";
  EXPECT_EQ(t.room->members()->size(), 1u);
}

TEST(ChatRoom, QuitMustBeTheWholeLine) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1");
  a.connection->takeReceived();
  a.say("quit please\n quit\nquit\r\n");
  EXPECT_EQ(a.connection->takeReceived(),
            Lines({"TS 10.0.0.1:1 quit please\n", "TS 10.0.0.1:1  quit\n", "TS * bye\n"}));
}

TEST(ChatRoom, AnOverLongLineIsRefusedToItsSenderAloneAndTheConnectionStays) {
  chat::RoomSettings settings;
  settings.maxLineBytes = 8;
  TestRoom t(settings);
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2");
  a.connection->takeReceived();
  b.connection->takeReceived();
  a.say("0123456789");
  a.say("abcdef\nok\n");
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * line too long (max 8 bytes): dropped\n", "TS 10.0.0.1:1 ok\n"}));
  EXPECT_EQ(b.connection->takeReceived(), Lines({"TS 10.0.0.1:1 ok\n"}));
  EXPECT_FALSE(a.connection->closeRequested());
  EXPECT_EQ(t.room->members()->size(), 2u);
}

TEST(ChatRoom, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1");
  a.connection->takeReceived();
  a.say("caf\xE9 \xC3");             // invalid; and the first byte of a split "é"
  a.say("\xA9 \xF0\x9F\x98\x80\n");  // its second byte, then a valid emoji
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS 10.0.0.1:1 caf\xEF\xBF\xBD \xC3\xA9 \xF0\x9F\x98\x80\n"}));
  std::string json = t.room->historyJson();
  EXPECT_NE(json.find("caf\xEF\xBF\xBD \xC3\xA9"), std::string::npos) << "stored replaced, too";
}

TEST(ChatRoom, AWebSocketMessageIsFramedLikeTcpInput) {
  TestRoom t;
  Member ws = t.join("10.0.0.9:9", Transport::WebSocket);
  ws.connection->takeReceived();
  ws.say("one\r\ntwo");  // a message without "\n" is a line too
  ws.say("three");
  ws.say("\n\n");
  EXPECT_EQ(ws.connection->takeReceived(),
            Lines({"TS 10.0.0.9:9 one\n", "TS 10.0.0.9:9 two\n", "TS 10.0.0.9:9 three\n"}));
  ws.say("quit");
  EXPECT_EQ(ws.connection->takeReceived(), Lines({"TS * bye\n"}));
  EXPECT_TRUE(ws.connection->closeRequested());
}

TEST(ChatRoom, AMemberJoiningAFullRoomIsToldAndRefused) {
  chat::RoomSettings settings;
  settings.maxClients = 2;
  TestRoom t(settings);
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2");
  a.connection->takeReceived();
  Member c = t.join("10.0.0.3:3");
  EXPECT_EQ(c.session, nullptr);
  EXPECT_EQ(c.connection->received(), Lines({"TS * the room is full (2 members); try again later\n"}));
  EXPECT_TRUE(a.connection->received().empty()) << "no join announced";
  EXPECT_EQ(t.room->members()->size(), 2u);
  EXPECT_TRUE(t.logger.has("info: room test: turned 10.0.0.3:3 away: the room is full (2 members"));
  b.closed();
  Member d = t.join("10.0.0.4:4");
  EXPECT_NE(d.session, nullptr) << "a place freed is taken";
}

TEST(ChatRoom, EachMemberGetsTheRoomsSendLimit) {
  chat::RoomSettings settings;
  settings.maxQueueBytes = 12345;
  TestRoom t(settings);
  Member a = t.join("10.0.0.1:1");
  EXPECT_EQ(a.connection->limit(), 12345u);
}

TEST(ChatRoom, AMemberThatFallsBehindIsCutAndTheOthersGetEverything) {
  chat::RoomSettings settings;
  settings.maxQueueBytes = 4096;
  TestRoom t(settings);
  Member sender = t.join("10.0.0.1:1"), reader = t.join("10.0.0.2:2"), stuck = t.join("10.0.0.3:3");
  sender.connection->takeReceived();
  reader.connection->takeReceived();
  const std::string text(100, 'x');
  for (int i = 0; i < 100; ++i) {
    sender.say(std::to_string(i) + " " + text + "\n");
    sender.connection->drain();  // these two keep reading
    reader.connection->drain();
  }
  EXPECT_TRUE(stuck.connection->tooSlow()) << "its send failed past the limit";
  EXPECT_LE(stuck.connection->queuedBytes(), 4096u);
  // The server then closes it as TooSlow, which its session hears:
  stuck.closed(CloseReason::TooSlow);
  sender.say("after\n");
  std::vector<std::string> messages, notices;
  for (const std::string& line : reader.connection->received())
    (line.find(" * ") != std::string::npos ? notices : messages).push_back(line);
  ASSERT_EQ(messages.size(), 101u);
  ASSERT_EQ(notices.size(), 1u);
  const std::string& left = notices[0];
  for (int i = 0; i < 100; ++i) EXPECT_EQ(messages[i], "TS 10.0.0.1:1 " + std::to_string(i) + " " + text + "\n");
  EXPECT_EQ(messages[100], "TS 10.0.0.1:1 after\n");
  EXPECT_EQ(left, "TS * 10.0.0.3:3 left (too slow)\n");
  EXPECT_TRUE(
      t.logger.has("info: room test: 10.0.0.3:3 (tcp) left: too slow: it fell more than max_queue_bytes "
                   "(4096 bytes) behind and was cut off"));
  EXPECT_EQ(t.room->takeSummary().slow, 1u);
}

TEST(ChatRoom, LeavingWhileTheServerStopsIsNotAnnounced) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2");
  a.connection->takeReceived();
  t.room->announceStopping();
  t.room->announceStopping();  // a second service of the same room: said once
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * the server is stopping\n"}));
  b.closed(CloseReason::ServerStopping);
  EXPECT_TRUE(a.connection->received().empty());
  EXPECT_EQ(t.room->members()->size(), 1u);
}

// ---------------------------------------------------------------------------------------
// Queue limits: hard, soft + time, the room's budget (sweeps driven by a fake clock)

// Says `n` lines of `size` bytes of text from `sender`, one a millisecond (of the fake
// clock); `drained` keep reading everything.
void sayLines(Member& sender, int n, std::size_t size, std::initializer_list<Member*> drained) {
  const std::string text(size, 'x');
  for (int i = 0; i < n; ++i) {
    advance(std::chrono::milliseconds(1));
    sender.say(text + "\n");
    for (Member* m : drained) m->connection->drain();
  }
}

std::size_t lineBytes(std::size_t text) { return 23 + 1 + std::string("10.0.0.1:1").size() + 1 + text + 1; }

TEST(ChatRoomLimits, AMemberOverTheSoftLimitForLongerThanItsTimeIsCut) {
  chat::RoomSettings settings;
  settings.maxQueueBytes = 1 << 20;
  settings.softQueueBytes = 10000;
  settings.softQueueTime = std::chrono::milliseconds(1000);
  TestRoom t(settings);
  Member sender = t.join("10.0.0.1:1"), stuck = t.join("10.0.0.2:2");
  sender.connection->takeReceived();
  sayLines(sender, 200, 100, {&sender});  // ~27 KB queued for `stuck`
  ASSERT_GT(stuck.connection->queuedBytes(), 10000u);
  ASSERT_EQ(t.pendingTimers(), 1u) << "something queued: a sweep is due";
  // Timers every 250 ms (a quarter of soft_queue_time): over at the first, cut once more
  // than 1 s has passed since.
  int fired = 0;
  while (!stuck.connection->tooSlow() && fired < 20) fired += static_cast<int>(t.fireTimers());
  EXPECT_TRUE(stuck.connection->tooSlow()) << "cut: its send limit set to 0 and a send failed";
  EXPECT_EQ(fired, 6) << "over at 250 ms; 1000 ms later not yet (not longer than); cut at 1500 ms";
  EXPECT_EQ(stuck.connection->limit(), 0u);
  stuck.connection->freed();
  stuck.closed(CloseReason::TooSlow);
  EXPECT_TRUE(t.logger.has("info: room test: 10.0.0.2:2 (tcp) left: too slow: it stayed more than soft_queue_bytes "
                           "(10000 bytes) behind for longer than soft_queue_time (1 s) and was cut off"));
  chat::Room::Totals totals = t.room->totals();
  EXPECT_EQ(totals.cutBy[static_cast<int>(chat::Room::Cut::SoftLimit)], 1u);
  EXPECT_EQ(totals.cut, 1u);
  EXPECT_EQ(totals.queuedBytes, sender.connection->queuedBytes()) << "its queue is gone from the room's";
  // Nothing queued any more: the sweeps stop (an idle room costs nothing).
  sender.connection->drain();
  t.fireTimers();
  EXPECT_EQ(t.pendingTimers(), 0u);
}

TEST(ChatRoomLimits, DroppingBelowTheSoftLimitStartsItsTimeAgain) {
  chat::RoomSettings settings;
  settings.softQueueBytes = 10000;
  settings.softQueueTime = std::chrono::milliseconds(1000);
  TestRoom t(settings);
  Member sender = t.join("10.0.0.1:1"), slow = t.join("10.0.0.2:2");
  for (int round = 0; round < 5; ++round) {
    sayLines(sender, 200, 100, {&sender});  // over the soft limit
    t.fireTimers();
    advance(std::chrono::milliseconds(600));
    t.room->sweep(t.room->now());  // 850 ms over: not yet
    slow.connection->drain(5000);  // it reads, down below the soft limit: its time starts again
    t.room->sweep(t.room->now());
  }
  EXPECT_FALSE(slow.connection->tooSlow()) << "over the soft limit 5 times, never for 1 s on end";
  sayLines(sender, 200, 100, {&sender});
  t.room->sweep(t.room->now());
  advance(std::chrono::milliseconds(1001));
  t.room->sweep(t.room->now());
  EXPECT_TRUE(slow.connection->tooSlow());
}

TEST(ChatRoomLimits, AFailedSendPastTheHardLimitCutsAtOnceWhateverTheSoftLimit) {
  chat::RoomSettings settings;
  settings.maxQueueBytes = 8192;
  settings.softQueueBytes = 4096;
  settings.softQueueTime = std::chrono::milliseconds(60000);
  TestRoom t(settings);
  Member sender = t.join("10.0.0.1:1"), stuck = t.join("10.0.0.2:2");
  sayLines(sender, 100, 100, {&sender});
  EXPECT_TRUE(stuck.connection->tooSlow()) << "no timer needed";
  stuck.closed(CloseReason::TooSlow);
  EXPECT_EQ(t.room->totals().cutBy[static_cast<int>(chat::Room::Cut::HardLimit)], 1u);
  // A member the server cut for send_timeout (TooSlow, no reason of the room's):
  Member timedOut = t.join("10.0.0.3:3");
  timedOut.closed(CloseReason::TooSlow);
  EXPECT_EQ(t.room->totals().cutBy[static_cast<int>(chat::Room::Cut::SendTimeout)], 1u);
  EXPECT_TRUE(t.logger.has("10.0.0.3:3 (tcp) left: too slow: it took nothing of what it was sent for "
                           "server.limits.send_timeout and was cut off"));
}

TEST(ChatRoomLimits, TheRoomBudgetCutsTheMembersFurthestBehindFirst) {
  chat::RoomSettings settings;
  settings.softQueueBytes = 0;  // off: only the budget
  settings.roomQueueBytes = 100000;
  TestRoom t(settings);
  Member sender = t.join("10.0.0.1:1"), reader = t.join("10.0.0.2:2");
  Member far = t.join("10.0.0.3:3"), behind = t.join("10.0.0.4:4"), near = t.join("10.0.0.5:5");
  const std::size_t line = lineBytes(100);
  // `far` stops reading first, `behind` after 100 lines, `near` after 200.
  sayLines(sender, 100, 100, {&sender, &reader, &behind, &near});
  sayLines(sender, 100, 100, {&sender, &reader, &near});
  sayLines(sender, 100, 100, {&sender, &reader});
  // 300, 200 and 100 lines of 136 bytes: 81,600 bytes, within the budget.
  EXPECT_EQ(far.connection->queuedBytes(), 300 * line + far.connection->queuedBytes() % line);
  EXPECT_FALSE(far.connection->tooSlow());
  // 45 lines more pass the budget: the broadcast that does sweeps at once (no timer
  // needed); far goes first.
  sayLines(sender, 100, 100, {&sender, &reader});
  EXPECT_TRUE(far.connection->tooSlow()) << "the furthest behind";
  EXPECT_FALSE(behind.connection->tooSlow()) << "cutting the first was enough";
  EXPECT_FALSE(near.connection->tooSlow());
  far.connection->freed();
  far.closed(CloseReason::TooSlow);
  EXPECT_TRUE(t.logger.has("its members had more than room_queue_bytes (100000 bytes) queued; cut off the 1 member "
                           "furthest behind"));
  EXPECT_TRUE(t.logger.has("10.0.0.3:3 (tcp) left: too slow: the room's members had more than room_queue_bytes "
                           "(100000 bytes) queued, and it was the furthest behind and was cut off"));
  EXPECT_EQ(t.room->totals().cutBy[static_cast<int>(chat::Room::Cut::RoomBudget)], 1u);
  EXPECT_LE(t.room->totals().queuedBytes, 100000u);
  // On: behind is the furthest behind now.
  sayLines(sender, 400, 100, {&sender, &reader});
  EXPECT_TRUE(behind.connection->tooSlow());
  EXPECT_FALSE(near.connection->tooSlow()) << "600 lines: 81,600 bytes, within the budget alone";
  EXPECT_FALSE(reader.connection->tooSlow()) << "who reads is never cut";
  EXPECT_FALSE(sender.connection->tooSlow());
}

TEST(ChatRoomLimits, WithEveryLimitOffTheRoomDeliversEverything) {
  chat::RoomSettings settings;
  settings.maxQueueBytes = 1u << 30;
  settings.softQueueBytes = 0;
  settings.roomQueueBytes = 0;
  settings.memberFlood.enabled = false;
  TestRoom t(settings);
  Member sender = t.join("10.0.0.1:1"), a = t.join("10.0.0.2:2"), b = t.join("10.0.0.3:3");
  a.connection->takeReceived();
  b.connection->takeReceived();
  constexpr int kLines = 20000;  // ~2.8 MB for each, nobody reading
  std::string burst;
  for (int i = 0; i < kLines; ++i) burst += std::to_string(i) + " " + std::string(94, 'y') + "\n";
  sender.say(burst);
  advance(std::chrono::hours(1));
  t.fireTimers();
  for (Member* m : {&a, &b}) {
    std::vector<microserver::SharedBytes> got = m->connection->sentBytes();
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kLines));
    for (int i = 0; i < kLines; ++i) {
      // After the timestamp: every line, in order.
      const std::string expected = " 10.0.0.1:1 " + std::to_string(i) + " " + std::string(94, 'y') + "\n";
      if (got[i].view().substr(23) != expected) {
        ADD_FAILURE() << "line " << i << ": " << got[i].view();
        break;
      }
    }
    EXPECT_FALSE(m->connection->tooSlow());
  }
}

// ---------------------------------------------------------------------------------------
// Flood control

TEST(ChatFlood, ATokenBucketTakesABurstThenItsRate) {
  chat::FloodLimits limits{true, 10, 5, 1000, 2000};
  chat::TokenBucket bucket(limits, 0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.take(limits, 10, 0)) << i;
  EXPECT_FALSE(bucket.take(limits, 10, 0)) << "the burst is spent";
  EXPECT_EQ(bucket.waitUs(limits, 10, 0), 100000) << "a line every 100 ms";
  EXPECT_FALSE(bucket.take(limits, 10, 99999));
  EXPECT_TRUE(bucket.take(limits, 10, 100000));
  EXPECT_FALSE(bucket.full(limits, 100000));
  EXPECT_TRUE(bucket.full(limits, 10000000));
  // Bytes: 1,000 a second, 2,000 at once.
  chat::TokenBucket bytes(limits, 0);
  EXPECT_TRUE(bytes.take(limits, 1500, 0));
  EXPECT_FALSE(bytes.take(limits, 1000, 0));
  EXPECT_EQ(bytes.waitUs(limits, 1000, 0), 500000);
  EXPECT_TRUE(bytes.take(limits, 1000, 500000));
}

TEST(ChatFlood, AddressBucketsArePerAddressAndPerIpv6Network) {
  EXPECT_EQ(chat::AddressBuckets::clientKey("10.1.2.3:4567"), "10.1.2.3");
  EXPECT_EQ(chat::AddressBuckets::clientKey("[2001:db8:1:2:aa::1]:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(chat::AddressBuckets::clientKey("[2001:db8:1:2:bb::9]:80"), "2001:db8:1:2::/64") << "one network";
  EXPECT_EQ(chat::AddressBuckets::clientKey("[::ffff:10.1.2.3]:1"), "10.1.2.3");
  chat::FloodLimits limits{true, 1, 3, 100000, 100000};
  chat::AddressBuckets buckets(4);
  auto admitted = buckets.admit("10.0.0.1", {5, 5, 5, 5, 5}, limits, 0);
  EXPECT_EQ(admitted.lines, 3u) << "the burst, then dropped";
  EXPECT_EQ(admitted.retryUs, 1000000);
  EXPECT_EQ(buckets.admit("10.0.0.2", {5, 5}, limits, 0).lines, 2u) << "another address has its own";
  EXPECT_EQ(buckets.admit("10.0.0.1", {5}, limits, 0).lines, 0u);
  EXPECT_EQ(buckets.admit("10.0.0.1", {5}, limits, 1000000).lines, 1u);
  // Past maxAddresses, newcomers share one bucket.
  buckets.admit("10.0.0.3", {5}, limits, 1000000);
  buckets.admit("10.0.0.4", {5}, limits, 1000000);
  EXPECT_EQ(buckets.admit("10.0.0.5", {5, 5, 5}, limits, 1000000).lines, 3u);
  EXPECT_EQ(buckets.admit("10.0.0.6", {5}, limits, 1000000).lines, 0u) << "the shared bucket is spent";
  EXPECT_LE(buckets.size(), 5u);
}

TEST(ChatFlood, AMemberOverItsBucketsIsToldItsLinesAreDroppedAndOthersGoOn) {
  chat::RoomSettings settings;
  settings.memberFlood = {true, 2, 5, 1 << 20, 1 << 20};
  TestRoom t(settings);
  Member flooder = t.join("10.0.0.1:1"), other = t.join("10.0.0.2:2"), reader = t.join("10.0.0.3:3");
  flooder.connection->takeReceived();
  other.connection->takeReceived();
  reader.connection->takeReceived();
  std::string flood;
  for (int i = 0; i < 100; ++i) flood += "f" + std::to_string(i) + "\n";
  flooder.say(flood);
  other.say("mine\n");
  Lines expected;
  for (int i = 0; i < 5; ++i) expected.push_back("TS 10.0.0.1:1 f" + std::to_string(i) + "\n");
  expected.push_back("TS 10.0.0.2:2 mine\n");
  EXPECT_EQ(reader.connection->takeReceived(), expected) << "the burst of 5, then only others";
  Lines own = flooder.connection->takeReceived();
  ASSERT_EQ(own.size(), 7u);
  EXPECT_EQ(own[5],
            "TS * slow down: 1 line dropped; this room takes at most 2 lines/s (bursts of 5) and 1048576 bytes/s "
            "(bursts of 1048576) from each member\n")
      << "told at the first line dropped, once for the rest of the second";
  EXPECT_FALSE(flooder.connection->tooSlow());
  EXPECT_FALSE(flooder.connection->closeRequested()) << "never cut off";
  // A second later: 2 more lines pass, and the next notice counts what was dropped since.
  advance(std::chrono::milliseconds(1000));
  flooder.say("a\nb\nc\n");
  own = flooder.connection->takeReceived();
  ASSERT_EQ(own.size(), 3u);
  EXPECT_EQ(own[0], "TS 10.0.0.1:1 a\n");
  EXPECT_EQ(own[1], "TS 10.0.0.1:1 b\n");
  EXPECT_NE(own[2].find("slow down: 95 lines dropped"), std::string::npos) << own[2];
  EXPECT_EQ(t.room->totals().floodDroppedMember, 96u);
  // quit is never dropped.
  flooder.say("quit\n");
  EXPECT_TRUE(flooder.connection->closeRequested());
}

// ---------------------------------------------------------------------------------------
// History and members as JSON

TEST(ChatRoom, HistoryKeepsTheLastNLinesOldestFirstAsJson) {
  chat::RoomSettings settings;
  settings.history = 3;
  TestRoom t(settings);
  Member a = t.join("10.0.0.1:1");
  EXPECT_EQ(untimed(t.room->historyJson()),
            R"({"room":"test","messages":[{"time":"TS","from":"10.0.0.1:1","text":"joined","kind":"join"}]})"
            "\n");
  for (int i = 1; i <= 5; ++i) a.say("line " + std::to_string(i) + "\n");
  EXPECT_EQ(untimed(t.room->historyJson()), R"({"room":"test","messages":[)"
                                            R"({"time":"TS","from":"10.0.0.1:1","text":"line 3","kind":"message"},)"
                                            R"({"time":"TS","from":"10.0.0.1:1","text":"line 4","kind":"message"},)"
                                            R"({"time":"TS","from":"10.0.0.1:1","text":"line 5","kind":"message"}]})"
                                            "\n");
  Member b = t.join("10.0.0.2:2");
  b.closed(CloseReason::TooSlow);
  EXPECT_EQ(untimed(t.room->historyJson()),
            R"({"room":"test","messages":[)"
            R"({"time":"TS","from":"10.0.0.1:1","text":"line 5","kind":"message"},)"
            R"({"time":"TS","from":"10.0.0.2:2","text":"joined","kind":"join"},)"
            R"x({"time":"TS","from":"10.0.0.2:2","text":"left (too slow)","kind":"leave"}]})x"
            "\n");
}

TEST(ChatRoom, HistoryTimesAreTheBroadcastTimes) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1");
  a.connection->takeReceived();
  a.say("hi\n");
  std::string line(a.connection->sentBytes().at(0).view());
  std::string json = t.room->historyJson();
  EXPECT_NE(json.find(R"("time":")" + line.substr(0, chat::kTimestampLength) + R"(","from":"10.0.0.1:1","text":"hi")"),
            std::string::npos)
      << json;
}

TEST(ChatRoom, HistoryTextIsEscapedForJson) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1");
  a.say("say \"hi\" \\ \x01\t\n");
  std::string json = t.room->historyJson();
  EXPECT_NE(json.find(R"("text":"say \"hi\" \\ \u0001\u0009")"), std::string::npos) << json;
}

TEST(ChatRoom, HistoryZeroKeepsNothing) {
  chat::RoomSettings settings;
  settings.history = 0;
  TestRoom t(settings);
  Member a = t.join("10.0.0.1:1");
  a.say("x\n");
  EXPECT_EQ(t.room->historyJson(), R"({"room":"test","messages":[]})"
                                   "\n");
}

TEST(ChatRoom, ShrinkingTheHistoryKeepsTheNewestLines) {
  TestRoom t;  // 100
  Member a = t.join("10.0.0.1:1");
  for (int i = 1; i <= 10; ++i) a.say(std::to_string(i) + "\n");
  chat::RoomSettings settings;
  settings.history = 2;
  t.room->configure(settings);
  std::string json = untimed(t.room->historyJson());
  EXPECT_EQ(json, R"({"room":"test","messages":[)"
                  R"({"time":"TS","from":"10.0.0.1:1","text":"9","kind":"message"},)"
                  R"({"time":"TS","from":"10.0.0.1:1","text":"10","kind":"message"}]})"
                  "\n");
  a.say("11\n");
  EXPECT_NE(untimed(t.room->historyJson())
                .find(R"("text":"10","kind":"message"},{"time":"TS","from":"10.0.0.1:1","text":"11")"),
            std::string::npos);
}

TEST(ChatRoom, MembersJsonListsBothTransports) {
  TestRoom t;
  EXPECT_EQ(t.room->membersJson(), R"({"room":"test","count":0,"members":[]})"
                                   "\n");
  Member a = t.join("10.0.0.1:1");
  Member ws = t.join("[::1]:2", Transport::WebSocket);
  EXPECT_EQ(untimed(t.room->membersJson()), R"({"room":"test","count":2,"members":[)"
                                            R"({"address":"10.0.0.1:1","transport":"tcp","joined":"TS"},)"
                                            R"({"address":"[::1]:2","transport":"websocket","joined":"TS"}]})"
                                            "\n");
}

TEST(ChatRoom, TheSummaryCountsMembersByTransportAndMessagesSinceTheLastOne) {
  TestRoom t;
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2"), ws = t.join("10.0.0.3:3", Transport::WebSocket);
  a.say("1\n2\n");
  ws.say("3");
  chat::Room::Summary s = t.room->takeSummary();
  EXPECT_EQ(s.tcp, 2u);
  EXPECT_EQ(s.webSocket, 1u);
  EXPECT_EQ(s.messages, 3u);
  EXPECT_EQ(s.slow, 0u);
  EXPECT_EQ(t.room->takeSummary().messages, 0u);
  EXPECT_EQ(
      chat::ChatService::summaryLine("lobby", s, std::chrono::seconds(60)),
      "room lobby: 3 members (2 tcp, 1 websocket); 3 messages and 0 members cut off as too slow in the last 60 s");
  EXPECT_EQ(chat::ChatService::summaryLine("lobby", chat::Room::Summary{1, 0, 1, 1}, std::chrono::seconds(1)),
            "room lobby: 1 member (1 tcp, 0 websocket); 1 message and 1 member cut off as too slow in the last 1 s");
}

// Senders on their own threads (as on different reactors), members joining and leaving
// meanwhile: every member that stays sees each sender's lines once, in order. Run under
// TSan, this is the race check of the copy-on-write member list and the history.
TEST(ChatRoom, ConcurrentSendersJoinsAndLeavesKeepEachSendersOrder) {
  chat::RoomSettings settings;
  settings.history = 50;
  TestRoom t(settings);
  constexpr int kSenders = 4, kLines = 500, kStayers = 8;
  std::vector<Member> stayers, senders;
  for (int i = 0; i < kStayers; ++i) stayers.push_back(t.join("10.1.0." + std::to_string(i) + ":1"));
  for (int i = 0; i < kSenders; ++i) senders.push_back(t.join("10.2.0." + std::to_string(i) + ":1"));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSenders; ++s)
    threads.emplace_back([&, s] {
      while (!go) std::this_thread::yield();
      for (int i = 0; i < kLines; ++i) senders[s].say(std::to_string(i) + "\n");
    });
  threads.emplace_back([&] {  // churn
    while (!go) std::this_thread::yield();
    for (int i = 0; i < 200; ++i) {
      Member m = t.join("10.3.0.1:" + std::to_string(i));
      auto first = m.connection->sentBytes().at(0);
      EXPECT_EQ(first.view().substr(chat::kTimestampLength), " * 10.3.0.1:" + std::to_string(i) + " joined\n")
          << "its own join comes first, whatever is being said";
      m.say("hello from churn\n");
      t.room->membersJson();
      t.room->historyJson();
      m.closed();
    }
  });
  go = true;
  for (std::thread& th : threads) th.join();
  for (const Member& m : stayers) {
    std::map<std::string, int> next;
    for (const microserver::SharedBytes& bytes : m.connection->sentBytes()) {
      // "<timestamp> 10.2.0.N:1 <i>\n"
      std::string line(bytes.view().substr(chat::kTimestampLength + 1));
      if (line.rfind("10.2.0.", 0) != 0) continue;
      std::string from = line.substr(0, line.find(' '));
      EXPECT_EQ(line.substr(from.size() + 1), std::to_string(next[from]++) + "\n") << "from " << from;
    }
    ASSERT_EQ(next.size(), static_cast<std::size_t>(kSenders));
    for (const auto& [from, count] : next) EXPECT_EQ(count, kLines) << from;
  }
}

// ---------------------------------------------------------------------------------------
// The service: config, summary thread, stop

std::string serviceConfigError(const std::string& yaml) {
  try {
    chat::parseServiceConfig(plugintest::configNode(yaml));
  } catch (const microserver::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(ChatConfig, DefaultsAndEveryKey) {
  chat::ServiceConfig d = chat::parseServiceConfig(plugintest::configNode(""));
  EXPECT_EQ(d.room, "lobby");
  EXPECT_EQ(d.settings.history, 100u);
  EXPECT_EQ(d.settings.maxQueueBytes, 32u << 20) << "Redis' pubsub hard limit";
  EXPECT_EQ(d.settings.softQueueBytes, 8u << 20) << "and its soft limit";
  EXPECT_EQ(d.settings.softQueueTime.count(), 60000);
  EXPECT_EQ(d.settings.roomQueueBytes, std::uint64_t(1) << 30);
  EXPECT_EQ(d.settings.maxLineBytes, 4096u);
  EXPECT_EQ(d.settings.maxClients, 10000u);
  EXPECT_FALSE(d.settings.memberFlood.enabled) << "opt-in for members";
  EXPECT_TRUE(d.settings.httpFlood.enabled) << "on for POST /chat/messages";
  EXPECT_EQ(d.settings.httpFlood.linesPerSecond, 10);
  EXPECT_EQ(d.settings.httpFlood.burstLines, 64);
  EXPECT_EQ(d.summaryInterval.count(), 60);
  chat::ServiceConfig c = chat::parseServiceConfig(plugintest::configNode(
      "{ room: den, history: 0, max_queue_bytes: 65536, max_line_bytes: 100, max_clients: 3, summary_interval: 0 }"));
  EXPECT_EQ(c.room, "den");
  EXPECT_EQ(c.settings.history, 0u);
  EXPECT_EQ(c.settings.maxQueueBytes, 65536u);
  EXPECT_EQ(c.settings.maxLineBytes, 100u);
  EXPECT_EQ(c.settings.maxClients, 3u);
  EXPECT_EQ(c.summaryInterval.count(), 0);
  EXPECT_EQ(chat::parseHandlerConfig(plugintest::configNode("")).room, "lobby");
  EXPECT_EQ(chat::parseHandlerConfig(plugintest::configNode("{ room: den }")).room, "den");
}

TEST(ChatConfig, MistakesAreErrorsWithTheirPlace) {
  EXPECT_EQ(serviceConfigError("{ histroy: 5 }"),
            "routes.yaml:4:15: routes[0].config.histroy: unknown key 'histroy' (expected one of: room, history, "
            "max_queue_bytes, soft_queue_bytes, soft_queue_time, room_queue_bytes, max_line_bytes, max_clients, "
            "flood_members, flood_http, summary_interval, redis, instance)");
  EXPECT_EQ(serviceConfigError("{ history: 10001 }"),
            "routes.yaml:4:24: routes[0].config.history: value 10001 is out of range [0, 10000]");
  EXPECT_EQ(serviceConfigError("{ max_clients: 0 }"),
            "routes.yaml:4:28: routes[0].config.max_clients: value 0 is out of range [1, 1000000]");
  EXPECT_EQ(serviceConfigError("{ summary_interval: soon }"),
            "routes.yaml:4:33: routes[0].config.summary_interval: expected an integer, got 'soon'");
  EXPECT_EQ(serviceConfigError("{ room: '' }"),
            "routes.yaml:4:21: routes[0].config.room: the room name must not be empty");
  EXPECT_EQ(serviceConfigError("{ max_queue_bytes: 8192, max_line_bytes: 4096 }"),
            "routes.yaml:4:32: routes[0].config.max_queue_bytes: max_queue_bytes (8192) must be at least 3 * "
            "max_line_bytes + 1024 = 13312, or one long line would cut every member off");
  EXPECT_NE(serviceConfigError("{ max_queue_bytes: 1MiB, max_line_bytes: 1048576 }")
                .find("max_queue_bytes: max_queue_bytes (1048576) must be at least"),
            std::string::npos);
  try {
    chat::parseHandlerConfig(plugintest::configNode("{ room: a, history: 3 }"));
    ADD_FAILURE() << "a route takes only `room`";
  } catch (const microserver::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'history' (expected one of: room, allowed_origins)"),
              std::string::npos);
  }
}

TEST(ChatConfig, QueueLimitsTakeSizesAndDurations) {
  chat::RoomSettings s = chat::parseServiceConfig(plugintest::configNode(
                                                      "{ max_queue_bytes: 64MiB, soft_queue_bytes: 16m, soft_queue_time: 1.5s, "
                                                      "room_queue_bytes: 2GiB, max_line_bytes: 8KiB }"))
                             .settings;
  EXPECT_EQ(s.maxQueueBytes, 64u << 20);
  EXPECT_EQ(s.softQueueBytes, 16u << 20);
  EXPECT_EQ(s.softQueueTime.count(), 1500);
  EXPECT_EQ(s.roomQueueBytes, std::uint64_t(2) << 30);
  EXPECT_EQ(s.maxLineBytes, 8192u);
  s = chat::parseServiceConfig(plugintest::configNode("{ soft_queue_bytes: off, room_queue_bytes: off }")).settings;
  EXPECT_EQ(s.softQueueBytes, 0u);
  EXPECT_EQ(s.roomQueueBytes, 0u);
  s = chat::parseServiceConfig(plugintest::configNode("{ max_queue_bytes: 262144 }")).settings;
  EXPECT_EQ(s.softQueueBytes, 65536u) << "the soft limit follows a lower hard limit down (a quarter)";
  s = chat::parseServiceConfig(plugintest::configNode("{ soft_queue_time: 250ms }")).settings;
  EXPECT_EQ(s.softQueueTime.count(), 250);
  s = chat::parseServiceConfig(plugintest::configNode("{ soft_queue_time: 2 }")).settings;
  EXPECT_EQ(s.softQueueTime.count(), 2000) << "a bare number is seconds";
}

TEST(ChatConfig, FloodTakesOnOffOrItsLimits) {
  chat::RoomSettings s =
      chat::parseServiceConfig(plugintest::configNode("{ flood_members: on, flood_http: off }")).settings;
  EXPECT_TRUE(s.memberFlood.enabled);
  EXPECT_EQ(s.memberFlood.linesPerSecond, 20);
  EXPECT_EQ(s.memberFlood.burstLines, 200);
  EXPECT_FALSE(s.httpFlood.enabled);
  s = chat::parseServiceConfig(plugintest::configNode("{ flood_members: { lines_per_second: 0.5, burst_lines: 3, "
                                                      "bytes_per_second: 8KiB, burst_bytes: 16KiB } }"))
          .settings;
  EXPECT_TRUE(s.memberFlood.enabled);
  EXPECT_EQ(s.memberFlood.linesPerSecond, 0.5);
  EXPECT_EQ(s.memberFlood.burstLines, 3);
  EXPECT_EQ(s.memberFlood.bytesPerSecond, 8192);
  EXPECT_EQ(s.memberFlood.burstBytes, 16384);
  s = chat::parseServiceConfig(plugintest::configNode("{ flood_http: { lines_per_second: 1 } }")).settings;
  EXPECT_EQ(s.httpFlood.linesPerSecond, 1);
  EXPECT_EQ(s.httpFlood.burstLines, 64) << "the others keep their defaults";
}

TEST(ChatConfig, QueueAndFloodMistakesAreErrorsWithTheirPlace) {
  EXPECT_EQ(serviceConfigError("{ max_queue_bytes: 32XB }"),
            "routes.yaml:4:32: routes[0].config.max_queue_bytes: invalid size '32XB' (expected a whole number of "
            "bytes, optionally with a suffix k, KiB, m, MiB, g or GiB, e.g. 8MiB)");
  EXPECT_EQ(serviceConfigError("{ max_queue_bytes: 2GiB }"),
            "routes.yaml:4:32: routes[0].config.max_queue_bytes: '2GiB' is out of range [4096, 1073741824] bytes");
  EXPECT_EQ(serviceConfigError("{ max_queue_bytes: 1MiB, soft_queue_bytes: 1MiB }"),
            "routes.yaml:4:56: routes[0].config.soft_queue_bytes: soft_queue_bytes (1048576) must be below "
            "max_queue_bytes (1048576), or it would never matter");
  EXPECT_EQ(serviceConfigError("{ soft_queue_time: 10ms }"),
            "routes.yaml:4:32: routes[0].config.soft_queue_time: '10ms' is out of range [100ms, 3600000ms]");
  EXPECT_EQ(serviceConfigError("{ soft_queue_time: soon }"),
            "routes.yaml:4:32: routes[0].config.soft_queue_time: invalid duration 'soon' (expected a number with a "
            "unit ms, s, m or h, e.g. 250ms, 1.5s or 2m; a bare number means seconds)");
  EXPECT_EQ(serviceConfigError("{ room_queue_bytes: 100 }"),
            "routes.yaml:4:33: routes[0].config.room_queue_bytes: '100' is out of range [4096, 1099511627776] bytes");
  EXPECT_EQ(serviceConfigError("{ flood_members: sometimes }"),
            "routes.yaml:4:30: routes[0].config.flood_members: expected on, off, or a map of lines_per_second, "
            "burst_lines, bytes_per_second and burst_bytes");
  EXPECT_NE(serviceConfigError("{ flood_http: { lines: 3 } }").find("unknown key 'lines' (expected one of: "
                                                                    "lines_per_second, burst_lines, "
                                                                    "bytes_per_second, burst_bytes)"),
            std::string::npos);
  EXPECT_EQ(serviceConfigError("{ flood_http: { lines_per_second: -1 } }"),
            "routes.yaml:4:47: routes[0].config.flood_http.lines_per_second: expected a number such as 20 or 0.5, got "
            "'-1'");
  EXPECT_EQ(serviceConfigError("{ flood_http: { lines_per_second: 0 } }"),
            "routes.yaml:4:47: routes[0].config.flood_http.lines_per_second: value 0 is out of range [0.001, 1e+09]");
  EXPECT_EQ(serviceConfigError("{ flood_members: { burst_bytes: 1000 } }"),
            "routes.yaml:4:45: routes[0].config.flood_members.burst_bytes: flood_members: burst_bytes (1000) must be at "
            "least max_line_bytes (4096), or a line that long could never pass");
}

TEST(ChatConfig, AllowedOriginsWidenTheSameHostRule) {
  EXPECT_EQ(chat::normalizeOrigin("HTTP://Example.COM:80"), "http://example.com");
  EXPECT_EQ(chat::normalizeOrigin("https://example.com:443"), "https://example.com");
  EXPECT_EQ(chat::normalizeOrigin("https://example.com:8443"), "https://example.com:8443");
  EXPECT_EQ(chat::normalizeOrigin("http://[::1]:8080"), "http://[::1]:8080");
  EXPECT_EQ(chat::normalizeOrigin("null"), "null");
  EXPECT_EQ(chat::normalizeOrigin("ftp://example.com"), "");
  EXPECT_EQ(chat::normalizeOrigin("http://example.com/path"), "");
  EXPECT_EQ(chat::normalizeOrigin("http://user@example.com"), "");
  const std::vector<std::string> none;
  EXPECT_TRUE(chat::originAllowed("http://127.0.0.1:8080", "127.0.0.1:8080", none));
  EXPECT_TRUE(chat::originAllowed("http://Chat.Example.com", "chat.example.com", none));
  EXPECT_TRUE(chat::originAllowed("http://chat.example.com", "chat.example.com:80", none));
  EXPECT_TRUE(chat::originAllowed("https://chat.example.com", "chat.example.com:443", none));
  EXPECT_FALSE(chat::originAllowed("http://evil.example", "chat.example.com", none));
  EXPECT_FALSE(chat::originAllowed("http://chat.example.com:8080", "chat.example.com", none)) << "another port";
  EXPECT_FALSE(chat::originAllowed("http://localhost:8080", "127.0.0.1:8080", none)) << "another host name";
  EXPECT_FALSE(chat::originAllowed("null", "chat.example.com", none));
  EXPECT_FALSE(chat::originAllowed("garbage", "chat.example.com", none));
  chat::HandlerConfig c = chat::parseHandlerConfig(
      plugintest::configNode("{ room: lobby, allowed_origins: ['https://App.Example.com:443', 'http://localhost:3000', null] }"));
  EXPECT_EQ(c.allowedOrigins, std::vector<std::string>({"https://app.example.com", "http://localhost:3000", "null"}));
  EXPECT_TRUE(chat::originAllowed("https://app.example.com", "chat.example.com", c.allowedOrigins));
  EXPECT_TRUE(chat::originAllowed("http://localhost:3000", "chat.example.com", c.allowedOrigins));
  EXPECT_TRUE(chat::originAllowed("null", "chat.example.com", c.allowedOrigins));
  EXPECT_FALSE(chat::originAllowed("http://app.example.com", "chat.example.com", c.allowedOrigins)) << "scheme";
  EXPECT_TRUE(chat::originAllowed("http://anything", "chat.example.com", {"*"}));
  try {
    chat::parseHandlerConfig(plugintest::configNode("{ allowed_origins: ['https://example.com/chat'] }"));
    ADD_FAILURE() << "a path is not an origin";
  } catch (const microserver::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "routes.yaml:4:33: routes[0].config.allowed_origins[0]: 'https://example.com/chat' is not an origin: "
              "expected scheme://host[:port] with scheme http or https and nothing after (e.g. "
              "https://chat.example.com or http://localhost:3000), null, or * for any");
  }
}

TEST(ChatService, ConfiguresItsRoomByNameAndSaysGoodbyeOnStop) {
  FakeLogger logger;
  chat::ServiceConfig config;
  config.room = "service-test-room";
  config.settings.maxClients = 7;
  config.summaryInterval = std::chrono::seconds(0);
  std::shared_ptr<chat::Room> room = chat::Room::named("service-test-room");
  {
    chat::ChatService service(config, logger);
    EXPECT_EQ(service.room(), room) << "the same room as the routes naming it";
    EXPECT_EQ(room->settings().maxClients, 7u);
    service.start();
    auto connection = std::make_shared<FakeConnection>("10.0.0.1:1");
    auto session = service.accept(connection);
    ASSERT_NE(session, nullptr);
    EXPECT_TRUE(logger.has("info: room service-test-room: 10.0.0.1:1 joined over tcp (1 member)"));
    service.stop();
    EXPECT_EQ(connection->received().back(), "TS * the server is stopping\n");
    session->onClose(CloseReason::ServerStopping);
    service.stop();  // twice is fine
  }
  EXPECT_TRUE(room->members()->empty());
}

TEST(ChatService, LogsASummaryEveryIntervalAndStopsAtOnce) {
  FakeLogger logger;
  chat::ServiceConfig config;
  config.room = "summary-test-room";
  config.summaryInterval = std::chrono::seconds(1);
  chat::ChatService service(config, logger);
  service.start();
  EXPECT_TRUE(
      logger.waitFor("debug: room summary-test-room: 0 members (0 tcp, 0 websocket); 0 messages and 0 "
                     "members cut off as too slow in the last 1 s",
                     std::chrono::seconds(10)));
  auto before = std::chrono::steady_clock::now();
  service.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(500)) << "stop waits for nothing";
}

TEST(ChatService, StopWithoutStartIsFine) {
  FakeLogger logger;
  chat::ServiceConfig config;
  config.room = "never-started-room";
  chat::ChatService service(config, logger);
  service.stop();
}

// ---------------------------------------------------------------------------------------
// One room across instances: the `redis:` and `instance:` settings

TEST(ChatConfig, RedisAndInstanceAreOptional) {
  chat::ServiceConfig d = chat::parseServiceConfig(plugintest::configNode(""));
  EXPECT_FALSE(d.redis.has_value()) << "without redis: the room stays local";
  EXPECT_EQ(d.instance, "");
  chat::ServiceConfig c =
      chat::parseServiceConfig(plugintest::configNode("{ redis: 'redis://10.1.2.3:6380/2', instance: node-a }"));
  ASSERT_TRUE(c.redis.has_value());
  EXPECT_EQ(c.redis->host, "10.1.2.3");
  EXPECT_EQ(c.redis->port, 6380);
  EXPECT_EQ(c.redis->db, 2);
  EXPECT_EQ(c.redis->display(), "10.1.2.3:6380/2");
  EXPECT_EQ(c.instance, "node-a");
}

TEST(ChatConfig, RedisUrlsInEveryForm) {
  chat::RedisAddress a = chat::parseRedisUrl("redis://localhost");
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 0);
  EXPECT_EQ(a.display(), "localhost:6379");
  a = chat::parseRedisUrl("redis://127.0.0.1:6379/0");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.display(), "127.0.0.1:6379");
  a = chat::parseRedisUrl("redis://redis.internal/15");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 15);
  a = chat::parseRedisUrl("redis://127.0.0.1:7000/");
  EXPECT_EQ(a.port, 7000);
  EXPECT_EQ(a.db, 0) << "an empty path is db 0";
  a = chat::parseRedisUrl("redis://[::1]:6390/1");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 6390);
  EXPECT_EQ(a.display(), "[::1]:6390/1");
  a = chat::parseRedisUrl("redis://:s3cr%40t@h:1");
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.password, "s3cr@t");
  EXPECT_EQ(a.display(), "h:1") << "never the password";
  a = chat::parseRedisUrl("redis://chat:p:w@h");
  EXPECT_EQ(a.user, "chat");
  EXPECT_EQ(a.password, "p:w");
}

TEST(ChatConfig, BadRedisUrlsSayWhatIsWrong) {
  auto error = [](const std::string& url) -> std::string {
    try {
      chat::parseRedisUrl(url);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(accepted)";
  };
  const std::string usage = " (expected redis://[[user]:password@]host[:port][/db])";
  EXPECT_EQ(error("http://127.0.0.1"), "'http://127.0.0.1' is not a redis:// URL" + usage);
  EXPECT_EQ(error("127.0.0.1:6379"), "'127.0.0.1:6379' is not a redis:// URL" + usage);
  EXPECT_EQ(error("rediss://h"), "TLS (rediss://) is not supported: use redis:// on a trusted network or a TLS tunnel");
  EXPECT_EQ(error("redis://"), "the host is missing" + usage);
  EXPECT_EQ(error("redis://:6379"), "the host is missing" + usage);
  EXPECT_EQ(error("redis://h:0"), "the port '0' is not a number in [1, 65535]");
  EXPECT_EQ(error("redis://h:65536"), "the port '65536' is not a number in [1, 65535]");
  EXPECT_EQ(error("redis://h:63x"), "the port '63x' is not a number in [1, 65535]");
  EXPECT_EQ(error("redis://h:"), "the port after ':' is empty");
  EXPECT_EQ(error("redis://h/x"), "the database 'x' is not a number in [0, 65535]");
  EXPECT_EQ(error("redis://h/-1"), "the database '-1' is not a number in [0, 65535]");
  EXPECT_EQ(error("redis://h/0?timeout=1"), "query and fragment are not supported in the redis URL" + usage);
  EXPECT_EQ(error("redis://[::1"), "an IPv6 host needs its closing ']'");
  EXPECT_EQ(error("redis://[::1]6379"), "expected ':port' after the IPv6 host");
  EXPECT_EQ(error("redis://pass@h"), "give the password as :password@ (or user:password@)" + usage);
  EXPECT_EQ(error("redis://u:@h"), "the password after ':' is empty");
  EXPECT_EQ(error("redis://:p%zz@h"), "bad %-escape in the password");
  EXPECT_EQ(error("redis://h h:1"), "the host 'h h' holds a character a host name cannot");
}

TEST(ChatConfig, RedisAndInstanceMistakesAreErrorsWithTheirPlace) {
  EXPECT_EQ(serviceConfigError("{ redis: 'http://x' }"),
            "routes.yaml:4:22: routes[0].config.redis: 'http://x' is not a redis:// URL (expected "
            "redis://[[user]:password@]host[:port][/db])");
  EXPECT_EQ(serviceConfigError("{ redis: 'redis://h:99999' }"),
            "routes.yaml:4:22: routes[0].config.redis: the port '99999' is not a number in [1, 65535]");
  EXPECT_EQ(serviceConfigError("{ redis: [a, b] }"),
            "routes.yaml:4:22: routes[0].config.redis: expected a redis:// URL");
  EXPECT_EQ(serviceConfigError("{ redis: 'redis://h', instance: 'node a' }"),
            "routes.yaml:4:45: routes[0].config.instance: the instance name 'node a' must be 1 to 64 characters of "
            "A-Z a-z 0-9 . _ : - (it follows the '@' in member addresses)");
  EXPECT_NE(serviceConfigError("{ instance: 'a@b' }").find("config.instance: the instance name 'a@b' must be"),
            std::string::npos);
  EXPECT_NE(serviceConfigError("{ instance: '' }").find("the instance name '' must be"), std::string::npos);
  EXPECT_EQ(serviceConfigError("{ redis: ~ }"), "(accepted)") << "null is the same as absent";
}

TEST(ChatConfig, InstanceNames) {
  EXPECT_TRUE(chat::isInstanceName("node-a"));
  EXPECT_TRUE(chat::isInstanceName("web1.example:9999"));
  EXPECT_TRUE(chat::isInstanceName(std::string(64, 'x')));
  EXPECT_FALSE(chat::isInstanceName(std::string(65, 'x')));
  EXPECT_FALSE(chat::isInstanceName(""));
  for (const char* bad : {"a@b", "a b", "a\tb", "a\nb", "a/b", "caf\xC3\xA9"})
    EXPECT_FALSE(chat::isInstanceName(bad)) << bad;
  const std::string d = chat::defaultInstanceName();
  EXPECT_TRUE(chat::isInstanceName(d)) << d;
  EXPECT_NE(d.find(":" + std::to_string(::getpid())), std::string::npos) << "host:pid, unique on one machine: " << d;
}

// ---------------------------------------------------------------------------------------
// The envelope: what travels through Redis, and what members get from it

chat::Envelope sampleEnvelope() {
  chat::Envelope e;
  e.instance = "node-a";
  e.epoch = 0x1234abcdULL;
  e.seq = 42;
  e.kind = chat::Envelope::Kind::Message;
  e.time = "2026-11-26 14:03:07.512";
  e.from = "127.0.0.1:53122";
  e.member = 7;
  e.text = "hello\tworld";
  return e;
}

TEST(ChatEnvelope, EncodesToOneLineOfTabSeparatedFields) {
  EXPECT_EQ(chat::encodeEnvelope(sampleEnvelope()),
            "chat1\tnode-a\t1234abcd\t42\tm\t2026-11-26 14:03:07.512\t127.0.0.1:53122\t7\thello\tworld");
}

TEST(ChatEnvelope, DecodesWhatItEncodesForEveryKind) {
  for (auto kind : {chat::Envelope::Kind::Message, chat::Envelope::Kind::Join, chat::Envelope::Kind::Leave,
                    chat::Envelope::Kind::Slow}) {
    chat::Envelope e = sampleEnvelope();
    e.kind = kind;
    if (kind != chat::Envelope::Kind::Message) e.text.clear();
    std::string error;
    std::optional<chat::Envelope> d = chat::decodeEnvelope(chat::encodeEnvelope(e), 4096, &error);
    ASSERT_TRUE(d.has_value()) << error;
    EXPECT_EQ(d->instance, e.instance);
    EXPECT_EQ(d->epoch, e.epoch);
    EXPECT_EQ(d->seq, e.seq);
    EXPECT_EQ(d->kind, e.kind);
    EXPECT_EQ(d->time, e.time);
    EXPECT_EQ(d->from, e.from);
    EXPECT_EQ(d->member, e.member);
    EXPECT_EQ(d->text, e.text);
  }
  chat::Envelope big = sampleEnvelope();
  big.epoch = ~0ULL;
  big.seq = ~0ULL;
  big.member = ~0ULL;
  big.from = "[2001:db8::1%eth0]:65535";
  std::optional<chat::Envelope> d = chat::decodeEnvelope(chat::encodeEnvelope(big), 4096);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->epoch, ~0ULL);
  EXPECT_EQ(d->seq, ~0ULL);
  EXPECT_EQ(d->from, big.from);
}

// Anyone who can PUBLISH on the channel can send anything: nothing of it may reach a
// member unchecked.
TEST(ChatEnvelope, HostileInputIsRefusedWithAReason) {
  const std::string ok = "chat1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\t";
  struct Case {
    std::string payload;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"", "not a chat1 envelope"},
      {"hello", "not a chat1 envelope"},
      {"chat2\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "not a chat1 envelope"},
      {"CHAT1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "not a chat1 envelope"},
      {"chat1\tnode-a\tff\t1\tm", "missing fields"},
      {"chat1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0", "missing fields"},
      {"chat1\t\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad instance name"},
      {"chat1\tno de\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad instance name"},
      {"chat1\t" + std::string(65, 'n') + "\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi",
       "bad instance name"},
      {"chat1\tnode-a\tfg\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad epoch"},
      {"chat1\tnode-a\t\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad epoch"},
      {"chat1\tnode-a\t10000000000000000\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad epoch"},
      {"chat1\tnode-a\tff\t0\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad seq"},
      {"chat1\tnode-a\tff\t-1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad seq"},
      {"chat1\tnode-a\tff\t18446744073709551616\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad seq"},
      {"chat1\tnode-a\tff\t 1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad seq"},
      {"chat1\tnode-a\tff\t1\tx\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad kind"},
      {"chat1\tnode-a\tff\t1\tmm\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\thi", "bad kind"},
      {"chat1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07\t10.0.0.1:1\t0\thi", "bad time"},
      {"chat1\tnode-a\tff\t1\tm\t2026-11-26T14:03:07.512\t10.0.0.1:1\t0\thi", "bad time"},
      {"chat1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\t* admin\t0\thi", "bad sender address"},
      {"chat1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\tx@evil\t0\thi", "bad sender address"},
      {"chat1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\t\t0\thi", "bad sender address"},
      {"chat1\tnode-a\tff\t1\tm\t2026-11-26 14:03:07.512\t10.0.0.1:1\tx\thi", "bad member id"},
      {ok + "hi\n2026-11-26 14:03:07.512 * 10.0.0.9:9@node-b joined", "a newline in the text"},
      {ok + "\n", "a newline in the text"},
      {ok, "an empty message"},
      {ok + std::string(101, 'x'), "the text is too long"},
      {ok + std::string(40, '\xFF'), "the text is too long"},  // 40 x U+FFFD = 120 bytes
      {"chat1\tnode-a\tff\t1\tj\t2026-11-26 14:03:07.512\t10.0.0.1:1\t0\tjoined", "text on a join or leave"},
  };
  for (const Case& c : cases) {
    std::string why;
    EXPECT_FALSE(chat::decodeEnvelope(c.payload, 100, &why).has_value()) << c.payload;
    EXPECT_EQ(why, c.why) << c.payload;
  }
  // Not refused: invalid UTF-8 becomes U+FFFD, as for local lines; a tab or "\r" is text.
  std::optional<chat::Envelope> e = chat::decodeEnvelope(ok + "caf\xE9\t\r!", 100);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->text, "caf\xEF\xBF\xBD\t\r!");
  EXPECT_TRUE(chat::decodeEnvelope(ok + std::string(100, 'x'), 100).has_value()) << "exactly the limit";
}

TEST(ChatEnvelope, RendersTheLineMembersGetWithTheInstance) {
  chat::Envelope e = sampleEnvelope();
  chat::RenderedLine r = chat::renderEnvelope(e);
  EXPECT_EQ(r.bytes.view(), "2026-11-26 14:03:07.512 127.0.0.1:53122@node-a hello\tworld\n");
  EXPECT_EQ(r.bytes.view().substr(r.fromPos, r.fromLen), "127.0.0.1:53122@node-a");
  EXPECT_EQ(r.bytes.view().substr(r.textPos, r.textLen), "hello\tworld");
  e.text.clear();
  e.kind = chat::Envelope::Kind::Join;
  EXPECT_EQ(chat::renderEnvelope(e).bytes.view(), "2026-11-26 14:03:07.512 * 127.0.0.1:53122@node-a joined\n");
  e.kind = chat::Envelope::Kind::Leave;
  EXPECT_EQ(chat::renderEnvelope(e).bytes.view(), "2026-11-26 14:03:07.512 * 127.0.0.1:53122@node-a left\n");
  e.kind = chat::Envelope::Kind::Slow;
  r = chat::renderEnvelope(e);
  EXPECT_EQ(r.bytes.view(), "2026-11-26 14:03:07.512 * 127.0.0.1:53122@node-a left (too slow)\n");
  EXPECT_EQ(r.bytes.view().substr(r.textPos, r.textLen), "left (too slow)");
}

TEST(ChatEnvelope, MembersOfOtherInstancesAreCheckedToo) {
  std::optional<chat::FleetMember> m = chat::decodeMember("node-b", "10.0.0.2:5", "websocket\t2026-11-26 14:03:07.512");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->address, "10.0.0.2:5");
  EXPECT_EQ(m->instance, "node-b");
  EXPECT_TRUE(m->webSocket);
  EXPECT_EQ(m->joined, "2026-11-26 14:03:07.512");
  EXPECT_EQ(chat::encodeMemberValue(false, "2026-11-26 14:03:07.512"), "tcp\t2026-11-26 14:03:07.512");
  EXPECT_TRUE(chat::decodeMember("node-b", "10.0.0.2:5", chat::encodeMemberValue(false, "2026-11-26 14:03:07.512")));
  EXPECT_FALSE(chat::decodeMember("node b", "10.0.0.2:5", "tcp\t2026-11-26 14:03:07.512"));
  EXPECT_FALSE(chat::decodeMember("node-b", "\"}],\"x", "tcp\t2026-11-26 14:03:07.512"));
  EXPECT_FALSE(chat::decodeMember("node-b", "10.0.0.2:5", "carrier pigeon\t2026-11-26 14:03:07.512"));
  EXPECT_FALSE(chat::decodeMember("node-b", "10.0.0.2:5", "tcp\tyesterday"));
  EXPECT_FALSE(chat::decodeMember("node-b", "10.0.0.2:5", "tcp"));
}

// ---------------------------------------------------------------------------------------
// The room with a link to other instances (a fake one here; RedisLink in production)

class FakeLink : public chat::RoomLink {
 public:
  const std::string& instance() const override { return name_; }
  bool publish(chat::Envelope envelope) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (full_) return false;
    envelope.instance = name_;
    envelope.epoch = 1;
    envelope.seq = ++seq_;
    published_.push_back(std::move(envelope));
    return true;
  }
  bool linked() const override { return linked_; }
  std::shared_ptr<const FleetView> fleetView() const override { return view_; }

  std::vector<chat::Envelope> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(published_, {});
  }
  // What the subscription would do: every published line back to the room.
  void echo(chat::Room& room) {
    for (const chat::Envelope& e : take()) room.deliver(e, e.kind == chat::Envelope::Kind::Join ? e.member : 0);
  }
  std::string name_ = "node-t";
  std::atomic<bool> linked_{true};
  std::atomic<bool> full_{false};
  std::shared_ptr<const FleetView> view_;

 private:
  std::mutex mutex_;
  std::uint64_t seq_ = 0;
  std::vector<chat::Envelope> published_;
};

struct LinkedRoom : TestRoom {
  std::shared_ptr<FakeLink> link = std::make_shared<FakeLink>();
  LinkedRoom() { room->setLink(link); }
  ~LinkedRoom() { room->setLink(nullptr); }
};

TEST(ChatRoomLinked, ALineGoesOnlyThroughTheLinkAndComesBackOnceToEveryone) {
  LinkedRoom t;
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2");
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * 10.0.0.1:1@node-t joined\n"})) << "its own join, at once";
  EXPECT_EQ(b.connection->takeReceived(), Lines({"TS * 10.0.0.2:2@node-t joined\n"}));
  t.link->echo(*t.room);  // the joins come back: each joiner is skipped
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * 10.0.0.2:2@node-t joined\n"}));
  EXPECT_EQ(b.connection->takeReceived(), Lines({"TS * 10.0.0.1:1@node-t joined\n"}))
      << "b joined after a, but a's join came through the link after b was in";
  a.say("hello\n");
  EXPECT_TRUE(a.connection->received().empty()) << "not delivered directly while linked";
  EXPECT_TRUE(b.connection->received().empty());
  std::vector<chat::Envelope> sent = t.link->take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].kind, chat::Envelope::Kind::Message);
  EXPECT_EQ(sent[0].from, "10.0.0.1:1");
  EXPECT_EQ(sent[0].text, "hello");
  EXPECT_TRUE(chat::isTimestampText(sent[0].time));
  t.room->deliver(sent[0]);
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS 10.0.0.1:1@node-t hello\n"}));
  EXPECT_EQ(b.connection->takeReceived(), Lines({"TS 10.0.0.1:1@node-t hello\n"}));
  // A line from another instance reaches everyone here.
  chat::Envelope remote = sent[0];
  remote.instance = "node-b";
  remote.from = "10.9.9.9:9";
  remote.text = "from afar";
  t.room->deliver(remote);
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS 10.9.9.9:9@node-b from afar\n"}));
  b.closed();
  std::vector<chat::Envelope> left = t.link->take();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].kind, chat::Envelope::Kind::Leave);
  EXPECT_EQ(left[0].from, "10.0.0.2:2");
  t.room->deliver(left[0]);
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * 10.0.0.2:2@node-t left\n"}));
  EXPECT_EQ(t.room->totals().messagesIn, 1u);
}

TEST(ChatRoomLinked, AMemberCutForSlownessIsPublishedAsSuch) {
  LinkedRoom t;
  Member a = t.join("10.0.0.1:1");
  t.link->take();
  a.closed(CloseReason::TooSlow);
  std::vector<chat::Envelope> left = t.link->take();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].kind, chat::Envelope::Kind::Slow);
  EXPECT_EQ(t.room->totals().cut, 1u);
}

TEST(ChatRoomLinked, ALineTheLinkCannotQueueIsRefusedToItsSender) {
  LinkedRoom t;
  Member a = t.join("10.0.0.1:1");
  a.connection->takeReceived();
  t.link->full_ = true;
  a.say("lost\n");
  EXPECT_EQ(a.connection->takeReceived(),
            Lines({"TS * line dropped: the link to the other instances is behind; try again in a moment\n"}));
  EXPECT_FALSE(a.connection->closeRequested()) << "it stays";
}

TEST(ChatRoomLinked, TheGapNoticesGoToThisInstanceOnlyAndNotIntoTheHistory) {
  EXPECT_STREQ(chat::RedisLink::kLostNotice,
               "connection to the other instances lost (lines now reach this instance only)");
  EXPECT_STREQ(chat::RedisLink::kRestoredNotice,
               "connection to the other instances restored (lines sent meanwhile reached this instance only)");
  EXPECT_STREQ(chat::RedisLink::kFirstLinkNotice,
               "connected to the other instances (lines sent before reached this instance only)");
  LinkedRoom t;
  Member a = t.join("10.0.0.1:1"), b = t.join("10.0.0.2:2", Transport::WebSocket);
  a.connection->takeReceived();
  b.connection->takeReceived();
  t.link->take();
  for (const char* text : {chat::RedisLink::kLostNotice, chat::RedisLink::kRestoredNotice}) {
    t.room->announceLocally(text);
    for (Member* m : {&a, &b}) EXPECT_EQ(m->connection->takeReceived(), Lines({"TS * " + std::string(text) + "\n"}));
  }
  EXPECT_TRUE(t.link->take().empty()) << "not published: each instance tells its own members";
  EXPECT_EQ(t.room->historyJson().find("instances"), std::string::npos) << "not history";
  t.room->announceStopping();
  t.room->announceLocally(chat::RedisLink::kRestoredNotice);
  EXPECT_EQ(a.connection->takeReceived(), Lines({"TS * the server is stopping\n"})) << "nothing after stopping";
}

TEST(ChatRoomLinked, HistoryAndMembersSayTheirScope) {
  LinkedRoom t;
  Member a = t.join("10.0.0.1:1");
  Member ws = t.join("10.0.0.2:2", Transport::WebSocket);
  t.link->echo(*t.room);
  a.say("hi\n");
  t.link->echo(*t.room);
  // Linked, but nothing fetched from Redis yet: this instance's view.
  EXPECT_EQ(untimed(t.room->historyJson()),
            R"({"room":"test","scope":"local","messages":[)"
            R"({"time":"TS","from":"10.0.0.1:1","instance":"node-t","text":"joined","kind":"join"},)"
            R"({"time":"TS","from":"10.0.0.2:2","instance":"node-t","text":"joined","kind":"join"},)"
            R"({"time":"TS","from":"10.0.0.1:1","instance":"node-t","text":"hi","kind":"message"}]})"
            "\n");
  EXPECT_EQ(untimed(t.room->membersJson()),
            R"({"room":"test","scope":"local","count":2,"members":[)"
            R"({"address":"10.0.0.1:1","instance":"node-t","transport":"tcp","joined":"TS"},)"
            R"({"address":"10.0.0.2:2","instance":"node-t","transport":"websocket","joined":"TS"}]})"
            "\n");
  // The fleet as fetched: the history from Redis, the other instances' members after ours.
  auto view = std::make_shared<chat::RoomLink::FleetView>();
  chat::Envelope e = sampleEnvelope();
  e.instance = "node-b";
  e.text = "from \"b\"";
  view->historyJson = chat::Room::fleetHistoryJson("test", {e});
  view->members.push_back({"10.0.0.9:9", "node-b", false, "2026-11-26 14:03:07.512"});
  t.link->view_ = view;
  EXPECT_EQ(t.room->historyJson(),
            R"({"room":"test","scope":"fleet","messages":[{"time":"2026-11-26 14:03:07.512","from":"127.0.0.1:53122",)"
            R"("instance":"node-b","text":"from \"b\"","kind":"message"}]})"
            "\n");
  EXPECT_EQ(untimed(t.room->membersJson()),
            R"({"room":"test","scope":"fleet","count":3,"members":[)"
            R"({"address":"10.0.0.1:1","instance":"node-t","transport":"tcp","joined":"TS"},)"
            R"({"address":"10.0.0.2:2","instance":"node-t","transport":"websocket","joined":"TS"},)"
            R"({"address":"10.0.0.9:9","instance":"node-b","transport":"tcp","joined":"TS"}]})"
            "\n");
  // Not linked: this instance's view again, whatever was fetched before.
  t.link->linked_ = false;
  EXPECT_NE(t.room->historyJson().find(R"("scope":"local")"), std::string::npos);
  EXPECT_NE(t.room->membersJson().find(R"("scope":"local","count":2)"), std::string::npos);
}

TEST(ChatRoomLinked, FleetHistoryJsonNamesKindsAndEscapes) {
  chat::Envelope m = sampleEnvelope(), j = sampleEnvelope(), s = sampleEnvelope();
  m.text = "a \\ \"b\"";
  j.kind = chat::Envelope::Kind::Join;
  j.text.clear();
  s.kind = chat::Envelope::Kind::Slow;
  s.text.clear();
  EXPECT_EQ(
      chat::Room::fleetHistoryJson("lob\"by", {m, j, s}),
      R"({"room":"lob\"by","scope":"fleet","messages":[)"
      R"({"time":"2026-11-26 14:03:07.512","from":"127.0.0.1:53122","instance":"node-a","text":"a \\ \"b\"","kind":"message"},)"
      R"({"time":"2026-11-26 14:03:07.512","from":"127.0.0.1:53122","instance":"node-a","text":"joined","kind":"join"},)"
      R"x({"time":"2026-11-26 14:03:07.512","from":"127.0.0.1:53122","instance":"node-a","text":"left (too slow)","kind":"leave"}]})x"
      "\n");
  EXPECT_EQ(chat::Room::fleetHistoryJson("x", {}), R"({"room":"x","scope":"fleet","messages":[]})"
                                                   "\n");
}

// ---------------------------------------------------------------------------------------
// Metrics, readiness and the console line (ChatStatus)

TEST(ChatStatus, MetricsAreOneBlockPerMetricWithASamplePerRoom) {
  chat::ChatStatus::Row lobby, den;
  lobby.room = "lobby";
  lobby.totals = {9, 3, 120, 1440, 4, 81920, {0, 1, 1, 1, 1}, 7, 2};
  lobby.redis = true;
  lobby.link.linked = true;
  den.room = "d\"e\\n\n";
  den.totals = {1, 0, 2, 3, 0};
  std::string out;
  chat::ChatStatus::appendMetrics({lobby, den}, out);
  EXPECT_EQ(out,
            "# HELP chat_members Members of the chat room connected to this instance, by transport.\n"
            "# TYPE chat_members gauge\n"
            "chat_members{room=\"lobby\",transport=\"tcp\"} 9\n"
            "chat_members{room=\"lobby\",transport=\"websocket\"} 3\n"
            "chat_members{room=\"d\\\"e\\\\n\\n\",transport=\"tcp\"} 1\n"
            "chat_members{room=\"d\\\"e\\\\n\\n\",transport=\"websocket\"} 0\n"
            "# HELP chat_messages_in_total Lines the members on this instance sent into the room.\n"
            "# TYPE chat_messages_in_total counter\n"
            "chat_messages_in_total{room=\"lobby\"} 120\n"
            "chat_messages_in_total{room=\"d\\\"e\\\\n\\n\"} 2\n"
            "# HELP chat_messages_out_total Lines delivered to members on this instance (one per member and line).\n"
            "# TYPE chat_messages_out_total counter\n"
            "chat_messages_out_total{room=\"lobby\"} 1440\n"
            "chat_messages_out_total{room=\"d\\\"e\\\\n\\n\"} 3\n"
            "# HELP chat_members_cut_total Members cut off as too slow, by reason: hard_limit (more than "
            "max_queue_bytes queued), soft_limit (more than soft_queue_bytes for soft_queue_time), room_budget (the "
            "room over room_queue_bytes: the furthest behind), send_timeout (nothing taken for "
            "server.limits.send_timeout).\n"
            "# TYPE chat_members_cut_total counter\n"
            "chat_members_cut_total{room=\"lobby\",reason=\"hard_limit\"} 1\n"
            "chat_members_cut_total{room=\"lobby\",reason=\"soft_limit\"} 1\n"
            "chat_members_cut_total{room=\"lobby\",reason=\"room_budget\"} 1\n"
            "chat_members_cut_total{room=\"lobby\",reason=\"send_timeout\"} 1\n"
            "chat_members_cut_total{room=\"d\\\"e\\\\n\\n\",reason=\"hard_limit\"} 0\n"
            "chat_members_cut_total{room=\"d\\\"e\\\\n\\n\",reason=\"soft_limit\"} 0\n"
            "chat_members_cut_total{room=\"d\\\"e\\\\n\\n\",reason=\"room_budget\"} 0\n"
            "chat_members_cut_total{room=\"d\\\"e\\\\n\\n\",reason=\"send_timeout\"} 0\n"
            "# HELP chat_queued_bytes Bytes queued for the members on this instance and not yet sent, summed over "
            "them (room_queue_bytes bounds it).\n"
            "# TYPE chat_queued_bytes gauge\n"
            "chat_queued_bytes{room=\"lobby\"} 81920\n"
            "chat_queued_bytes{room=\"d\\\"e\\\\n\\n\"} 0\n"
            "# HELP chat_flood_dropped_total Lines dropped by flood control, by source: member (flood_members) or "
            "http (flood_http, POST /chat/messages).\n"
            "# TYPE chat_flood_dropped_total counter\n"
            "chat_flood_dropped_total{room=\"lobby\",source=\"member\"} 7\n"
            "chat_flood_dropped_total{room=\"lobby\",source=\"http\"} 2\n"
            "chat_flood_dropped_total{room=\"d\\\"e\\\\n\\n\",source=\"member\"} 0\n"
            "chat_flood_dropped_total{room=\"d\\\"e\\\\n\\n\",source=\"http\"} 0\n"
            "# HELP chat_redis_connected 1 while the room is linked to the other instances through Redis, else 0.\n"
            "# TYPE chat_redis_connected gauge\n"
            "chat_redis_connected{room=\"lobby\"} 1\n");
  std::string local;
  chat::ChatStatus::appendMetrics({den}, local);
  EXPECT_EQ(local.find("chat_redis_connected"), std::string::npos) << "only when a room has redis:";
  std::string none;
  chat::ChatStatus::appendMetrics({}, none);
  EXPECT_EQ(none, "");
}

TEST(ChatStatus, ReadyUnlessARoomWithRedisIsNotLinked) {
  chat::ChatStatus::Row local, linked, down;
  local.room = "den";
  linked.room = "lobby";
  linked.redis = true;
  linked.link.linked = true;
  down = linked;
  down.link.linked = false;
  down.redisAddress = "127.0.0.1:6379";
  down.link.lastError = "Connection refused";
  std::string reason;
  EXPECT_TRUE(chat::ChatStatus::ready({local, linked}, reason));
  EXPECT_FALSE(chat::ChatStatus::ready({local, down}, reason));
  EXPECT_EQ(reason,
            "chat room lobby is not linked to the other instances: Redis at 127.0.0.1:6379 unreachable (Connection "
            "refused); its members here chat locally only");
  EXPECT_EQ(chat::ChatStatus::statusLine({linked}), "chat lobby: 0 members (0 tcp, 0 websocket), redis connected");
  down.totals = {9, 3, 0, 0, 0};
  down.link.inState = std::chrono::seconds(14);
  local.totals = {1, 0, 0, 0, 0};
  EXPECT_EQ(chat::ChatStatus::statusLine({down, local}),
            "chat lobby: 12 members (9 tcp, 3 websocket), redis unreachable for 14 s (chatting locally); "
            "chat den: 1 member (1 tcp, 0 websocket)");
}

// A registry as the server's: weak references, read by the test.
class TestRegistry : public microserver::StatusRegistry {
 public:
  void add(std::weak_ptr<const microserver::StatusProvider> provider) override {
    std::lock_guard<std::mutex> lock(mutex_);
    providers_.push_back(std::move(provider));
  }
  std::vector<std::shared_ptr<const microserver::StatusProvider>> live() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<const microserver::StatusProvider>> out;
    for (const auto& weak : providers_)
      if (auto p = weak.lock()) out.push_back(std::move(p));
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<std::weak_ptr<const microserver::StatusProvider>> providers_;
};

TEST(ChatStatus, ServicesRegisterOneProviderWhileTheyRun) {
  FakeLogger logger;
  TestRegistry registry;
  chat::ServiceConfig one, two;
  one.room = "status-room-1";
  two.room = "status-room-2";
  one.summaryInterval = two.summaryInterval = std::chrono::seconds(0);
  chat::ChatService first(one, logger, &registry), second(two, logger, &registry);
  EXPECT_TRUE(registry.live().empty()) << "not before start()";
  first.start();
  second.start();
  auto providers = registry.live();
  ASSERT_EQ(providers.size(), 1u) << "one provider for every room";
  auto connection = std::make_shared<FakeConnection>("10.0.0.1:1");
  auto session = first.accept(connection);
  session->onData("one\ntwo\n");
  std::string metrics;
  providers[0]->appendMetrics(metrics);
  EXPECT_NE(metrics.find("chat_members{room=\"status-room-1\",transport=\"tcp\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("chat_members{room=\"status-room-2\",transport=\"tcp\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("chat_messages_in_total{room=\"status-room-1\"} 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("chat_messages_out_total{room=\"status-room-1\"} 3\n"), std::string::npos)
      << "its join and two lines";
  EXPECT_EQ(metrics.find("chat_redis_connected"), std::string::npos);
  EXPECT_EQ(providers[0]->statusLine(),
            "chat status-room-1: 1 member (1 tcp, 0 websocket); chat status-room-2: 0 members (0 tcp, 0 websocket)");
  std::string reason;
  EXPECT_TRUE(providers[0]->ready(reason));
  providers.clear();
  session->onClose(CloseReason::PeerClosed);
  first.stop();
  providers = registry.live();
  ASSERT_EQ(providers.size(), 1u);
  EXPECT_EQ(providers[0]->statusLine(), "chat status-room-2: 0 members (0 tcp, 0 websocket)");
  providers.clear();
  second.stop();
  EXPECT_TRUE(registry.live().empty()) << "the last stop lets the provider go";
}

// ---------------------------------------------------------------------------------------
// RedisLink without a Redis: the room goes on locally (the e2e tests have a real one)

// A loopback port nobody listens on: connecting is refused at once.
int closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(ChatRedisLink, KeyNames) {
  EXPECT_EQ(chat::RedisLink::channelName("lobby"), "microserver:chat:lobby");
  EXPECT_EQ(chat::RedisLink::historyKey("lobby"), "microserver:chat:lobby:history");
  EXPECT_EQ(chat::RedisLink::membersKey("lobby", "node-a"), "microserver:chat:lobby:members:node-a");
  EXPECT_EQ(chat::RedisLink::instancesKey("lobby"), "microserver:chat:lobby:instances");
}

TEST(ChatRedisLink, WithRedisUnreachableTheRoomGoesOnLocallyAndSaysSoOnce) {
  FakeLogger logger;
  TestRegistry registry;
  chat::ServiceConfig config;
  config.room = "redis-down-room";
  config.summaryInterval = std::chrono::seconds(0);
  config.redis = chat::parseRedisUrl("redis://127.0.0.1:" + std::to_string(closedPort()));
  config.instance = "node-x";
  std::shared_ptr<chat::Room> room = chat::Room::named("redis-down-room");
  {
    chat::ChatService service(config, logger, &registry);
    service.start();
    ASSERT_NE(service.link(), nullptr);
    EXPECT_EQ(room->link(), service.link());
    auto ca = std::make_shared<FakeConnection>("10.0.0.1:1"), cb = std::make_shared<FakeConnection>("10.0.0.2:2");
    auto a = service.accept(ca), b = service.accept(cb);
    a->onData("hello\n");
    // Delivered here by the link's own thread: wait (bounded) for it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto has = [&](const std::shared_ptr<FakeConnection>& c, const std::string& line) {
      for (const std::string& got : c->received())
        if (got == line) return true;
      return false;
    };
    while (!(has(ca, "TS 10.0.0.1:1@node-x hello\n") && has(cb, "TS 10.0.0.1:1@node-x hello\n")) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(ca->received(), Lines({"TS * 10.0.0.1:1@node-x joined\n", "TS * 10.0.0.2:2@node-x joined\n",
                                     "TS 10.0.0.1:1@node-x hello\n"}));
    // b joined while a's join was on its way through the link's queue: it may hear it.
    Lines got = cb->received();
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.front(), "TS * 10.0.0.2:2@node-x joined\n") << "its own join first";
    EXPECT_EQ(got.back(), "TS 10.0.0.1:1@node-x hello\n");
    EXPECT_LE(got.size(), 3u);
    EXPECT_TRUE(logger.waitFor("warning: room redis-down-room: Redis at 127.0.0.1:", std::chrono::seconds(10)));
    EXPECT_TRUE(logger.has("is unreachable ("));
    EXPECT_TRUE(
        logger.has("members on this instance (node-x) chat locally until it is reached; retrying every 0.1 "
                   "to 5 s"));
    // Several attempts later (100, 200, 400 ms...), still one warning: per change, not per attempt.
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    int warnings = 0;
    for (const std::string& line : logger.lines()) warnings += line.rfind("warning:", 0) == 0 ? 1 : 0;
    EXPECT_EQ(warnings, 1);
    chat::RedisLink::Status status = service.link()->status();
    EXPECT_FALSE(status.linked);
    EXPECT_FALSE(status.everLinked);
    EXPECT_FALSE(status.lastError.empty());
    auto providers = registry.live();
    ASSERT_EQ(providers.size(), 1u);
    std::string reason, metrics;
    EXPECT_FALSE(providers[0]->ready(reason));
    EXPECT_NE(reason.find("chat room redis-down-room is not linked to the other instances: Redis at 127.0.0.1:"),
              std::string::npos)
        << reason;
    providers[0]->appendMetrics(metrics);
    EXPECT_NE(metrics.find("chat_redis_connected{room=\"redis-down-room\"} 0\n"), std::string::npos) << metrics;
    EXPECT_NE(providers[0]->statusLine().find("redis unreachable for "), std::string::npos);
    EXPECT_NE(room->membersJson().find(R"("scope":"local","count":2)"), std::string::npos);
    providers.clear();
    const auto before = std::chrono::steady_clock::now();
    service.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2)) << "nothing waits for Redis";
    EXPECT_EQ(room->link(), nullptr);
    EXPECT_EQ(ca->received().back(), "TS * the server is stopping\n");
    a->onClose(CloseReason::ServerStopping);
    b->onClose(CloseReason::ServerStopping);
  }
  EXPECT_TRUE(registry.live().empty());
}

TEST(ChatRedisLink, AFullOutboxRefusesLinesInsteadOfGrowing) {
  FakeLogger logger;
  chat::RedisLink::Options options;
  options.redis = chat::parseRedisUrl("redis://127.0.0.1:" + std::to_string(closedPort()));
  options.instance = "node-q";
  options.maxQueue = 3;
  auto room = std::make_shared<chat::Room>("outbox-room");
  chat::RedisLink link(room, options, logger);  // not started: nothing drains the outbox
  chat::Envelope e = sampleEnvelope();
  EXPECT_TRUE(link.publish(e));
  EXPECT_TRUE(link.publish(e));
  EXPECT_TRUE(link.publish(e));
  EXPECT_FALSE(link.publish(e));
  EXPECT_EQ(link.status().dropped, 1u);
}

// ---------------------------------------------------------------------------------------
// The HTTP routes, through libchat.so as built (its own copy: its rooms start empty)

plugintest::TestRequest chatRequest(std::string method, std::string action, std::string body = "") {
  plugintest::TestRequest r;
  r.method = std::move(method);
  r.path = "/chat/" + action;
  r.target = r.path;
  r.captures = {{"action", action}};
  r.body = std::move(body);
  if (!r.body.empty()) r.headers = {{"Content-Type", "text/plain"}};
  return r;
}

const std::string kJson = "application/json; charset=utf-8";

TEST(ChatPlugin, DeclaresAHandlerAndAService) {
  plugintest::LoadedHandler chat("chat", "");
  EXPECT_STREQ(chat.descriptor().name, "chat");
  EXPECT_NE(chat.descriptor().handler_handle, nullptr);
  EXPECT_NE(chat.descriptor().service_accept, nullptr);
  EXPECT_NE(chat.descriptor().service_destroy, nullptr);
}

TEST(ChatPlugin, PostedLinesGoToTheRoomAndItsHistory) {
  plugintest::LoadedHandler chat("chat", "{ room: http }");
  plugintest::Answer posted = chat.call(chatRequest("POST", "messages", "hello\r\n\nsecond \xFF\n"));
  EXPECT_EQ(posted.status(), 202);
  EXPECT_EQ(posted.contentType(), kJson);
  EXPECT_EQ(posted.body(), R"({"sent":2})"
                           "\n");
  plugintest::Answer history = chat.call(chatRequest("GET", "history"));
  EXPECT_EQ(history.status(), 200);
  EXPECT_EQ(history.contentType(), kJson);
  EXPECT_EQ(untimed(history.body()), R"({"room":"http","messages":[)"
                                     R"({"time":"TS","from":"127.0.0.1:40000","text":"hello","kind":"message"},)"
                                     R"({"time":"TS","from":"127.0.0.1:40000","text":"second )"
                                     "\xEF\xBF\xBD"
                                     R"(","kind":"message"}]})"
                                     "\n");
  plugintest::Answer members = chat.call(chatRequest("GET", "members"));
  EXPECT_EQ(members.status(), 200);
  EXPECT_EQ(members.body(), R"({"room":"http","count":0,"members":[]})"
                            "\n");
  // Another route naming the same room, as a reload creates: the same history.
  plugintest::LoadedHandler again(chat, "{ room: http }");
  EXPECT_EQ(again.call(chatRequest("GET", "history")).body(), history.body());
  plugintest::LoadedHandler other(chat, "{ room: elsewhere }");
  EXPECT_EQ(other.call(chatRequest("GET", "history")).body(), R"({"room":"elsewhere","messages":[]})"
                                                              "\n");
}

TEST(ChatPlugin, BadPostsAreRefusedAndSendNothing) {
  plugintest::LoadedHandler chat("chat", "");
  plugintest::Answer empty = chat.call(chatRequest("POST", "messages"));
  EXPECT_EQ(empty.status(), 400);
  EXPECT_EQ(empty.contentType(), kJson);
  EXPECT_EQ(empty.body(), R"({"error":"empty body: send the message as text, one line per message"})"
                          "\n");
  EXPECT_EQ(chat.call(chatRequest("POST", "messages", "\n\r\n")).status(), 400);
  plugintest::Answer tooLarge = chat.call(chatRequest("POST", "messages", std::string(4096 * 64 + 1, 'a')));
  EXPECT_EQ(tooLarge.status(), 413);
  EXPECT_EQ(tooLarge.body(), R"({"error":"body too large","size":262145,"max_bytes":262144})"
                             "\n");
  plugintest::Answer longLine = chat.call(chatRequest("POST", "messages", "fine\n" + std::string(4097, 'a')));
  EXPECT_EQ(longLine.status(), 413);
  EXPECT_EQ(longLine.body(), R"({"error":"line too long: nothing was sent","max_line_bytes":4096})"
                             "\n");
  EXPECT_EQ(chat.call(chatRequest("GET", "history")).body(), R"({"room":"lobby","messages":[]})"
                                                             "\n");
}

TEST(ChatPlugin, OtherMethodsGet405WithAllow) {
  plugintest::LoadedHandler chat("chat", "");
  struct Case {
    const char* method;
    const char* action;
    const char* allow;
  };
  for (const Case& c : {Case{"POST", "history", "GET, HEAD"}, Case{"DELETE", "members", "GET, HEAD"},
                        Case{"GET", "messages", "POST"}, Case{"POST", "ws", "GET"}}) {
    plugintest::Answer r = chat.call(chatRequest(c.method, c.action));
    EXPECT_EQ(r.status(), 405) << c.method << " " << c.action;
    EXPECT_EQ(r.header("Allow"), c.allow);
    EXPECT_EQ(r.contentType(), kJson);
    EXPECT_EQ(r.body(), std::string(R"({"error":"method not allowed","allow":")") + c.allow + "\"}\n");
  }
  EXPECT_EQ(chat.call(chatRequest("HEAD", "members")).status(), 200);
  plugintest::Answer unknown = chat.call(chatRequest("GET", "nope"));
  EXPECT_EQ(unknown.status(), 404);
  EXPECT_EQ(unknown.contentType(), kJson);
}

TEST(ChatPlugin, TheWsRouteAcceptsAWebSocketIntoTheRoom) {
  plugintest::LoadedHandler chat("chat", "");
  plugintest::LoadedHandler::WebSocket ws;
  chat.call(chatRequest("GET", "ws"), &ws);
  ASSERT_NE(ws.callbacks, nullptr);
  // The server's side of a connection, without a reactor: what is sent waits in its queue.
  auto connection = std::make_shared<microserver::core::PeerHandle>(
      MS_TRANSPORT_WEBSOCKET, "10.0.0.5:5", std::make_shared<microserver::core::ReactorMailbox>(nullptr));
  ASSERT_EQ(ws.callbacks->on_open(ws.session, connection->handle()), 1);
  std::uint64_t joined = connection->queuedBytes();
  EXPECT_EQ(joined, std::string("2026-11-26 14:03:07.512 * 10.0.0.5:5 joined\n").size());
  EXPECT_EQ(untimed(chat.call(chatRequest("GET", "members")).body()),
            R"({"room":"lobby","count":1,"members":[{"address":"10.0.0.5:5","transport":"websocket","joined":"TS"}]})"
            "\n");
  chat.call(chatRequest("POST", "messages", "to the browser"));
  EXPECT_EQ(connection->queuedBytes(), joined + std::string("2026-11-26 14:03:07.512 127.0.0.1:40000 to the browser\n").size());
  ws.callbacks->on_close(ws.session, MS_CLOSE_PEER);
  EXPECT_EQ(untimed(chat.call(chatRequest("GET", "members")).body()), R"({"room":"lobby","count":0,"members":[]})" "\n");
}

TEST(ChatPlugin, PagesFromAnotherOriginGet403UnlessAllowed) {
  plugintest::LoadedHandler chat("chat", "{ room: origins, allowed_origins: ['https://friend.example'] }");
  auto from = [](std::string method, std::string action, std::string origin, std::string body = "") {
    plugintest::TestRequest r = chatRequest(std::move(method), std::move(action), std::move(body));
    r.authority = "chat.example.com:8080";
    if (!origin.empty()) r.headers.emplace_back("Origin", origin);
    return r;
  };
  plugintest::Answer refused = chat.call(from("GET", "ws", "http://evil.example"));
  EXPECT_EQ(refused.status(), 403);
  EXPECT_EQ(refused.contentType(), kJson);
  EXPECT_EQ(refused.body(),
            R"x({"error":"a page from another origin may not use this chat room (the route's allowed_origins lists the ones that may)","origin":"http://evil.example"})x"
            "\n");
  EXPECT_EQ(chat.call(from("POST", "messages", "http://evil.example", "spam\n")).status(), 403) << "nor post";
  EXPECT_EQ(chat.call(from("POST", "messages", "http://chat.example.com", "x\n")).status(), 403) << "another port";
  EXPECT_EQ(chat.call(from("POST", "messages", "http://chat.example.com:8080", "same host\n")).status(), 202);
  EXPECT_EQ(chat.call(from("POST", "messages", "https://friend.example", "a friend\n")).status(), 202);
  EXPECT_EQ(chat.call(from("POST", "messages", "", "no origin: not a browser\n")).status(), 202);
  EXPECT_EQ(chat.call(from("GET", "history", "http://evil.example")).status(), 200) << "reading is for anyone";
  plugintest::LoadedHandler::WebSocket ws;
  chat.call(from("GET", "ws", "http://chat.example.com:8080"), &ws);
  EXPECT_NE(ws.callbacks, nullptr) << "the same host joins";
  if (ws.callbacks) ws.callbacks->on_close(ws.session, MS_CLOSE_REFUSED);
}

TEST(ChatPlugin, PostsBeyondTheFloodLimitGet429AndWhatPassedIsSent) {
  plugintest::LoadedHandler chat("chat", "{ room: flood }");
  std::string lines;
  for (int i = 0; i < 60; ++i) lines += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(chat.call(chatRequest("POST", "messages", lines)).status(), 202) << "a burst of 64 lines a second";
  plugintest::Answer over = chat.call(chatRequest("POST", "messages", lines));
  EXPECT_EQ(over.status(), 429);
  EXPECT_EQ(over.header("Retry-After"), "1");
  EXPECT_TRUE(std::regex_match(
      std::string(over.body()),
      std::regex(R"re(\{"error":"too many lines from your address: slow down \(this room takes at most 10 lines/s \(bursts of 64\) and 65536 bytes/s \(bursts of 262144\) from each address\)","sent":[4-9],"dropped":5[1-6],"retry_after":1\}
)re")))
      << over.body();
}

TEST(ChatPlugin, ABadRouteConfigIsAnError) {
  try {
    plugintest::LoadedHandler chat("chat", "{ rooom: x }");
    ADD_FAILURE() << "accepted";
  } catch (const microserver::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'rooom' (expected one of: room, allowed_origins)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
