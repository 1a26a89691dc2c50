// Service: a plugin's TCP service (the chat room on 127.0.0.1:9999), and the connections
// it serves: raw TCP clients from the service's own listener, or WebSocket clients an
// HTTP route upgraded (Response::acceptWebSocket). Both run on the server's reactors, so a
// service needs no threads of its own.
//
// Threads:
//   Service::accept, ServiceSession::onData/onClose   on the connection's reactor thread;
//                                                     several connections at once, so
//                                                     shared state needs a lock.
//   ServiceConnection::send/close                     any thread (a broadcast from one
//                                                     reactor reaches members of all).
// Lifecycle (routes.yaml `services:`, created at start-up; a reload leaves them running):
//   create (the plugin's createService, reading its `config:`) -> start() -> accept()... ->
//   stop() at shutdown (before the connections are closed).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "microserver/Plugin.h"

namespace microserver {

// Bytes shared between many connections: a broadcast is formatted once, and every member
// sends the same buffer.
using SharedBytes = std::shared_ptr<const std::string>;

inline SharedBytes makeShared(std::string bytes) { return std::make_shared<const std::string>(std::move(bytes)); }

class ServiceConnection {
 public:
  enum class Transport { Tcp, WebSocket };
  enum class CloseReason { PeerClosed, Error, ClosedByService, TooSlow, ServerStopping };

  virtual ~ServiceConnection() = default;
  // Queues bytes for the client and returns at once. On TCP they go as they are; on a
  // WebSocket each call is one text message. Returns false (and sends nothing) if the
  // connection is closed, or would now hold more than its send limit unsent: then it is
  // closed as TooSlow, so one client that stops reading never holds up the others.
  virtual bool send(const SharedBytes& bytes) = 0;
  // Closes after what is already queued is sent.
  virtual void close() = 0;
  // The most bytes this connection may hold unsent (default 1 MiB).
  virtual void setSendLimit(std::size_t bytes) = 0;
  virtual std::uint64_t queuedBytes() const = 0;
  virtual Transport transport() const = 0;
  virtual std::string_view remoteAddress() const = 0;  // "ip:port"
  virtual std::uint64_t id() const = 0;                // unique in this process
};

class ServiceSession {
 public:
  virtual ~ServiceSession() = default;
  // Bytes from the client: any piece of the stream on TCP (framing is yours); one whole
  // text or binary message on a WebSocket.
  virtual void onData(std::string_view bytes) = 0;
  // Once, when the connection is gone, whatever the reason. No send() reaches it after.
  virtual void onClose(ServiceConnection::CloseReason reason) = 0;
};

class Service {
 public:
  virtual ~Service() = default;
  virtual void start() {}
  virtual void stop() {}
  // A client connected: return its session, or nullptr to refuse (after send()ing it a
  // reason if you like; the connection closes once that is out).
  virtual std::unique_ptr<ServiceSession> accept(const std::shared_ptr<ServiceConnection>& connection) = 0;
};

namespace detail {
template <class S>
Service* createService(const PluginContext& context) {
  return new S(context);
}
template <class S>
void destroyService(Service* service) {
  delete static_cast<S*>(service);
}
}  // namespace detail

}  // namespace microserver

// Declares a plugin with both an HTTP handler and a TCP service (each constructed from a
// `const microserver::PluginContext&`). MICROSERVER_PLUGIN declares one with a handler only.
#define MICROSERVER_PLUGIN_WITH_SERVICE(NAME, VERSION, DESCRIPTION, HANDLER_CLASS, SERVICE_CLASS)                  \
  MICROSERVER_PLUGIN_DESCRIPTOR(NAME, VERSION, DESCRIPTION, &::microserver::detail::createHandler<HANDLER_CLASS>, \
                                &::microserver::detail::destroyHandler<HANDLER_CLASS>,                            \
                                &::microserver::detail::createService<SERVICE_CLASS>,                             \
                                &::microserver::detail::destroyService<SERVICE_CLASS>)
