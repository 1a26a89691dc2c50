// HttpConnection: see HttpConnection.h.
#include "HttpConnection.h"

#include <Poco/Net/NetException.h>
#include <Poco/Observer.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "HttpStatus.h"
#include "Log.h"
#include "ResponseWriter.h"

namespace microserver::core {

namespace {
using ReadableObserver = Poco::Observer<HttpConnection, Poco::Net::ReadableNotification>;
using WritableObserver = Poco::Observer<HttpConnection, Poco::Net::WritableNotification>;

// After the last response of a connection that may still be sending (an error, unread
// pipelined bytes), keep reading and discarding for this long before closing: closing
// with unread input makes the kernel send RST, which can destroy our response in flight.
constexpr std::int64_t kLingerMs = 2000;
// Scratch buffers that grew for one big response are given back beyond this size.
constexpr std::size_t kMaxRetainedBuffer = 1 << 20;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::int64_t ms(Duration d) { return static_cast<std::int64_t>(d.count()); }
}  // namespace

HttpConnection::HttpConnection(Poco::Net::StreamSocket& socket, Poco::Net::SocketReactor& reactor)
    : socket_(socket), reactor_(static_cast<Reactor&>(reactor)) {
  socket_.setBlocking(false);
  socket_.setNoDelay(true);  // responses are batched by us; Nagle would only add latency
  remote_ = socket_.peerAddress().toString();
  std::size_t colon = remote_.rfind(':');
  remoteIpLength_ = colon == std::string::npos ? remote_.size() : colon;
  if (remoteIpLength_ > 2 && remote_[0] == '[') remoteIpLength_ = remoteIpLength_;  // "[::1]:80" keeps brackets
  reactor_.context().openConnections.fetch_add(1, std::memory_order_relaxed);
  deadlineMs_ = Reactor::monotonicMs() + ms(reactor_.site().config().server.limits.headerTimeout);
  reactor_.attach(this);
  // Last: from here on the reactor thread may call us.
  reactor_.addEventHandler(socket_, ReadableObserver(*this, &HttpConnection::onReadable));
}

HttpConnection::~HttpConnection() = default;

int HttpConnection::fd() const { return socket_.impl()->sockfd(); }

void HttpConnection::onReadable(Poco::Net::ReadableNotification* notification) {
  notification->release();
  try {
    handleReadable();
  } catch (const std::exception& e) {
    // Never let an exception reach Poco's ErrorHandler: the handler would stay registered.
    log::error("connection " + remote_ + ": unexpected error, closing it: " + e.what());
    destroy();
  }
}

void HttpConnection::onWritable(Poco::Net::WritableNotification* notification) {
  notification->release();
  try {
    handleWritable();
  } catch (const std::exception& e) {
    log::error("connection " + remote_ + ": unexpected error while sending, closing it: " + e.what());
    destroy();
  }
}

void HttpConnection::handleReadable() {
  ReactorScratch& scratch = reactor_.scratch();
  char* buffer = scratch.readBuffer.data();
  ssize_t n = ::recv(fd(), buffer, scratch.readBuffer.size(), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return destroy();  // reset by peer, or worse: nothing left to answer
  }
  if (n == 0) {
    if (!blocking_) return destroy();  // the peer closed; everything it sent was answered
    // A half-close (`nc -N`) after a request whose handler still runs on a worker: answer
    // it, then close. Stop watching the socket meanwhile: EOF stays readable forever.
    inputEnded_ = true;
    return pauseReading();
  }
  if (phase_ == Phase::Lingering) return;  // discard: we are only waiting for the close

  const Limits& limits = reactor_.site().config().server.limits;
  std::int64_t now = reactor_.nowMs();
  if (phase_ == Phase::Idle) {
    phase_ = Phase::Head;
    deadlineMs_ = now + ms(limits.headerTimeout);
  } else if (phase_ == Phase::Body) {
    deadlineMs_ = now + ms(limits.bodyTimeout);  // a body may take long, but must keep moving
  }

  std::size_t length = static_cast<std::size_t>(n);
  if (blocking_) {
    // Pipelined requests behind a blocking one wait in our buffer, up to one request's
    // worth; beyond that the client waits too (we stop reading until the answer is out).
    input_.append(buffer, length);
    const ParserLimits& parser = reactor_.site().parserLimits();
    if (input_.size() > parser.headerBytes + parser.bodyBytes) pauseReading();
    return;
  }
  if (input_.empty()) {
    // Fast path: parse straight from the reactor's buffer; copy only an incomplete rest.
    std::size_t used = process(buffer, length);
    if (used < length && !destroyed_) input_.assign(buffer + used, length - used);
  } else {
    input_.append(buffer, length);
    std::size_t used = process(input_.data(), input_.size());
    input_.erase(0, used);
  }
  finishBatch();
}

std::size_t HttpConnection::process(const char* data, std::size_t len) {
  ReactorScratch& scratch = reactor_.scratch();
  const Site& site = reactor_.site();
  const ParserLimits& limits = site.parserLimits();
  std::size_t pos = 0;
  while (pos < len && !closeAfterWrite_ && !peerClosed_ && !blocking_ && !(queue_ && !queue_->empty())) {
    ParseError error;
    if (chunked_) {
      std::size_t used = 0;
      ChunkedDecoder::Status status = chunked_->feed(data + pos, len - pos, used, chunkedBody_);
      pos += used;
      if (status == ChunkedDecoder::Status::NeedMore) break;
      if (status == ChunkedDecoder::Status::Error) {
        refuse(chunked_->error().status, chunked_->error().reason);
        break;
      }
      if (!parseHead(chunkedHead_.data(), chunkedHead_.size(), limits, scratch.head, error)) {
        refuse(error.status, error.reason);  // cannot happen: it parsed once already
        break;
      }
      respond(scratch.head, chunkedBody_);
      chunked_.reset();
      chunkedHead_.clear();
      chunkedBody_.clear();
      continue;
    }
    if (phase_ != Phase::Body) {
      std::size_t headBytes = 0;
      HeadStatus status = findHeadEnd(data + pos, len - pos, limits, scan_, headBytes, error);
      if (status == HeadStatus::Incomplete) break;
      if (status == HeadStatus::Error || !parseHead(data + pos, headBytes, limits, scratch.head, error)) {
        refuse(error.status, error.reason);
        break;
      }
      headBytes_ = headBytes;
    } else if (!parseHead(data + pos, headBytes_, limits, scratch.head, error)) {
      refuse(error.status, error.reason);
      break;
    }
    const RequestHead& head = scratch.head;
    if (head.framing == BodyFraming::Chunked) {
      chunkedHead_.assign(data + pos, headBytes_);
      pos += headBytes_;
      chunked_ = std::make_unique<ChunkedDecoder>();
      chunked_->reset(limits.bodyBytes, limits.headerBytes);
      phase_ = Phase::Body;
      deadlineMs_ = reactor_.nowMs() + ms(site.config().server.limits.bodyTimeout);
      if (head.expectContinue && !sentContinue_) {
        sentContinue_ = true;
        scratch.output.append(kContinue);
      }
      continue;
    }
    std::size_t need = headBytes_ + static_cast<std::size_t>(head.contentLength);
    if (len - pos < need) {
      // The body is still on its way. Ask for it if the client waits for our go-ahead.
      if (phase_ != Phase::Body) {
        phase_ = Phase::Body;
        deadlineMs_ = reactor_.nowMs() + ms(site.config().server.limits.bodyTimeout);
        if (head.expectContinue && !sentContinue_) {
          sentContinue_ = true;
          scratch.output.append(kContinue);
        }
        input_.reserve(need);
      }
      break;
    }
    respond(head, std::string_view(data + pos + headBytes_, static_cast<std::size_t>(head.contentLength)));
    pos += need;
  }
  return pos;
}

void HttpConnection::respond(const RequestHead& head, std::string_view body) {
  ReactorScratch& scratch = reactor_.scratch();
  const Site& site = reactor_.site();
  // The next request starts clean whatever happens below.
  phase_ = Phase::Idle;
  scan_.reset();
  headBytes_ = 0;
  sentContinue_ = false;

  if (!percentDecode(head.path, scratch.decodedPath) ||
      scratch.decodedPath.find('\0') != std::string::npos) {
    refuse(400, "malformed percent-encoding in path");
    return;
  }
  Request::Parts parts;
  parts.method = head.method;
  parts.target = head.target;
  parts.path = scratch.decodedPath;
  parts.query = head.query;
  parts.body = body;
  parts.remoteAddress = remote_;
  parts.versionMinor = head.versionMinor;
  parts.headers = Span<Header>(head.headers.data(), head.headers.size());

  Response& response = scratch.response;
  response.reset();
  const BoundHandler* handler = site.route(parts, response, scratch.route);
  if (handler && handler->blocking()) return startBlocking(parts, head.keepAlive, *handler);
  if (handler) handler->run(Request(parts), response);
  Request request(parts);
  sendResponse({head.method, head.target, request.header("Referer"), request.header("User-Agent"), head.versionMinor,
                head.keepAlive},
               response);
}

void HttpConnection::sendResponse(const ResponseContext& request, Response& response) {
  ReactorScratch& scratch = reactor_.scratch();
  ServerContext& context = reactor_.context();
  if (request.method == "HEAD") response.setOmitBody(true);
  bool keepAlive = request.keepAlive && response.keepAlive() && !inputEnded_ &&
                   !context.draining.load(std::memory_order_relaxed);
  if (!keepAlive) closeAfterWrite_ = true;
  ConnectionHeader connection = !keepAlive                    ? ConnectionHeader::Close
                                : request.versionMinor == 0 ? ConnectionHeader::KeepAlive
                                                            : ConnectionHeader::None;
  writeResponse(response, connection, scratch.output);

  bool sendsBody = !response.omitBody() && !statusHasNoBody(response.status());
  if (AccessLog* log = context.accessLog()) {
    log->record({std::string_view(remote_).substr(0, remoteIpLength_), request.method, request.target,
                 request.versionMinor, response.status(), sendsBody ? response.contentLength() : 0, request.referer,
                 request.userAgent});
  }
  if (!response.hasFile()) return;
  std::uint64_t offset = response.fileOffset(), length = response.fileLength();
  int file = response.releaseFile();
  if (!sendsBody) {
    ::close(file);
    return;
  }
  // Headers, then the file: headers go with MSG_MORE so both leave in one TCP segment.
  if (!queue_ || queue_->empty()) {
    long n = OutputQueue::sendDirect(fd(), scratch.output.data(), scratch.output.size(), true);
    if (n < 0) {
      ::close(file);
      peerClosed_ = true;  // finishBatch() drops the unsent output with the connection
      return;
    }
    scratch.output.erase(0, static_cast<std::size_t>(n));
    if (scratch.output.empty()) {
      long sent = OutputQueue::sendFileDirect(fd(), file, offset, length);
      if (sent < 0) {
        ::close(file);
        peerClosed_ = true;  // gone, or the file shrank: either way this response is lost
        return;
      }
      length -= static_cast<std::uint64_t>(sent);
      if (length == 0) {
        ::close(file);
        return;
      }
    }
  }
  if (!queue_) queue_ = std::make_unique<OutputQueue>();
  queue_->pushBytes(scratch.output);
  scratch.output.clear();
  queue_->pushFile(file, offset, length);
}

void HttpConnection::startBlocking(const Request::Parts& parts, bool keepAlive, const BoundHandler& handler) {
  auto call = std::make_shared<BlockingCall>(parts, keepAlive, reactor_.siteShared(), &handler);
  call->connection = this;
  call->reactor = &reactor_;
  bool queued = reactor_.context().workers().submit([call] {
    call->handler->run(call->request(), call->response);
    call->reactor->post([call] { deliverBlocking(call); });
  });
  if (!queued) {
    log::warning("the worker pool is full (" + std::to_string(reactor_.site().config().server.limits.workerQueue) +
                 " requests waiting): answered 503 to " + call->method + " " + call->target +
                 " (raise server.workers or limits.worker_queue if this is normal load)");
    Response& response = reactor_.scratch().response;
    response.reset();
    response.setStatus(503);
    response.addHeader("Retry-After", "1");
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("503 Service Unavailable: the server is busy, try again shortly\n");
    return sendResponse(call->responseContext(), response);
  }
  // Responses must stay in request order: nothing else is answered until this one is.
  blocking_ = std::move(call);
  phase_ = Phase::Waiting;
  deadlineMs_ = reactor_.nowMs() + ms(reactor_.site().config().server.limits.handlerTimeout);
}

void HttpConnection::deliverBlocking(const std::shared_ptr<BlockingCall>& call) {
  // On the connection's reactor thread. The connection may have closed, or answered 504,
  // while the worker ran: then the result has nobody to go to.
  if (!call->connection) return;
  try {
    call->connection->finishBlocking(*call);
  } catch (const std::exception& e) {
    log::error("connection " + call->remoteAddress + ": unexpected error, closing it: " + e.what());
    call->connection->destroy();
  }
}

void HttpConnection::finishBlocking(BlockingCall& call) {
  blocking_.reset();  // `call` stays alive: deliverBlocking holds it
  phase_ = Phase::Idle;
  call.connection = nullptr;
  sendResponse(call.responseContext(), call.response);
  if (readingPaused_ && !inputEnded_) resumeReading();
  if (!input_.empty() && !closeAfterWrite_ && !peerClosed_) {
    std::size_t used = process(input_.data(), input_.size());
    input_.erase(0, used);
  }
  finishBatch();
}

void HttpConnection::refuse(int status, const char* reason) {
  ReactorScratch& scratch = reactor_.scratch();
  writeErrorResponse(status, reason, false, scratch.output);
  if (AccessLog* log = reactor_.context().accessLog())
    log->record({std::string_view(remote_).substr(0, remoteIpLength_), {}, {}, 1, status, 0, {}, {}});
  log::debug("refused a request from " + remote_ + ": " + std::to_string(status) + " " + reason);
  closeAfterWrite_ = true;
  input_.clear();
  chunked_.reset();
  phase_ = Phase::Head;  // unread input may follow: linger on close
}

void HttpConnection::finishBatch() {
  if (destroyed_) return;
  if (peerClosed_) {
    // The output buffer is the reactor's, shared with the next connection it serves:
    // what could not reach this peer must not reach the next one.
    reactor_.scratch().output.clear();
    return destroy();
  }
  if (!flushOutput()) return destroy();
  if (queue_ && !queue_->empty()) {
    if (!writing_) startWriting();
    deadlineMs_ = reactor_.nowMs() + ms(reactor_.site().config().server.limits.sendTimeout);
    return;
  }
  if (closeAfterWrite_) return closeAfterOutput();
  if (phase_ == Phase::Idle && input_.empty()) {
    // A fresh clock, not the pass's: the idle time starts after the work just done.
    deadlineMs_ = Reactor::monotonicMs() + ms(reactor_.site().config().server.limits.idleTimeout);
    if (input_.capacity() > kMaxRetainedBuffer) std::string().swap(input_);
  }
}

bool HttpConnection::flushOutput() {
  std::string& out = reactor_.scratch().output;
  if (out.empty()) return true;
  if (queue_ && !queue_->empty()) {
    queue_->pushBytes(out);
  } else {
    long n = OutputQueue::sendDirect(fd(), out.data(), out.size());
    if (n < 0) {
      out.clear();
      return false;
    }
    if (static_cast<std::size_t>(n) < out.size()) {
      if (!queue_) queue_ = std::make_unique<OutputQueue>();
      queue_->pushBytes(std::string_view(out).substr(static_cast<std::size_t>(n)));
    }
  }
  out.clear();
  if (out.capacity() > kMaxRetainedBuffer) std::string().swap(out);
  return true;
}

void HttpConnection::handleWritable() {
  if (!queue_) return startReading();
  OutputQueue::Result result = queue_->drain(fd());
  if (result == OutputQueue::Result::PeerGone) return destroy();
  if (result == OutputQueue::Result::FileShrank) {
    log::warning("connection " + remote_ + ": a file got shorter while it was being sent; closing the connection");
    return destroy();
  }
  const Limits& limits = reactor_.site().config().server.limits;
  if (result == OutputQueue::Result::WouldBlock) {
    deadlineMs_ = reactor_.nowMs() + ms(limits.sendTimeout);  // progress: the peer reads
    return;
  }
  queue_.reset();
  if (closeAfterWrite_) return closeAfterOutput();
  startReading();
  // Requests that arrived while we were blocked are already here: no read event will
  // announce them again.
  if (!input_.empty()) {
    std::size_t used = process(input_.data(), input_.size());
    input_.erase(0, used);
    return finishBatch();
  }
  phase_ = Phase::Idle;
  deadlineMs_ = reactor_.nowMs() + ms(limits.idleTimeout);
}

void HttpConnection::pauseReading() {
  if (readingPaused_ || writing_) return;
  reactor_.removeEventHandler(socket_, ReadableObserver(*this, &HttpConnection::onReadable));
  readingPaused_ = true;
}

void HttpConnection::resumeReading() {
  if (!readingPaused_) return;
  readingPaused_ = false;
  if (!writing_) reactor_.addEventHandler(socket_, ReadableObserver(*this, &HttpConnection::onReadable));
}

void HttpConnection::startWriting() {
  // Poco 1.11.0 only recomputes the epoll mask when an observer is added, so: add
  // writable, drop readable, then add writable again to leave EPOLLOUT alone in the mask.
  WritableObserver writable(*this, &HttpConnection::onWritable);
  reactor_.addEventHandler(socket_, writable);
  reactor_.removeEventHandler(socket_, ReadableObserver(*this, &HttpConnection::onReadable));
  reactor_.addEventHandler(socket_, writable);
  writing_ = true;
}

void HttpConnection::startReading() {
  if (!writing_) return;
  if (readingPaused_) {
    // Reading stays off: just stop watching for writability.
    reactor_.removeEventHandler(socket_, WritableObserver(*this, &HttpConnection::onWritable));
    writing_ = false;
    return;
  }
  ReadableObserver readable(*this, &HttpConnection::onReadable);
  reactor_.addEventHandler(socket_, readable);
  reactor_.removeEventHandler(socket_, WritableObserver(*this, &HttpConnection::onWritable));
  reactor_.addEventHandler(socket_, readable);
  writing_ = false;
}

void HttpConnection::closeAfterOutput() {
  bool mayHaveUnreadInput = !input_.empty() || phase_ != Phase::Idle;
  if (!mayHaveUnreadInput) return destroy();
  // Half-close and wait for the peer's close, discarding what it still sends.
  ::shutdown(fd(), SHUT_WR);
  input_.clear();
  std::string().swap(input_);
  startReading();
  phase_ = Phase::Lingering;
  deadlineMs_ = reactor_.nowMs() + kLingerMs;
}

void HttpConnection::checkDeadline(std::int64_t nowMs) {
  if (nowMs < deadlineMs_) return;
  if (phase_ == Phase::Waiting && blocking_) {
    // The handler is too slow: answer for it and forget its result (its worker is lost
    // until it returns; the pool's bound keeps that from piling up).
    log::warning("plugin " + blocking_->handler->pluginName() + " did not answer " + blocking_->method + " " +
                 blocking_->target + " within limits.handler_timeout: answered 504");
    std::shared_ptr<BlockingCall> call = std::move(blocking_);
    call->connection = nullptr;
    Response& response = reactor_.scratch().response;
    response.reset();
    response.setStatus(504);
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("504 Gateway Timeout: the handler did not answer in time\n");
    response.setKeepAlive(false);  // its pipelined followers would wait behind it again
    phase_ = Phase::Idle;
    sendResponse(call->responseContext(), response);
    return finishBatch();
  }
  bool midRequest = (phase_ == Phase::Head && !input_.empty()) || phase_ == Phase::Body;
  if (midRequest && !writing_) {
    // Best effort: tell a slow client why; never wait for it.
    std::string out;
    writeErrorResponse(408, "the request took too long to arrive", false, out);
    OutputQueue::sendDirect(fd(), out.data(), out.size());
    log::debug("closed a slow connection from " + remote_ + " (request not received in time)");
  }
  destroy();
}

void HttpConnection::beginDrain() {
  bool idle = !writing_ && input_.empty() && !chunked_ && (phase_ == Phase::Idle || phase_ == Phase::Head);
  if (idle || phase_ == Phase::Lingering) return destroy();
  // Something is in flight: its response will carry Connection: close (see respond()).
}

void HttpConnection::abandon() { destroy(); }

void HttpConnection::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  if (blocking_) blocking_->connection = nullptr;  // its result will find nobody
  if (writing_) reactor_.removeEventHandler(socket_, WritableObserver(*this, &HttpConnection::onWritable));
  else if (!readingPaused_) reactor_.removeEventHandler(socket_, ReadableObserver(*this, &HttpConnection::onReadable));
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  try {
    socket_.close();
  } catch (...) {
    // Already closed by the peer side; nothing to release.
  }
  delete this;
}

}  // namespace microserver::core
