// The chat plugin: its framing, room and sessions compiled in and driven in-process with
// fake connections (which record what they are sent and can play a member that stops
// reading), its config parsing, and its HTTP routes through the real libchat.so.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "PluginTestSupport.h"
#include "chat/ChatConfig.h"
#include "chat/ChatService.h"
#include "chat/ChatSession.h"
#include "chat/LineFramer.h"
#include "chat/Room.h"
#include "chat/Timestamp.h"

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
    if (queued_ + bytes->size() > limit_) {
      tooSlow_ = true;
      closed_ = true;
      return false;
    }
    queued_ += bytes->size();
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

  // The client read everything.
  void drain() {
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
    for (const auto& b : sentBytes()) out.push_back(untimed(*b));
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
struct TestRoom {
  std::shared_ptr<chat::Room> room;
  chat::RoomEndpoint endpoint;
  FakeLogger logger;

  explicit TestRoom(chat::RoomSettings settings = {})
      : room(std::make_shared<chat::Room>("test", settings)), endpoint(room) {
    room->log().attach(&logger);
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
    EXPECT_TRUE(std::regex_match(*got[0], std::regex(kTs + " 10\\.0\\.0\\.1:1001 hello there\n"))) << *got[0];
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
  EXPECT_EQ(a.connection->sentBytes()[0].get(), b.connection->sentBytes()[0].get()) << "one buffer, shared";
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
  std::string line = *a.connection->sentBytes().at(0);
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
      EXPECT_EQ(first->substr(chat::kTimestampLength), " * 10.3.0.1:" + std::to_string(i) + " joined\n")
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
      std::string line = bytes->substr(chat::kTimestampLength + 1);
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
  EXPECT_EQ(d.settings.maxQueueBytes, 1048576u);
  EXPECT_EQ(d.settings.maxLineBytes, 4096u);
  EXPECT_EQ(d.settings.maxClients, 1000u);
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
            "max_queue_bytes, max_line_bytes, max_clients, summary_interval)");
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
  EXPECT_NE(serviceConfigError("{ max_line_bytes: 1048576 }").find("max_line_bytes: max_queue_bytes (1048576)"),
            std::string::npos);
  try {
    chat::parseHandlerConfig(plugintest::configNode("{ room: a, history: 3 }"));
    ADD_FAILURE() << "a route takes only `room`";
  } catch (const microserver::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'history' (expected one of: room)"), std::string::npos);
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
  EXPECT_NE(chat.descriptor().createHandler, nullptr);
  EXPECT_NE(chat.descriptor().createService, nullptr);
  EXPECT_NE(chat.descriptor().destroyService, nullptr);
}

TEST(ChatPlugin, PostedLinesGoToTheRoomAndItsHistory) {
  plugintest::LoadedHandler chat("chat", "{ room: http }");
  microserver::Response posted = chat.call(chatRequest("POST", "messages", "hello\r\n\nsecond \xFF\n"));
  EXPECT_EQ(posted.status(), 202);
  EXPECT_EQ(posted.contentType(), kJson);
  EXPECT_EQ(posted.body(), R"({"sent":2})"
                           "\n");
  microserver::Response history = chat.call(chatRequest("GET", "history"));
  EXPECT_EQ(history.status(), 200);
  EXPECT_EQ(history.contentType(), kJson);
  EXPECT_EQ(untimed(history.body()), R"({"room":"http","messages":[)"
                                     R"({"time":"TS","from":"127.0.0.1:40000","text":"hello","kind":"message"},)"
                                     R"({"time":"TS","from":"127.0.0.1:40000","text":"second )"
                                     "\xEF\xBF\xBD"
                                     R"(","kind":"message"}]})"
                                     "\n");
  microserver::Response members = chat.call(chatRequest("GET", "members"));
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
  microserver::Response empty = chat.call(chatRequest("POST", "messages"));
  EXPECT_EQ(empty.status(), 400);
  EXPECT_EQ(empty.contentType(), kJson);
  EXPECT_EQ(empty.body(), R"({"error":"empty body: send the message as text, one line per message"})"
                          "\n");
  EXPECT_EQ(chat.call(chatRequest("POST", "messages", "\n\r\n")).status(), 400);
  microserver::Response tooLarge = chat.call(chatRequest("POST", "messages", std::string(4096 * 64 + 1, 'a')));
  EXPECT_EQ(tooLarge.status(), 413);
  EXPECT_EQ(tooLarge.body(), R"({"error":"body too large","size":262145,"max_bytes":262144})"
                             "\n");
  microserver::Response longLine = chat.call(chatRequest("POST", "messages", "fine\n" + std::string(4097, 'a')));
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
    microserver::Response r = chat.call(chatRequest(c.method, c.action));
    EXPECT_EQ(r.status(), 405) << c.method << " " << c.action;
    EXPECT_EQ(r.header("Allow"), c.allow);
    EXPECT_EQ(r.contentType(), kJson);
    EXPECT_EQ(r.body(), std::string(R"({"error":"method not allowed","allow":")") + c.allow + "\"}\n");
  }
  EXPECT_EQ(chat.call(chatRequest("HEAD", "members")).status(), 200);
  microserver::Response unknown = chat.call(chatRequest("GET", "nope"));
  EXPECT_EQ(unknown.status(), 404);
  EXPECT_EQ(unknown.contentType(), kJson);
}

TEST(ChatPlugin, TheWsRouteAcceptsAWebSocketIntoTheRoom) {
  plugintest::LoadedHandler chat("chat", "");
  {
    microserver::Response r = chat.call(chatRequest("GET", "ws"));
    ASSERT_NE(r.webSocketService(), nullptr);
    auto connection = std::make_shared<FakeConnection>("10.0.0.5:5", Transport::WebSocket);
    auto session = r.webSocketService()->accept(connection);
    ASSERT_NE(session, nullptr);
    EXPECT_EQ(connection->received(), Lines({"TS * 10.0.0.5:5 joined\n"}));
    EXPECT_EQ(untimed(chat.call(chatRequest("GET", "members")).body()),
              R"({"room":"lobby","count":1,"members":[{"address":"10.0.0.5:5","transport":"websocket","joined":"TS"}]})"
              "\n");
    chat.call(chatRequest("POST", "messages", "to the browser"));
    EXPECT_EQ(connection->received().back(), "TS 127.0.0.1:40000 to the browser\n");
    session->onClose(CloseReason::PeerClosed);
  }  // the service object (the library's code) goes before the library
}

TEST(ChatPlugin, ABadRouteConfigIsAnError) {
  try {
    plugintest::LoadedHandler chat("chat", "{ rooom: x }");
    ADD_FAILURE() << "accepted";
  } catch (const microserver::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'rooom' (expected one of: room)"), std::string::npos) << e.what();
  }
}

}  // namespace
