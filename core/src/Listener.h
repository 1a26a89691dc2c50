// Listener: accepts connections and hands each to one of the reactors, round-robin.
//
// It is Poco's ParallelSocketAcceptor (one SocketReactor per core, connections handed out
// round-robin), with the accept step replaced, because 1.11.0's onAccept() lets accept()
// errors escape: on EMFILE the listening socket stays readable and the acceptor spins a
// core. Here a descriptor shortage pauses accepting for a moment (a reactor timer resumes
// it), and beyond max_connections a client gets a 503 and a close instead of a wait.
//
// The accept observer lives on the first reactor's thread: with one reactor, accepting
// and serving share a thread and no hand-off crosses cores. A connection for another
// reactor is built on that reactor's thread (posted to it), not on the accepting one:
// a connection's state is then only ever touched by its own thread, from birth.
#pragma once

#include <Poco/Net/ParallelSocketAcceptor.h>
#include <Poco/Net/ServerSocket.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "HttpConnection.h"
#include "Reactor.h"

namespace microserver::core {

class Listener : public Poco::Net::ParallelSocketAcceptor<HttpConnection, Reactor> {
 public:
  // Starts `threads` reactors (they idle until connections arrive) and watches `socket`.
  Listener(Poco::Net::ServerSocket& socket, unsigned threads, ServerContext& context, std::size_t maxConnections);
  ~Listener() override;

  std::size_t reactorCount() { return reactors().size(); }
  Reactor& reactorAt(std::size_t i) { return static_cast<Reactor&>(*reactor(i)); }
  // Stops accepting new connections and waits until the accept observer is gone, so the
  // caller may close the listening socket. Any thread but the accepting reactor's.
  void stopAccepting();

 protected:
  void registerAcceptor(Poco::Net::SocketReactor& reactor) override;
  void unregisterAcceptor() override;

 private:
  void onAcceptable(Poco::Net::ReadableNotification* notification);
  void acceptOne(int fd);
  static void startConnection(Poco::Net::StreamSocket& socket, Reactor& reactor);
  void pause(std::int64_t nowMs);
  void resume();

  Reactor* acceptReactor_ = nullptr;
  ServerContext& context_;
  std::size_t maxConnections_;
  std::int64_t lastShortageLogMs_ = 0;
  std::size_t next_ = 0;
  std::atomic<bool> accepting_{false};
};

}  // namespace microserver::core
