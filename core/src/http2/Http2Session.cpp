// Http2Session: see Http2Session.h.
#include "http2/Http2Session.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "base/HttpDate.h"
#include "base/Log.h"
#include "base/Metrics.h"
#include "http1/ListenerOptions.h"
#include "http1/ResponseWriter.h"
#include "site/Builtins.h"
#include "site/Compression.h"
#include "site/ForwardedClient.h"
#include "site/Site.h"

namespace microserver::core {

namespace {

constexpr std::int64_t kNoDeadline = INT64_MAX;
// One write(2) carries up to this much of what nghttp2 framed.
constexpr std::size_t kBatchBytes = 128 * 1024;
// How much of a request body a client may send ahead of the handler (per stream), and of
// all bodies together (per connection): the flow-control windows we advertise.
constexpr std::int32_t kStreamWindow = 256 * 1024;
constexpr std::int32_t kConnectionWindow = 1024 * 1024;
constexpr std::string_view kServer = "microserver/" MICROSERVER_VERSION;

std::int64_t ms(Duration d) { return static_cast<std::int64_t>(d.count()); }

nghttp2_nv field(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values when a frame is submitted (no NO_COPY flags).
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// The callbacks and options every session shares (nghttp2 copies them into each session).
struct SessionSetup {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
};

// A Response's header lines ("Name: value\r\n" each) as HTTP/2 fields: names lowercase
// (RFC 9113 8.2.1 requires it). The strings must outlive the nghttp2_nv made from them.
std::vector<std::pair<std::string, std::string>> lowercaseFields(std::string_view block) {
  std::vector<std::pair<std::string, std::string>> fields;
  while (!block.empty()) {
    std::size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    std::size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    fields.emplace_back(std::move(name), std::string(value));
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
  }
  return fields;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Birth and death

Http2Session::Http2Session(Poco::Net::StreamSocket& socket, Reactor& reactor, std::string remote,
                           std::unique_ptr<Transport> transport, std::uint8_t listener)
    : socket_(socket),
      reactor_(reactor),
      transport_(std::move(transport)),
      watch_(reactor, socket_.impl()->sockfd(), *this),
      remote_(std::move(remote)),
      listener_(listener) {
  static const SessionSetup setup = [] {
    SessionSetup s;
    nghttp2_session_callbacks_new(&s.callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(s.callbacks, &Http2Session::onBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(s.callbacks, &Http2Session::onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(s.callbacks, &Http2Session::onFrameReceived);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(s.callbacks, &Http2Session::onDataChunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(s.callbacks, &Http2Session::onFrameSent);
    nghttp2_session_callbacks_set_on_stream_close_callback(s.callbacks, &Http2Session::onStreamClosed);
    nghttp2_option_new(&s.option);
    // Request bodies are acknowledged as handlers take them (nghttp2_session_consume).
    nghttp2_option_set_no_auto_window_update(s.option, 1);
    // The floods of 2023-2024, with the limits Debian backported into 1.52: a client that
    // opens and resets streams faster than this (CVE-2023-44487), or sends more than this
    // many CONTINUATION frames for one header block (CVE-2024-28182), is sent GOAWAY.
    nghttp2_option_set_stream_reset_rate_limit(s.option, 1000, 33);
    nghttp2_option_set_max_continuations(s.option, 8);
    // A peer may not make us queue more than this many SETTINGS/PING acknowledgements.
    nghttp2_option_set_max_outbound_ack(s.option, 1000);
    return s;
  }();
  if (nghttp2_session_server_new2(&session_, setup.callbacks, this, setup.option) != 0) throw std::bad_alloc();
  std::size_t colon = remote_.rfind(':');
  remoteIpLength_ = colon == std::string::npos ? remote_.size() : colon;
  const Limits& limits = reactor_.site().config().server.limits;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits.headerBytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  // The preface and the client's first request must come within the header timeout.
  prefaceDeadlineMs_ = Reactor::monotonicMs() + ms(limits.headerTimeout);
  deadlineMs_ = prefaceDeadlineMs_;
  reactor_.context().openConnections.fetch_add(1, std::memory_order_relaxed);
  reactor_.metrics().http2Connections.add(1);
  reactor_.attach(this);
}

Http2Session::~Http2Session() {
  if (session_) nghttp2_session_del(session_);
}

void Http2Session::start(Poco::Net::StreamSocket& socket, Reactor& reactor, std::string remote,
                         std::unique_ptr<Transport> transport, std::uint8_t listener, std::string_view received) {
  auto* session = new Http2Session(socket, reactor, std::move(remote), std::move(transport), listener);
  try {
    if (!received.empty()) {
      session->inCallback_ = true;
      ssize_t used = nghttp2_session_mem_recv(session->session_, reinterpret_cast<const std::uint8_t*>(received.data()),
                                              received.size());
      session->inCallback_ = false;
      if (used < 0) return session->fail(std::string("bad HTTP/2 preface: ") + nghttp2_strerror(static_cast<int>(used)));
    }
    session->flush();  // our SETTINGS; from here the reactor may call us
  } catch (const std::exception& e) {
    log::error("connection " + session->remote_ + ": unexpected error, closing it: " + e.what());
    session->destroy();
  }
}

void Http2Session::fail(const std::string& why) {
  log::debug("HTTP/2 connection " + remote_ + ": " + why + "; closing it");
  // Best effort: the GOAWAY nghttp2 queued says why; never wait for the peer to take it.
  std::string& out = reactor_.scratch().output;
  out.clear();
  if (unsent_.empty()) {
    const std::uint8_t* data = nullptr;
    inCallback_ = true;
    for (ssize_t n; (n = nghttp2_session_mem_send(session_, &data)) > 0 && out.size() < kBatchBytes;)
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    inCallback_ = false;
    if (!out.empty()) transport_->write(out.data(), out.size());
    out.clear();
  }
  destroy();
}

void Http2Session::destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  // Whoever still works on a stream hears that it is gone.
  while (!streams_.empty()) forget(streams_.begin()->first);
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  reactor_.scratch().output.clear();
  reactor_.scratch().response.reset();
  transport_->beforeClose();
  try {
    socket_.close();
  } catch (...) {
    // Already closed on the peer's side; nothing to release.
  }
  delete this;
}

void Http2Session::abandon() { destroy(); }

// ---------------------------------------------------------------------------------------
// I/O

void Http2Session::onReadable() {
  if (!unsent_.empty()) return onWritable();  // (TLS may need readability in order to write)
  try {
    ReactorScratch& scratch = reactor_.scratch();
    long n = transport_->read(scratch.readBuffer.data(), scratch.readBuffer.size());
    if (n == Transport::kAgain) return updateWatch();
    if (n <= 0) return destroy();  // the peer closed or reset: every stream of it is gone
    reactor_.metrics().bytesIn.add(static_cast<std::uint64_t>(n));
    inCallback_ = true;
    ssize_t used = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(scratch.readBuffer.data()),
                                            static_cast<std::size_t>(n));
    inCallback_ = false;
    if (used < 0) return fail(nghttp2_strerror(static_cast<int>(used)));
    if (broken_) return destroy();
    flush();
  } catch (const std::exception& e) {
    inCallback_ = false;
    log::error("HTTP/2 connection " + remote_ + ": unexpected error, closing it: " + e.what());
    destroy();
  }
}

void Http2Session::onWritable() {
  if (unsent_.empty()) return onReadable();
  try {
    flush();
  } catch (const std::exception& e) {
    inCallback_ = false;
    log::error("HTTP/2 connection " + remote_ + ": unexpected error while sending, closing it: " + e.what());
    destroy();
  }
}

void Http2Session::flush() {
  if (destroyed_ || inCallback_ || flushing_) return;
  flushing_ = true;
  std::string& out = reactor_.scratch().output;
  bool progress = false;
  while (true) {
    if (!unsent_.empty()) {
      long n = transport_->write(unsent_.data(), unsent_.size());
      if (n == Transport::kAgain) n = 0;
      if (n < 0) {
        flushing_ = false;
        return destroy();
      }
      progress = progress || n > 0;
      unsent_.erase(0, static_cast<std::size_t>(n));
      if (!unsent_.empty()) break;
    }
    // Gather what nghttp2 has framed, up to one batch, and write it at once.
    out.clear();
    inCallback_ = true;
    ssize_t n = 0;
    while (out.size() < kBatchBytes) {
      const std::uint8_t* data = nullptr;
      n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    inCallback_ = false;
    if (n < 0 || broken_) {
      out.clear();
      flushing_ = false;
      return n < 0 ? fail(nghttp2_strerror(static_cast<int>(n))) : destroy();
    }
    if (out.empty()) break;
    reactor_.metrics().bytesOut.add(out.size());
    long written = transport_->write(out.data(), out.size());
    if (written == Transport::kAgain) written = 0;
    if (written < 0) {
      out.clear();
      flushing_ = false;
      return destroy();
    }
    progress = progress || written > 0;
    if (static_cast<std::size_t>(written) < out.size()) {
      unsent_.assign(out, static_cast<std::size_t>(written), std::string::npos);
      break;
    }
  }
  out.clear();
  flushing_ = false;
  // Plugins' streams: how much of each still waits here (their write() pauses above a
  // high-water mark, and hears on_writable below the low one).
  for (auto& [id, stream] : streams_)
    if (stream->pending && stream->streamed && stream->responded)
      stream->pending->setQueued(stream->out.size() - stream->outOffset + unsent_.size());
  if (destroyed_) return;
  const Limits& limits = reactor_.site().config().server.limits;
  if (!unsent_.empty()) {
    // The client must keep taking what it asked for: send_timeout without progress.
    if (progress || !sendBlocked_) deadlineMs_ = reactor_.nowMs() + ms(limits.sendTimeout);
    sendBlocked_ = true;
  } else {
    sendBlocked_ = false;
    bool wanted = nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_);
    if (!wanted || (draining_ && streams_.empty())) return destroy();
    if (!streams_.empty()) deadlineMs_ = kNoDeadline;  // each stream has its own
    else if (nghttp2_session_get_last_proc_stream_id(session_) == 0) deadlineMs_ = prefaceDeadlineMs_;
    else if (deadlineMs_ == kNoDeadline || progress) deadlineMs_ = reactor_.nowMs() + ms(limits.idleTimeout);
  }
  updateWatch();
}

void Http2Session::updateWatch() {
  if (destroyed_) return;
  // While our output waits, the client's is not read: it must take what it asked for.
  bool writing = !unsent_.empty();
  Transport::Interest interest = transport_->interest(!writing, writing);
  watch_.want(interest.readable, interest.writable);
}

// ---------------------------------------------------------------------------------------
// Deadlines and the graceful stop

void Http2Session::checkDeadline(std::int64_t nowMs) {
  try {
    if (nowMs >= deadlineMs_) {
      if (!unsent_.empty()) return fail("the client stopped reading (send timeout)");
      if (streams_.empty()) {
        // Idle (or no preface in time): say goodbye properly.
        nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                              NGHTTP2_NO_ERROR, nullptr, 0);
        return fail("idle");
      }
    }
    std::vector<std::int32_t> ids;
    for (auto& [id, stream] : streams_) ids.push_back(id);
    for (std::int32_t id : ids) {
      Http2Stream* stream = find(id);
      if (!stream) continue;
      if (stream->blocking && nowMs >= stream->handlerDeadlineMs) {
        log::warning("plugin " + stream->blocking->handler->pluginName() + " did not answer " + stream->record.method + " " +
                     stream->record.target + " within its route's timeout (" +
                     std::to_string(stream->blocking->handler->timeout().count()) + " ms): answered 504");
        stream->blocking->waiter = nullptr;
        stream->blocking.reset();
        answerError(*stream, 504, "504 Gateway Timeout: the handler did not answer in time\n");
      } else if (stream->pending && !stream->responded && nowMs >= stream->answerDeadlineMs &&
                 (!stream->bodyStreamed || stream->requestComplete || stream->bodyPaused)) {
        log::warning("plugin " + stream->pending->pluginName() + " did not answer " + stream->record.method + " " +
                     stream->record.target + " within its route's timeout (" + std::to_string(stream->timeout.count()) +
                     " ms): answered 504");
        std::shared_ptr<Responder> responder = std::move(stream->pending);
        responder->detach(MS_CANCEL_TIMEOUT);
        answerError(*stream, 504, "504 Gateway Timeout: the handler did not answer in time\n");
      } else if (!stream->requestComplete && !stream->bodyPaused && nowMs >= stream->deadlineMs) {
        // The rest of the request did not come in time (a stalled upload, a slowloris).
        log::debug("HTTP/2 connection " + remote_ + ": stream " + std::to_string(id) + " timed out receiving");
        if (!stream->responded) answerError(*stream, 408, "408 Request Timeout: the request took too long to arrive\n");
        else resetStream(*stream, NGHTTP2_CANCEL);
      }
    }
    flush();
  } catch (const std::exception& e) {
    log::error("HTTP/2 connection " + remote_ + ": unexpected error at a deadline, closing it: " + e.what());
    destroy();
  }
}

void Http2Session::beginDrain() {
  if (draining_) return;
  draining_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  // Streams (events, a long download by a plugin) may never end by themselves: cut them;
  // their plugins hear MS_CANCEL_STOPPING. Answers not started yet may still come.
  for (auto& [id, stream] : streams_)
    if (stream->pending && stream->responded && stream->streamed) resetStream(*stream, NGHTTP2_CANCEL);
  flush();
}

// ---------------------------------------------------------------------------------------
// nghttp2's callbacks

int Http2Session::onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  try {
    auto stream = std::make_unique<Http2Stream>(*self, frame->hd.stream_id);
    stream->deadlineMs = self->reactor_.nowMs() + ms(self->reactor_.site().config().server.limits.headerTimeout);
    self->streams_[frame->hd.stream_id] = std::move(stream);
    self->deadlineMs_ = kNoDeadline;
    return 0;
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
  }
}

int Http2Session::onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* nameBytes,
                           std::size_t nameLength, const std::uint8_t* valueBytes, std::size_t valueLength,
                           std::uint8_t, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
  Http2Stream* stream = self->find(frame->hd.stream_id);
  if (!stream) return 0;
  std::string_view name(reinterpret_cast<const char*>(nameBytes), nameLength);
  std::string_view value(reinterpret_cast<const char*>(valueBytes), valueLength);
  try {
    stream->request.add(name, value, self->reactor_.site().parserLimits());
    return 0;
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
}

int Http2Session::onFrameReceived(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  try {
    Http2Stream* stream = self->find(frame->hd.stream_id);
    if (!stream) return 0;
    bool endStream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      stream->requestComplete = endStream;
      self->headersComplete(*stream);
    } else if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && endStream) {
      stream->requestComplete = true;
      self->requestComplete(*stream);
    }
    return 0;
  } catch (const std::exception& e) {
    log::error("HTTP/2 connection " + self->remote_ + ": unexpected error, closing it: " + e.what());
    self->broken_ = true;
    return 0;
  }
}

int Http2Session::onDataChunk(nghttp2_session*, std::uint8_t, std::int32_t streamId, const std::uint8_t* data,
                              std::size_t length, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  try {
    Http2Stream* stream = self->find(streamId);
    if (!stream) {
      nghttp2_session_consume(self->session_, streamId, length);
      return 0;
    }
    self->bodyPiece(*stream, reinterpret_cast<const char*>(data), length);
    return 0;
  } catch (const std::exception& e) {
    log::error("HTTP/2 connection " + self->remote_ + ": unexpected error, closing it: " + e.what());
    self->broken_ = true;
    return 0;
  }
}

int Http2Session::onFrameSent(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
  Http2Stream* stream = self->find(frame->hd.stream_id);
  // The answer is complete while the request is not (an early 413, 408, 404...). What fits
  // in the stream's window is taken and dropped (some clients, curl among them, report a
  // reset during their upload as an error even after a complete answer); a client with
  // more to send, or an unknown amount, is asked to stop, without error (RFC 9113 8.1).
  if (stream && !stream->requestComplete) {
    std::optional<std::uint64_t> length = stream->request.contentLength();
    bool littleLeft = length && *length >= stream->bodyReceived &&
                      *length - stream->bodyReceived <= static_cast<std::uint64_t>(kStreamWindow);
    if (!littleLeft) nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int Http2Session::onStreamClosed(nghttp2_session*, std::int32_t streamId, std::uint32_t, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  try {
    self->forget(streamId);
  } catch (...) {
    self->broken_ = true;
  }
  return 0;
}

ssize_t Http2Session::readBody(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                               std::uint32_t* flags, nghttp2_data_source* source, void* user) {
  auto* self = static_cast<Http2Session*>(user);
  auto* stream = static_cast<Http2Stream*>(source->ptr);
  if (stream->file) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, stream->fileRemaining));
    ssize_t n = ::pread(stream->file->fd(), buffer, want, static_cast<off_t>(stream->fileOffset));
    if (n <= 0) {
      // The file got shorter than the Content-Length already sent: cut the stream.
      log::warning("HTTP/2 connection " + self->remote_ + ": a file got shorter while it was being sent; "
                   "resetting its stream");
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    stream->fileOffset += static_cast<std::uint64_t>(n);
    stream->fileRemaining -= static_cast<std::uint64_t>(n);
    stream->bodyBytesSent += static_cast<std::uint64_t>(n);
    if (stream->fileRemaining == 0) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      stream->file.reset();
    }
    return n;
  }
  std::size_t available = stream->out.size() - stream->outOffset;
  std::size_t n = std::min(length, available);
  std::memcpy(buffer, stream->out.data() + stream->outOffset, n);
  stream->outOffset += n;
  stream->bodyBytesSent += n;
  if (stream->outOffset == stream->out.size()) {
    stream->out.clear();
    stream->outOffset = 0;
    if (stream->ended) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      stream->dataDeferred = true;  // a plugin's stream with nothing new: wait for it
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

// ---------------------------------------------------------------------------------------
// Requests

Http2Stream* Http2Session::find(std::int32_t streamId) const {
  auto it = streams_.find(streamId);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Http2Session::headersComplete(Http2Stream& stream) {
  stream.startNs = Reactor::monotonicNs();
  RequestFields& request = stream.request;
  request.finish();
  stream.record.method = request.method;
  stream.record.target = request.target;
  for (const Header& h : request.headers) {
    if (h.name == "referer") stream.record.referer = std::string(h.value);
    if (h.name == "user-agent") stream.record.userAgent = std::string(h.value);
  }
  stream.record.startNs = stream.startNs;
  stream.record.routeId = Metrics::kNoRoute;
  const ServerConfig& server = reactor_.site().config().server;
  bool fromTrustedPeer = clientBehindTrustedProxy(remote_, {}, server.trustedProxies).fromTrustedPeer;
  resolveRequestId(server.requestIdHeader, fromTrustedPeer,
                   Span<Header>(request.headers.data(), request.headers.size()), stream.record.requestId);
  if (request.tooLarge) return answerError(stream, 431, "431 Request Header Fields Too Large\n");
  if (request.method == "CONNECT")
    return answerError(stream, 405, "405 Method Not Allowed: CONNECT is not supported\n");
  if (request.target.empty() || (request.target[0] != '/' && request.target != "*"))
    return answerError(stream, 400, "400 Bad Request: the path must start with /\n");
  if (stream.requestComplete) return dispatch(stream);
  // A body follows: its route says how much may come, and whether its handler takes it
  // piece by piece (then it runs now).
  ReactorScratch& scratch = reactor_.scratch();
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  if (!percentDecode(path, scratch.decodedPath) || scratch.decodedPath.find('\0') != std::string::npos)
    return answerError(stream, 400, "400 Bad Request: malformed percent-encoding in path\n");
  BodyPolicy policy = reactor_.site().bodyPolicy(request.method, request.authority, scratch.decodedPath, scratch.route);
  stream.bodyLimit = policy.limit;
  if (request.contentLength().value_or(0) > stream.bodyLimit)
    return answerError(stream, 413, "413 Content Too Large: request body too large for this route\n");
  stream.deadlineMs = reactor_.nowMs() + ms(reactor_.site().config().server.limits.bodyTimeout);
  if (policy.handler && policy.handler->streamsBody()) {
    stream.bodyStreamed = true;
    dispatch(stream);
  }
}

void Http2Session::bodyPiece(Http2Stream& stream, const char* data, std::size_t length) {
  const Limits& limits = reactor_.site().config().server.limits;
  stream.bodyReceived += length;
  if (stream.bodyStreamed) {
    if (!stream.pending || stream.responded) {
      // Answered already (at once, or before the body came): the rest is not wanted.
      nghttp2_session_consume(session_, stream.id, length);
      return;
    }
    if (stream.bodyPaused) {
      // Kept, and acknowledged when the handler asks for more: the client can send at
      // most one window ahead.
      stream.body.append(data, length);
      stream.bodyHeld += length;
      return;
    }
    stream.deadlineMs = reactor_.nowMs() + ms(limits.bodyTimeout);
    nghttp2_session_consume(session_, stream.id, length);
    if (stream.pending->deliverBody(std::string_view(data, length)) == MS_BODY_PAUSE) {
      stream.bodyPaused = true;
      // The plugin holds the body up: its route's timeout bounds how long.
      stream.answerDeadlineMs = reactor_.nowMs() + ms(stream.timeout);
    }
    return;
  }
  nghttp2_session_consume(session_, stream.id, length);
  if (stream.dispatched || stream.responded) return;  // refused already: discarded
  if (stream.body.size() + length > stream.bodyLimit)
    return answerError(stream, 413, "413 Content Too Large: request body too large for this route\n");
  stream.body.append(data, length);
  stream.deadlineMs = reactor_.nowMs() + ms(limits.bodyTimeout);
}

void Http2Session::requestComplete(Http2Stream& stream) {
  stream.deadlineMs = kNoDeadline;
  if (stream.bodyStreamed) {
    if (!stream.pending || stream.bodyPaused || !stream.body.empty()) return;  // ends once the held part is taken
    std::shared_ptr<Responder> responder = stream.pending;
    responder->endBody(MS_BODY_COMPLETE);
    if (!stream.responded) stream.answerDeadlineMs = reactor_.nowMs() + ms(stream.timeout);  // its time starts now
    return;
  }
  if (!stream.dispatched && !stream.responded) dispatch(stream);
}

void Http2Session::dispatch(Http2Stream& stream) {
  stream.dispatched = true;
  ReactorScratch& scratch = reactor_.scratch();
  const Site& site = reactor_.site();
  scratch.route.routeId = Metrics::kNoRoute;
  const RequestFields& request = stream.request;
  std::string_view target = request.target;
  std::size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  if (!percentDecode(path, scratch.decodedPath) || scratch.decodedPath.find('\0') != std::string::npos)
    return answerError(stream, 400, "400 Bad Request: malformed percent-encoding in path\n");
  Request::Parts parts;
  parts.method = request.method;
  parts.target = target;
  parts.path = scratch.decodedPath;
  parts.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  parts.body = stream.bodyStreamed ? std::string_view{} : std::string_view(stream.body);
  parts.headers = Span<Header>(request.headers.data(), request.headers.size());
  stream.client = clientBehindTrustedProxy(remote_, parts.headers, site.config().server.trustedProxies).address;
  parts.remoteAddress = stream.client.empty() ? std::string_view(remote_) : std::string_view(stream.client);
  parts.authority = request.authority;
  parts.requestId = stream.record.requestId;
  parts.versionMinor = 1;

  Response& response = scratch.response;
  response.reset();
  ResponseContext context = stream.record.context();
  context.versionMinor = 1;
  if (answerBuiltin(parts, site.config().server, reactor_.context(), response)) {
    stream.record.routeId = Metrics::kBuiltin;
    stream.record.route = kBuiltinRoute;
    context.routeId = Metrics::kBuiltin;
    context.route = kBuiltinRoute;
    return sendResponse(stream, context, response);
  }
  Routed routed;
  try {
    routed = site.route(parts, response, scratch.route, reactor_.mailbox());
  } catch (const std::exception& e) {
    log::error("request " + request.method + " " + request.target + " from " + remote_ + " failed: " + e.what() +
               " (answered 500)");
    response.reset();
    response.setStatus(500);
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("500 Internal Server Error\n");
  }
  const BoundHandler* handler = routed.handler;
  stream.record.routeId = scratch.route.routeId;
  stream.record.route = scratch.route.routePattern;
  if (handler) stream.record.plugin = handler->pluginName();
  context = stream.record.context();
  context.versionMinor = 1;
  if (handler && handler->blocking()) {
    auto call = std::make_shared<BlockingCall>(parts, true, reactor_.siteShared(), handler, context.routeId,
                                               scratch.route.routePattern, stream.startNs, reactor_.mailbox());
    call->exchange.version = 20;
    call->waiter = &stream;
    if (!BlockingCall::start(call, reactor_.context().workers())) {
      log::warning("the worker pool is full: answered 503 to " + stream.record.method + " " + stream.record.target +
                   " (raise server.workers or limits.worker_queue if this is normal load)");
      return answerBusy(stream, context);
    }
    stream.blocking = std::move(call);
    stream.handlerDeadlineMs = reactor_.nowMs() + ms(handler->timeout());
    return;
  }
  if (routed.fileWork) {
    if (!reactor_.context().fileThreads().submit(std::move(routed.fileWork))) {
      log::warning("the file threads are busy: answered 503 to " + stream.record.method + " " + stream.record.target +
                   " (raise server.file_threads if the disk is slow but sound)");
      return answerBusy(stream, context);
    }
    return beginDeferred(stream, std::move(routed.later), site.config().server.limits.handlerTimeout);
  }
  if (!handler) return sendResponse(stream, context, response);
  if (handler->compresses()) {
    stream.record.compress = true;
    stream.record.acceptEncoding = std::string(Request(parts).header("accept-encoding"));
    context = stream.record.context();
    context.versionMinor = 1;
  }
  Request view(parts);
  Exchange exchange;
  exchange.request = &view;
  exchange.response = &response;
  exchange.mailbox = &reactor_.mailbox();
  exchange.version = 20;
  exchange.bodyStreamed = stream.bodyStreamed;
  exchange.webSocketAllowed = false;  // WebSockets stay on HTTP/1.1 (no RFC 8441 here)
  handler->run(exchange);
  deliverExchange(stream, exchange, context);
}

void Http2Session::deliverExchange(Http2Stream& stream, Exchange& exchange, const ResponseContext& context) {
  submitInterims(stream, exchange.interims);
  if (exchange.deferred) return beginDeferred(stream, std::move(exchange.deferred), exchange.handler->timeout());
  sendResponse(stream, context, *exchange.response);
}

void Http2Session::blockingDone(Http2Stream& stream, BlockingCall& call) {
  try {
    stream.blocking.reset();  // `call` stays alive: the task delivering it holds it
    call.waiter = nullptr;
    ResponseContext context = stream.record.context();
    context.versionMinor = 1;
    context.compress = call.handler->compresses();
    context.acceptEncoding = call.acceptEncoding;
    deliverExchange(stream, call.exchange, context);
    flush();
  } catch (const std::exception& e) {
    log::error("HTTP/2 connection " + remote_ + ": unexpected error, closing it: " + e.what());
    destroy();
  }
}

void Http2Stream::blockingDone(BlockingCall& call) { session.blockingDone(*this, call); }

void Http2Session::submitInterims(Http2Stream& stream, std::vector<Response>& interims) {
  for (const Response& interim : interims) {
    std::string status = std::to_string(interim.status());
    std::vector<std::pair<std::string, std::string>> lines = lowercaseFields(interim.headerBlock());
    std::vector<nghttp2_nv> fields{field(":status", status)};
    for (const auto& [name, value] : lines) fields.push_back(field(name, value));
    nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, stream.id, nullptr, fields.data(), fields.size(), nullptr);
  }
  interims.clear();
}

void Http2Session::beginDeferred(Http2Stream& stream, std::shared_ptr<Responder> responder, Duration timeout) {
  stream.pending = std::move(responder);
  stream.pending->attach(this);
  stream.pending->setHandlerRunning(false);
  stream.timeout = timeout;
  stream.answerDeadlineMs = reactor_.nowMs() + ms(timeout);
  if (!stream.bodyStreamed && stream.pending->readsBody()) {
    // A buffered route's handler reading its body the streaming way: all of it, at once.
    if (!stream.body.empty()) stream.pending->deliverBody(stream.body);
    stream.pending->endBody(MS_BODY_COMPLETE);
  }
  takeAnswer(stream);
}

void Http2Session::onResponderReady(Responder& responder) {
  if (destroyed_) return;
  for (auto& [id, stream] : streams_) {
    if (stream->pending.get() != &responder) continue;
    try {
      takeAnswer(*stream);
      flush();
    } catch (const std::exception& e) {
      log::error("HTTP/2 connection " + remote_ + ": unexpected error, closing it: " + e.what());
      destroy();
    }
    return;
  }
}

void Http2Session::takeAnswer(Http2Stream& stream) {
  if (!stream.pending) return;
  Responder::Taken taken = stream.pending->take();
  if (!stream.responded) submitInterims(stream, taken.interims);
  ResponseContext context = stream.record.context();
  context.versionMinor = 1;
  if (taken.head) {
    sendResponse(stream, context, taken.response);
    // A whole answer, or a stream with no body on the wire (HEAD, 204, 304): done.
    if (stream.ended) return finishDeferred(stream);
  }
  if (stream.responded && stream.pending) {
    if (!taken.body.empty()) {
      stream.out.append(taken.body);
      if (stream.dataDeferred) {
        stream.dataDeferred = false;
        nghttp2_session_resume_data(session_, stream.id);
      }
    }
    if (taken.ended) {
      stream.ended = true;
      if (stream.dataDeferred) {
        stream.dataDeferred = false;
        nghttp2_session_resume_data(session_, stream.id);
      }
      return finishDeferred(stream);
    }
  }
  if (taken.abandoned) {
    log::error("plugin " + stream.pending->pluginName() + " let go of " + stream.record.method + " " + stream.record.target +
               " without " + (stream.responded ? "ending its stream; the stream was reset" : "answering it; answered 500"));
    Metrics::instance().countPluginError(stream.pending->pluginName());
    std::shared_ptr<Responder> responder = std::move(stream.pending);
    responder->completed();
    // An unfinished body must not look finished: the stream is reset, not ended.
    if (stream.responded) return resetStream(stream, NGHTTP2_INTERNAL_ERROR);
    return answerError(stream, 500, "500 Internal Server Error\n");
  }
  if (taken.resumeBody && stream.bodyPaused) {
    stream.bodyPaused = false;
    std::size_t held = stream.bodyHeld;
    stream.bodyHeld = 0;
    if (held) nghttp2_session_consume(session_, stream.id, held);
    stream.deadlineMs = reactor_.nowMs() + ms(reactor_.site().config().server.limits.bodyTimeout);
    if (!stream.body.empty()) {
      std::string piece = std::move(stream.body);
      stream.body.clear();
      if (stream.pending->deliverBody(piece) == MS_BODY_PAUSE) {
        stream.bodyPaused = true;
        stream.answerDeadlineMs = reactor_.nowMs() + ms(stream.timeout);
        return;
      }
    }
    if (stream.requestComplete && stream.pending) {
      stream.pending->endBody(MS_BODY_COMPLETE);
      if (!stream.responded) stream.answerDeadlineMs = reactor_.nowMs() + ms(stream.timeout);
    }
  }
}

void Http2Session::finishDeferred(Http2Stream& stream) {
  if (stream.pending) {
    std::shared_ptr<Responder> responder = std::move(stream.pending);
    responder->completed();
  }
}

void Http2Session::answerBusy(Http2Stream& stream, const ResponseContext& context) {
  Response& response = reactor_.scratch().response;
  core::answerBusy(response);
  sendResponse(stream, context, response);
}

void Http2Session::answerError(Http2Stream& stream, int status, std::string_view text) {
  if (stream.responded) return;
  Response& response = reactor_.scratch().response;
  response.reset();
  response.setStatus(status);
  response.setContentType("text/plain; charset=utf-8");
  response.setBody(text);
  ResponseContext context = stream.record.context();
  context.versionMinor = 1;
  context.compress = false;
  sendResponse(stream, context, response);
}

void Http2Session::sendResponse(Http2Stream& stream, const ResponseContext& context, Response& response) {
  if (stream.responded) return;
  stream.responded = true;
  if (context.method == "HEAD") response.setOmitBody(true);
  if (context.compress) compressAnswer(response, context.acceptEncoding);
  const std::vector<HttpListenerOptions>& listeners = reactor_.context().httpListeners;
  if (listener_ < listeners.size() && !listeners[listener_].hsts.empty() &&
      response.header("Strict-Transport-Security").empty())
    response.addHeader("Strict-Transport-Security", listeners[listener_].hsts);
  echoRequestId(response, reactor_.site().config().server.requestIdHeader, context.requestId);

  int status = response.status();
  bool sendsBody = !response.omitBody() && !statusHasNoBody(status);
  std::string statusText = std::to_string(status);
  std::string length = std::to_string(response.contentLength());
  std::vector<std::pair<std::string, std::string>> lines = lowercaseFields(response.headerBlock());
  std::vector<nghttp2_nv> fields;
  fields.reserve(5 + lines.size());
  fields.push_back(field(":status", statusText));
  fields.push_back(field("date", currentHttpDate()));
  fields.push_back(field("server", kServer));
  if (!response.contentType().empty()) fields.push_back(field("content-type", response.contentType()));
  if (!statusHasNoBody(status) && !response.streamed()) fields.push_back(field("content-length", length));
  for (const auto& [name, value] : lines) fields.push_back(field(name, value));

  stream.status = status;
  stream.streamed = response.streamed();
  std::uint64_t bodyBytes = sendsBody && !response.streamed() ? response.contentLength() : 0;
  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = &Http2Session::readBody;
  bool hasData = false;
  if (sendsBody) {
    if (response.streamed()) {
      hasData = true;
    } else if (response.hasFile()) {
      stream.fileOffset = response.fileOffset();
      stream.fileRemaining = response.fileLength();
      stream.file = response.releaseFile();
      hasData = stream.fileRemaining > 0;
      if (!hasData) stream.file.reset();
    } else if (!response.body().empty()) {
      stream.out = std::move(response.body());
      response.body().clear();
      stream.outOffset = 0;
      stream.ended = true;
      hasData = true;
    }
  }
  if (!hasData) stream.ended = true;
  int rv = nghttp2_submit_response(session_, stream.id, fields.data(), fields.size(), hasData ? &provider : nullptr);
  if (rv != 0) {
    log::debug("HTTP/2 connection " + remote_ + ": could not answer stream " + std::to_string(stream.id) + ": " +
               nghttp2_strerror(rv));
    return;
  }
  // A whole answer is counted now, as HTTP/1 does; a stream once it ends.
  if (!stream.streamed || !sendsBody) {
    stream.bodyBytesSent = bodyBytes;
    record(stream);
    stream.bodyBytesSent = 0;  // (readBody counts what goes out)
  }
}

void Http2Session::record(Http2Stream& stream) {
  if (stream.recorded) return;
  stream.recorded = true;
  std::uint64_t durationNs = Reactor::monotonicNs() - stream.startNs;
  reactor_.metrics().countRequest(stream.record.routeId, stream.status, durationNs);
  reactor_.metrics().http2Requests.add(1);
  if (AccessLog* log = reactor_.context().accessLog()) {
    std::string_view client = stream.client.empty() ? std::string_view(remote_).substr(0, remoteIpLength_)
                                                    : std::string_view(stream.client).substr(0, stream.client.rfind(':'));
    ResponseContext context = stream.record.context();
    context.versionMinor = 1;
    AccessRecord entry = accessRecordOf(client, context, stream.status, stream.bodyBytesSent, durationNs);
    entry.http2 = true;
    log->record(entry);
  }
}

void Http2Session::resetStream(Http2Stream& stream, std::uint32_t errorCode) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, errorCode);
}

void Http2Session::forget(std::int32_t streamId) {
  auto it = streams_.find(streamId);
  if (it == streams_.end()) return;
  std::unique_ptr<Http2Stream> stream = std::move(it->second);
  streams_.erase(it);
  if (stream->blocking) stream->blocking->waiter = nullptr;  // its result will find nobody
  if (stream->bodyHeld && session_ && !destroyed_) nghttp2_session_consume_connection(session_, stream->bodyHeld);
  if (stream->pending) {
    std::shared_ptr<Responder> responder = std::move(stream->pending);
    responder->detach(draining_ || reactor_.context().draining.load(std::memory_order_relaxed) ? MS_CANCEL_STOPPING
                                                                                             : MS_CANCEL_CLIENT_GONE);
  }
  if (stream->responded && stream->streamed) record(*stream);  // a stream, ended or cut
}

}  // namespace microserver::core
