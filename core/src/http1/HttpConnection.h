// HttpConnection: one client connection, owned by one reactor thread from birth to close.
//
// Bytes flow one way: socket -> (reactor read buffer | own buffer) -> parser -> Request
// -> Site -> Response -> reactor output buffer -> socket. A request that arrives whole in
// one read is parsed and answered straight from the reactor's buffers; the connection
// keeps bytes of its own only for a request split across reads, and output only when the
// socket would block, so ten thousand idle connections cost little memory.
//
// Poco 1.11.0 rules obeyed here (see DESIGN.md): one observer at a time, readable while
// reading, writable only while output is queued (switching re-adds the observer so the
// epoll mask is recomputed); one read per event; a 0-byte read ends the input; no
// exception leaves a callback.
//
// Responses always leave in request order: while a response waits (a blocking handler
// on a worker, an answer a plugin gives later, a full socket), later pipelined requests
// wait in the buffer.
//
// Answers given later (site/Responder) are this connection's business on its reactor
// thread: it takes what the plugin made ready, frames a streamed body (chunked on
// HTTP/1.1, close-delimited on HTTP/1.0), tells the plugin when to pause and go on, and
// gives the answer up (504, client gone, stopping) when it must. A `body: stream` route
// gets its request body piece by piece as it arrives; while the plugin says Pause, the
// socket is not read.
#pragma once

#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>
#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "http1/ChunkedDecoder.h"
#include "http1/HttpParser.h"
#include "net/OutputQueue.h"
#include "net/SocketWatch.h"
#include "net/Transport.h"
#include "net/Reactor.h"
#include "site/BlockingCall.h"
#include "site/Exchange.h"
#include "site/Responder.h"

namespace microserver::core {

class HttpConnection : public ReactorClient, public Responder::Sink, public BlockingCall::Waiter {
 public:
  // Built on the reactor's own thread from an accepted, already non-blocking socket;
  // registers its observer last. `remote` is the peer's "ip:port". `transport` moves its
  // bytes (TLS, after the handshake); plain TCP when null. `listener`: the index of its
  // listener's options in the server's context (ServerContext::httpListeners), if any.
  static constexpr std::uint8_t kNoListenerOptions = 255;
  HttpConnection(Poco::Net::StreamSocket& socket, Reactor& reactor, std::string remote,
                 std::unique_ptr<Transport> transport = nullptr, std::uint8_t listener = kNoListenerOptions);
  // The form Poco's ParallelSocketAcceptor instantiates (it never calls it: see ReactorPool).
  HttpConnection(Poco::Net::StreamSocket& socket, Poco::Net::SocketReactor& reactor);
  ~HttpConnection() override;

  // The socket's readiness (see SocketWatch); may delete this.
  void onReadable();
  void onWritable();

  void checkDeadline(std::int64_t nowMs) override;
  void beginDrain() override;
  void abandon() override;
  void onResponderReady(Responder& responder) override;
  void blockingDone(BlockingCall& call) override;

 private:
  enum class Phase : std::uint8_t {
    Idle,       // between requests (keep-alive), nothing received
    Head,       // receiving a request head
    Body,       // head done, receiving its body (buffered, or streamed to the handler)
    Waiting,    // the answer comes later: a blocking handler on a worker, or a deferred one
    Streaming,  // the answer's head is out; its body follows as the plugin writes it
    Lingering,  // final response sent; discarding input until the peer closes
  };

  void handleReadable();
  void handleWritable();
  // Parses and answers complete requests in data[0, len); returns bytes consumed. Stops
  // early when a response must be waited for, or the batch's output is large.
  std::size_t process(const char* data, std::size_t len);
  // Sends what process() produced and goes on with buffered requests while the socket
  // takes everything; then settles the connection's state (write mode, idle, close).
  void serve();
  // One request whose head (and body, unless `bodyStreamed`) is complete.
  void respond(const RequestHead& head, std::string_view body, bool bodyStreamed = false);
  // Writes a response (headers into the reactor's output, a file body queued). A streamed
  // one gets its head only: the body follows (takeAnswer).
  void sendResponse(const ResponseContext& request, Response& response);
  // Counts a finished request (metrics, access log).
  void record(const ResponseContext& request, int status, std::uint64_t bodyBytes);
  // The head of a request announcing a body: routes it once, to learn its body limit and
  // whether the handler streams it. False if the request was refused (bad path, too
  // large) or answered at once (no route, for a client waiting for 100 Continue: it
  // should not upload for nothing, RFC 9110 10.1.1).
  bool admitBody(const RequestHead& head, BodyPolicy& policy);
  // A `body: stream` route: the handler runs now; the body follows through feedBody().
  void startStreamedBody(const RequestHead& head, const BodyPolicy& policy);
  std::size_t feedBody(const char* data, std::size_t len);
  void endStreamedBody();
  void failStreamedBody(int status, const char* reason);
  // What a handler asked for once it returned: interim responses, a WebSocket, an answer
  // now or later. `body` is the buffered body, for a deferred answer that reads it.
  void deliverExchange(Exchange& exchange, const Request& request, const RequestHead* head,
                       const ResponseContext& context, std::string_view body);
  void writeInterims(std::vector<Response>& interims, int versionMinor);
  void startBlocking(const Request::Parts& parts, bool keepAlive, const BoundHandler& handler);
  void finishBlocking(BlockingCall& call);
  void answerTimedOutHandler();
  // An answer given later: hold it, and take what is ready already.
  // Static files that need the disk: the work goes to a file thread and its answer
  // arrives like a plugin's answer given later.
  void startFileWork(Routed routed, const ResponseContext& context);
  // 503 with Retry-After: a pool's queue is full.
  void answerBusy(const ResponseContext& context);
  void beginDeferred(std::shared_ptr<Responder> responder, const ResponseContext& context, Duration timeout,
                     std::string_view bufferedBody);
  // Moves what the plugin made ready into the output (no I/O: serve() sends it).
  void takeAnswer();
  void finishDeferred();
  void answerTimedOutDeferred();
  bool answerPending() const { return blocking_ || pending_; }
  void reportQueued();
  // The handler accepted a WebSocket: answer 101 (or refuse a bad handshake).
  void acceptWebSocket(const Request& request, const RequestHead& head, const ResponseContext& context,
                       Exchange& exchange);
  // After the 101 is written: hands the socket, with the bytes that followed the
  // handshake, to a ServicePeer, and deletes this connection (not the socket).
  void completeUpgrade(std::string_view input);
  // Whether the connection's first bytes are HTTP/2's preface (h2c with prior knowledge):
  // then it has handed itself over to an Http2Session (deleted), or keeps the first part
  // of the preface until the rest comes.
  bool beginsHttp2(const char* data, std::size_t length);
  void refuse(int status, const char* reason);
  // A plain listener with redirect_to_https: 301 (308 but for GET and HEAD) to https.
  void redirectToHttps(const HttpListenerOptions& options, const RequestHead& head, const ResponseContext& context);
  // Its listener's options, or nullptr when they add nothing.
  const HttpListenerOptions* listenerOptions() const;
  // Believes a trusted proxy's word on who sent `head` and how (forwardedClient_).
  void resolveClient(const RequestHead& head, const ServerConfig& server);
  // Who this request is from, as plugins and the access log see it.
  std::string_view clientAddress() const { return forwardedClient_.empty() ? remote_ : forwardedClient_; }
  std::string_view clientIp() const;
  bool flushOutput();
  void startReading();
  void startWriting();
  // Stops watching the socket for input (a half-closed peer, a full buffer) and back.
  void pauseReading();
  void resumeReading();
  // Tells the reactor what to wait for, from writing_ and readingPaused_.
  void updateWatch();
  void closeAfterOutput();
  void becomeIdle();
  void logFileShrank() const;
  void destroy();
  int fd() const;

  Poco::Net::StreamSocket socket_;
  Reactor& reactor_;
  std::unique_ptr<Transport> transport_;
  SocketWatch<HttpConnection, &HttpConnection::onReadable, &HttpConnection::onWritable> watch_;
  std::string remote_;             // "ip:port": the peer (after the PROXY protocol)
  std::size_t remoteIpLength_ = 0;
  // This request's client when a trusted proxy named one (server.trusted_proxies), "ip:port"
  // (port 0 when not given); empty: the peer itself. See site/ForwardedClient.h.
  std::string forwardedClient_;
  bool forwardedHttps_ = false;    // a trusted proxy says the client spoke HTTPS
  std::string requestId_;          // the current request's id (empty: ids are off)
  std::string input_;              // bytes not yet answered, when a request spans reads
  HeadScanState scan_;
  std::size_t headBytes_ = 0;      // head length once complete (Body phase)
  // A chunked request body on its way: its decoder, and for a buffered one the head (kept
  // while the body arrives) and the body so far. Allocated only then: an idle connection
  // holds as little as it can.
  struct ChunkedRequest {
    ChunkedDecoder decoder;
    std::string head, body;
  };
  std::unique_ptr<ChunkedRequest> chunked_;
  std::unique_ptr<OutputQueue> queue_;
  std::shared_ptr<BlockingCall> blocking_;  // the worker's call in flight, if any
  // An answer given later, in flight.
  std::shared_ptr<Responder> pending_;
  std::unique_ptr<ResponseRecord> pendingRecord_;  // its request, for the log and the metrics
  Duration pendingTimeout_{0};            // the route's timeout
  int pendingStatus_ = 0;
  std::uint64_t streamedBytes_ = 0;       // body bytes of a streamed answer so far
  bool pendingHeadSent_ = false;          // its head is out: a stream follows
  bool streamChunked_ = false;            // the stream is framed chunked (HTTP/1.1)
  bool streamBodyless_ = false;           // HEAD, 204, 304: the stream's bytes go nowhere
  // A request body streamed to the handler (`body: stream`).
  bool bodyStreaming_ = false;
  bool bodyPaused_ = false;               // the handler said Pause: the socket is not read
  std::uint64_t bodyRemaining_ = 0;       // of a Content-Length body
  std::uint64_t bodyLimit_ = 0;           // of the buffered body on its way (its route's)
  struct Upgrade {
    const ms_session_callbacks* callbacks;
    void* session;
    std::shared_ptr<LoadedPlugin> plugin;
  };
  std::unique_ptr<Upgrade> upgrade_;        // set once a WebSocket handshake was accepted
  std::int64_t deadlineMs_ = 0;    // of the current phase (or of writing)
  std::int64_t handlerDeadlineMs_ = 0;  // of blocking_
  std::int64_t answerDeadlineMs_ = 0;   // of pending_, until its head is out
  std::uint64_t requestStartNs_ = 0;    // when the current request was complete
  Phase phase_ = Phase::Head;
  std::uint8_t listener_;          // its listener's options (index), or kNoListenerOptions
  bool writing_ = false;           // output waits in queue_: watch for writability, not input
  bool readingPaused_ = false;     // input is not read for now (see pauseReading)
  bool closeAfterWrite_ = false;   // the last response of this connection is out
  bool lingerOnClose_ = false;     // input may still be on its way: half-close and drain it
  bool batchCut_ = false;          // process() stopped because the output grew large
  bool sentContinue_ = false;      // 100 Continue already sent for this request
  bool peerGone_ = false;          // the peer reset: drop everything
  bool inputEnded_ = false;        // the peer half-closed: answer what it sent, then close
  bool destroyed_ = false;
  bool noDelay_ = false;           // TCP_NODELAY is set (once the connection is kept alive)
  bool usedQueue_ = false;         // a response waited for writability (we did not read meanwhile)
  bool sawRequest_ = false;        // an HTTP/1 request came: the connection can no longer become HTTP/2
};

}  // namespace microserver::core
