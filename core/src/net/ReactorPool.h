// ReactorPool: the server's event loops, one SocketReactor thread per core.
//
// It is Poco's ParallelSocketAcceptor, as the design chose: it creates the reactors
// (ParallelSocketReactor threads) for the HTTP socket. Its own accept step is not used
// (see Listener for why); the HTTP Listener and every service's Listener hand their
// connections to these same reactors.
#pragma once

#include <Poco/Net/ParallelSocketAcceptor.h>
#include <Poco/Net/ServerSocket.h>

#include <vector>

#include "http1/HttpConnection.h"
#include "net/Reactor.h"

namespace microserver::core {

class ReactorPool : public Poco::Net::ParallelSocketAcceptor<HttpConnection, Reactor> {
 public:
  // Starts `threads` reactors, which idle until connections arrive.
  ReactorPool(Poco::Net::ServerSocket& httpSocket, unsigned threads, ServerContext& context);

  std::vector<Reactor*> all();
  std::size_t size() { return reactors().size(); }
  Reactor& at(std::size_t i) { return static_cast<Reactor&>(*reactor(i)); }

 protected:
  // Never let the base class watch the socket with its own onAccept().
  void registerAcceptor(Poco::Net::SocketReactor&) override {}
  void unregisterAcceptor() override {}
};

}  // namespace microserver::core
