// TlsTransportTest: the TLS transport (core/src/tls/TlsTransport.cpp) against an OpenSSL
// client over a non-blocking socket pair, stepped by hand in one thread: the handshake,
// bytes both ways, a writer that outruns its reader (kAgain, then the same bytes again),
// files through the bounded buffer, TLS 1.3 KeyUpdate after the handshake, close_notify
// both ways, and garbage in place of a ClientHello.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "base/Config.h"
#include "tls/TlsContext.h"
#include "tls/TlsTransport.h"

namespace microserver::core {
namespace {

std::string tempFolder() {
  std::string pattern = (std::filesystem::temp_directory_path() / "tls-transport-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// One certificate for the whole suite.
class TlsTransportTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::string(tempFolder());
    std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=localhost -keyout " +
        *folder_ + "/k.pem -out " + *folder_ + "/c.pem >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0);
    Config config = loadConfigText("server:\n  listen: [{ address: ':1', tls: { certificate: c.pem, key: k.pem } }]\n",
                                   "routes.yaml", *folder_);
    context_ = new std::shared_ptr<const TlsContext>(TlsContexts::load(config).listeners[0]);
  }
  static void TearDownTestSuite() {
    delete context_;
    std::error_code ignored;
    std::filesystem::remove_all(*folder_, ignored);
    delete folder_;
  }

  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    serverFd_ = fds[0];
    clientFd_ = fds[1];
    int small = 64 * 1024;
    ::setsockopt(serverFd_, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(clientFd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    server_ = std::make_unique<TlsTransport>(serverFd_, (*context_)->newConnection(serverFd_));
    clientCtx_ = SSL_CTX_new(TLS_client_method());
    client_ = SSL_new(clientCtx_);
    SSL_set_fd(client_, clientFd_);
    SSL_set_connect_state(client_);
  }
  void TearDown() override {
    server_.reset();
    SSL_free(client_);
    SSL_CTX_free(clientCtx_);
    ::close(serverFd_);
    ::close(clientFd_);
  }

  // Steps both sides until both are done.
  void handshake() {
    bool serverDone = false, clientDone = false;
    for (int i = 0; i < 100 && !(serverDone && clientDone); ++i) {
      if (!serverDone) {
        std::string why;
        TlsTransport::Handshake state = server_->handshake(why);
        ASSERT_NE(state, TlsTransport::Handshake::Failed) << why;
        serverDone = state == TlsTransport::Handshake::Done;
      }
      if (!clientDone) {
        int result = SSL_do_handshake(client_);
        if (result == 1)
          clientDone = true;
        else
          ASSERT_TRUE(wouldBlock(result)) << "client handshake error " << SSL_get_error(client_, result);
      }
    }
    ASSERT_TRUE(serverDone && clientDone);
  }

  bool wouldBlock(int result) const {
    int error = SSL_get_error(client_, result);
    return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
  }

  // Everything the client can read now (stops at kAgain), or until `want` bytes.
  std::string clientRead(std::size_t want = SIZE_MAX) {
    std::string out;
    char buffer[16384];
    while (out.size() < want) {
      int n = SSL_read(client_, buffer, sizeof buffer);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    ERR_clear_error();
    return out;
  }

  void clientWrite(const std::string& data) {
    ASSERT_EQ(SSL_write(client_, data.data(), static_cast<int>(data.size())), static_cast<int>(data.size()));
  }

  std::string serverRead() {
    char buffer[65536];
    long n = server_->read(buffer, sizeof buffer);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

  static std::string* folder_;
  static std::shared_ptr<const TlsContext>* context_;
  int serverFd_ = -1, clientFd_ = -1;
  std::unique_ptr<TlsTransport> server_;
  SSL_CTX* clientCtx_ = nullptr;
  SSL* client_ = nullptr;
};

std::string* TlsTransportTest::folder_ = nullptr;
std::shared_ptr<const TlsContext>* TlsTransportTest::context_ = nullptr;

std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return out;
}

TEST_F(TlsTransportTest, HandshakeWaitsForTheClientHello) {
  std::string why;
  EXPECT_EQ(server_->handshake(why), TlsTransport::Handshake::Again);
  Transport::Interest interest = server_->interest(true, false);
  EXPECT_TRUE(interest.readable);
  EXPECT_FALSE(interest.writable);
  handshake();
  EXPECT_TRUE(server_->secure());
  EXPECT_NE(server_->description().find("TLSv1.3"), std::string::npos);
}

TEST_F(TlsTransportTest, BytesBothWaysAndCloseNotifyBothWays) {
  handshake();
  char buffer[100];
  EXPECT_EQ(server_->read(buffer, sizeof buffer), Transport::kAgain);  // nothing yet
  clientWrite("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(serverRead(), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(server_->write("HTTP/1.1 200 OK\r\n", 17), 17);
  EXPECT_EQ(clientRead(), "HTTP/1.1 200 OK\r\n");
  // The client's close_notify reads as the end; ours follows before the socket closes.
  EXPECT_EQ(SSL_shutdown(client_), 0);
  EXPECT_EQ(server_->read(buffer, sizeof buffer), Transport::kEof);
  server_->beforeClose();
  EXPECT_EQ(SSL_read(client_, buffer, sizeof buffer), 0);
  EXPECT_EQ(SSL_get_error(client_, 0), SSL_ERROR_ZERO_RETURN);
}

TEST_F(TlsTransportTest, AWriteTheSocketCannotTakeIsRetriedWithTheSameBytes) {
  handshake();
  const std::string data = pattern(3 << 20);
  std::size_t sent = 0;
  std::string received;
  int blocked = 0;
  while (sent < data.size()) {
    long n = server_->write(data.data() + sent, data.size() - sent);
    ASSERT_NE(n, Transport::kFailed);
    if (n == Transport::kAgain) {
      ++blocked;
      Transport::Interest interest = server_->interest(false, true);
      EXPECT_TRUE(interest.writable);
      received += clientRead();
      continue;
    }
    sent += static_cast<std::size_t>(n);
    if (sent < data.size()) {
      ++blocked;  // a partial write: the socket was full
      received += clientRead();
    }
  }
  received += clientRead(data.size() - received.size());
  EXPECT_GT(blocked, 0) << "the socket never filled: the test did not test anything";
  EXPECT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data);
}

TEST_F(TlsTransportTest, WritevGathersPieces) {
  handshake();
  std::string big = pattern(40000);
  struct iovec iov[3] = {{const_cast<char*>("one "), 4}, {big.data(), big.size()}, {const_cast<char*>(" three"), 6}};
  std::size_t total = 4 + big.size() + 6, sent = 0;
  std::string received;
  while (sent < total) {
    // The rest of the vector from `sent`, as ServicePeer rebuilds it.
    struct iovec rest[3];
    int count = 0;
    std::size_t skip = sent;
    for (const struct iovec& piece : iov) {
      if (skip >= piece.iov_len) {
        skip -= piece.iov_len;
        continue;
      }
      rest[count++] = {static_cast<char*>(piece.iov_base) + skip, piece.iov_len - skip};
      skip = 0;
    }
    long n = server_->writev(rest, count);
    ASSERT_NE(n, Transport::kFailed);
    if (n > 0) sent += static_cast<std::size_t>(n);
    received += clientRead();
  }
  received += clientRead(total - received.size());
  EXPECT_TRUE(received == "one " + big + " three");
}

TEST_F(TlsTransportTest, FilesGoThroughABoundedBuffer) {
  handshake();
  const std::string content = pattern(2500000);
  std::string path = *folder_ + "/file.bin";
  std::ofstream(path, std::ios::binary) << content;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::uint64_t offset = 100;  // a range: [100, end)
  std::uint64_t remaining = content.size() - 100;
  std::string received;
  while (remaining > 0) {
    long n = server_->sendFile(fd, offset, remaining);
    ASSERT_TRUE(n > 0 || n == Transport::kAgain) << n;
    if (n > 0) remaining -= static_cast<std::uint64_t>(n);
    received += clientRead();
  }
  received += clientRead(content.size() - 100 - received.size());
  EXPECT_EQ(offset, content.size());
  EXPECT_TRUE(received == content.substr(100));
  // A file shorter than promised: the response cannot be completed.
  offset = content.size() - 10;
  EXPECT_EQ(server_->sendFile(fd, offset, 20), Transport::kFileShrank);
  ::close(fd);
}

TEST_F(TlsTransportTest, KeyUpdateAfterTheHandshakeIsAnswered) {
  handshake();
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_REQUESTED), 1);
    clientWrite("after update " + std::to_string(round));
    EXPECT_EQ(serverRead(), "after update " + std::to_string(round));
    // Our KeyUpdate went out with the read (or goes with the next write): either way the
    // client reads what follows with the new keys.
    EXPECT_EQ(server_->write("answer", 6), 6);
    EXPECT_EQ(clientRead(), "answer");
  }
}

TEST_F(TlsTransportTest, GarbageInsteadOfAClientHelloFailsTheHandshake) {
  const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(clientFd_, garbage, sizeof garbage - 1, 0), static_cast<ssize_t>(sizeof garbage - 1));
  std::string why;
  EXPECT_EQ(server_->handshake(why), TlsTransport::Handshake::Failed);
  EXPECT_EQ(why, "http request");
  server_->beforeClose();  // nothing is sent after a failure
  char buffer[64];
  EXPECT_LT(::recv(clientFd_, buffer, sizeof buffer, 0), static_cast<ssize_t>(sizeof buffer));
  EXPECT_EQ(ERR_peek_error(), 0u) << "the error queue must be left clean for the next connection";
}

TEST_F(TlsTransportTest, APeerThatVanishesFailsTheConnection) {
  handshake();
  ::shutdown(clientFd_, SHUT_RDWR);
  char buffer[100];
  // A TCP close without close_notify reads as the end (HTTP frames its own messages).
  EXPECT_EQ(server_->read(buffer, sizeof buffer), Transport::kEof);
  long n = 0;
  for (int i = 0; i < 10 && n >= 0; ++i) n = server_->write("x", 1);
  EXPECT_EQ(n, Transport::kFailed);
  EXPECT_EQ(server_->read(buffer, sizeof buffer), Transport::kFailed);
  server_->beforeClose();  // no close_notify after a failure, and no crash
}

}  // namespace
}  // namespace microserver::core
