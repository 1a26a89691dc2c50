// End-to-end tests of TCP services and WebSockets, with the `broadcast` fixture plugin:
// a service on its own port, members over raw TCP and over WebSocket, slow members cut.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

#include "ServerProcess.h"
#include "TestClient.h"
#include "WebSocketClient.h"

namespace e2e {
namespace {

struct BroadcastServer {
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  int servicePort = 0;

  explicit BroadcastServer(const std::string& serviceConfig = "{}") {
    dir.write("www/index.html", "home\n");
    std::string www = dir.path() + "/www";
    ServerOptions options;
    options.configText = "server: { www: " + www + " }\nroutes:\n  - { path: '^/(ws|count)$', handler: broadcast }\n" +
                         "services:\n  - { plugin: broadcast, listen: '127.0.0.1:0', config: " + serviceConfig + " }\n";
    options.plugins = std::string(MICROSERVER_FIXTURE_DIR) + "/good";
    server = ServerProcess::start(options);
    auto line = server->waitForLine("service broadcast on 127.0.0.1:", 5s);
    if (!line) throw std::runtime_error("no service line: " + server->output());
    servicePort = std::stoi(line->substr(line->rfind(':') + 1));
  }
  int httpPort() const { return server->port(); }
};

// Reads the welcome line and returns the member's id.
std::string welcome(Connection& c) {
  std::string line = c.readLine();
  if (line.rfind("welcome ", 0) != 0) throw std::runtime_error("expected a welcome line, got: " + line);
  return line.substr(8);
}

TEST(ServiceTest, TcpMembersReceiveEveryBroadcastIncludingTheirOwn) {
  BroadcastServer s;
  Connection a(s.servicePort), b(s.servicePort);
  std::string idA = welcome(a);
  welcome(b);
  a.sendAll("hi\n");
  EXPECT_EQ(a.readLine(), idA + ": hi");
  EXPECT_EQ(b.readLine(), idA + ": hi");
}

TEST(ServiceTest, AWebSocketMemberAndATcpMemberSeeEachOther) {
  BroadcastServer s;
  Connection tcp(s.servicePort);
  std::string idTcp = welcome(tcp);
  Connection ws(s.httpPort());
  HttpResponse handshake = wsHandshake(ws, "/ws");
  ASSERT_EQ(handshake.status, 101) << handshake.raw;
  EXPECT_EQ(handshake.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  WsFrame hello = wsRead(ws);
  EXPECT_EQ(hello.opcode, 1);
  ASSERT_EQ(hello.payload.rfind("welcome ", 0), 0u) << hello.payload;
  std::string idWs = hello.payload.substr(8, hello.payload.size() - 9);

  wsSend(ws, 1, "from the browser\n");
  EXPECT_EQ(tcp.readLine(), idWs + ": from the browser");
  EXPECT_EQ(wsRead(ws).payload, idWs + ": from the browser\n");
  tcp.sendAll("from nc\n");
  EXPECT_EQ(wsRead(ws).payload, idTcp + ": from nc\n");
}

TEST(ServiceTest, WebSocketPingGetsPongAndCloseIsEchoed) {
  BroadcastServer s;
  Connection ws(s.httpPort());
  ASSERT_EQ(wsHandshake(ws, "/ws").status, 101);
  wsRead(ws);  // welcome
  wsSend(ws, 9, "are you there");
  WsFrame pong = wsRead(ws);
  EXPECT_EQ(pong.opcode, 10);
  EXPECT_EQ(pong.payload, "are you there");
  wsSend(ws, 8, std::string("\x03\xe8", 2) + "bye");
  WsFrame close = wsRead(ws);
  EXPECT_EQ(close.opcode, 8);
  EXPECT_EQ(close.payload.substr(0, 2), std::string("\x03\xe8", 2));
  EXPECT_TRUE(ws.isClosedByPeer(5s));
}

TEST(ServiceTest, AProtocolErrorClosesWithTheRightCode) {
  BroadcastServer s;
  Connection ws(s.httpPort());
  ASSERT_EQ(wsHandshake(ws, "/ws").status, 101);
  wsRead(ws);
  ws.sendAll(std::string("\x81\x02hi", 4));  // unmasked: clients must mask
  WsFrame close = wsRead(ws);
  EXPECT_EQ(close.opcode, 8);
  EXPECT_EQ(close.payload.substr(0, 2), std::string("\x03\xea", 2)) << "1002 protocol error";
  EXPECT_TRUE(ws.isClosedByPeer(5s));
}

TEST(ServiceTest, ABadHandshakeGets400Or426) {
  BroadcastServer s;
  Connection noKey(s.httpPort());
  noKey.sendAll("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  EXPECT_EQ(noKey.readResponse().status, 400);
  Connection oldVersion(s.httpPort());
  oldVersion.sendAll("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
  HttpResponse r = oldVersion.readResponse();
  EXPECT_EQ(r.status, 426);
  EXPECT_EQ(r.header("Sec-WebSocket-Version"), "13");
}

TEST(ServiceTest, CloseFromTheServiceEndsTheConnectionAfterItsOutput) {
  BroadcastServer s;
  Connection a(s.servicePort);
  welcome(a);
  a.sendAll("close\n");
  EXPECT_TRUE(a.isClosedByPeer(5s));
}

TEST(ServiceTest, AMemberThatStopsReadingIsCutAndTheOthersGetEverything) {
  BroadcastServer s;  // the default send limit: 1 MiB
  // A small receive buffer keeps the stuck member's kernel from absorbing it all.
  Connection sender(s.servicePort), reader(s.servicePort), stuck(s.servicePort, 30s, 4096);
  std::string idSender = welcome(sender);
  welcome(reader);
  welcome(stuck);
  // `stuck` never reads again. The others keep up: the sender sends in batches and waits
  // for both readers to have every batch, so only `stuck` falls behind, and past the limit.
  const int kLines = 50000, kBatch = 1000;
  const std::string line(200, 'x');
  std::mutex mutex;
  std::condition_variable progress;
  std::atomic<int> echoed{0}, received{0};
  std::string echoError, readError;
  auto readAll = [&](Connection& c, std::atomic<int>& count, std::string& error) {
    try {
      while (count < kLines) {
        std::string got = c.readLine();
        if (got.rfind("left ", 0) == 0) continue;  // the stuck member's departure
        if (got != idSender + ": " + std::to_string(count.load()) + " " + line) {
          error = "line " + std::to_string(count.load()) + " was: " + got.substr(0, 60);
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
    for (int i = start; i < start + kBatch; ++i) batch += std::to_string(i) + " " + line + "\n";
    sender.sendAll(batch);
    std::unique_lock<std::mutex> lock(mutex);
    bool caughtUp = progress.wait_for(lock, 10s, [&] { return echoed >= start + kBatch && received >= start + kBatch; });
    if (!caughtUp) break;
  }
  echo.join();
  read.join();
  EXPECT_TRUE(readError.empty()) << readError;
  EXPECT_TRUE(echoError.empty()) << echoError;
  EXPECT_EQ(received.load(), kLines + 1) << "every line reached the reader";
  EXPECT_TRUE(s.server->waitForLine("fell more than its send limit behind", 10s));
  ClosedRead rest = stuck.readUntilClosed(10s);
  EXPECT_NE(rest.how, CloseKind::Timeout) << "the slow member was never disconnected";
}

}  // namespace
}  // namespace e2e
