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
// Lifecycle (routes.yaml `services:`): create (the constructor, reading `config:`) ->
// start() -> accept()... -> stop() -> destroy. start() and stop() run on the main thread;
// stop() also runs without start() after a failed start-up. When the plugin's library is
// replaced, the new copy's service takes new clients and the old one is stopped: its
// clients are closed (what was queued goes first) and it is destroyed once they are gone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "microserver/Host.h"
#include "microserver/Response.h"

namespace microserver {

// Bytes shared between many connections: a broadcast is formatted once, and every member
// sends the same buffer. Immutable; copies share (a counted reference).
class SharedBytes {
 public:
  SharedBytes() = default;
  explicit SharedBytes(std::string_view bytes) : b_(detail::host().bytes_create(bytes.data(), bytes.size())) {}
  SharedBytes(const SharedBytes& o) : b_(o.b_) {
    if (b_) detail::host().bytes_retain(b_);
  }
  SharedBytes(SharedBytes&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  SharedBytes& operator=(SharedBytes o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~SharedBytes() {
    if (b_) detail::host().bytes_release(b_);
  }
  explicit operator bool() const { return b_ != nullptr; }
  std::string_view view() const { return b_ ? detail::view(detail::host().bytes_view(b_)) : std::string_view(); }
  const char* data() const { return view().data(); }
  std::size_t size() const { return view().size(); }
  bool empty() const { return size() == 0; }
  ms_bytes* handle() const { return b_; }

 private:
  ms_bytes* b_ = nullptr;
};

inline SharedBytes makeShared(std::string_view bytes) { return SharedBytes(bytes); }

class ServiceConnection {
 public:
  enum class Transport { Tcp = MS_TRANSPORT_TCP, WebSocket = MS_TRANSPORT_WEBSOCKET };
  enum class CloseReason {
    PeerClosed = MS_CLOSE_PEER,
    Error = MS_CLOSE_ERROR,
    ClosedByService = MS_CLOSE_SERVICE,
    TooSlow = MS_CLOSE_TOO_SLOW,
    ServerStopping = MS_CLOSE_STOPPING,
    Refused = MS_CLOSE_REFUSED
  };

  virtual ~ServiceConnection() = default;
  // Queues bytes for the client and returns at once. On TCP they go as they are; on a
  // WebSocket each call is one text message. Returns false (and sends nothing) if the
  // connection is closed, or would now hold more than its send limit unsent: then it is
  // closed as TooSlow, so one client that stops reading never holds up the others.
  virtual bool send(const SharedBytes& bytes) = 0;
  // Closes after what is already queued is sent.
  virtual void close() = 0;
  // The most bytes this connection may hold unsent (default 1 MiB). 0 cuts it off: the
  // next send() fails, and the connection is closed as TooSlow at once, what was queued
  // for it dropped (a service's own limits: the chat room's soft limit and budget).
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

// A connection the server holds, seen through ServiceConnection.
class HostConnection final : public ServiceConnection {
 public:
  explicit HostConnection(ms_conn* c) : c_(c) { host().conn_retain(c_); }
  ~HostConnection() override { host().conn_release(c_); }
  HostConnection(const HostConnection&) = delete;
  HostConnection& operator=(const HostConnection&) = delete;
  bool send(const SharedBytes& bytes) override { return bytes && host().conn_send(c_, bytes.handle()) != 0; }
  void close() override { host().conn_close(c_); }
  void setSendLimit(std::size_t bytes) override { host().conn_set_send_limit(c_, bytes); }
  std::uint64_t queuedBytes() const override { return host().conn_queued_bytes(c_); }
  Transport transport() const override { return static_cast<Transport>(host().conn_transport(c_)); }
  std::string_view remoteAddress() const override { return view(host().conn_remote_address(c_)); }
  std::uint64_t id() const override { return host().conn_id(c_); }

 private:
  ms_conn* c_;
};

inline void logError(const std::string& what) noexcept {
  try {
    host().log(library(), MS_LOG_ERROR, what.data(), what.size());
  } catch (...) {
  }
}

// One session as the server sees it: the plugin's ServiceSession, and for a WebSocket not
// yet open, the service that will accept it.
struct SessionBox {
  std::shared_ptr<Service> service;  // WebSocket sessions until on_open
  std::shared_ptr<HostConnection> connection;
  std::unique_ptr<ServiceSession> session;

  static const ms_session_callbacks* callbacks() {
    static const ms_session_callbacks table = {&open, &data, &close};
    return &table;
  }
  static int open(void* box, ms_conn* conn) noexcept {
    auto* b = static_cast<SessionBox*>(box);
    try {
      b->connection = std::make_shared<HostConnection>(conn);
      b->session = b->service->accept(b->connection);
    } catch (const std::exception& e) {
      logError(std::string("refused a WebSocket client: accept failed: ") + e.what());
    } catch (...) {
      logError("refused a WebSocket client: accept threw a non-standard exception");
    }
    b->service.reset();
    return b->session ? 1 : 0;
  }
  static void data(void* box, const char* bytes, std::size_t size) noexcept {
    auto* b = static_cast<SessionBox*>(box);
    if (!b->session) return;
    try {
      b->session->onData(std::string_view(bytes, size));
    } catch (const std::exception& e) {
      logError(std::string("failed on data from a client: ") + e.what() + "; closing that connection");
      b->connection->close();
    } catch (...) {
      logError("failed on data from a client (a non-standard exception); closing that connection");
      b->connection->close();
    }
  }
  static void close(void* box, int why) noexcept {
    auto* b = static_cast<SessionBox*>(box);
    try {
      if (b->session) b->session->onClose(static_cast<ServiceConnection::CloseReason>(why));
    } catch (const std::exception& e) {
      logError(std::string("failed while a connection closed: ") + e.what());
    } catch (...) {
      logError("failed while a connection closed: a non-standard exception");
    }
    delete b;
  }
};

}  // namespace detail

// Defined here, where Service is complete (declared in Response.h).
inline void Response::acceptWebSocket(std::shared_ptr<Service> service) {
  auto* box = new detail::SessionBox{std::move(service), nullptr, nullptr};
  int r = detail::host().response_accept_websocket(x_, detail::SessionBox::callbacks(), box);
  if (r != MS_OK) {
    delete box;
    detail::check(r == MS_EGONE ? MS_ESTATE : r, "a WebSocket can only be accepted once, from a handler that is not "
                                                 "`blocking: true`, before the answer was deferred");
  }
}

}  // namespace microserver
