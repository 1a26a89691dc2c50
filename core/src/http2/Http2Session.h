// Http2Session: one HTTP/2 connection (RFC 9113), owned by one reactor thread from birth
// to close: TLS connections whose ALPN chose "h2", and plain ones that began with the
// client's connection preface (prior-knowledge h2c; see HttpConnection).
//
// nghttp2 does the framing, HPACK, stream states and flow control; we feed it what the
// transport reads (nghttp2_session_mem_recv) and write what it produces
// (nghttp2_session_mem_send), both non-blocking: the Debian 1.52 API, none of the
// callbacks that would do I/O themselves. Each complete request goes to the site exactly
// as an HTTP/1.1 one does (built-in endpoints, static files, plugins at once, later,
// streamed or on a worker); only the framing differs.
//
// Limits: concurrent streams, the header list size (431), each route's body size (413),
// the rapid-reset and CONTINUATION floods (nghttp2's limits, set explicitly), the preface
// and idle timeouts, a request's header and body timeouts, the send timeout. A request
// body is acknowledged (WINDOW_UPDATE) only as the handler takes it, so a handler that
// pauses holds the client back, not our memory. A graceful stop sends GOAWAY, lets the
// requests in flight finish and cuts endless streams, as HTTP/1 connections do.
#pragma once

#include <nghttp2/nghttp2.h>

#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "http2/Http2Stream.h"
#include "net/Reactor.h"
#include "net/SocketWatch.h"
#include "net/Transport.h"
#include "site/Responder.h"

namespace microserver::core {

struct ResponseContext;
class Response;
struct Exchange;

class Http2Session final : public ReactorClient, public Responder::Sink {
 public:
  // The 24 bytes every HTTP/2 client sends first (RFC 9113 3.4).
  static constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  static constexpr std::uint32_t kMaxConcurrentStreams = 100;

  // Takes over an accepted, non-blocking socket on `reactor`'s thread. `received`: bytes
  // already read from it (the preface of an h2c connection). Owns itself from here.
  static void start(Poco::Net::StreamSocket& socket, Reactor& reactor, std::string remote,
                    std::unique_ptr<Transport> transport, std::uint8_t listener, std::string_view received);
  ~Http2Session() override;
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  void onReadable();
  void onWritable();

  void checkDeadline(std::int64_t nowMs) override;
  void beginDrain() override;
  void abandon() override;
  void onResponderReady(Responder& responder) override;

  // A worker finished a stream's blocking handler (Http2Stream::blockingDone).
  void blockingDone(Http2Stream& stream, BlockingCall& call);

 private:
  Http2Session(Poco::Net::StreamSocket& socket, Reactor& reactor, std::string remote,
               std::unique_ptr<Transport> transport, std::uint8_t listener);

  // ---- nghttp2's callbacks (user_data is the session). Never throw, never destroy.
  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t nameLength,
                      const std::uint8_t* value, std::size_t valueLength, std::uint8_t flags, void* user);
  static int onFrameReceived(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int onDataChunk(nghttp2_session*, std::uint8_t flags, std::int32_t streamId, const std::uint8_t* data,
                         std::size_t length, void* user);
  static int onFrameSent(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int onStreamClosed(nghttp2_session*, std::int32_t streamId, std::uint32_t errorCode, void* user);
  static ssize_t readBody(nghttp2_session*, std::int32_t streamId, std::uint8_t* buffer, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source* source, void* user);

  // ---- Requests.
  void headersComplete(Http2Stream& stream);
  void bodyPiece(Http2Stream& stream, const char* data, std::size_t length);
  void requestComplete(Http2Stream& stream);
  // Hands the complete request (or, for a streamed body, its head) to the site.
  void dispatch(Http2Stream& stream);
  void deliverExchange(Http2Stream& stream, Exchange& exchange, const ResponseContext& context);
  void submitInterims(Http2Stream& stream, std::vector<Response>& interims);
  void beginDeferred(Http2Stream& stream, std::shared_ptr<Responder> responder, Duration timeout);
  void takeAnswer(Http2Stream& stream);
  void finishDeferred(Http2Stream& stream);
  void answerBusy(Http2Stream& stream, const ResponseContext& context);
  // A short text answer made by the server (400, 413, 431, 500, 503, 504).
  void answerError(Http2Stream& stream, int status, std::string_view text);
  // Submits a final response: HEADERS, then DATA from the stream (none for HEAD, 204, 304).
  void sendResponse(Http2Stream& stream, const ResponseContext& context, Response& response);
  void record(Http2Stream& stream);
  void resetStream(Http2Stream& stream, std::uint32_t errorCode);
  // The stream is gone (closed by nghttp2, or the connection ends): tells whoever still
  // works on it, and forgets it.
  void forget(std::int32_t streamId);
  Http2Stream* find(std::int32_t streamId) const;

  // ---- I/O.
  // Writes what nghttp2 has to send; decides what to wait for next; closes when done.
  void flush();
  void updateWatch();
  void fail(const std::string& why);  // logs at debug, then destroy()
  void destroy();

  Poco::Net::StreamSocket socket_;
  Reactor& reactor_;
  std::unique_ptr<Transport> transport_;
  SocketWatch<Http2Session, &Http2Session::onReadable, &Http2Session::onWritable> watch_;
  std::string remote_;
  std::size_t remoteIpLength_ = 0;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<Http2Stream>> streams_;
  std::string unsent_;              // bytes nghttp2 produced that the socket did not take yet
  std::int64_t deadlineMs_ = 0;     // preface, idle or send timeout of the connection
  std::int64_t prefaceDeadlineMs_ = 0;
  bool sendBlocked_ = false;        // unsent_ waits for the client: the send timeout runs
  std::uint8_t listener_;
  bool draining_ = false;           // GOAWAY sent: no new streams, close once the rest are done
  bool destroyed_ = false;
  bool inCallback_ = false;         // inside nghttp2: destroy() waits until it returns
  bool broken_ = false;             // the connection must close once nghttp2 returns
  bool flushing_ = false;
};

}  // namespace microserver::core
