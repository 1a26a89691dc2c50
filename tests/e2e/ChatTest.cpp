// End-to-end tests of the chat plugin: the real binary with the real libchat.so, members
// over raw TCP (as `nc`) and over WebSocket (as the chat page), and its HTTP routes.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include "ChatLines.h"
#include "ServerProcess.h"
#include "TestClient.h"
#include "WebSocketClient.h"

namespace e2e {
namespace {


struct ChatServer {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  int servicePort = 0;

  explicit ChatServer(const std::string& serviceConfig = "{}", const std::string& serverKeys = "") {
    server = startChatServer(dir, serviceConfig, serverKeys, "{ room: lobby }", servicePort);
  }
  int httpPort() const { return server->port(); }
};

// A TCP member, joined: its own "joined" line has been read.
struct Member {
  Connection c;
  std::string address;
  explicit Member(int port, std::chrono::milliseconds timeout = 10s, int receiveBuffer = 0)
      : c(port, timeout, receiveBuffer), address(localAddress(c)) {
    std::string line = untimed(c.readLine());
    if (line != "* " + address + " joined") throw std::runtime_error("expected our join, got: " + line);
  }
  std::string next() { return untimed(c.readLine()); }
  void say(const std::string& bytes) { c.sendAll(bytes); }
};

// ---------------------------------------------------------------------------------------

TEST(ChatTest, ThreeTcpClientsSeeEachOthersLinesInTheExactFormat) {
  ChatServer s;
  Member a(s.servicePort);
  Member b(s.servicePort);
  EXPECT_EQ(a.next(), "* " + b.address + " joined");
  Member c(s.servicePort);
  EXPECT_EQ(a.next(), "* " + c.address + " joined");
  EXPECT_EQ(b.next(), "* " + c.address + " joined");

  a.say("hello from a\n");
  for (Member* m : {&a, &b, &c}) {
    std::string line = m->c.readLine();
    EXPECT_TRUE(std::regex_match(line, std::regex(kChatTimestamp + " 127\\.0\\.0\\.1:" + a.address.substr(10) + " hello from a")))
        << line;
  }
  b.say("from b, in two");
  b.say(" pieces\r\nand a second line\n");
  c.say("caf\xE9\n");  // not UTF-8: replaced
  for (Member* m : {&a, &b, &c}) {
    // Per-sender order is kept; b's and c's lines may interleave.
    std::vector<std::string> fromB, fromC;
    for (int i = 0; i < 3; ++i) {
      std::string line = m->next();
      (line.rfind(b.address, 0) == 0 ? fromB : fromC).push_back(line);
    }
    EXPECT_EQ(fromB,
              std::vector<std::string>({b.address + " from b, in two pieces", b.address + " and a second line"}));
    EXPECT_EQ(fromC, std::vector<std::string>({c.address + " caf\xEF\xBF\xBD"}));
  }
  EXPECT_TRUE(s.server->waitForLine("plugin chat: room lobby: " + c.address + " joined over tcp (3 members)", 5s));
}

TEST(ChatTest, QuitAndAbruptClosesLeaveTheOthersUnharmed) {
  ChatServer s;
  Member a(s.servicePort), b(s.servicePort), c(s.servicePort), d(s.servicePort);
  // Each has heard of those who joined after it.
  const std::vector<Member*> all = {&a, &b, &c, &d};
  for (std::size_t i = 0; i < all.size(); ++i)
    for (std::size_t j = i + 1; j < all.size(); ++j) EXPECT_EQ(all[i]->next(), "* " + all[j]->address + " joined");

  a.say("quit\n");
  EXPECT_EQ(a.next(), "* bye");
  ClosedRead rest = a.c.readUntilClosed(5s);
  EXPECT_EQ(rest.how, CloseKind::Eof);
  EXPECT_EQ(rest.data, "") << "nothing after the bye";
  for (Member* m : {&b, &c, &d}) EXPECT_EQ(m->next(), "* " + a.address + " left");

  c.c.close();  // FIN
  for (Member* m : {&b, &d}) EXPECT_EQ(m->next(), "* " + c.address + " left");
  d.c.resetAbruptly();  // RST
  EXPECT_EQ(b.next(), "* " + d.address + " left");

  b.say("still here\n");
  EXPECT_EQ(b.next(), b.address + " still here");
  EXPECT_TRUE(s.server->waitForLine("room lobby: " + d.address + " (tcp) left:", 5s));
  EXPECT_TRUE(s.server->running());
}

TEST(ChatTest, AnOverLongLineIsRefusedToItsSenderAndTheConnectionStays) {
  ChatServer s("{ max_line_bytes: 16 }");
  Member a(s.servicePort), b(s.servicePort);
  EXPECT_EQ(a.next(), "* " + b.address + " joined");
  a.say(std::string(20, 'x'));  // already too long: refused before its end
  EXPECT_EQ(a.next(), "* line too long (max 16 bytes): dropped");
  a.say(std::string(5000, 'y') + "\nexactly sixteen!\n");
  EXPECT_EQ(a.next(), a.address + " exactly sixteen!");
  EXPECT_EQ(b.next(), a.address + " exactly sixteen!") << "b never saw the long line";
  a.say("0123456789abcdefg\nok\n");  // 17: too long, found at its "\n"
  EXPECT_EQ(a.next(), "* line too long (max 16 bytes): dropped");
  EXPECT_EQ(a.next(), a.address + " ok");
  EXPECT_EQ(b.next(), a.address + " ok");
}

TEST(ChatTest, AMemberThatNeverReadsIsCutAndTheOthersReceiveEveryLine) {
  ChatServer s("{ max_queue_bytes: 262144 }");
  // A small receive buffer keeps the stuck member's kernel from absorbing much of it.
  Member sender(s.servicePort), reader(s.servicePort), stuck(s.servicePort, 30s, 4096);
  EXPECT_EQ(sender.next(), "* " + reader.address + " joined");
  EXPECT_EQ(sender.next(), "* " + stuck.address + " joined");
  EXPECT_EQ(reader.next(), "* " + stuck.address + " joined");
  // `stuck` never reads again. The sender sends in batches and waits for both readers to
  // have each batch, so only `stuck` falls behind, past its limit.
  const int kLines = 50000, kBatch = 1000;
  const std::string text(200, 'x');
  const std::string prefix = sender.address + " ";
  std::mutex mutex;
  std::condition_variable progress;
  std::atomic<int> echoed{0}, received{0}, notices{0};
  std::string echoError, readError;
  auto readAll = [&](Member& m, std::atomic<int>& count, std::string& error) {
    try {
      while (count < kLines) {
        std::string line = m.next();
        if (line == "* " + stuck.address + " left (too slow)") {
          ++notices;
          continue;
        }
        if (line != prefix + std::to_string(count.load()) + " " + text) {
          error = "line " + std::to_string(count.load()) + " was: " + line.substr(0, 80);
          break;
        }
        if (++count % 100 == 0) progress.notify_all();
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    count = kLines + 1;  // done, or failed: never make the sender wait for us again
    progress.notify_all();
  };
  std::thread echo([&] { readAll(sender, echoed, echoError); });
  std::thread read([&] { readAll(reader, received, readError); });
  for (int start = 0; start < kLines; start += kBatch) {
    std::string batch;
    for (int i = start; i < start + kBatch; ++i) batch += std::to_string(i) + " " + text + "\n";
    sender.say(batch);
    std::unique_lock<std::mutex> lock(mutex);
    if (!progress.wait_for(lock, 20s, [&] { return echoed >= start + kBatch && received >= start + kBatch; })) break;
  }
  echo.join();
  read.join();
  EXPECT_TRUE(readError.empty()) << readError;
  EXPECT_TRUE(echoError.empty()) << echoError;
  EXPECT_EQ(received.load(), kLines + 1) << "every line reached the reader";
  EXPECT_EQ(echoed.load(), kLines + 1) << "every line reached the sender";
  EXPECT_EQ(notices.load(), 2) << "both heard that the stuck member was cut off";
  EXPECT_TRUE(s.server->waitForLine("room lobby: " + stuck.address + " (tcp) left: too slow", 10s));
  ClosedRead rest = stuck.c.readUntilClosed(20s);
  EXPECT_NE(rest.how, CloseKind::Timeout) << "the slow member was never disconnected";
}

// 200 members, 20 of them sending at once: every member gets every message exactly once,
// each sender's in its order. One thread reads all 200 sockets with poll().
TEST(ChatTest, TwoHundredMembersTwentySendersEveryMessageOnceInOrder) {
  ChatServer s;
  constexpr int kMembers = 200, kSenders = 20, kPerSender = 100;
  std::vector<std::unique_ptr<Member>> members;
  for (int i = 0; i < kMembers; ++i) members.push_back(std::make_unique<Member>(s.servicePort));
  // Every member has read its own join: all are in the room before anyone speaks.
  std::map<std::string, int> senderIndex;
  for (int i = 0; i < kSenders; ++i) senderIndex[members[i]->address] = i;

  struct Progress {
    std::string buffer;
    std::vector<int> next = std::vector<int>(kSenders, 0);
    int messages = 0;
    std::string error;
  };
  std::vector<Progress> progress(kMembers);
  for (int i = 0; i < kMembers; ++i) progress[i].buffer = members[i]->c.takeBuffered();

  // The senders at once, each in several writes (so lines also split across reads).
  std::vector<std::thread> senders;
  std::atomic<int> sendFailures{0};
  for (int i = 0; i < kSenders; ++i)
    senders.emplace_back([&, i] {
      std::string lines;
      for (int k = 0; k < kPerSender; ++k) lines += "m " + std::to_string(k) + "\n";
      try {
        for (std::size_t at = 0; at < lines.size(); at += 97) members[i]->say(lines.substr(at, 97));
      } catch (const std::exception&) {
        ++sendFailures;
      }
    });
  for (std::thread& t : senders) t.join();
  ASSERT_EQ(sendFailures.load(), 0);

  auto consume = [&](Progress& p) {
    std::size_t start = 0, nl;
    while ((nl = p.buffer.find('\n', start)) != std::string::npos) {
      std::string_view line(p.buffer.data() + start, nl - start);
      start = nl + 1;
      if (line.size() < kChatTimestampLength + 3 || line.substr(kChatTimestampLength + 1, 2) == "* ") continue;  // joins
      std::string_view rest = line.substr(kChatTimestampLength + 1);
      std::size_t sp = rest.find(' ');
      auto who = senderIndex.find(std::string(rest.substr(0, sp)));
      if (who == senderIndex.end() || rest.substr(sp + 1, 2) != "m ") {
        p.error = "unexpected line: " + std::string(line);
        continue;
      }
      int seq = std::stoi(std::string(rest.substr(sp + 3)));
      if (seq != p.next[who->second] && p.error.empty())
        p.error = "from sender " + std::to_string(who->second) + ": got " + std::to_string(seq) + ", expected " +
                  std::to_string(p.next[who->second]);
      p.next[who->second] = seq + 1;
      ++p.messages;
    }
    p.buffer.erase(0, start);
  };

  const int kExpected = kSenders * kPerSender;
  std::vector<pollfd> fds(kMembers);
  for (int i = 0; i < kMembers; ++i) fds[i] = {members[i]->c.fd(), POLLIN, 0};
  int done = 0;
  for (Progress& p : progress) {
    consume(p);
    if (p.messages >= kExpected) ++done;
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  char chunk[65536];
  while (done < kMembers && std::chrono::steady_clock::now() < deadline) {
    int n = ::poll(fds.data(), fds.size(), 1000);
    if (n < 0 && errno != EINTR) FAIL() << "poll: " << std::strerror(errno);
    for (int i = 0; i < kMembers; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::recv(fds[i].fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        progress[i].error = "the server closed member " + std::to_string(i);
        fds[i].fd = -1;
        ++done;
        continue;
      }
      Progress& p = progress[i];
      bool wasDone = p.messages >= kExpected;
      p.buffer.append(chunk, static_cast<std::size_t>(got));
      consume(p);
      if (!wasDone && p.messages >= kExpected) {
        ++done;
        fds[i].events = 0;
      }
    }
  }
  for (int i = 0; i < kMembers; ++i) {
    EXPECT_TRUE(progress[i].error.empty()) << "member " << i << ": " << progress[i].error;
    EXPECT_EQ(progress[i].messages, kExpected) << "member " << i;
  }
}

TEST(ChatTest, AWebSocketMemberAndATcpMemberSeeEachOtherAndAPostReachesBoth) {
  ChatServer s;
  Member tcp(s.servicePort);
  Connection ws(s.httpPort());
  const std::string wsAddress = localAddress(ws);
  HttpResponse handshake = wsHandshake(ws, "/chat/ws");
  ASSERT_EQ(handshake.status, 101) << handshake.raw;
  WsFrame joined = wsRead(ws);
  EXPECT_EQ(joined.opcode, 1);
  EXPECT_TRUE(std::regex_match(joined.payload, std::regex(kChatTimestamp + " \\* " + wsAddress + " joined\n"))) << joined.payload;
  EXPECT_EQ(tcp.next(), "* " + wsAddress + " joined");

  wsSend(ws, 1, "from the browser");  // a message without "\n" is a line
  EXPECT_EQ(tcp.next(), wsAddress + " from the browser");
  WsFrame own = wsRead(ws);
  EXPECT_EQ(untimed(own.payload), wsAddress + " from the browser\n") << "each line is one message, \\n included";
  tcp.say("from nc\n");
  EXPECT_EQ(untimed(wsRead(ws).payload), tcp.address + " from nc\n");
  EXPECT_EQ(tcp.next(), tcp.address + " from nc");
  wsSend(ws, 1, "two\r\nlines\n");
  EXPECT_EQ(untimed(wsRead(ws).payload), wsAddress + " two\n");
  EXPECT_EQ(untimed(wsRead(ws).payload), wsAddress + " lines\n");
  EXPECT_EQ(tcp.next(), wsAddress + " two");
  EXPECT_EQ(tcp.next(), wsAddress + " lines");

  HttpResponse posted =
      httpRequest(s.httpPort(), "POST", "/chat/messages", {{"Content-Type", "text/plain"}}, "posted one\nposted two\n");
  EXPECT_EQ(posted.status, 202) << posted.raw;
  EXPECT_EQ(posted.header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(posted.body, "{\"sent\":2}\n");
  const std::regex fromHttp("127\\.0\\.0\\.1:\\d+ posted (one|two)\n?");
  std::string first = tcp.next(), second = tcp.next();
  EXPECT_TRUE(std::regex_match(first, fromHttp)) << first;
  EXPECT_EQ(second.substr(second.find(' ')), " posted two");
  EXPECT_EQ(first.substr(0, first.find(' ')), second.substr(0, second.find(' '))) << "both from the poster";
  EXPECT_EQ(untimed(wsRead(ws).payload), first + "\n");
  EXPECT_EQ(untimed(wsRead(ws).payload), second + "\n");

  HttpResponse members = httpGet(s.httpPort(), "/chat/members");
  EXPECT_EQ(members.status, 200);
  EXPECT_EQ(members.header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_TRUE(std::regex_match(
      members.body, std::regex("\\{\"room\":\"lobby\",\"count\":2,\"members\":\\[\\{\"address\":\"" + tcp.address +
                               "\",\"transport\":\"tcp\",\"joined\":\"" + kChatTimestamp + "\"\\},\\{\"address\":\"" + wsAddress +
                               "\",\"transport\":\"websocket\",\"joined\":\"" + kChatTimestamp + "\"\\}\\]\\}\n")))
      << members.body;

  wsSend(ws, 1, "quit");
  EXPECT_EQ(untimed(wsRead(ws).payload), "* bye\n");
  EXPECT_EQ(wsRead(ws).opcode, 8) << "then a close frame";
  EXPECT_EQ(tcp.next(), "* " + wsAddress + " left");
}

// The reactor defers a chat member's reading by a pass after it flushed output (to batch
// writes, see Reactor::flushedThisPass), but never twice in a row: an HTTP client that
// posts lines nonstop on the same reactor, so that every pass flushes, must not starve
// a TCP member's input. The flood goes on until the member's own line comes back.
TEST(ChatTest, AMemberIsReadWhileAnHttpClientFloodsTheRoomOnTheSameReactor) {
  ChatServer s("{ max_queue_bytes: 67108864, flood_http: off }", ", reactors: 1");
  Member tcp(s.servicePort, 20s);
  std::atomic<bool> stop{false};
  Connection flood(s.httpPort(), 20s);
  std::string batch;
  for (int i = 0; i < 100; ++i)
    batch += "POST /chat/messages HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nflood\n";
  // Always more pipelined requests than the server has read: the connection is readable
  // in every pass, and every pass broadcasts.
  std::thread writer([&] {
    try {
      while (!stop) {
        flood.sendAll(batch);
      }
    } catch (const std::exception&) {
    }
  });
  std::thread drain([&] {
    char buffer[65536];
    while (!stop && ::recv(flood.fd(), buffer, sizeof buffer, 0) > 0) {
    }
  });
  const std::string floodLine = "flood";
  std::string line = tcp.next();
  while (line.size() < floodLine.size() || line.compare(line.size() - floodLine.size(), floodLine.size(), floodLine) != 0)
    line = tcp.next();  // the flood has reached the room
  tcp.say("mine\n");
  bool gotMine = false;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  try {
    while (!gotMine && std::chrono::steady_clock::now() < deadline) gotMine = tcp.next() == tcp.address + " mine";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "reading the room: " << e.what();
  }
  // The flood was still going: more of it reaches the room after our line.
  std::string after;
  if (gotMine) after = tcp.next();
  stop = true;
  ::shutdown(flood.fd(), SHUT_RDWR);
  writer.join();
  drain.join();
  EXPECT_TRUE(gotMine) << "the member's line never came back while the flood went on";
  EXPECT_NE(after.find(" flood"), std::string::npos) << "the flood had stopped before the line came back: " << after;
  EXPECT_EQ(httpGet(s.httpPort(), "/chat/members").status, 200);
}

TEST(ChatTest, HistoryReturnsTheLastLinesOldestFirst) {
  ChatServer s("{ history: 5 }");
  Member a(s.servicePort);
  for (int i = 0; i < 10; ++i) a.say("h" + std::to_string(i) + "\n");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), a.address + " h" + std::to_string(i));
  HttpResponse history = httpGet(s.httpPort(), "/chat/history");
  EXPECT_EQ(history.status, 200);
  EXPECT_EQ(history.header("Content-Type"), "application/json; charset=utf-8");
  std::string expected = "\\{\"room\":\"lobby\",\"messages\":\\[";
  for (int i = 5; i < 10; ++i)
    expected += std::string(i > 5 ? "," : "") + "\\{\"time\":\"" + kChatTimestamp + "\",\"from\":\"" + a.address +
                "\",\"text\":\"h" + std::to_string(i) + "\",\"kind\":\"message\"\\}";
  expected += "\\]\\}\n";
  EXPECT_TRUE(std::regex_match(history.body, std::regex(expected))) << history.body;

  EXPECT_EQ(httpRequest(s.httpPort(), "DELETE", "/chat/history").status, 405);
  EXPECT_EQ(httpRequest(s.httpPort(), "POST", "/chat/messages", {{"Content-Type", "text/plain"}}, "").status, 400);
}

TEST(ChatTest, AMemberBeyondMaxClientsIsToldAndClosed) {
  ChatServer s("{ max_clients: 2 }");
  Member a(s.servicePort), b(s.servicePort);
  EXPECT_EQ(a.next(), "* " + b.address + " joined");
  Connection c(s.servicePort);
  EXPECT_EQ(untimed(c.readLine()), "* the room is full (2 members); try again later");
  ClosedRead rest = c.readUntilClosed(5s);
  EXPECT_EQ(rest.how, CloseKind::Eof);
  EXPECT_EQ(rest.data, "");
  a.say("still two\n");
  EXPECT_EQ(a.next(), a.address + " still two") << "no join for the refused one";
  EXPECT_TRUE(s.server->waitForLine("the room is full (2 members; max_clients raises the limit)", 5s));
  // A WebSocket member counts too.
  Connection ws(s.httpPort());
  ASSERT_EQ(wsHandshake(ws, "/chat/ws").status, 101);
  EXPECT_EQ(untimed(wsRead(ws).payload), "* the room is full (2 members); try again later\n");
}

TEST(ChatTest, StoppingTheServerTellsEveryMember) {
  ChatServer s;
  Member a(s.servicePort);
  ASSERT_TRUE(s.server->sendSignal(SIGTERM));
  EXPECT_EQ(a.next(), "* the server is stopping");
  EXPECT_NE(a.c.readUntilClosed(10s).how, CloseKind::Timeout);
  a.c.close();  // the server waits a moment for our close before its own
  EXPECT_EQ(s.server->waitExit(15s), 0);
}

TEST(ChatTest, TheRoomSummaryIsLoggedAtDebugLevel) {
  ChatServer s("{ summary_interval: 1 }", ", log_level: debug");
  Member a(s.servicePort);
  a.say("one\n");
  EXPECT_EQ(a.next(), a.address + " one");
  EXPECT_TRUE(s.server->waitForLine(
      "plugin chat: room lobby: 1 member (1 tcp, 0 websocket); 1 message and 0 members cut off as too slow in the "
      "last 1 s",
      10s))
      << s.server->output();
}

}  // namespace
}  // namespace e2e
