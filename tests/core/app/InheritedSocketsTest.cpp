// InheritedSocketsTest: systemd's LISTEN_FDS protocol as the server reads it
// (core/src/app/InheritedSockets.cpp). Each test puts a descriptor at 3, where the
// protocol says the first passed socket is, and puts back whatever was there.
#include "app/InheritedSockets.h"

#include <Poco/Net/SocketAddress.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace microserver::core {
namespace {

// Holds `fd` at descriptor 3 for the test's duration.
class AtFdThree {
 public:
  explicit AtFdThree(int fd) : saved_(fd == 3 ? -1 : ::fcntl(3, F_DUPFD_CLOEXEC, 10)) {
    if (fd == 3) return;  // 3 was free: it is the one
    EXPECT_EQ(::dup2(fd, 3), 3);
    ::close(fd);
  }
  ~AtFdThree() {
    if (saved_ >= 0) {
      ::dup2(saved_, 3);
      ::close(saved_);
    } else {
      ::close(3);
    }
  }

 private:
  int saved_;
};

// A listening socket on 127.0.0.1 (a descriptor of its own) and its port.
int listeningSocket(std::uint16_t& port) {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
  port = socket.address().port();
  return ::dup(socket.impl()->sockfd());
}

void setVariables(const std::string& pid, const std::string& fds) {
  ::setenv("LISTEN_PID", pid.c_str(), 1);
  ::setenv("LISTEN_FDS", fds.c_str(), 1);
  ::setenv("LISTEN_FDNAMES", "web", 1);
}

bool variablesGone() {
  return !std::getenv("LISTEN_PID") && !std::getenv("LISTEN_FDS") && !std::getenv("LISTEN_FDNAMES");
}

TEST(InheritedSockets, TakesThePassedSocketByItsAddressAndClearsTheVariables) {
  std::uint16_t port = 0;
  AtFdThree three(listeningSocket(port));
  setVariables(std::to_string(::getpid()), "1");
  InheritedSockets sockets = InheritedSockets::fromEnvironment();
  EXPECT_TRUE(variablesGone());
  ASSERT_FALSE(sockets.empty());
  ASSERT_EQ(sockets.unused().size(), 1u);
  EXPECT_EQ(sockets.unused()[0], "fd 3 (127.0.0.1:" + std::to_string(port) + ", named web)");
  std::string how;
  EXPECT_FALSE(sockets.take("127.0.0.1", static_cast<std::uint16_t>(port + 1), how));
  EXPECT_FALSE(sockets.take("127.0.0.2", port, how));
  auto socket = sockets.take("127.0.0.1", port, how);
  ASSERT_TRUE(socket);
  EXPECT_EQ(socket->address().port(), port);
  EXPECT_TRUE(sockets.unused().empty());
  // The server owns it now: it closes it; fd 3 must stay for the guard to put back.
  ::dup2(socket->impl()->sockfd(), 100);
  socket->close();
  ::dup2(100, 3);
  ::close(100);
}

TEST(InheritedSockets, VariablesForAnotherProcessAreIgnoredAndStillCleared) {
  setVariables(std::to_string(::getpid() + 1), "1");
  EXPECT_TRUE(InheritedSockets::fromEnvironment().empty());
  EXPECT_TRUE(variablesGone());
  setVariables("garbage", "1");
  EXPECT_TRUE(InheritedSockets::fromEnvironment().empty());
  EXPECT_TRUE(variablesGone());
  EXPECT_TRUE(InheritedSockets::fromEnvironment().empty());  // none at all
}

TEST(InheritedSockets, ADescriptorThatIsNotAListeningSocketIsAnErrorNamingIt) {
  int pipeFds[2];
  ASSERT_EQ(::pipe(pipeFds), 0);
  ::close(pipeFds[1]);
  AtFdThree three(pipeFds[0]);
  setVariables(std::to_string(::getpid()), "1");
  try {
    InheritedSockets::fromEnvironment();
    FAIL() << "a pipe was taken for a socket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("fd 3 (named web) is not a listening TCP socket"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(variablesGone());
}

}  // namespace
}  // namespace microserver::core
