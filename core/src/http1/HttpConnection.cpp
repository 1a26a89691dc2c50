// HttpConnection: see HttpConnection.h.
#include "http1/HttpConnection.h"

#include <Poco/Net/NetException.h>
#include <Poco/Observer.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/HttpStatus.h"
#include "base/Log.h"
#include "site/ForwardedClient.h"
#include "http1/ResponseWriter.h"
#include "http2/Http2Session.h"
#include "net/PlainTransport.h"
#include "site/Builtins.h"
#include "site/Compression.h"
#include "ws/ServicePeer.h"
#include "ws/WebSocketCodec.h"

namespace microserver::core {

namespace {

// After the last response of a connection that may still be sending (an error, unread
// pipelined bytes), keep reading and discarding for this long before closing: closing
// with unread input makes the kernel send RST, which can destroy our response in flight.
constexpr std::int64_t kLingerMs = 2000;
// What an idle keep-alive connection may keep of buffers a big request made it grow.
constexpr std::size_t kIdleBufferBytes = 16 * 1024;
// The reactor's output buffer is given back beyond this size after a big response.
constexpr std::size_t kMaxRetainedScratch = 1 << 20;
// One batch of pipelined answers is sent once it reaches this size, so a flood of tiny
// requests cannot make one read produce megabytes of output in memory.
constexpr std::size_t kMaxBatchOutput = 256 * 1024;
constexpr std::int64_t kNoDeadline = INT64_MAX;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::int64_t ms(Duration d) { return static_cast<std::int64_t>(d.count()); }

void shrink(std::string& buffer, std::size_t keep) {
  if (buffer.capacity() > keep) std::string().swap(buffer);
}
}  // namespace

HttpConnection::HttpConnection(Poco::Net::StreamSocket& socket, Poco::Net::SocketReactor& reactor)
    : HttpConnection(socket, static_cast<Reactor&>(reactor), socket.peerAddress().toString()) {}

HttpConnection::HttpConnection(Poco::Net::StreamSocket& socket, Reactor& reactor, std::string remote,
                               std::unique_ptr<Transport> transport, std::uint8_t listener)
    : socket_(socket),
      reactor_(reactor),
      transport_(transport ? std::move(transport) : std::make_unique<PlainTransport>(socket.impl()->sockfd())),
      watch_(reactor, socket_.impl()->sockfd(), *this),
      remote_(std::move(remote)),
      listener_(listener) {
  // No fcntl(2) and no setsockopt(2) here: accept4 made the socket non-blocking, and
  // TCP_NODELAY waits until the connection is kept alive (becomeIdle), as nginx does: a
  // request answered with Connection: close never needs it.
  std::size_t colon = remote_.rfind(':');
  remoteIpLength_ = colon == std::string::npos ? remote_.size() : colon;
  deadlineMs_ = Reactor::monotonicMs() + ms(reactor_.site().config().server.limits.headerTimeout);
  reactor_.context().openConnections.fetch_add(1, std::memory_order_relaxed);
  reactor_.attach(this);
  try {
    // Last: from here on the reactor may call us.
    updateWatch();
  } catch (...) {
    reactor_.detach(this);
    reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
    throw;
  }
}

HttpConnection::~HttpConnection() = default;

int HttpConnection::fd() const { return socket_.impl()->sockfd(); }

void HttpConnection::onReadable() {
  // What to do depends on what the connection is doing, not on which readiness came: a
  // TLS transport may wait for writability in order to read, or the reverse (see
  // Transport::interest). On plain TCP the two always agree.
  if (writing_) return onWritable();
  try {
    handleReadable();
  } catch (const std::exception& e) {
    // Never let an exception reach Poco's ErrorHandler: the handler would stay registered.
    log::error("connection " + remote_ + ": unexpected error, closing it: " + e.what());
    destroy();
  } catch (...) {
    log::error("connection " + remote_ + ": unexpected non-standard exception, closing it");
    destroy();
  }
}

void HttpConnection::onWritable() {
  if (!writing_) return onReadable();
  try {
    handleWritable();
  } catch (const std::exception& e) {
    log::error("connection " + remote_ + ": unexpected error while sending, closing it: " + e.what());
    destroy();
  } catch (...) {
    log::error("connection " + remote_ + ": unexpected non-standard exception while sending, closing it");
    destroy();
  }
}

void HttpConnection::handleReadable() {
  ReactorScratch& scratch = reactor_.scratch();
  char* buffer = scratch.readBuffer.data();
  long n = transport_->read(buffer, scratch.readBuffer.size());
  if (n == Transport::kAgain) return updateWatch();  // (TLS may need to write first)
  if (n < 0) return destroy();  // reset by the peer, or a broken TLS record: nobody is left to answer
  if (phase_ == Phase::Lingering) {
    if (n == 0) destroy();  // the close we were waiting for
    return;                 // else discard
  }
  if (n == 0) {
    // The peer is done sending. What it sent completely is answered (or being answered);
    // a request it left unfinished never will be. An answer a plugin gives later is
    // given up, as nginx gives up a proxied request: the client left (a body still
    // streaming to the plugin is aborted).
    inputEnded_ = true;
    pauseReading();  // EOF stays readable forever: stop watching
    if (pending_ || bodyStreaming_) return destroy();
    if (!blocking_ && (!queue_ || queue_->empty())) destroy();
    return;
  }

  std::size_t length = static_cast<std::size_t>(n);
  reactor_.metrics().bytesIn.add(length);
  if (!sawRequest_ && beginsHttp2(buffer, length)) return;  // switched over, or waiting for the rest of its preface
  if (answerPending() && !bodyStreaming_) {
    // Pipelined requests behind an answer that comes later wait in our buffer, up to one
    // request's worth; beyond that the client waits too (we stop reading until the answer
    // is out).
    input_.append(buffer, length);
    const Limits& limits = reactor_.site().config().server.limits;
    if (input_.size() > limits.headerBytes + limits.bodyBytes) pauseReading();
    return;
  }
  const Limits& limits = reactor_.site().config().server.limits;
  if (phase_ == Phase::Idle) {
    phase_ = Phase::Head;
    deadlineMs_ = reactor_.nowMs() + ms(limits.headerTimeout);
  } else if (phase_ == Phase::Body) {
    deadlineMs_ = reactor_.nowMs() + ms(limits.bodyTimeout);  // a body may take long, but must keep moving
  }

  if (input_.empty()) {
    // Fast path: parse straight from the reactor's buffer; copy only an incomplete rest.
    std::size_t used = process(buffer, length);
    if (used < length) input_.append(buffer + used, length - used);
  } else {
    input_.append(buffer, length);
    std::size_t used = process(input_.data(), input_.size());
    input_.erase(0, used);
  }
  if (upgrade_) return completeUpgrade(input_);
  serve();
}

std::size_t HttpConnection::process(const char* data, std::size_t len) {
  ReactorScratch& scratch = reactor_.scratch();
  const Site& site = reactor_.site();
  const ParserLimits& limits = site.parserLimits();
  std::size_t pos = 0;
  while (pos < len && !closeAfterWrite_ && !peerGone_ && !batchCut_ && !upgrade_ &&
         (bodyStreaming_ ? !bodyPaused_ : !answerPending()) && !(queue_ && !queue_->empty() && !bodyStreaming_)) {
    ParseError error;
    if (bodyStreaming_) {
      pos += feedBody(data + pos, len - pos);
      continue;
    }
    if (chunked_) {
      std::size_t used = 0;
      ChunkedDecoder::Status status = chunked_->decoder.feed(data + pos, len - pos, used, chunked_->body);
      pos += used;
      if (status == ChunkedDecoder::Status::NeedMore) break;
      if (status == ChunkedDecoder::Status::Error) {
        refuse(chunked_->decoder.error().status, chunked_->decoder.error().reason);
        break;
      }
      if (!parseHead(chunked_->head.data(), chunked_->head.size(), limits, scratch.head, error)) {
        refuse(error.status, error.reason);  // cannot happen: it parsed once already
        break;
      }
      respond(scratch.head, chunked_->body);
      chunked_.reset();
    } else {
      if (phase_ != Phase::Body) {
        std::size_t headBytes = 0;
        HeadStatus status = findHeadEnd(data + pos, len - pos, limits, scan_, headBytes, error);
        if (status == HeadStatus::Incomplete) {
          if (phase_ == Phase::Idle) {
            // The start of the next pipelined request: its head must arrive in time too.
            phase_ = Phase::Head;
            deadlineMs_ = reactor_.nowMs() + ms(site.config().server.limits.headerTimeout);
          }
          break;
        }
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
      BodyPolicy policy;
      if (head.framing != BodyFraming::None && phase_ != Phase::Body) {
        // First sight of a head announcing a body: route it once, for its limit and mode.
        if (!admitBody(head, policy)) {
          pos += len - pos;  // the answer is out; the rest is discarded while lingering
          break;
        }
        if (policy.handler && policy.handler->streamsBody()) {
          std::size_t headBytes = headBytes_;
          startStreamedBody(head, policy);
          pos += headBytes;
          continue;
        }
        if (head.expectContinue && !sentContinue_) {
          sentContinue_ = true;
          scratch.output.append(kContinue);
        }
        bodyLimit_ = policy.limit;
      }
      if (head.framing == BodyFraming::Chunked) {
        std::size_t headBytes = headBytes_;
        chunked_ = std::make_unique<ChunkedRequest>();
        chunked_->head.assign(data + pos, headBytes);
        pos += headBytes;
        chunked_->decoder.reset(bodyLimit_, limits.headerBytes);
        phase_ = Phase::Body;
        deadlineMs_ = reactor_.nowMs() + ms(site.config().server.limits.bodyTimeout);
        continue;
      }
      std::size_t need = headBytes_ + static_cast<std::size_t>(head.contentLength);
      if (len - pos < need) {
        // The body is still on its way.
        if (phase_ != Phase::Body) {
          phase_ = Phase::Body;
          deadlineMs_ = reactor_.nowMs() + ms(site.config().server.limits.bodyTimeout);
          input_.reserve(need);
        }
        break;
      }
      respond(head, std::string_view(data + pos + headBytes_, static_cast<std::size_t>(head.contentLength)));
      pos += need;
    }
    if (scratch.output.size() >= kMaxBatchOutput) batchCut_ = true;
  }
  return pos;
}

bool HttpConnection::admitBody(const RequestHead& head, BodyPolicy& policy) {
  ReactorScratch& scratch = reactor_.scratch();
  if (!percentDecode(head.path, scratch.decodedPath) || scratch.decodedPath.find('\0') != std::string::npos) {
    refuse(400, "malformed percent-encoding in path");
    return false;
  }
  policy = reactor_.site().bodyPolicy(head.method, head.authority, scratch.decodedPath, scratch.route);
  if (!policy.matched && head.expectContinue) {
    // 404 or 405 now, instead of letting the client upload its body first (RFC 9110
    // 10.1.1); the connection then closes, as the body was not read. (Without the
    // Expect, the body is already on its way: it is read, and the answer follows.)
    closeAfterWrite_ = true;
    lingerOnClose_ = true;
    respond(head, {});
    return false;
  }
  if (head.framing == BodyFraming::ContentLength && head.contentLength > policy.limit) {
    refuse(413, "request body too large for this route");
    return false;
  }
  return true;
}

void HttpConnection::startStreamedBody(const RequestHead& head, const BodyPolicy& policy) {
  ReactorScratch& scratch = reactor_.scratch();
  std::size_t ownOutput = scratch.output.size();  // where this request's answer begins
  bodyRemaining_ = head.framing == BodyFraming::ContentLength ? head.contentLength : 0;
  if (head.framing == BodyFraming::Chunked) {
    chunked_ = std::make_unique<ChunkedRequest>();
    chunked_->decoder.reset(policy.limit, reactor_.site().parserLimits().headerBytes);
  }
  bool announced = head.framing == BodyFraming::Chunked || bodyRemaining_ > 0;
  bool expectContinue = head.expectContinue;
  bodyStreaming_ = true;    // (so that an answer deferred in the handler waits for the body)
  respond(head, {}, true);  // the handler runs now, before any of the body
  if (!pending_) {
    // Answered at once, or before the body came (finishDeferred): the body is not read,
    // and the connection closes after the answer.
    bodyStreaming_ = false;
    chunked_.reset();
    bodyRemaining_ = 0;
    if (announced) {
      closeAfterWrite_ = true;
      lingerOnClose_ = true;
    }
    return;
  }
  if (expectContinue && announced && !pendingHeadSent_) scratch.output.insert(ownOutput, kContinue);
  phase_ = Phase::Body;
  deadlineMs_ = reactor_.nowMs() + ms(reactor_.site().config().server.limits.bodyTimeout);
  if (!announced) endStreamedBody();
}

std::size_t HttpConnection::feedBody(const char* data, std::size_t len) {
  std::size_t used = 0;
  std::string_view piece;
  bool done = false;
  if (chunked_) {
    std::string& decoded = reactor_.scratch().decodedBody;
    decoded.clear();
    ChunkedDecoder::Status status = chunked_->decoder.feed(data, len, used, decoded);
    if (status == ChunkedDecoder::Status::Error) {
      failStreamedBody(chunked_->decoder.error().status, chunked_->decoder.error().reason);
      return len;
    }
    piece = decoded;
    done = status == ChunkedDecoder::Status::Done;
  } else {
    used = static_cast<std::size_t>(std::min<std::uint64_t>(len, bodyRemaining_));
    piece = std::string_view(data, used);
    bodyRemaining_ -= used;
    done = bodyRemaining_ == 0;
  }
  if (!piece.empty() && pending_ && pending_->deliverBody(piece) == MS_BODY_PAUSE && !done) {
    bodyPaused_ = true;
    pauseReading();
    // The plugin holds the body up: its route's timeout bounds how long.
    deadlineMs_ = reactor_.nowMs() + ms(pendingTimeout_);
  }
  if (done) endStreamedBody();
  return used;
}

void HttpConnection::endStreamedBody() {
  bodyStreaming_ = false;
  bodyPaused_ = false;
  chunked_.reset();
  if (!pending_) return;
  pending_->endBody(MS_BODY_COMPLETE);
  if (!pending_) return;  // (the plugin cannot end it from there, but stay safe)
  if (pendingHeadSent_) {
    phase_ = Phase::Streaming;
  } else {
    phase_ = Phase::Waiting;
    answerDeadlineMs_ = reactor_.nowMs() + ms(pendingTimeout_);  // the answer's time starts now
  }
}

void HttpConnection::failStreamedBody(int status, const char* reason) {
  bodyStreaming_ = false;
  bodyPaused_ = false;
  chunked_.reset();
  std::shared_ptr<Responder> responder = std::move(pending_);
  bool headSent = pendingHeadSent_;
  pendingHeadSent_ = false;
  if (responder) responder->detach(MS_CANCEL_CLIENT_GONE);  // its body ends as aborted
  if (headSent) {
    peerGone_ = true;  // an answer is already on its way: cutting it is all that is left
    return;
  }
  refuse(status, reason);
}

bool HttpConnection::beginsHttp2(const char* data, std::size_t length) {
  // Prior knowledge (RFC 9113 3.3): the client's first bytes are the HTTP/2 preface. Not on
  // a listener that redirects to HTTPS: it answers HTTP/1.1 only. Mostly one comparison:
  // an HTTP/1 request's first byte is not 'P' of "PRI".
  std::string_view preface = Http2Session::kClientPreface;
  std::size_t known = input_.size();
  if (known >= preface.size()) return false;
  std::size_t compare = std::min(known + length, preface.size());
  for (std::size_t i = known; i < compare; ++i)
    if (data[i - known] != preface[i]) return false;
  if (input_.compare(0, known, preface.substr(0, known)) != 0) return false;
  const HttpListenerOptions* options = listenerOptions();
  if (options && options->redirects()) return false;
  input_.append(data, length);
  if (input_.size() < preface.size()) return true;  // the rest of it must come in the header timeout
  // Hand the socket, its transport and what was read over to an HTTP/2 session.
  Poco::Net::StreamSocket socket = socket_;
  Reactor& reactor = reactor_;
  std::string remote = std::move(remote_);
  std::string received = std::move(input_);
  std::unique_ptr<Transport> transport = std::move(transport_);
  std::uint8_t listener = listener_;
  destroyed_ = true;
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  delete this;
  Http2Session::start(socket, reactor, std::move(remote), std::move(transport), listener, received);
  return true;
}

void HttpConnection::respond(const RequestHead& head, std::string_view body, bool bodyStreamed) {
  ReactorScratch& scratch = reactor_.scratch();
  sawRequest_ = true;
  const Site& site = reactor_.site();
  requestStartNs_ = Reactor::monotonicNs();
  scratch.route.routeId = Metrics::kNoRoute;
  // The next request starts clean whatever happens below.
  phase_ = Phase::Idle;
  scan_.reset();
  headBytes_ = 0;
  sentContinue_ = false;

  if (!percentDecode(head.path, scratch.decodedPath) || scratch.decodedPath.find('\0') != std::string::npos) {
    refuse(400, "malformed percent-encoding in path");
    return;
  }
  Request::Parts parts;
  parts.method = head.method;
  parts.target = head.target;
  parts.path = scratch.decodedPath;
  parts.query = head.query;
  parts.body = body;
  resolveClient(head, site.config().server);
  parts.remoteAddress = clientAddress();
  parts.requestId = requestId_;
  parts.authority = head.authority;
  parts.versionMinor = head.versionMinor;
  parts.headers = Span<Header>(head.headers.data(), head.headers.size());

  Response& response = scratch.response;
  response.reset();
  Request request(parts);
  ResponseContext context{head.method,         head.target,     request.header("Referer"),
                          request.header("User-Agent"), head.versionMinor, head.keepAlive,
                          Metrics::kBuiltin,            requestStartNs_};
  context.requestId = requestId_;
  context.route = kBuiltinRoute;
  if (answerBuiltin(parts, site.config().server, reactor_.context(), response)) return sendResponse(context, response);
  const HttpListenerOptions* options = listenerOptions();
  // Behind a trusted proxy that already speaks HTTPS to the client, redirecting would loop.
  if (options && options->redirects() && !forwardedHttps_) return redirectToHttps(*options, head, context);
  Routed routed;
  try {
    routed = site.route(parts, response, scratch.route, reactor_.mailbox());
  } catch (const std::exception& e) {
    // Static files and routing should not throw (bad_alloc can): answer, do not drop.
    log::error("request " + std::string(head.method) + " " + std::string(head.target) + " from " + remote_ +
               " failed: " + e.what() + " (answered 500)");
    response.reset();
    response.setStatus(500);
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("500 Internal Server Error\n");
  }
  const BoundHandler* handler = routed.handler;
  if (handler && handler->blocking()) return startBlocking(parts, head.keepAlive, *handler);
  request = Request(parts);  // with the route's captures
  context.routeId = scratch.route.routeId;
  context.route = scratch.route.routePattern;
  if (handler) context.plugin = handler->pluginName();
  if (routed.fileWork) return startFileWork(std::move(routed), context);
  if (!handler) return sendResponse(context, response);
  if (handler->compresses()) {
    context.compress = true;
    context.acceptEncoding = request.header("Accept-Encoding");
  }
  Exchange exchange;
  exchange.request = &request;
  exchange.response = &response;
  exchange.mailbox = &reactor_.mailbox();
  exchange.version = head.versionMinor == 0 ? 10 : 11;
  exchange.bodyStreamed = bodyStreamed;
  handler->run(exchange);
  deliverExchange(exchange, request, &head, context, body);
}

void HttpConnection::startFileWork(Routed routed, const ResponseContext& context) {
  Duration timeout = reactor_.site().config().server.limits.handlerTimeout;
  if (!reactor_.context().fileThreads().submit(std::move(routed.fileWork))) {
    log::warning("the file threads are busy (" + std::to_string(reactor_.site().config().server.limits.workerQueue) +
                 " reads waiting): answered 503 to " + std::string(context.method) + " " +
                 std::string(context.target) + " (raise server.file_threads if the disk is slow but sound)");
    return answerBusy(context);
  }
  beginDeferred(std::move(routed.later), context, timeout, {});
}

void HttpConnection::answerBusy(const ResponseContext& context) {
  Response& response = reactor_.scratch().response;
  core::answerBusy(response);
  sendResponse(context, response);
}

void HttpConnection::deliverExchange(Exchange& exchange, const Request& request, const RequestHead* head,
                                     const ResponseContext& context, std::string_view body) {
  writeInterims(exchange.interims, context.versionMinor);
  if (exchange.webSocket && head) return acceptWebSocket(request, *head, context, exchange);
  if (exchange.deferred)
    return beginDeferred(std::move(exchange.deferred), context, exchange.handler->timeout(), body);
  sendResponse(context, *exchange.response);
}

void HttpConnection::writeInterims(std::vector<Response>& interims, int versionMinor) {
  // RFC 9110 15.2: never to an HTTP/1.0 client.
  if (versionMinor == 0) return;
  for (const Response& interim : interims) writeInterim(interim, reactor_.scratch().output);
}

void HttpConnection::record(const ResponseContext& request, int status, std::uint64_t bodyBytes) {
  std::uint64_t durationNs = Reactor::monotonicNs() - request.startNs;
  reactor_.metrics().countRequest(request.routeId, status, durationNs);
  if (AccessLog* log = reactor_.context().accessLog()) {
    log->record(accessRecordOf(clientIp(), request, status, bodyBytes, durationNs));
  }
}

void HttpConnection::sendResponse(const ResponseContext& request, Response& response) {
  ReactorScratch& scratch = reactor_.scratch();
  ServerContext& context = reactor_.context();
  if (request.method == "HEAD") response.setOmitBody(true);
  if (request.compress) compressAnswer(response, request.acceptEncoding);
  // An HTTP/1.0 client cannot take a chunked stream: its end is the connection's close.
  bool streamToOldClient = response.streamed() && request.versionMinor == 0 && !response.omitBody();
  bool keepAlive = request.keepAlive && response.keepAlive() && !closeAfterWrite_ && !streamToOldClient &&
                   !context.draining.load(std::memory_order_relaxed);
  if (!keepAlive) closeAfterWrite_ = true;
  ConnectionHeader connection = !keepAlive                    ? ConnectionHeader::Close
                                : request.versionMinor == 0 ? ConnectionHeader::KeepAlive
                                                            : ConnectionHeader::None;
  if (const HttpListenerOptions* options = listenerOptions())
    if (!options->hsts.empty() && response.header("Strict-Transport-Security").empty())
      response.addHeader("Strict-Transport-Security", options->hsts);
  echoRequestId(response, reactor_.site().config().server.requestIdHeader, request.requestId);
  std::size_t headStart = scratch.output.size();
  writeResponse(response, connection, scratch.output);

  bool sendsBody = !response.omitBody() && !statusHasNoBody(response.status());
  if (response.streamed()) {
    // The body follows as the plugin writes it; the request is counted when it ends.
    reactor_.metrics().bytesOut.add(scratch.output.size() - headStart);
    pendingStatus_ = response.status();
    streamChunked_ = connection != ConnectionHeader::Close;
    streamBodyless_ = !sendsBody;
    return;
  }
  reactor_.metrics().bytesOut.add(scratch.output.size() - headStart +
                                  (sendsBody && response.hasFile() ? response.contentLength() : 0));
  record(request, response.status(), sendsBody ? response.contentLength() : 0);
  if (!response.hasFile()) return;
  std::uint64_t offset = response.fileOffset(), length = response.fileLength();
  FileRef file = response.releaseFile();
  if (!sendsBody || length == 0) return;
  // Headers, then the file: headers go with MSG_MORE so both leave in one TCP segment.
  if (!queue_ || queue_->empty()) {
    long n = transport_->write(scratch.output.data(), scratch.output.size(), true);
    if (n == Transport::kAgain) n = 0;
    if (n < 0) {
      peerGone_ = true;  // serve() drops the unsent output with the connection
      return;
    }
    scratch.output.erase(0, static_cast<std::size_t>(n));
    if (scratch.output.empty()) {
      long sent = transport_->sendFile(file->fd(), offset, length);
      if (sent == Transport::kAgain) sent = 0;
      if (sent < 0) {
        if (sent == Transport::kFileShrank) logFileShrank();
        peerGone_ = true;  // gone, or the file shrank: either way this response is lost
        return;
      }
      length -= static_cast<std::uint64_t>(sent);
      if (length == 0) return;
    }
  }
  if (!queue_) queue_ = std::make_unique<OutputQueue>();
  queue_->pushBytes(scratch.output);
  scratch.output.clear();
  queue_->pushFile(std::move(file), offset, length);
}

// ---------------------------------------------------------------------------------------
// Answers given later (site/Responder): this connection's reactor thread.

void HttpConnection::beginDeferred(std::shared_ptr<Responder> responder, const ResponseContext& context,
                                   Duration timeout, std::string_view bufferedBody) {
  pending_ = std::move(responder);
  pending_->attach(this);
  pending_->setHandlerRunning(false);
  pendingRecord_ = std::make_unique<ResponseRecord>(context);
  pendingTimeout_ = timeout;
  pendingHeadSent_ = false;
  streamedBytes_ = 0;
  phase_ = Phase::Waiting;
  answerDeadlineMs_ = reactor_.nowMs() + ms(timeout);
  if (!bodyStreaming_ && pending_->readsBody()) {
    // A buffered route's handler reading its body the streaming way: all of it, at once.
    if (!bufferedBody.empty()) pending_->deliverBody(bufferedBody);
    pending_->endBody(MS_BODY_COMPLETE);
  }
  takeAnswer();  // what the handler finished before returning
}

void HttpConnection::takeAnswer() {
  if (!pending_) return;
  Responder::Taken taken = pending_->take();
  std::string& out = reactor_.scratch().output;
  ResponseContext context = pendingRecord_->context();
  if (!pendingHeadSent_) writeInterims(taken.interims, context.versionMinor);
  if (taken.head) {
    pendingHeadSent_ = true;
    sendResponse(context, taken.response);
    if (taken.finished) return finishDeferred();
    // A stream: its head is out, no more timeout for it.
    answerDeadlineMs_ = kNoDeadline;
    if (!bodyStreaming_) phase_ = Phase::Streaming;
    if (streamBodyless_) {
      // HEAD, 204, 304: nothing of the stream goes on the wire; the plugin's writes see Gone.
      record(context, pendingStatus_, 0);
      pending_->completed();
      pending_.reset();
      pendingHeadSent_ = false;
      return finishDeferred();
    }
  }
  if (pendingHeadSent_ && pending_) {
    if (!taken.body.empty()) {
      streamedBytes_ += taken.body.size();
      reactor_.metrics().bytesOut.add(taken.body.size());
      if (streamChunked_) appendChunk(taken.body, out);
      else out.append(taken.body);
    }
    if (taken.ended) {
      if (streamChunked_) out.append(kLastChunk);
      record(context, pendingStatus_, streamedBytes_);
      return finishDeferred();
    }
  }
  if (taken.abandoned) {
    log::error("plugin " + pending_->pluginName() + " let go of " + pendingRecord_->method + " " +
               pendingRecord_->target + " without " + (pendingHeadSent_ ? "ending its stream" : "answering it") +
               (pendingHeadSent_ ? "; the stream was cut" : "; answered 500"));
    Metrics::instance().countPluginError(pending_->pluginName());
    pending_->completed();
    pending_.reset();
    if (pendingHeadSent_) {
      // An unfinished body must not look finished: no last chunk, close the connection.
      record(context, pendingStatus_, streamedBytes_);
      pendingHeadSent_ = false;
      closeAfterWrite_ = true;
      return finishDeferred();
    }
    Response& response = reactor_.scratch().response;
    response.reset();
    response.setStatus(500);
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("500 Internal Server Error\n");
    sendResponse(context, response);
    return finishDeferred();
  }
  if (taken.resumeBody && bodyPaused_) {
    bodyPaused_ = false;
    deadlineMs_ = reactor_.nowMs() + ms(reactor_.site().config().server.limits.bodyTimeout);
    if (!inputEnded_) resumeReading();
    // Bytes that arrived before the pause wait in input_: serve() goes on with them.
  }
}

void HttpConnection::finishDeferred() {
  if (pending_) {
    pending_->completed();
    pending_.reset();
  }
  pendingHeadSent_ = false;
  answerDeadlineMs_ = kNoDeadline;
  if (bodyStreaming_) {
    // Answered before the body was all in: the rest is not read.
    bodyStreaming_ = false;
    bodyPaused_ = false;
    chunked_.reset();
    closeAfterWrite_ = true;
    lingerOnClose_ = true;
  }
  phase_ = Phase::Idle;
}

void HttpConnection::onResponderReady(Responder& responder) {
  if (destroyed_ || &responder != pending_.get()) return;
  try {
    takeAnswer();
    serve();
  } catch (const std::exception& e) {
    log::error("connection " + remote_ + ": unexpected error, closing it: " + e.what());
    destroy();
  }
}

void HttpConnection::reportQueued() {
  if (pending_ && pendingHeadSent_) pending_->setQueued(queue_ ? queue_->pendingBytes() : 0);
}

void HttpConnection::answerTimedOutDeferred() {
  log::warning("plugin " + pending_->pluginName() + " did not answer " + pendingRecord_->method + " " +
               pendingRecord_->target + " within its route's timeout (" + std::to_string(pendingTimeout_.count()) +
               " ms): answered 504");
  std::shared_ptr<Responder> responder = std::move(pending_);
  responder->detach(MS_CANCEL_TIMEOUT);
  ResponseContext context = pendingRecord_->context();
  Response& response = reactor_.scratch().response;
  response.reset();
  response.setStatus(504);
  response.setContentType("text/plain; charset=utf-8");
  response.setBody("504 Gateway Timeout: the handler did not answer in time\n");
  phase_ = Phase::Idle;
  answerDeadlineMs_ = kNoDeadline;
  sendResponse(context, response);
  serve();
}

void HttpConnection::acceptWebSocket(const Request& request, const RequestHead& head, const ResponseContext& context,
                                     Exchange& exchange) {
  std::string acceptKey, reason;
  int status = 0;
  bool valid = checkWebSocketHandshake(
      head.method, head.versionMinor, [&](std::string_view name) { return request.header(name); }, acceptKey, status,
      reason);
  if (!valid) {
    // The session hears it was refused (its last call), then the client why.
    exchange.webSocket->on_close(exchange.webSocketSession, MS_CLOSE_REFUSED);
    Response& response = *exchange.response;
    response.reset();
    response.setStatus(status);
    if (status == 426) response.addHeader("Sec-WebSocket-Version", "13");
    response.setContentType("text/plain; charset=utf-8");
    response.setBody(std::to_string(status) + " " + std::string(reasonPhrase(status)) + ": " + reason + "\n");
    return sendResponse(context, response);
  }
  std::string& out = reactor_.scratch().output;
  out.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
  out.append(acceptKey).append("\r\n\r\n");
  if (AccessLog* log = reactor_.context().accessLog()) {
    log->record(accessRecordOf(clientIp(), context, 101, 0, Reactor::monotonicNs() - context.startNs));
  }
  upgrade_ = std::make_unique<Upgrade>(
      Upgrade{exchange.webSocket, exchange.webSocketSession, exchange.handler->plugin()});
}

void HttpConnection::completeUpgrade(std::string_view input) {
  // Whatever output is still here (the 101, answers before it) goes first, from here or
  // from the peer's queue.
  std::string& out = reactor_.scratch().output;
  long sent = out.empty() ? 0 : transport_->write(out.data(), out.size());
  if (sent == Transport::kAgain) sent = 0;
  if (sent < 0) {
    out.clear();
    return destroy();  // the session hears on_close there
  }
  std::string unsent = out.substr(static_cast<std::size_t>(sent));
  out.clear();
  std::unique_ptr<Upgrade> upgrade = std::move(upgrade_);
  std::string leftover(input);
  Poco::Net::StreamSocket socket = socket_;
  Reactor& reactor = reactor_;
  std::string remote(clientAddress());
  std::unique_ptr<Transport> transport = std::move(transport_);
  // Leave without closing the socket: it belongs to the peer now.
  destroyed_ = true;
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  delete this;
  ServicePeer::startWebSocket(socket, reactor, std::move(transport), std::move(upgrade->plugin), upgrade->callbacks,
                              upgrade->session, std::move(remote), leftover, std::move(unsent));
}

void HttpConnection::startBlocking(const Request::Parts& parts, bool keepAlive, const BoundHandler& handler) {
  auto call = std::make_shared<BlockingCall>(parts, keepAlive, reactor_.siteShared(), &handler,
                                             reactor_.scratch().route.routeId, reactor_.scratch().route.routePattern,
                                             requestStartNs_, reactor_.mailbox());
  call->waiter = this;
  if (!BlockingCall::start(call, reactor_.context().workers())) {
    log::warning("the worker pool is full (" + std::to_string(reactor_.site().config().server.limits.workerQueue) +
                 " requests waiting): answered 503 to " + call->method + " " + call->target +
                 " (raise server.workers or limits.worker_queue if this is normal load)");
    return answerBusy(call->responseContext());
  }
  if (log::enabled(log::Level::Debug)) log::debug(call->method + " " + call->target + " waits for a worker");
  blocking_ = std::move(call);
  phase_ = Phase::Waiting;
  handlerDeadlineMs_ = reactor_.nowMs() + ms(handler.timeout());
}

void HttpConnection::blockingDone(BlockingCall& call) {
  try {
    finishBlocking(call);
  } catch (const std::exception& e) {
    log::error("connection " + call.remoteAddress + ": unexpected error, closing it: " + e.what());
    destroy();
  }
}

void HttpConnection::finishBlocking(BlockingCall& call) {
  blocking_.reset();  // `call` stays alive: the task delivering it holds it
  call.waiter = nullptr;
  phase_ = Phase::Idle;
  deliverExchange(call.exchange, call.request, nullptr, call.responseContext(), call.body);
  if (readingPaused_ && !inputEnded_) resumeReading();
  serve();  // sends it, then answers what waited behind it
}

void HttpConnection::answerTimedOutHandler() {
  // The handler is too slow: answer for it and forget its result (its worker is lost
  // until it returns; the pool's bound keeps that from piling up).
  log::warning("plugin " + blocking_->handler->pluginName() + " did not answer " + blocking_->method + " " +
               blocking_->target + " within its route's timeout (" +
               std::to_string(blocking_->handler->timeout().count()) + " ms): answered 504");
  std::shared_ptr<BlockingCall> call = std::move(blocking_);
  call->waiter = nullptr;
  Response& response = reactor_.scratch().response;
  response.reset();
  response.setStatus(504);
  response.setContentType("text/plain; charset=utf-8");
  response.setBody("504 Gateway Timeout: the handler did not answer in time\n");
  response.setKeepAlive(false);  // its pipelined followers would wait behind a stuck worker
  phase_ = Phase::Idle;
  sendResponse(call->responseContext(), response);
  serve();
}

void HttpConnection::resolveClient(const RequestHead& head, const ServerConfig& server) {
  Span<Header> headers(head.headers.data(), head.headers.size());
  ForwardedClient client = clientBehindTrustedProxy(remote_, headers, server.trustedProxies);
  forwardedClient_ = std::move(client.address);
  forwardedHttps_ = client.scheme == "https";
  resolveRequestId(server.requestIdHeader, client.fromTrustedPeer, headers, requestId_);
}

std::string_view HttpConnection::clientIp() const {
  if (forwardedClient_.empty()) return std::string_view(remote_).substr(0, remoteIpLength_);
  return std::string_view(forwardedClient_).substr(0, forwardedClient_.rfind(':'));
}

const HttpListenerOptions* HttpConnection::listenerOptions() const {
  const std::vector<HttpListenerOptions>& all = reactor_.context().httpListeners;
  if (listener_ >= all.size() || all[listener_].plain()) return nullptr;
  return &all[listener_];
}

void HttpConnection::redirectToHttps(const HttpListenerOptions& options, const RequestHead& head,
                                     const ResponseContext& context) {
  std::string location;
  if (!options.redirectUrl.empty()) {
    location = options.redirectUrl;
  } else {
    // The host the client asked for, without its port; else the address it reached.
    std::string_view host = head.authority;
    std::size_t colon = host.rfind(':');
    if (colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) host = host.substr(0, colon);
    location = "https://";
    if (!host.empty()) {
      location.append(host.data(), host.size());
    } else {
      struct sockaddr_storage local {};
      socklen_t length = sizeof local;
      char text[INET6_ADDRSTRLEN] = "localhost";
      bool v6 = false;
      if (::getsockname(fd(), reinterpret_cast<struct sockaddr*>(&local), &length) == 0) {
        v6 = local.ss_family == AF_INET6;
        if (local.ss_family == AF_INET)
          ::inet_ntop(AF_INET, &reinterpret_cast<struct sockaddr_in*>(&local)->sin_addr, text, sizeof text);
        else if (v6)
          ::inet_ntop(AF_INET6, &reinterpret_cast<struct sockaddr_in6*>(&local)->sin6_addr, text, sizeof text);
      }
      location += v6 ? "[" + std::string(text) + "]" : std::string(text);
    }
    if (options.redirectPort != 443) location += ":" + std::to_string(options.redirectPort);
  }
  location.append(head.path.data(), head.path.size());
  if (!head.query.empty()) location.append("?").append(head.query.data(), head.query.size());
  // 301 as nginx's `return 301`; 308 for the other methods, which must keep their method.
  int status = head.method == "GET" || head.method == "HEAD" ? 301 : 308;
  Response& response = reactor_.scratch().response;
  response.reset();
  response.setStatus(status);
  response.addHeader("Location", location);
  response.setContentType("text/plain; charset=utf-8");
  response.setBody(std::to_string(status) + " " + std::string(reasonPhrase(status)) + ": " + location + "\n");
  sendResponse(context, response);
}

void HttpConnection::refuse(int status, const char* reason) {
  ReactorScratch& scratch = reactor_.scratch();
  std::size_t headStart = scratch.output.size();
  writeErrorResponse(status, reason, false, scratch.output);
  reactor_.metrics().countRequest(Metrics::kNoRoute, status, 0);
  reactor_.metrics().bytesOut.add(scratch.output.size() - headStart);
  if (AccessLog* log = reactor_.context().accessLog())
    log->record({std::string_view(remote_).substr(0, remoteIpLength_), {}, {}, 1, status, 0, {}, {}});
  log::debug("refused a request from " + remote_ + ": " + std::to_string(status) + " " + reason);
  closeAfterWrite_ = true;
  lingerOnClose_ = true;  // the client may still be sending the rest of what we refused
  input_.clear();
  chunked_.reset();
  phase_ = Phase::Head;
}

bool HttpConnection::flushOutput() {
  std::string& out = reactor_.scratch().output;
  if (out.empty()) return true;
  if (queue_ && !queue_->empty()) {
    queue_->pushBytes(out);
  } else {
    long n = transport_->write(out.data(), out.size());
    if (n == Transport::kAgain) n = 0;
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
  shrink(out, kMaxRetainedScratch);
  return true;
}

void HttpConnection::serve() {
  while (!destroyed_) {
    if (peerGone_) {
      // The output buffer is the reactor's, shared with the next connection it serves:
      // what could not reach this peer must not reach the next one.
      reactor_.scratch().output.clear();
      return destroy();
    }
    if (!flushOutput()) return destroy();
    reportQueued();  // a paused stream may go on now (reactor thread: may run the plugin)
    if (destroyed_) return;
    if (queue_ && !queue_->empty()) {
      if (!writing_) startWriting();
      deadlineMs_ = Reactor::monotonicMs() + ms(reactor_.site().config().server.limits.sendTimeout);
      return;
    }
    if (closeAfterWrite_) return closeAfterOutput();
    if (input_.empty() || (bodyStreaming_ ? bodyPaused_ : answerPending())) break;
    // Requests that waited in the buffer (behind a full socket, a large batch, a blocking
    // handler): no read event will announce them again.
    batchCut_ = false;
    std::size_t used = process(input_.data(), input_.size());
    input_.erase(0, used);
    if (upgrade_) return completeUpgrade(input_);
    if (used == 0 && reactor_.scratch().output.empty() && !closeAfterWrite_) break;  // only a partial request
  }
  if (destroyed_) return;
  if (bodyStreaming_) return;  // reads (or the plugin's pause) set its deadline
  if (answerPending()) {
    deadlineMs_ = kNoDeadline;  // the answer's own deadline applies, and a stream has none
    return;
  }
  if (inputEnded_) return closeAfterOutput();  // everything the peer sent is answered
  if (phase_ == Phase::Idle && input_.empty()) becomeIdle();
}

void HttpConnection::becomeIdle() {
  // A connection that finished a response during a graceful stop is done.
  if (reactor_.context().draining.load(std::memory_order_relaxed)) return closeAfterOutput();
  if (!noDelay_) {
    // Kept alive: from here on a small response must not wait for the ACK of the last one.
    int one = 1;
    ::setsockopt(fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    noDelay_ = true;
  }
  // A fresh clock, not the pass's: the idle time starts after the work just done.
  deadlineMs_ = Reactor::monotonicMs() + ms(reactor_.site().config().server.limits.idleTimeout);
  shrink(input_, kIdleBufferBytes);
}

void HttpConnection::handleWritable() {
  if (!queue_) {
    startReading();
    return serve();
  }
  OutputQueue::Result result = queue_->drain(*transport_);
  if (result == OutputQueue::Result::PeerGone) return destroy();
  if (result == OutputQueue::Result::FileShrank) {
    logFileShrank();
    return destroy();
  }
  if (result == OutputQueue::Result::WouldBlock) {
    // Progress was made: the peer reads. Give it another send_timeout.
    deadlineMs_ = reactor_.nowMs() + ms(reactor_.site().config().server.limits.sendTimeout);
    reportQueued();
    return;
  }
  queue_.reset();
  startReading();
  serve();
}

void HttpConnection::logFileShrank() const {
  // The Content-Length already sent cannot be honoured: closing is the only honest end.
  log::warning("connection " + remote_ + ": a file got shorter while it was being sent; closing the connection");
}

void HttpConnection::updateWatch() {
  // Reading while nothing waits to be written (one observer at a time: see SocketWatch),
  // unless paused; the transport says which readiness that takes (TLS may need both).
  Transport::Interest interest = transport_->interest(!writing_ && !readingPaused_, writing_);
  watch_.want(interest.readable, interest.writable);
}

void HttpConnection::pauseReading() {
  if (readingPaused_) return;
  readingPaused_ = true;
  updateWatch();
}

void HttpConnection::resumeReading() {
  if (!readingPaused_) return;
  readingPaused_ = false;
  updateWatch();
}

void HttpConnection::startWriting() {
  usedQueue_ = true;
  writing_ = true;
  updateWatch();
}

void HttpConnection::startReading() {
  if (!writing_) return;
  writing_ = false;
  updateWatch();
}

void HttpConnection::closeAfterOutput() {
  if (inputEnded_) return destroy();  // the peer sent its FIN: nothing more can arrive
  // While a response waited for writability we did not read: the peer may have sent more
  // meanwhile, so look (one ioctl). Otherwise our last read emptied the socket.
  int unread = 0;
  if (usedQueue_) ::ioctl(fd(), FIONREAD, &unread);
  bool mayHaveInput = lingerOnClose_ || unread > 0 || !input_.empty() || phase_ != Phase::Idle;
  if (!mayHaveInput) return destroy();
  // Half-close and wait for the peer's close, discarding what it still sends: a plain
  // close() with unread input would reset the connection and could destroy the response.
  transport_->shutdownWrite();
  std::string().swap(input_);
  chunked_.reset();
  resumeReading();
  phase_ = Phase::Lingering;
  deadlineMs_ = reactor_.nowMs() + kLingerMs;
}

void HttpConnection::checkDeadline(std::int64_t nowMs) {
  try {
    if (blocking_ && nowMs >= handlerDeadlineMs_) return answerTimedOutHandler();
    if (pending_ && !pendingHeadSent_ && !bodyStreaming_ && nowMs >= answerDeadlineMs_) return answerTimedOutDeferred();
    if (nowMs < deadlineMs_) return;
    if (bodyPaused_ && pending_ && !pendingHeadSent_) {
      // The plugin held the body up past its route's timeout.
      bodyStreaming_ = false;
      bodyPaused_ = false;
      chunked_.reset();
      closeAfterWrite_ = true;
      lingerOnClose_ = true;
      return answerTimedOutDeferred();
    }
    bool midRequest = ((phase_ == Phase::Head && !input_.empty()) || phase_ == Phase::Body) && !pendingHeadSent_;
    if (midRequest && !writing_) {
      // Best effort: tell a slow client why; never wait for it.
      std::string out;
      writeErrorResponse(408, "the request took too long to arrive", false, out);
      transport_->write(out.data(), out.size());
      log::debug("closed a slow connection from " + remote_ + " (request not received in time)");
    }
    destroy();
  } catch (const std::exception& e) {
    log::error("connection " + remote_ + ": unexpected error at a deadline, closing it: " + e.what());
    destroy();
  }
}

void HttpConnection::beginDrain() {
  if (phase_ == Phase::Lingering) return;  // it closes by itself within kLingerMs
  // A stream (events, a long download) may never end by itself: cut it now (its plugin
  // hears MS_CANCEL_STOPPING); an answer not yet started may still come in the grace.
  if (pending_ && pendingHeadSent_) return destroy();
  // Kept alive between requests: closed now. A new connection that has not sent its first
  // request yet (Head, nothing received) stays: it was most likely accepted just before
  // the stop with its request on the way, and closing it would fail that request (an
  // upgrade in place must fail none). That request is answered with Connection: close;
  // one that never comes ends at the header timeout, within the grace.
  bool idle = !writing_ && !answerPending() && input_.empty() && !chunked_ && phase_ == Phase::Idle;
  if (idle) return destroy();
  // Something is in flight: its response carries Connection: close, and a response
  // already being written closes the connection when it is out (becomeIdle()).
}

void HttpConnection::abandon() { destroy(); }

void HttpConnection::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  if (blocking_) blocking_->waiter = nullptr;  // its result will find nobody
  if (pending_) {
    std::shared_ptr<Responder> responder = std::move(pending_);
    responder->detach(reactor_.context().draining.load(std::memory_order_relaxed) ? MS_CANCEL_STOPPING
                                                                                  : MS_CANCEL_CLIENT_GONE);
  }
  if (upgrade_) {
    std::unique_ptr<Upgrade> upgrade = std::move(upgrade_);
    upgrade->callbacks->on_close(upgrade->session, MS_CLOSE_ERROR);
  }
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  // The reactor's scratch serves the next connection: leave nothing of ours in it.
  reactor_.scratch().output.clear();
  reactor_.scratch().response.reset();
  if (!peerGone_) transport_->beforeClose();  // TLS: close_notify
  try {
    socket_.close();
  } catch (...) {
    // Already closed on the peer's side; nothing to release.
  }
  delete this;
}

}  // namespace microserver::core
