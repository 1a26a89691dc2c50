// ServicePeer: one client of a plugin's Service (a chat member), over raw TCP from the
// service's listener or over a WebSocket an HTTP route upgraded. Owned by one reactor
// thread from start to close, like an HttpConnection.
//
// The plugin holds the connection through a PeerHandle (its ms_conn), which outlives the
// peer and is safe from any thread: send() queues shared bytes under a small lock and
// marks the handle ready on the peer's reactor, which moves the queue into the socket with
// sendmsg(2), many messages per call. The plugin's session is C callbacks
// (ms_session_callbacks): on_data per piece or message, and exactly one on_close. A broadcast therefore formats once,
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

#include "base/CountedHandle.h"
#include "base/SharedBuffer.h"
#include "microserver/microserver.h"
#include "net/Reactor.h"
#include "net/SocketWatch.h"
#include "net/Transport.h"
#include "plugin/PluginLoader.h"
#include "plugin/PluginService.h"
#include "ws/WebSocketCodec.h"

namespace microserver::core {

class ServicePeer;

class PeerHandle : public ReadyTarget, public CountedHandle<PeerHandle> {
 public:
  // `transport`: MS_TRANSPORT_TCP or MS_TRANSPORT_WEBSOCKET.
  PeerHandle(int transport, std::string remote, std::shared_ptr<ReactorMailbox> mailbox);

  // The ms_conn functions; any thread.
  bool send(BufferRef bytes);
  void close();
  void setSendLimit(std::size_t bytes);
  std::uint64_t queuedBytes() const;
  int transport() const { return transport_; }
  std::string_view remoteAddress() const { return remote_; }
  std::uint64_t id() const { return id_; }
  ms_conn* handle() { return reinterpret_cast<ms_conn*>(this); }
  void onReady() override;

 private:
  friend class ServicePeer;
  // What the peer takes from the handle on its thread.
  struct Taken {
    std::deque<BufferRef> messages;
    bool closeRequested = false;
    bool tooSlow = false;
    bool cutByService = false;  // tooSlow because the service set the limit to 0
  };
  Taken take();
  void sent(std::size_t bytes);  // the peer wrote this many queued bytes
  void refuseMore();             // closing: later send()s fail, queued ones still go
  void detachPeer();             // the peer is gone: every later send() fails

  const int transport_;
  const std::string remote_;
  const std::uint64_t id_;
  const std::shared_ptr<ReactorMailbox> mailbox_;
  ServicePeer* peer_ = nullptr;  // reactor thread only

  mutable std::mutex mutex_;
  std::deque<BufferRef> pending_;
  std::size_t queued_ = 0;  // pending_ plus what the peer holds unsent
  std::size_t limit_ = 1 << 20;
  bool closed_ = false;     // no more send()s are taken
  bool closeRequested_ = false;
  bool tooSlow_ = false;
  bool cutByService_ = false;
  bool readyMarked_ = false;
};

class ServicePeer : public ReactorClient {
 public:
  // A raw TCP client of `service`, on the calling thread's reactor (which must be
  // `reactor`): asks the service for a session, then watches the socket.
  // `transport`: TLS after its handshake; plain TCP when null.
  static void startTcp(Poco::Net::StreamSocket socket, Reactor& reactor, std::unique_ptr<Transport> transport,
                       std::shared_ptr<PluginService> service, std::string remote);
  // A WebSocket an HTTP route accepted for `session` (the plugin's, in `plugin`): opens
  // it, then watches the socket. `input` holds bytes that already arrived after the
  // handshake; `output` is sent first, as it is (the rest of the HTTP 101 response).
  static void startWebSocket(Poco::Net::StreamSocket socket, Reactor& reactor, std::unique_ptr<Transport> transport,
                             std::shared_ptr<LoadedPlugin> plugin, const ms_session_callbacks* callbacks,
                             void* session, std::string remote, std::string_view input, std::string output);

  // The socket's readiness (see SocketWatch); may delete this.
  void onReadable();
  void onWritable();
  void onHandleReady();

  void checkDeadline(std::int64_t nowMs) override;
  void beginDrain() override;
  void abandon() override;
  void retire(const void* owner) override;  // owner: a LoadedPlugin

 private:
  struct Outgoing {
    BufferRef payload;
    char header[10] = {};     // a WebSocket frame header; empty on TCP
    std::uint8_t headerLength = 0;
    bool counted = false;     // a send()ed message, counted against the send limit
    std::size_t offset = 0;   // bytes of header + payload already sent
    std::size_t size() const { return headerLength + payload->size(); }
  };

  ServicePeer(Poco::Net::StreamSocket socket, Reactor& reactor, std::unique_ptr<Transport> transport,
              std::shared_ptr<LoadedPlugin> plugin, std::shared_ptr<PeerHandle> handle);
  // After construction: watches the socket, then delivers `input`, or (refused, or no
  // session) sends what is queued and closes.
  void begin(std::string_view input, bool refused);
  ~ServicePeer() override;

  // True when this readable event waits for the next pass (the socket stays readable).
  bool deferRead();
  void handleReadable();
  void deliver(std::string_view bytes);
  void deliverWebSocket(const char* data, std::size_t len);
  void enqueue(BufferRef payload, WebSocketOpcode opcode);
  // Moves what send() queued on the handle into out_ (no I/O).
  PeerHandle::Taken takeQueued();
  void take();
  void write();
  void startWriting();
  void startReading();
  void updateWatch();
  // Sends what is queued (a WebSocket close frame last), then half-closes and waits for
  // the peer's close; `reason` is what the session hears.
  void closeGracefully(int reason, std::uint16_t webSocketCode);
  void finish(int reason);
  int fd() const;

  Poco::Net::StreamSocket socket_;
  Reactor& reactor_;
  std::unique_ptr<Transport> transport_;
  SocketWatch<ServicePeer, &ServicePeer::onReadable, &ServicePeer::onWritable> watch_;
  std::shared_ptr<LoadedPlugin> plugin_;   // keeps the session's code loaded: destroyed last
  std::shared_ptr<PluginService> service_;  // a TCP client's service (kept while it lives)
  std::shared_ptr<PeerHandle> handle_;
  const ms_session_callbacks* session_ = nullptr;  // null: no session (refused, or not yet)
  void* sessionUser_ = nullptr;
  std::unique_ptr<WebSocketDecoder> decoder_;  // WebSocket peers only
  std::deque<Outgoing> out_;
  std::int64_t deadlineMs_ = INT64_MAX;
  std::uint64_t deferredPass_ = 0;  // the last pass whose readable event was deferred
  int closeReason_ = MS_CLOSE_PEER;
  bool writing_ = false;
  bool closing_ = false;      // no more input is delivered; close once out_ is sent
  bool lingering_ = false;    // our side is shut: waiting for the peer's close
  bool finished_ = false;
};

}  // namespace microserver::core
