// End-to-end tests of the chat room under real crowds (issue 13): a burst of several MB
// reaches every member that keeps reading; a member that stops reading is cut (the soft
// limit, the server's send_timeout, the room's budget: the furthest behind first) and its
// memory released; a flooder is told and slowed while nobody else is; a WebSocket from a
// page of another origin is refused. The real binary and libchat.so; every wait is
// bounded and waits for a condition.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "ChatLines.h"
#include "PrometheusText.h"
#include "ServerProcess.h"
#include "TestClient.h"
#include "WebSocketClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

struct CrowdServer {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  int servicePort = 0;

  // `serviceConfig`: the chat service's config: map; `serverKeys`: more keys of `server:`
  // (", limits: {...}"); `routeConfig`: the chat route's config: map.
  explicit CrowdServer(const std::string& serviceConfig = "{}", const std::string& serverKeys = "",
                       const std::string& routeConfig = "{ room: lobby }") {
    server = startChatServer(dir, serviceConfig, serverKeys, routeConfig, servicePort);
  }
  int httpPort() const { return server->port(); }
  std::map<std::string, double> metrics() const {
    HttpResponse r = httpGet(server->port(), "/metrics");
    EXPECT_EQ(r.status, 200);
    return parsePrometheus(r.body);
  }
  double metric(const std::string& sample) const {
    auto all = metrics();
    auto it = all.find(sample);
    return it == all.end() ? -1 : it->second;
  }
  // Polls /metrics until `sample` satisfies `ok`, at most `timeout`; its last value.
  double waitForMetric(const std::string& sample, const std::function<bool(double)>& ok,
                       std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    double value = metric(sample);
    while (!ok(value) && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);  // a polling interval, not a wait for time to pass
      value = metric(sample);
    }
    return value;
  }
};

const std::string kQueued = "chat_queued_bytes{room=\"lobby\"}";
std::string cutMetric(const char* reason) {
  return std::string("chat_members_cut_total{room=\"lobby\",reason=\"") + reason + "\"}";
}

// A TCP member, joined: its own "joined" line has been read.
struct Member {
  Connection c;
  std::string address;
  explicit Member(int port, std::chrono::milliseconds timeout = 20s, int receiveBuffer = 0)
      : c(port, timeout, receiveBuffer), address(localAddress(c)) {
    std::string line = untimed(c.readLine());
    if (line != "* " + address + " joined") throw std::runtime_error("expected our join, got: " + line);
  }
  std::string next() { return untimed(c.readLine()); }
  void say(const std::string& bytes) { c.sendAll(bytes); }
};

// Reads a member's lines on a thread of its own, handing each (without its timestamp) to
// `onLine` until that returns false, the connection ends, or a read times out.
class Reader {
 public:
  Reader(Member& member, std::function<bool(const std::string&)> onLine)
      : member_(member), thread_([this, &member, onLine = std::move(onLine)] {
          try {
            while (onLine(member.next())) {
            }
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(mutex_);
            error_ = e.what();
          }
          std::lock_guard<std::mutex> lock(mutex_);
          done_ = true;
          cv_.notify_all();
        }) {}
  // Ends the reading (the member's connection shut) if it is still going.
  ~Reader() {
    if (!thread_.joinable()) return;
    ::shutdown(member_.c.fd(), SHUT_RDWR);
    thread_.join();
  }
  bool waitDone(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return done_; });
  }
  void join() { thread_.join(); }
  std::string error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string error_;
  Member& member_;
  std::thread thread_;  // last: started once the rest is ready
};

// A count others can wait on.
struct Progress {
  std::mutex mutex;
  std::condition_variable cv;
  long value = 0;
  void set(long v) {
    std::lock_guard<std::mutex> lock(mutex);
    value = v;
    cv.notify_all();
  }
  bool waitFor(long atLeast, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return value >= atLeast; });
  }
};

// ---------------------------------------------------------------------------------------

// The burst: one member pastes 50,000 lines of 100 bytes as fast as its socket
// takes them, while three others read (each checks every line's format with a regular
// expression, about as fast as a script would). With the default limits every one of them
// gets every line, in order; nobody is cut. (With the old hard 1 MiB limit, readers were
// cut.)
TEST(ChatCrowdTest, ABurstOfFiftyThousandLinesReachesEveryReadingMemberCompleteAndInOrder) {
  CrowdServer s;
  Member sender(s.servicePort, 60s);
  std::vector<std::unique_ptr<Member>> readers;
  for (int i = 0; i < 3; ++i) readers.push_back(std::make_unique<Member>(s.servicePort, 60s));
  // Everyone has heard of everyone who joined after it.
  for (std::size_t i = 0; i < readers.size(); ++i) {
    EXPECT_EQ(sender.next(), "* " + readers[i]->address + " joined");
    for (std::size_t j = i + 1; j < readers.size(); ++j) EXPECT_EQ(readers[i]->next(), "* " + readers[j]->address + " joined");
  }
  constexpr int kLines = 50000;
  const std::string pad(100 - 6, '.');  // "NNNNN " + pad: 100 bytes of text
  auto text = [&](int i) {
    std::string n = std::to_string(i);
    return std::string(5 - n.size(), '0') + n + " " + pad;
  };
  const std::string prefix = sender.address + " ";
  std::vector<std::unique_ptr<Reader>> threads;
  std::vector<std::atomic<int>> got(4);
  std::vector<std::string> wrong(4);
  std::vector<Member*> all = {&sender, readers[0].get(), readers[1].get(), readers[2].get()};
  for (int r = 0; r < 4; ++r)
    threads.push_back(std::make_unique<Reader>(*all[r], [&, r](const std::string& line) {
      if (line != prefix + text(got[r])) {
        wrong[r] = "line " + std::to_string(got[r].load()) + ": " + line.substr(0, 120);
        return false;
      }
      return ++got[r] < kLines;
    }));
  std::string burst;
  burst.reserve(kLines * 101);
  for (int i = 0; i < kLines; ++i) burst += text(i) + "\n";
  const auto start = Clock::now();
  sender.say(burst);  // as fast as the server takes it
  for (int r = 0; r < 4; ++r) {
    EXPECT_TRUE(threads[r]->waitDone(60s)) << "reader " << r << " still reading after 60 s";
    threads[r]->join();
    EXPECT_EQ(got[r].load(), kLines) << "member " << r << ": " << wrong[r] << threads[r]->error();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("burst of %d lines (%zu bytes) reached 4 members in %.2f s\n", kLines, burst.size(), seconds);
  EXPECT_EQ(s.metric(cutMetric("hard_limit")) + s.metric(cutMetric("soft_limit")) +
                s.metric(cutMetric("room_budget")) + s.metric(cutMetric("send_timeout")),
            0)
      << "nobody was cut";
  EXPECT_EQ(s.metric("chat_members{room=\"lobby\",transport=\"tcp\"}"), 4);
}

// A member that stops reading while the room goes on is cut once it has been more than
// soft_queue_bytes behind for soft_queue_time (1 s here), within that time and a second;
// what was queued for it is freed, and the others get every line.
TEST(ChatCrowdTest, AMemberThatStopsReadingIsCutWithinTheSoftTimeAndItsMemoryIsReleased) {
  CrowdServer s("{ soft_queue_bytes: 256KiB, soft_queue_time: 1s }");
  Member sender(s.servicePort), reader(s.servicePort);
  Member stuck(s.servicePort, 30s, 4096);  // a small receive buffer: its kernel takes little
  EXPECT_EQ(sender.next(), "* " + reader.address + " joined");
  EXPECT_EQ(sender.next(), "* " + stuck.address + " joined");
  EXPECT_EQ(reader.next(), "* " + stuck.address + " joined");
  const std::string text(200, 'x');
  const std::string prefix = sender.address + " ";
  Progress echoed, received;
  std::atomic<int> notices{0};
  auto count = [&](Progress& p) {
    return [&, n = 0L](const std::string& line) mutable {
      if (line == "* " + stuck.address + " left (too slow)") {
        ++notices;
        return true;
      }
      if (line != prefix + std::to_string(n) + " " + text) throw std::runtime_error("line " + std::to_string(n) + ": " + line);
      p.set(++n);
      return true;
    };
  };
  Reader echo(sender, count(echoed)), read(reader, count(received));
  // Batches until the stuck member is well over its soft limit (the others read each
  // batch before the next).
  long sent = 0;
  Clock::time_point over{};
  for (int batch = 0; batch < 200; ++batch) {
    std::string lines;
    for (int i = 0; i < 500; ++i) lines += std::to_string(sent++) + " " + text + "\n";
    sender.say(lines);
    ASSERT_TRUE(echoed.waitFor(sent, 20s) && received.waitFor(sent, 20s)) << "the readers fell behind";
    if (s.metric(kQueued) > 300 * 1024) {
      over = Clock::now();  // over the soft limit since this moment at the latest
      break;
    }
  }
  ASSERT_NE(over, Clock::time_point{}) << "the stuck member never fell 300 KiB behind";
  auto cut = s.server->waitForLine(stuck.address + " (tcp) left: too slow: it stayed more than soft_queue_bytes", 10s);
  const double after = std::chrono::duration<double>(Clock::now() - over).count();
  ASSERT_TRUE(cut) << s.server->output();
  EXPECT_LT(after, 2.0) << "cut within soft_queue_time (1 s) and a second";
  EXPECT_GE(after, 0.5) << "not before its time";
  EXPECT_EQ(s.metric(cutMetric("soft_limit")), 1);
  // Its memory is released: what stays queued is the readers' (a moment's worth).
  EXPECT_LT(s.waitForMetric(kQueued, [](double v) { return v < 64 * 1024; }, 10s), 64 * 1024);
  EXPECT_NE(stuck.c.readUntilClosed(20s).how, CloseKind::Timeout) << "its connection is closed";
  // The others go on, and heard it.
  std::string lines;
  for (int i = 0; i < 500; ++i) lines += std::to_string(sent++) + " " + text + "\n";
  sender.say(lines);
  EXPECT_TRUE(echoed.waitFor(sent, 20s) && received.waitFor(sent, 20s)) << "every line reached the readers";
  EXPECT_EQ(notices.load(), 2) << "both heard that it was cut off";
}

// server.limits.send_timeout counts time without progress: a member that takes nothing
// is cut after it even while new lines keep coming (each used to restart it), well below
// any queue limit.
TEST(ChatCrowdTest, SendTimeoutCountsTimeWithoutProgressWhileTheRoomIsBusy) {
  CrowdServer s("{ soft_queue_bytes: off }", ", limits: { send_timeout: 1s }");
  Member sender(s.servicePort), stuck(s.servicePort, 30s, 4096);
  EXPECT_EQ(sender.next(), "* " + stuck.address + " joined");
  // One line at a time, each read back before the next: the room is never quiet.
  const std::string text(100, 'z');
  const std::size_t mark = s.server->lineCount();
  const auto start = Clock::now();
  std::optional<std::string> cut;
  int lines = 0;
  while (Clock::now() - start < 20s) {
    sender.say(std::to_string(lines) + " " + text + "\n");
    std::string line = sender.next();
    if (line == "* " + stuck.address + " left (too slow)") {
      cut = line;
      break;
    }
    ASSERT_EQ(line, sender.address + " " + std::to_string(lines) + " " + text);
    ++lines;
  }
  ASSERT_TRUE(cut) << "the member that took nothing was never cut while the room was busy (" << lines << " lines)";
  EXPECT_TRUE(s.server->waitForLine(stuck.address + " (tcp) left: too slow: it took nothing of what it was sent for "
                                                    "server.limits.send_timeout",
                                    5s, mark));
  EXPECT_EQ(s.metric(cutMetric("send_timeout")), 1);
  EXPECT_LT(s.metric(kQueued), 1 << 20) << "far below any queue limit";
}

// Past room_queue_bytes the room cuts the member furthest behind, and only as many as it
// takes: here the one that stopped reading first, not the one that stopped later.
TEST(ChatCrowdTest, TheRoomBudgetCutsTheMemberFurthestBehind) {
  CrowdServer s("{ room_queue_bytes: 1MiB, soft_queue_bytes: off }");
  Member sender(s.servicePort), reader(s.servicePort);
  Member far(s.servicePort, 30s, 4096), behind(s.servicePort, 30s, 4096);
  const std::string text(200, 'b');
  const std::string prefix = sender.address + " ";
  Progress echoed, received, behindRead;
  std::atomic<int> notices{0};
  auto count = [&](Progress& p, bool stopAtMarker) {
    return [&, &p = p, stopAtMarker, n = 0L](const std::string& line) mutable {
      if (line.size() > 2 && line[0] == '*') {
        if (line == "* " + far.address + " left (too slow)") ++notices;
        return true;  // joins and leaves
      }
      if (line == prefix + "stop reading") return !stopAtMarker;
      if (line != prefix + std::to_string(n) + " " + text) throw std::runtime_error("line " + std::to_string(n) + ": " + line);
      p.set(++n);
      return true;
    };
  };
  Reader echo(sender, count(echoed, false)), read(reader, count(received, false));
  Reader behindReader(behind, count(behindRead, true));
  long sent = 0;
  auto batch = [&] {
    std::string lines;
    for (int i = 0; i < 200; ++i) lines += std::to_string(sent++) + " " + text + "\n";
    sender.say(lines);
    return echoed.waitFor(sent, 20s) && received.waitFor(sent, 20s);
  };
  // `far` never reads; `behind` reads the first 400 KB, then stops.
  while (sent < 1800) ASSERT_TRUE(batch());
  ASSERT_TRUE(behindRead.waitFor(sent, 20s));
  sender.say("stop reading\n");
  ASSERT_TRUE(behindReader.waitDone(20s)) << behindReader.error();
  // Now both fall behind, far ~400 KB further; the room passes its budget on the way.
  const std::size_t mark = s.server->lineCount();
  bool cutSeen = false;
  while (!cutSeen && sent < 20000) {
    ASSERT_TRUE(batch());
    cutSeen = s.metric(cutMetric("room_budget")) >= 1;
  }
  ASSERT_TRUE(cutSeen) << "the room never passed its budget";
  EXPECT_TRUE(s.server->waitForLine(far.address + " (tcp) left: too slow: the room's members had more than "
                                                  "room_queue_bytes (1048576 bytes) queued, and it was the furthest behind",
                                    5s, mark))
      << s.server->output();
  EXPECT_EQ(s.metric(cutMetric("room_budget")), 1) << "cutting the furthest behind was enough";
  EXPECT_NE(far.c.readUntilClosed(20s).how, CloseKind::Timeout);
  HttpResponse members = httpGet(s.httpPort(), "/chat/members");
  EXPECT_NE(members.body.find(behind.address), std::string::npos) << "the one less behind stays: " << members.body;
  EXPECT_EQ(members.body.find(far.address), std::string::npos);
  EXPECT_LE(s.metric(kQueued), 1 << 20);
}

// flood_members: a member over its token buckets is told, and its excess lines dropped;
// it is not cut, and everyone else's lines go through as before.
TEST(ChatCrowdTest, AFlooderIsToldAndSlowedWhileNobodyElseIs) {
  CrowdServer s("{ flood_members: { lines_per_second: 5, burst_lines: 10 } }");
  Member flooder(s.servicePort), other(s.servicePort), reader(s.servicePort);
  EXPECT_EQ(flooder.next(), "* " + other.address + " joined");
  EXPECT_EQ(flooder.next(), "* " + reader.address + " joined");
  EXPECT_EQ(other.next(), "* " + reader.address + " joined");
  const auto start = Clock::now();
  std::string flood;
  for (int i = 0; i < 500; ++i) flood += "flood " + std::to_string(i) + "\n";
  flooder.say(flood);
  // The flooder hears it is too fast (after its burst's own lines).
  std::string line;
  int echoes = 0;
  while ((line = flooder.next()).rfind("* slow down: ", 0) != 0) {
    ASSERT_EQ(line, flooder.address + " flood " + std::to_string(echoes)) << "its lines in order until then";
    ++echoes;
  }
  EXPECT_EQ(echoes, 10) << "the burst went through";
  EXPECT_EQ(line,
            "* slow down: 1 line dropped; this room takes at most 5 lines/s (bursts of 10) and 65536 bytes/s (bursts of "
            "262144) from each member");
  // Someone else speaks: at once, to everyone.
  other.say("not flooding\n");
  int fromFlooder = 0;
  while ((line = reader.next()) != other.address + " not flooding") {
    ASSERT_EQ(line.rfind(flooder.address + " flood ", 0), 0u) << line;
    ++fromFlooder;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_LE(fromFlooder, 10 + 5 * elapsed + 1) << "the burst and the rate, no more";
  EXPECT_GE(s.waitForMetric("chat_flood_dropped_total{room=\"lobby\",source=\"member\"}",
                            [](double v) { return v >= 400; }, 10s),
            400);
  // It is still a member, and can leave as anyone does.
  EXPECT_NE(httpGet(s.httpPort(), "/chat/members").body.find(flooder.address), std::string::npos);
  flooder.say("quit\n");
  while ((line = flooder.next()) != "* bye") {
  }
  while ((line = reader.next()).rfind(flooder.address + " flood ", 0) == 0) {
  }
  EXPECT_EQ(line, "* " + flooder.address + " left");
  EXPECT_EQ(s.metric(cutMetric("hard_limit")) + s.metric(cutMetric("send_timeout")), 0);
}

// flood_http is on by default: POST /chat/messages beyond 64 lines at once and 10 a
// second from one address gets 429 with Retry-After, and only what passed reaches the
// room; members go on.
TEST(ChatCrowdTest, PostsBeyondTheDefaultFloodLimitGet429) {
  CrowdServer s;
  Member member(s.servicePort);
  int accepted = 0, limited = 0;
  std::string retryAfter, body;
  for (int i = 0; i < 100 && limited == 0; ++i) {
    HttpResponse r = httpRequest(s.httpPort(), "POST", "/chat/messages", {{"Content-Type", "text/plain"}},
                                 "post " + std::to_string(i) + "\n");
    if (r.status == 202) ++accepted;
    if (r.status == 429) {
      ++limited;
      retryAfter = r.header("Retry-After");
      body = r.body;
    }
  }
  EXPECT_EQ(limited, 1) << "one address cannot post 100 lines at once";
  EXPECT_GE(accepted, 64) << "the burst passes";
  EXPECT_EQ(retryAfter, "1");
  EXPECT_NE(body.find("\"sent\":0,\"dropped\":1,\"retry_after\":1"), std::string::npos) << body;
  for (int i = 0; i < accepted; ++i) {
    std::string line = member.next();
    EXPECT_EQ(line.substr(line.find(' ') + 1), "post " + std::to_string(i));
  }
  member.say("members are not limited by it\n");
  EXPECT_EQ(member.next(), member.address + " members are not limited by it");
  EXPECT_EQ(s.metric("chat_flood_dropped_total{room=\"lobby\",source=\"http\"}"), 1);
}

// The WebSocket: by default only pages of the server's own host (Origin's host:port is
// the request's Host) join; allowed_origins lets others in; the rest get 403.
TEST(ChatCrowdTest, ACrossOriginWebSocketGets403AndAllowedOriginsWidenIt) {
  CrowdServer s("{}", "", "{ room: lobby, allowed_origins: ['https://friend.example'] }");
  Member tcp(s.servicePort);
  {
    Connection ws(s.httpPort());
    HttpResponse refused = wsHandshake(ws, "/chat/ws", "Origin: http://evil.example\r\n");
    EXPECT_EQ(refused.status, 403) << refused.raw;
    EXPECT_NE(refused.body.find("a page from another origin may not use this chat room"), std::string::npos)
        << refused.body;
  }
  {
    Connection ws(s.httpPort());  // the harness' Host is "t"
    HttpResponse refused = wsHandshake(ws, "/chat/ws", "Origin: http://t:8080\r\n");
    EXPECT_EQ(refused.status, 403) << "another port is another origin";
  }
  for (const std::string origin : {"http://t", "https://friend.example", ""}) {
    Connection ws(s.httpPort());
    const std::string address = localAddress(ws);
    HttpResponse joined = wsHandshake(ws, "/chat/ws", origin.empty() ? "" : "Origin: " + origin + "\r\n");
    EXPECT_EQ(joined.status, 101) << origin << ": " << joined.raw;
    if (joined.status != 101) continue;
    EXPECT_EQ(untimed(wsRead(ws).payload), "* " + address + " joined\n");
    EXPECT_EQ(tcp.next(), "* " + address + " joined");
    wsSend(ws, 1, "quit");
    EXPECT_EQ(untimed(wsRead(ws).payload), "* bye\n");
    EXPECT_EQ(tcp.next(), "* " + address + " left");
  }
  EXPECT_EQ(httpRequest(s.httpPort(), "POST", "/chat/messages",
                        {{"Content-Type", "text/plain"}, {"Origin", "http://evil.example"}}, "csrf\n")
                .status,
            403)
      << "nor may its pages post";
}

}  // namespace
}  // namespace e2e
