// Listener: accepts connections on one listening socket and hands each to one of the
// server's reactors, round-robin. The HTTP port has one, and so does each TCP service.
//
// It replaces the accept step of Poco's ParallelSocketAcceptor, because 1.11.0's
// onAccept() lets accept() errors escape: on EMFILE the listening socket stays readable
// and the acceptor spins a core. Here a descriptor shortage pauses accepting for a moment
// (a reactor timer resumes it), and beyond max_connections a client gets a 503 (HTTP) or
// a plain close (services) instead of a silent wait.
//
// The accept observer lives on the first reactor's thread: with one reactor, accepting
// and serving share a thread and no hand-off crosses cores. A connection for another
// reactor is built on that reactor's thread (posted to it), so its state is only ever
// touched by its own thread, from birth.
#pragma once

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "net/Reactor.h"

namespace microserver::core {

class Listener {
 public:
  // Builds the connection for `socket` on `reactor`'s thread; `remote` is "ip:port".
  using Starter =
      std::function<void(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote)>;

  // `refusal` is sent to a client beyond max_connections before closing (may be empty).
  Listener(Poco::Net::ServerSocket socket, std::vector<Reactor*> reactors, ServerContext& context,
           std::size_t maxConnections, std::string refusal, Starter starter);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Starts watching the socket (any thread).
  void startAccepting();
  // Stops accepting and waits until the accept observer is gone, so the caller may close
  // the listening socket. Any thread but the accepting reactor's.
  void stopAccepting();
  Poco::Net::ServerSocket& socket() { return socket_; }

 private:
  void onAcceptable(Poco::Net::ReadableNotification* notification);
  void acceptOne(int fd, std::string remote);
  void pause(std::int64_t nowMs);
  void resume();

  Poco::Net::ServerSocket socket_;
  std::vector<Reactor*> reactors_;
  Reactor* acceptReactor_;
  ServerContext& context_;
  std::size_t maxConnections_;
  std::string refusal_;
  Starter starter_;
  std::size_t next_ = 0;
  std::int64_t lastShortageLogMs_ = 0;
  std::atomic<bool> accepting_{false};
};

}  // namespace microserver::core
