// ServicePeer: see ServicePeer.h.
#include "ws/ServicePeer.h"

#include <Poco/Observer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <climits>

#include "base/Log.h"
#include "net/PlainTransport.h"

namespace microserver::core {

namespace {

std::atomic<std::uint64_t> gNextId{1};
// After our last bytes (a WebSocket close, a goodbye line), wait this long for the
// peer's close before closing ourselves: closing with unread input would reset the
// connection and could destroy what we just sent.
constexpr std::int64_t kLingerMs = 2000;
constexpr int kMaxIov = 64;

std::int64_t ms(Duration d) { return static_cast<std::int64_t>(d.count()); }

const char* reasonText(int reason) {
  switch (reason) {
    case MS_CLOSE_PEER: return "closed by the client";
    case MS_CLOSE_ERROR: return "connection error";
    case MS_CLOSE_SERVICE: return "closed by the service";
    case MS_CLOSE_TOO_SLOW: return "too slow to read what it was sent";
    case MS_CLOSE_STOPPING: return "server stopping";
    case MS_CLOSE_REFUSED: return "refused";
  }
  return "?";
}
}  // namespace

// ---------------------------------------------------------------------------------------
// PeerHandle: any thread

PeerHandle::PeerHandle(int transport, std::string remote, std::shared_ptr<ReactorMailbox> mailbox)
    : transport_(transport), remote_(std::move(remote)), id_(gNextId.fetch_add(1)), mailbox_(std::move(mailbox)) {}

bool PeerHandle::send(BufferRef bytes) {
  if (!bytes) return false;
  const std::size_t size = bytes.size();
  bool accepted = false, mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    if (queued_ + size > limit_) {
      tooSlow_ = true;
      cutByService_ = limit_ == 0;  // the service's way to cut it off now (see Service.h)
      closed_ = true;
    } else {
      pending_.push_back(std::move(bytes));
      queued_ += size;
      accepted = true;
    }
    mark = !readyMarked_;
    readyMarked_ = true;
  }
  // One mark per batch: the peer takes everything pending when it runs.
  if (mark) mailbox_->markReady(shared_from_this());
  return accepted;
}

void PeerHandle::close() {
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    closeRequested_ = true;
    mark = !readyMarked_;
    readyMarked_ = true;
  }
  if (mark) mailbox_->markReady(shared_from_this());
}

void PeerHandle::setSendLimit(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = bytes;
}

std::uint64_t PeerHandle::queuedBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queued_;
}

void PeerHandle::onReady() {
  if (peer_) peer_->onHandleReady();  // the reactor thread, where peer_ lives
}

PeerHandle::Taken PeerHandle::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  Taken taken;
  taken.messages.swap(pending_);
  taken.closeRequested = closeRequested_;
  taken.tooSlow = tooSlow_;
  taken.cutByService = cutByService_;
  readyMarked_ = false;
  return taken;
}

void PeerHandle::sent(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  queued_ -= bytes;
}

void PeerHandle::refuseMore() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
}

void PeerHandle::detachPeer() {
  peer_ = nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  pending_.clear();
  queued_ = 0;
}

// ---------------------------------------------------------------------------------------
// ServicePeer: its reactor's thread

void ServicePeer::startTcp(Poco::Net::StreamSocket socket, Reactor& reactor, std::unique_ptr<Transport> transport,
                           std::shared_ptr<PluginService> service, std::string remote) {
  auto handle = std::make_shared<PeerHandle>(MS_TRANSPORT_TCP, std::move(remote), reactor.mailbox());
  auto* peer = new ServicePeer(std::move(socket), reactor, std::move(transport), service->plugin(), handle);
  peer->service_ = std::move(service);
  if (!peer->service_->accept(handle->handle(), peer->session_, peer->sessionUser_)) {
    peer->session_ = nullptr;
    if (peer->service_->stopped())
      log::debug("service " + peer->plugin_->name() + ": refused " + std::string(handle->remoteAddress()) +
                 " (the service was replaced or is stopping)");
  }
  peer->begin({}, false);
}

void ServicePeer::startWebSocket(Poco::Net::StreamSocket socket, Reactor& reactor, std::unique_ptr<Transport> transport,
                                 std::shared_ptr<LoadedPlugin> plugin, const ms_session_callbacks* callbacks,
                                 void* session, std::string remote, std::string_view input, std::string output) {
  auto handle = std::make_shared<PeerHandle>(MS_TRANSPORT_WEBSOCKET, std::move(remote), reactor.mailbox());
  auto* peer = new ServicePeer(std::move(socket), reactor, std::move(transport), std::move(plugin), handle);
  if (!output.empty()) {
    Outgoing raw;  // no frame header: these are HTTP bytes
    raw.payload = BufferRef::copyOf(output);
    peer->out_.push_back(std::move(raw));
  }
  peer->session_ = callbacks;
  peer->sessionUser_ = session;
  // Refused in on_open: the session still hears on_close (MS_CLOSE_REFUSED), like every one.
  bool refused = callbacks->on_open(session, handle->handle()) != 1;
  peer->begin(input, refused);
}

void ServicePeer::begin(std::string_view input, bool refused) {
  updateWatch();
  if (refused || !session_) {
    // Refused: whatever the service sent as a reason goes out first, then (on a
    // WebSocket) a close frame: 1013, "try again later".
    takeQueued();
    return closeGracefully(MS_CLOSE_REFUSED, 1013);
  }
  if (!out_.empty()) reactor_.markReady(handle_);  // written when the loop comes back
  if (!input.empty()) deliver(input);              // last: it may end the peer
}

ServicePeer::ServicePeer(Poco::Net::StreamSocket socket, Reactor& reactor, std::unique_ptr<Transport> transport,
                         std::shared_ptr<LoadedPlugin> plugin, std::shared_ptr<PeerHandle> handle)
    : socket_(std::move(socket)),
      reactor_(reactor),
      transport_(transport ? std::move(transport) : std::make_unique<PlainTransport>(socket_.impl()->sockfd())),
      watch_(reactor, socket_.impl()->sockfd(), *this),
      plugin_(std::move(plugin)),
      handle_(std::move(handle)) {
  // Already non-blocking (accept4, or the HTTP connection it was); long-lived and chatty,
  // so no Nagle delay on small lines.
  int one = 1;
  ::setsockopt(socket_.impl()->sockfd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (handle_->transport() == MS_TRANSPORT_WEBSOCKET)
    decoder_ = std::make_unique<WebSocketDecoder>(WebSocketLimits{reactor_.site().parserLimits().bodyBytes});
  handle_->peer_ = this;
  reactor_.attach(this);
  reactor_.context().openConnections.fetch_add(1, std::memory_order_relaxed);
}

ServicePeer::~ServicePeer() = default;

int ServicePeer::fd() const { return socket_.impl()->sockfd(); }

void ServicePeer::onReadable() {
  // What to do depends on what the peer is doing, not on which readiness came (a TLS
  // transport may need the other one; see Transport::interest).
  if (writing_) return onWritable();
  if (deferRead()) return;
  try {
    handleReadable();
  } catch (const std::exception& e) {
    log::error("service connection " + std::string(handle_->remoteAddress()) + ": " + e.what());
    finish(MS_CLOSE_ERROR);
  } catch (...) {
    log::error("service connection " + std::string(handle_->remoteAddress()) + ": non-standard exception");
    finish(MS_CLOSE_ERROR);
  }
}

void ServicePeer::onWritable() {
  if (!writing_) return onReadable();
  try {
    write();
  } catch (const std::exception& e) {
    log::error("service connection " + std::string(handle_->remoteAddress()) + ": " + e.what());
    finish(MS_CLOSE_ERROR);
  }
}

bool ServicePeer::deferRead() {
  // Read in the next pass, with the answers to what this pass flushed (see
  // Reactor::flushedThisPass); never two passes in a row.
  if (!reactor_.flushedThisPass() || deferredPass_ + 1 == reactor_.pass()) return false;
  deferredPass_ = reactor_.pass();
  return true;
}

void ServicePeer::handleReadable() {
  std::vector<char>& buffer = reactor_.scratch().readBuffer;
  long n = transport_->read(buffer.data(), buffer.size());
  if (n == Transport::kAgain) return updateWatch();
  if (n < 0) return finish(MS_CLOSE_ERROR);
  if (n == 0) return finish(MS_CLOSE_PEER);
  if (closing_) return;  // discard: we are on our way out
  deliver(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
}

void ServicePeer::deliver(std::string_view bytes) {
  if (decoder_) return deliverWebSocket(bytes.data(), bytes.size());
  session_->on_data(sessionUser_, bytes.data(), bytes.size());
}

void ServicePeer::deliverWebSocket(const char* data, std::size_t len) {
  std::size_t pos = 0;
  bool answeredPing = false;
  while (pos < len && !closing_) {
    std::size_t used = 0;
    WebSocketDecoder::Event event = decoder_->feed(data + pos, len - pos, used);
    pos += used;
    if (event == WebSocketDecoder::Event::NeedMore) break;
    if (event == WebSocketDecoder::Event::Text || event == WebSocketDecoder::Event::Binary) {
      std::string_view message = decoder_->payload();
      session_->on_data(sessionUser_, message.data(), message.size());
    } else if (event == WebSocketDecoder::Event::Ping) {
      enqueue(BufferRef::copyOf(decoder_->payload()), WebSocketOpcode::Pong);
      answeredPing = true;
    } else if (event == WebSocketDecoder::Event::Close) {
      // Echo the client's code, as RFC 6455 5.5.1 asks, then close.
      std::uint16_t code = decoder_->closeCode() == 1005 ? 1000 : decoder_->closeCode();
      return closeGracefully(MS_CLOSE_PEER, code);
    } else if (event == WebSocketDecoder::Event::Error) {
      log::debug("websocket " + std::string(handle_->remoteAddress()) + ": " + decoder_->errorReason());
      return closeGracefully(MS_CLOSE_ERROR, decoder_->errorCode());
    }
  }
  if (answeredPing) write();  // last: it may end the peer
}

void ServicePeer::enqueue(BufferRef payload, WebSocketOpcode opcode) {
  Outgoing item;
  item.payload = std::move(payload);
  if (decoder_) item.headerLength = static_cast<std::uint8_t>(frameHeader(item.header, opcode, item.payload->size()));
  out_.push_back(std::move(item));
}

PeerHandle::Taken ServicePeer::takeQueued() {
  PeerHandle::Taken taken = handle_->take();
  for (BufferRef& message : taken.messages) {
    enqueue(std::move(message), WebSocketOpcode::Text);
    out_.back().counted = true;
  }
  return taken;
}

void ServicePeer::onHandleReady() {
  if (finished_) return;
  PeerHandle::Taken taken = takeQueued();
  if (taken.tooSlow) {
    if (taken.cutByService)  // the service says why in its own log
      log::debug("closing " + std::string(handle_->remoteAddress()) + " (service " + plugin_->name() +
                 "): the service cut it off as too slow; what was queued for it is dropped");
    else
      log::warning("closing " + std::string(handle_->remoteAddress()) + " (service " + plugin_->name() +
                   "): it fell more than its send limit behind (it stopped reading); the others go on");
    return finish(MS_CLOSE_TOO_SLOW);
  }
  if (taken.closeRequested && !closing_) return closeGracefully(MS_CLOSE_SERVICE, 1000);
  // While waiting for the socket to take more (writing_), the writable event writes what
  // was just queued: trying now would only fail again, one system call per broadcast.
  if (!writing_) write();
}

void ServicePeer::write() {
  if (finished_) return;
  bool progressed = false;  // bytes went out in this call
  while (!out_.empty()) {
    struct iovec iov[kMaxIov];
    int count = 0;
    for (auto it = out_.begin(); it != out_.end() && count < kMaxIov - 1; ++it) {
      std::size_t offset = it->offset;
      if (offset < it->headerLength) {
        iov[count++] = {it->header + offset, it->headerLength - offset};
        offset = it->headerLength;
      }
      std::size_t inPayload = offset - it->headerLength;
      if (inPayload < it->payload->size())
        iov[count++] = {const_cast<char*>(it->payload->data()) + inPayload, it->payload->size() - inPayload};
    }
    long n = transport_->writev(iov, count);
    if (n == Transport::kAgain) {
      if (!writing_) startWriting();
      // send_timeout counts time without progress: it restarts when bytes went out, never
      // because more was queued (a member that stopped reading in a busy room is queued
      // new lines all the time, and must still time out).
      if (progressed || deadlineMs_ == INT64_MAX)
        deadlineMs_ = reactor_.nowMs() + ms(reactor_.site().config().server.limits.sendTimeout);
      return;
    }
    if (n < 0) return finish(MS_CLOSE_ERROR);
    progressed = progressed || n > 0;
    std::size_t done = static_cast<std::size_t>(n);
    std::size_t completedPayload = 0;
    while (done > 0 && !out_.empty()) {
      Outgoing& front = out_.front();
      std::size_t left = front.size() - front.offset;
      if (done < left) {
        front.offset += done;
        break;
      }
      done -= left;
      if (front.counted) completedPayload += front.payload->size();
      out_.pop_front();
    }
    if (completedPayload > 0) handle_->sent(completedPayload);
  }
  if (writing_) startReading();
  deadlineMs_ = INT64_MAX;  // nothing to send: a service connection may stay quiet
  if (closing_ && !lingering_) {
    transport_->shutdownWrite();
    lingering_ = true;
    deadlineMs_ = reactor_.nowMs() + kLingerMs;
  }
}

void ServicePeer::updateWatch() {
  Transport::Interest interest = transport_->interest(!writing_, writing_);
  watch_.want(interest.readable, interest.writable);
}

void ServicePeer::startWriting() {
  writing_ = true;
  updateWatch();
}

void ServicePeer::startReading() {
  writing_ = false;
  updateWatch();
}

void ServicePeer::closeGracefully(int reason, std::uint16_t webSocketCode) {
  if (closing_ || finished_) return;
  closing_ = true;
  closeReason_ = reason;
  handle_->refuseMore();  // what is already queued still goes out, then the close
  if (decoder_) {
    const char code[2] = {static_cast<char>(webSocketCode >> 8), static_cast<char>(webSocketCode & 0xff)};
    enqueue(BufferRef::copyOf(std::string_view(code, 2)), WebSocketOpcode::Close);
  }
  write();
}

void ServicePeer::finish(int reason) {
  if (finished_) return;
  finished_ = true;
  int heard = closing_ ? closeReason_ : reason;
  handle_->detachPeer();
  if (session_) {
    const ms_session_callbacks* session = std::exchange(session_, nullptr);
    session->on_close(sessionUser_, heard);
  }
  log::debug("service " + plugin_->name() + ": " + std::string(handle_->remoteAddress()) + " left (" +
             reasonText(heard) + ")");
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  if (reason != MS_CLOSE_ERROR) transport_->beforeClose();  // TLS: close_notify
  try {
    socket_.close();
  } catch (...) {
  }
  delete this;
}

void ServicePeer::checkDeadline(std::int64_t nowMs) {
  if (nowMs < deadlineMs_) return;
  if (lingering_) return finish(closeReason_);
  log::warning("closing " + std::string(handle_->remoteAddress()) + " (service " + plugin_->name() +
               "): nothing could be sent to it for limits.send_timeout");
  finish(MS_CLOSE_TOO_SLOW);
}

void ServicePeer::beginDrain() { closeGracefully(MS_CLOSE_STOPPING, 1001); }

void ServicePeer::abandon() { finish(MS_CLOSE_STOPPING); }

void ServicePeer::retire(const void* owner) {
  if (owner == plugin_.get()) closeGracefully(MS_CLOSE_STOPPING, 1001);
}

}  // namespace microserver::core
