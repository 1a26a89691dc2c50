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
// on a worker, a full socket), later pipelined requests wait in the buffer.
#pragma once

#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>
#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "site/BlockingCall.h"
#include "http1/ChunkedDecoder.h"
#include "http1/HttpParser.h"
#include "net/OutputQueue.h"
#include "net/Reactor.h"

namespace microserver::core {

class HttpConnection : public ReactorClient {
 public:
  // Built on the reactor's own thread from an accepted, already non-blocking socket;
  // registers its observer last. `remote` is the peer's "ip:port".
  HttpConnection(Poco::Net::StreamSocket& socket, Reactor& reactor, std::string remote);
  // The form Poco's ParallelSocketAcceptor instantiates (it never calls it: see ReactorPool).
  HttpConnection(Poco::Net::StreamSocket& socket, Poco::Net::SocketReactor& reactor);
  ~HttpConnection() override;

  void onReadable(Poco::Net::ReadableNotification* notification);
  void onWritable(Poco::Net::WritableNotification* notification);

  void checkDeadline(std::int64_t nowMs) override;
  void beginDrain() override;
  void abandon() override;

 private:
  enum class Phase : std::uint8_t {
    Idle,       // between requests (keep-alive), nothing received
    Head,       // receiving a request head
    Body,       // head done, receiving its body
    Waiting,    // a blocking handler runs on a worker for this connection's request
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
  // One request whose head (and body, if any) is complete.
  void respond(const RequestHead& head, std::string_view body);
  // Writes a finished response (headers into the reactor's output, a file body queued).
  void sendResponse(const ResponseContext& request, Response& response);
  // The head of a request announcing a body: answer now if it cannot be routed (so the
  // client does not upload for nothing), else send 100 Continue if it asked.
  bool admitBody(const RequestHead& head);
  void startBlocking(const Request::Parts& parts, bool keepAlive, const BoundHandler& handler);
  static void deliverBlocking(const std::shared_ptr<BlockingCall>& call);
  void finishBlocking(BlockingCall& call);
  void answerTimedOutHandler();
  // The handler accepted a WebSocket: answer 101 (or refuse a bad handshake).
  void acceptWebSocket(const Request& request, const RequestHead& head, const BoundHandler& handler,
                       Response& response);
  // After the 101 is written: hands the socket, with the bytes that followed the
  // handshake, to a ServicePeer, and deletes this connection (not the socket).
  void completeUpgrade(std::string_view input);
  void refuse(int status, const char* reason);
  bool flushOutput();
  void startReading();
  void startWriting();
  // Stops watching the socket for input (a half-closed peer, a full buffer) and back.
  void pauseReading();
  void resumeReading();
  void closeAfterOutput();
  void becomeIdle();
  void logFileShrank() const;
  void destroy();
  int fd() const;

  Poco::Net::StreamSocket socket_;
  Reactor& reactor_;
  std::string remote_;             // "ip:port"
  std::size_t remoteIpLength_ = 0;
  std::string input_;              // bytes not yet answered, when a request spans reads
  HeadScanState scan_;
  std::size_t headBytes_ = 0;      // head length once complete (Body phase)
  std::string chunkedHead_;        // head of a chunked request, kept while its body arrives
  std::string chunkedBody_;
  std::unique_ptr<ChunkedDecoder> chunked_;
  std::unique_ptr<OutputQueue> queue_;
  std::shared_ptr<BlockingCall> blocking_;  // the worker's call in flight, if any
  struct Upgrade {
    std::shared_ptr<Service> service;
    std::shared_ptr<LoadedPlugin> plugin;
  };
  std::unique_ptr<Upgrade> upgrade_;        // set once a WebSocket handshake was accepted
  std::int64_t deadlineMs_ = 0;    // of the current phase (or of writing)
  std::int64_t handlerDeadlineMs_ = 0;  // of blocking_
  std::uint64_t requestStartNs_ = 0;    // when the current request was complete
  Phase phase_ = Phase::Head;
  bool writing_ = false;           // the writable observer is registered instead of readable
  bool readingPaused_ = false;     // no observer for input (see pauseReading)
  bool closeAfterWrite_ = false;   // the last response of this connection is out
  bool lingerOnClose_ = false;     // input may still be on its way: half-close and drain it
  bool batchCut_ = false;          // process() stopped because the output grew large
  bool sentContinue_ = false;      // 100 Continue already sent for this request
  bool peerGone_ = false;          // the peer reset: drop everything
  bool inputEnded_ = false;        // the peer half-closed: answer what it sent, then close
  bool destroyed_ = false;
  bool noDelay_ = false;           // TCP_NODELAY is set (once the connection is kept alive)
  bool usedQueue_ = false;         // a response waited for writability (we did not read meanwhile)
};

}  // namespace microserver::core
