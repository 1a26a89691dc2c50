// NotifySocket: the service manager's end of $NOTIFY_SOCKET for a test: a datagram socket
// bound at a path (or, with a name starting with '@', in the abstract namespace) that
// receives what the server tells systemd (READY=1, MAINPID=, ...).
#pragma once

#include <chrono>
#include <string>

namespace e2e {

class NotifySocket {
 public:
  // Throws std::runtime_error if the socket cannot be bound.
  explicit NotifySocket(const std::string& name);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  // The next datagram, or "" after `timeout`.
  std::string next(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Datagrams until one contains `what` (returned), or "" after `timeout`. `skipped`, if
  // given, gets the datagrams before it.
  std::string until(const std::string& what, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                    std::string* skipped = nullptr);
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int fd_ = -1;
};

}  // namespace e2e
