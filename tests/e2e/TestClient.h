// TestClient: blocking socket helpers for end-to-end tests.
//
//   e2e::Connection c(server->port());
//   c.sendAll("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n");  // pipelined
//   auto first = c.readResponse();
//   auto second = c.readResponse();
//   EXPECT_EQ(second.status, 404);
//   EXPECT_EQ(second.header("content-type"), "text/html; charset=utf-8");
//
// Every read and write is bounded by the connection's timeout (10 s by default), so a test
// against a broken server fails with a message instead of hanging. Anything that is not a
// well-formed HTTP/1.1 response, a timeout, or a close in the middle of a response throws
// std::runtime_error saying what was expected and what arrived.
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e2e {

using namespace std::chrono_literals;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::string version;   // "HTTP/1.1"
  HeaderList headers;    // in arrival order, names as sent
  std::string body;      // decoded (chunked framing removed)
  HeaderList trailers;   // chunked trailer fields, if any
  std::string raw;       // the exact bytes of this response on the wire

  // The value of the first header named `name` (case-insensitive), or "" if absent.
  std::string header(std::string_view name) const;
  bool hasHeader(std::string_view name) const;
  // Every value of `name`, in order (e.g. Set-Cookie).
  std::vector<std::string> headerValues(std::string_view name) const;
  bool isInterim() const { return status >= 100 && status < 200; }
};

// How readUntilClosed() ended.
enum class CloseKind { Eof, Reset, Timeout };
const char* toString(CloseKind kind);

struct ClosedRead {
  std::string data;  // every byte received (including any already buffered)
  CloseKind how = CloseKind::Timeout;
};

class Connection {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout = 10s;

  // Connects to 127.0.0.1:port. Throws (with the reason) if the connection fails.
  // `receiveBuffer` > 0 sets SO_RCVBUF (a small one makes a client that does not read fill up fast).
  // `sourceIp` (e.g. "127.0.0.2"): connect from that loopback address, so a test can tell
  // this client from a proxy on 127.0.0.1.
  explicit Connection(int port, std::chrono::milliseconds timeout = kDefaultTimeout, int receiveBuffer = 0,
                      const char* sourceIp = nullptr);
  ~Connection();
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  int port() const { return port_; }
  // Bounds every later read/write (SO_RCVTIMEO/SO_SNDTIMEO, and each readResponse as a whole).
  void setTimeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Writes everything; throws if the peer is gone or stops reading for longer than timeout().
  void sendAll(std::string_view data);
  // Writes in pieces of `chunkSize` bytes, one send() each with TCP_NODELAY on, so the server
  // sees them in as many reads as the network delivers (typically one per piece).
  void sendSlowly(std::string_view data, std::size_t chunkSize = 1);

  // Reads exactly one response. An interim 1xx response (100 Continue, 101 Switching
  // Protocols) is returned as its own response; call again for the final one. Bytes beyond
  // the response stay buffered for the next call (pipelining). Pass the request's method
  // when it was HEAD: a HEAD response has headers (even Content-Length) but no body.
  HttpResponse readResponse(std::string_view requestMethod = "GET");

  // Raw helpers for non-HTTP protocols (chat) or upgraded connections.
  std::string readLine();                 // up to and without "\n" (a "\r" before it is removed)
  std::string readExactly(std::size_t n);
  std::string takeBuffered();             // whatever has been received but not consumed

  // Everything until the peer closes (EOF or reset) or `timeout` passes; says which.
  ClosedRead readUntilClosed(std::chrono::milliseconds timeout);
  // Waits up to `timeout` for EOF or a reset from the peer. Data arriving meanwhile is kept
  // in the buffer (a 408 before the close, say) and does not count as "not closed".
  bool isClosedByPeer(std::chrono::milliseconds timeout);

  // Closes with SO_LINGER 0, so the kernel sends RST instead of FIN. The object is closed after.
  void resetAbruptly();
  // Half-close: the server reads EOF, we can still read its answer.
  void shutdownWrite();
  void close();

 private:
  enum class Fill { Data, Eof, Reset, Timeout };
  // One recv() into buf_, waiting until `deadline` at most.
  Fill fill(std::chrono::steady_clock::time_point deadline);
  // fill(), but anything other than data throws, naming what we were waiting for.
  void fillOrThrow(std::chrono::steady_clock::time_point deadline, const char* waitingFor,
                   std::size_t responseStart);
  [[noreturn]] void throwFill(Fill f, const char* waitingFor, std::size_t responseStart) const;
  std::string takeLine(std::chrono::steady_clock::time_point deadline, const char* waitingFor,
                       std::size_t responseStart);
  void requireOpen(const char* what) const;

  int fd_ = -1;
  int port_ = 0;
  std::chrono::milliseconds timeout_ = kDefaultTimeout;
  std::string buf_;      // received, not yet consumed
  std::size_t pos_ = 0;  // consumed prefix of buf_
};

// A request on a fresh connection (with Host and "Connection: close" unless given in
// `headers`), returning the final response (interim 1xx responses are skipped).
HttpResponse httpRequest(int port, std::string_view method, std::string_view target,
                         const HeaderList& headers = {}, std::string_view body = {});
HttpResponse httpGet(int port, std::string_view target, const HeaderList& headers = {});

// Bytes made printable for a message: "\r\n" shown as such, others as \xHH, cut at `max`.
std::string escapeBytes(std::string_view bytes, std::size_t max = 2000);

}  // namespace e2e
