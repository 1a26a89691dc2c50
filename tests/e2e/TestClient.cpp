#include "TestClient.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

// Generous bounds: far above anything the server may send, low enough that a server
// streaming garbage makes the test fail rather than eat memory.
constexpr std::size_t kMaxLineBytes = 1 << 20;
constexpr std::size_t kMaxHeaderBlockBytes = 4 << 20;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated list elements of every header named `name` (Connection, Transfer-Encoding).
std::vector<std::string> listTokens(const HeaderList& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers) {
    if (!iequals(n, name)) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto token = trim(rest.substr(0, comma));
      if (!token.empty()) {
        std::string t(token);
        std::transform(t.begin(), t.end(), t.begin(), lower);
        out.push_back(std::move(t));
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (lower(c) >= 'a' && lower(c) <= 'f'); }

bool isTokenChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// "Name: value" -> pair, strictly (RFC 9112 field-line; no obs-fold).
std::pair<std::string, std::string> parseFieldLine(const std::string& line, const char* where) {
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t'))
    throw std::runtime_error(std::string("malformed ") + where + ": obsolete line folding in \"" +
                             escapeBytes(line) + "\"");
  auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0 ||
      !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), isTokenChar))
    throw std::runtime_error(std::string("malformed ") + where + ": expected \"Name: value\", got \"" +
                             escapeBytes(line) + "\"");
  return {line.substr(0, colon), std::string(trim(std::string_view(line).substr(colon + 1)))};
}

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  // Round up so a wait never ends just before the deadline and spins once more.
  return static_cast<int>(std::min<long long>(left + 1, 1 << 30));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// HttpResponse

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

bool HttpResponse::hasHeader(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}

std::vector<std::string> HttpResponse::headerValues(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) out.push_back(v);
  return out;
}

const char* toString(CloseKind kind) {
  switch (kind) {
    case CloseKind::Eof: return "EOF";
    case CloseKind::Reset: return "reset";
    case CloseKind::Timeout: return "timeout";
  }
  return "?";
}

std::string escapeBytes(std::string_view bytes, std::size_t max) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  std::size_t n = std::min(bytes.size(), max);
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (bytes.size() > n) out += "... (" + std::to_string(bytes.size() - n) + " more bytes)";
  return out;
}

// ---------------------------------------------------------------------------------------
// Connection: lifetime

Connection::Connection(int port, std::chrono::milliseconds timeout, int receiveBuffer, const char* sourceIp)
    : port_(port), timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket(): ") + std::strerror(errno));
  // Before connect(), or the window already advertised makes a later shrink crawl.
  if (receiveBuffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
  // Set before connect(): on Linux SO_SNDTIMEO also bounds a blocking connect().
  setTimeout(timeout);
  // Small writes go out at once: pipelined and byte-by-byte tests depend on it.
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (sourceIp) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    if (::inet_pton(AF_INET, sourceIp, &source.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
      std::string why = std::strerror(errno);
      ::close(fd_);
      fd_ = -1;
      throw std::runtime_error(std::string("cannot bind to ") + sourceIp + ": " + why);
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + why);
  }
}

Connection::~Connection() { close(); }

Connection::Connection(Connection&& other) noexcept
    : fd_(other.fd_), port_(other.port_), timeout_(other.timeout_), buf_(std::move(other.buf_)), pos_(other.pos_) {
  other.fd_ = -1;
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    port_ = other.port_;
    timeout_ = other.timeout_;
    buf_ = std::move(other.buf_);
    pos_ = other.pos_;
    other.fd_ = -1;
  }
  return *this;
}

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Connection::setTimeout(std::chrono::milliseconds timeout) {
  timeout_ = timeout;
  if (fd_ < 0) return;
  // A backstop under the deadlines below: no single blocking call outlives the timeout.
  timeval tv = toTimeval(timeout);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void Connection::requireOpen(const char* what) const {
  if (fd_ < 0) throw std::runtime_error(std::string(what) + ": the connection is closed");
}

void Connection::resetAbruptly() {
  requireOpen("resetAbruptly");
  linger lg{1, 0};  // linger on, 0 s: close() discards unsent data and sends RST
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close();
}

void Connection::shutdownWrite() {
  requireOpen("shutdownWrite");
  if (::shutdown(fd_, SHUT_WR) != 0) throw std::runtime_error(std::string("shutdown(SHUT_WR): ") + std::strerror(errno));
}

// ---------------------------------------------------------------------------------------
// Connection: writing

void Connection::sendAll(std::string_view data) {
  requireOpen("sendAll");
  std::size_t sent = 0;
  while (sent < data.size()) {
    // MSG_NOSIGNAL: a server that closed must fail this test, not kill the test binary.
    ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    std::string progress = " (sent " + std::to_string(sent) + " of " + std::to_string(data.size()) + " bytes)";
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      throw std::runtime_error("send timed out after " + std::to_string(timeout_.count()) +
                               " ms: the server stopped reading" + progress);
    throw std::runtime_error(std::string("send failed: ") + std::strerror(errno) + progress);
  }
}

void Connection::sendSlowly(std::string_view data, std::size_t chunkSize) {
  if (chunkSize == 0) chunkSize = 1;
  for (std::size_t at = 0; at < data.size(); at += chunkSize) sendAll(data.substr(at, chunkSize));
}

// ---------------------------------------------------------------------------------------
// Connection: reading

Connection::Fill Connection::fill(Clock::time_point deadline) {
  requireOpen("read");
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, remainingMs(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (rc == 0) return Fill::Timeout;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<std::size_t>(n));
      return Fill::Data;
    }
    if (n == 0) return Fill::Eof;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return Fill::Reset;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Fill::Timeout;  // SO_RCVTIMEO
    throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
  }
}

void Connection::fillOrThrow(Clock::time_point deadline, const char* waitingFor, std::size_t responseStart) {
  Fill f = fill(deadline);
  if (f != Fill::Data) throwFill(f, waitingFor, responseStart);
}

void Connection::throwFill(Fill f, const char* waitingFor, std::size_t responseStart) const {
  std::string_view got = std::string_view(buf_).substr(std::min(responseStart, buf_.size()));
  std::string received = got.empty() ? "nothing" : "\"" + escapeBytes(got) + "\"";
  switch (f) {
    case Fill::Timeout:
      throw std::runtime_error("timed out after " + std::to_string(timeout_.count()) + " ms waiting for " +
                               waitingFor + "; received: " + received);
    case Fill::Eof:
      throw std::runtime_error(std::string("connection closed by peer while waiting for ") + waitingFor +
                               "; received: " + received);
    case Fill::Reset:
      throw std::runtime_error(std::string("connection reset by peer while waiting for ") + waitingFor +
                               "; received: " + received);
    case Fill::Data: break;
  }
  throw std::logic_error("throwFill called for data");
}

std::string Connection::takeLine(Clock::time_point deadline, const char* waitingFor, std::size_t responseStart) {
  for (;;) {
    auto nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      if (nl == pos_ || buf_[nl - 1] != '\r')
        throw std::runtime_error(std::string("malformed response: ") + waitingFor +
                                 " is not terminated by CRLF: \"" +
                                 escapeBytes(std::string_view(buf_).substr(responseStart, nl + 1 - responseStart)) + "\"");
      std::string line = buf_.substr(pos_, nl - 1 - pos_);
      pos_ = nl + 1;
      return line;
    }
    if (buf_.size() - pos_ > kMaxLineBytes)
      throw std::runtime_error(std::string("malformed response: no end of line within ") +
                               std::to_string(kMaxLineBytes) + " bytes while reading " + waitingFor);
    fillOrThrow(deadline, waitingFor, responseStart);
  }
}

HttpResponse Connection::readResponse(std::string_view requestMethod) {
  requireOpen("readResponse");
  // Drop what earlier responses consumed; what is left is the start of this one.
  buf_.erase(0, pos_);
  pos_ = 0;
  const std::size_t start = 0;
  const auto deadline = Clock::now() + timeout_;
  HttpResponse r;

  // Status line: HTTP-version SP 3DIGIT SP [reason-phrase]
  std::string statusLine = takeLine(deadline, "the status line", start);
  const std::string& s = statusLine;
  bool ok = s.size() >= 13 && s.compare(0, 5, "HTTP/") == 0 && isDigit(s[5]) && s[6] == '.' && isDigit(s[7]) &&
            s[8] == ' ' && isDigit(s[9]) && isDigit(s[10]) && isDigit(s[11]) && s[12] == ' ';
  if (!ok)
    throw std::runtime_error("malformed response: expected a status line like \"HTTP/1.1 200 OK\", got \"" +
                             escapeBytes(statusLine) + "\"");
  r.version = statusLine.substr(0, 8);
  r.status = std::stoi(statusLine.substr(9, 3));
  r.reason = statusLine.substr(13);

  // Header fields up to the empty line.
  for (;;) {
    std::string line = takeLine(deadline, "a header line (or the empty line ending the headers)", start);
    if (line.empty()) break;
    r.headers.push_back(parseFieldLine(line, "header line"));
    if (pos_ > kMaxHeaderBlockBytes)
      throw std::runtime_error("malformed response: header block larger than " + std::to_string(kMaxHeaderBlockBytes) + " bytes");
  }

  // Body length (RFC 9112 section 6.3).
  const auto te = listTokens(r.headers, "transfer-encoding");
  const auto clValues = r.headerValues("content-length");
  bool noBody = iequals(requestMethod, "HEAD") || r.isInterim() || r.status == 204 || r.status == 304;
  if (!te.empty() && !clValues.empty())
    throw std::runtime_error("malformed response: both Transfer-Encoding and Content-Length:\n\"" +
                             escapeBytes(std::string_view(buf_).substr(start, pos_ - start)) + "\"");

  auto finish = [&]() {
    r.raw = buf_.substr(start, pos_ - start);
    return r;
  };
  if (noBody) return finish();

  if (!te.empty() && te.back() == "chunked") {
    for (;;) {
      std::string sizeLine = takeLine(deadline, "a chunk-size line", start);
      std::string_view hexPart = trim(std::string_view(sizeLine).substr(0, sizeLine.find(';')));
      if (hexPart.empty() || hexPart.size() > 15 || !std::all_of(hexPart.begin(), hexPart.end(), isHex))
        throw std::runtime_error("malformed chunked body: expected a hex chunk size, got \"" + escapeBytes(sizeLine) + "\"");
      std::size_t size = std::stoull(std::string(hexPart), nullptr, 16);
      if (size == 0) break;
      while (buf_.size() - pos_ < size + 2) fillOrThrow(deadline, "chunk data", start);
      if (buf_.compare(pos_ + size, 2, "\r\n") != 0)
        throw std::runtime_error("malformed chunked body: chunk of " + std::to_string(size) +
                                 " bytes not followed by CRLF: \"" + escapeBytes(std::string_view(buf_).substr(start)) + "\"");
      r.body.append(buf_, pos_, size);
      pos_ += size + 2;
    }
    for (;;) {
      std::string line = takeLine(deadline, "a trailer line (or the empty line ending the chunked body)", start);
      if (line.empty()) break;
      r.trailers.push_back(parseFieldLine(line, "trailer line"));
    }
    return finish();
  }

  if (te.empty() && !clValues.empty()) {
    for (const auto& v : clValues)
      if (v != clValues.front() || v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), isDigit))
        throw std::runtime_error("malformed response: invalid or conflicting Content-Length \"" + escapeBytes(v) + "\"");
    std::size_t length = std::stoull(clValues.front());
    while (buf_.size() - pos_ < length) fillOrThrow(deadline, "the body (Content-Length)", start);
    r.body = buf_.substr(pos_, length);
    pos_ += length;
    return finish();
  }

  // No length: the body runs until the server closes. Only acceptable if the server said it
  // would close; otherwise a keep-alive client could never tell where the response ends.
  auto conn = listTokens(r.headers, "connection");
  bool willClose = std::find(conn.begin(), conn.end(), "close") != conn.end() ||
                   (r.version == "HTTP/1.0" && std::find(conn.begin(), conn.end(), "keep-alive") == conn.end()) ||
                   !te.empty();  // a final coding other than chunked is close-delimited too
  if (!willClose)
    throw std::runtime_error(
        "malformed response: no Content-Length, not chunked, and no \"Connection: close\", so its end "
        "cannot be found:\n\"" + escapeBytes(std::string_view(buf_).substr(start)) + "\"");
  for (;;) {
    Fill f = fill(deadline);
    if (f == Fill::Data) continue;
    if (f == Fill::Eof) break;
    throwFill(f, "the end of a close-delimited body (EOF)", start);
  }
  r.body = buf_.substr(pos_);
  pos_ = buf_.size();
  return finish();
}

std::string Connection::readLine() {
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    auto nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      std::string line = buf_.substr(pos_, nl - pos_);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pos_ = nl + 1;
      return line;
    }
    fillOrThrow(deadline, "a line", pos_);
  }
}

std::string Connection::readExactly(std::size_t n) {
  const auto deadline = Clock::now() + timeout_;
  const std::string what = std::to_string(n) + " bytes";
  while (buf_.size() - pos_ < n) fillOrThrow(deadline, what.c_str(), pos_);
  std::string out = buf_.substr(pos_, n);
  pos_ += n;
  return out;
}

std::string Connection::takeBuffered() {
  std::string out = buf_.substr(pos_);
  buf_.clear();
  pos_ = 0;
  return out;
}

ClosedRead Connection::readUntilClosed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Fill f = fill(deadline);
    if (f == Fill::Data) continue;
    ClosedRead out;
    out.how = f == Fill::Eof ? CloseKind::Eof : f == Fill::Reset ? CloseKind::Reset : CloseKind::Timeout;
    out.data = takeBuffered();
    return out;
  }
}

bool Connection::isClosedByPeer(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Fill f = fill(deadline);
    if (f == Fill::Data) continue;  // kept in buf_ for later reads
    return f != Fill::Timeout;
  }
}

// ---------------------------------------------------------------------------------------
// One-shot requests

HttpResponse httpRequest(int port, std::string_view method, std::string_view target, const HeaderList& headers,
                         std::string_view body) {
  auto given = [&](std::string_view name) {
    return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
  };
  std::string req;
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!given("host")) req += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  if (!given("connection")) req += "Connection: close\r\n";
  if (!given("content-length") && !given("transfer-encoding") &&
      (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH"))
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [n, v] : headers) req += n + ": " + v + "\r\n";
  req += "\r\n";
  req.append(body);

  Connection c(port);
  c.sendAll(req);
  for (;;) {
    HttpResponse r = c.readResponse(method);
    if (!r.isInterim() || r.status == 101) return r;  // 101: the connection is no longer HTTP
  }
}

HttpResponse httpGet(int port, std::string_view target, const HeaderList& headers) {
  return httpRequest(port, "GET", target, headers);
}

}  // namespace e2e
