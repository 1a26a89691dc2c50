// ServicePeer: one client of a plugin's Service (a chat member), over raw TCP from the
// service's listener or over a WebSocket an HTTP route upgraded. Owned by one reactor
// thread from start to close, like an HttpConnection.
//
// The plugin holds the connection through a PeerHandle (its ServiceConnection), which
// outlives the peer and is safe from any thread: send() queues shared bytes under a small
// lock and marks the handle ready on the peer's reactor, which moves the queue into the
// socket with writev(2), many messages per call. A broadcast therefore formats once,
// copies nothing per member, and never waits for a member: one that falls more than its
// send limit behind is closed as TooSlow, and nobody else notices.
#pragma once

#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/StreamSocket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "plugin/PluginLoader.h"
#include "net/Reactor.h"
#include "ws/WebSocketCodec.h"
#include "microserver/Service.h"

namespace microserver::core {

class ServicePeer;

class PeerHandle : public ServiceConnection, public ReadyTarget, public std::enable_shared_from_this<PeerHandle> {
 public:
  PeerHandle(Transport transport, std::string remote, std::shared_ptr<ReactorMailbox> mailbox);

  bool send(const SharedBytes& bytes) override;
  void close() override;
  void setSendLimit(std::size_t bytes) override;
  std::uint64_t queuedBytes() const override;
  Transport transport() const override { return transport_; }
  std::string_view remoteAddress() const override { return remote_; }
  std::uint64_t id() const override { return id_; }
  void onReady() override;

 private:
  friend class ServicePeer;
  // What the peer takes from the handle on its thread.
  struct Taken {
    std::deque<SharedBytes> messages;
    bool closeRequested = false;
    bool tooSlow = false;
  };
  Taken take();
  void sent(std::size_t bytes);  // the peer wrote this many queued bytes
  void refuseMore();             // closing: later send()s fail, queued ones still go
  void detachPeer();             // the peer is gone: every later send() fails

  const Transport transport_;
  const std::string remote_;
  const std::uint64_t id_;
  const std::shared_ptr<ReactorMailbox> mailbox_;
  ServicePeer* peer_ = nullptr;  // reactor thread only

  mutable std::mutex mutex_;
  std::deque<SharedBytes> pending_;
  std::size_t queued_ = 0;  // pending_ plus what the peer holds unsent
  std::size_t limit_ = 1 << 20;
  bool closed_ = false;     // no more send()s are taken
  bool closeRequested_ = false;
  bool tooSlow_ = false;
  bool readyMarked_ = false;
};

class ServicePeer : public ReactorClient {
 public:
  // Starts serving `socket` on the calling thread's reactor (which must be `reactor`):
  // asks `service` for a session, then watches the socket. `input` holds bytes that
  // already arrived (after an HTTP upgrade). `plugin` keeps the service's code loaded.
  // `output` is sent first, as it is (the rest of an HTTP 101 response).
  static void start(Poco::Net::StreamSocket socket, Reactor& reactor, std::shared_ptr<Service> service,
                    std::shared_ptr<LoadedPlugin> plugin, ServiceConnection::Transport transport, std::string remote,
                    std::string_view input, std::string output = {});

  void onReadable(Poco::Net::ReadableNotification* notification);
  void onWritable(Poco::Net::WritableNotification* notification);
  void onHandleReady();

  void checkDeadline(std::int64_t nowMs) override;
  void beginDrain() override;
  void abandon() override;

 private:
  struct Outgoing {
    SharedBytes payload;
    char header[10] = {};     // a WebSocket frame header; empty on TCP
    std::uint8_t headerLength = 0;
    bool counted = false;     // a send()ed message, counted against the send limit
    std::size_t offset = 0;   // bytes of header + payload already sent
    std::size_t size() const { return headerLength + payload->size(); }
  };

  ServicePeer(Poco::Net::StreamSocket socket, Reactor& reactor, std::shared_ptr<Service> service,
              std::shared_ptr<LoadedPlugin> plugin, std::shared_ptr<PeerHandle> handle);
  ~ServicePeer() override;

  // True when this readable event waits for the next pass (the socket stays readable).
  bool deferRead();
  void handleReadable();
  void deliver(std::string_view bytes);
  void deliverWebSocket(const char* data, std::size_t len);
  void enqueue(SharedBytes payload, WebSocketOpcode opcode);
  // Moves what send() queued on the handle into out_ (no I/O).
  PeerHandle::Taken takeQueued();
  void take();
  void write();
  void startWriting();
  void startReading();
  // Sends what is queued (a WebSocket close frame last), then half-closes and waits for
  // the peer's close; `reason` is what the session hears.
  void closeGracefully(ServiceConnection::CloseReason reason, std::uint16_t webSocketCode);
  void finish(ServiceConnection::CloseReason reason);
  int fd() const;

  Poco::Net::StreamSocket socket_;
  Reactor& reactor_;
  std::shared_ptr<LoadedPlugin> plugin_;   // keeps the service's code loaded: destroyed last
  std::shared_ptr<Service> service_;
  std::shared_ptr<PeerHandle> handle_;
  std::unique_ptr<ServiceSession> session_;
  std::unique_ptr<WebSocketDecoder> decoder_;  // WebSocket peers only
  std::deque<Outgoing> out_;
  std::int64_t deadlineMs_ = INT64_MAX;
  std::uint64_t deferredPass_ = 0;  // the last pass whose readable event was deferred
  ServiceConnection::CloseReason closeReason_ = ServiceConnection::CloseReason::PeerClosed;
  bool writing_ = false;
  bool closing_ = false;      // no more input is delivered; close once out_ is sent
  bool lingering_ = false;    // our side is shut: waiting for the peer's close
  bool finished_ = false;
};

}  // namespace microserver::core
