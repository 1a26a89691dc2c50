// Response: what a handler fills in. The server adds Date, Server, Content-Length and
// Connection itself, so a handler cannot get the framing wrong.
//
// One Response object is reused for many requests on a reactor thread: reset() keeps the
// capacity of its strings, so a handler that writes a small body allocates nothing.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "microserver/Request.h"

namespace microserver {

class Service;  // see Service.h

// A body produced piece by piece (generated data, a proxy, a large export), sent with
// `Transfer-Encoding: chunked` to HTTP/1.1 clients and until the connection closes to
// HTTP/1.0 ones, so it never has to be in memory at once.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // Appends the next piece of the body to `out` (empty pieces are fine) and returns true
  // while more follows; returns false once the body is complete (`out` may hold a last
  // piece). Called on the connection's reactor thread each time the socket can take
  // more: it must not block. Throwing ends the connection (the status line is long gone).
  virtual bool next(std::string& out) = 0;
};

class Response {
 public:
  Response() = default;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  Response(Response&& other) noexcept { *this = std::move(other); }
  Response& operator=(Response&& other) noexcept {
    if (this != &other) {
      closeFile();
      status_ = other.status_;
      contentType_ = std::move(other.contentType_);
      headers_ = std::move(other.headers_);
      body_ = std::move(other.body_);
      fileFd_ = other.fileFd_;
      fileOffset_ = other.fileOffset_;
      fileLength_ = other.fileLength_;
      stream_ = std::move(other.stream_);
      webSocket_ = std::move(other.webSocket_);
      keepAlive_ = other.keepAlive_;
      omitBody_ = other.omitBody_;
      other.fileFd_ = -1;
    }
    return *this;
  }
  ~Response() { closeFile(); }

  int status() const { return status_; }
  void setStatus(int code) {
    if (code < 100 || code > 999) throw std::invalid_argument("HTTP status out of range");
    status_ = code;
  }

  // Content-Type is kept apart so the server can default it and log it.
  void setContentType(std::string_view type) {
    checkValue(type);
    contentType_.assign(type.data(), type.size());
  }
  std::string_view contentType() const { return contentType_; }

  // Adds a header line. The framing headers belong to the server and are refused;
  // CR, LF and NUL are refused everywhere (they would let a value inject headers).
  void addHeader(std::string_view name, std::string_view value) {
    if (name.empty()) throw std::invalid_argument("empty header name");
    for (char c : name)
      if (c <= ' ' || c == ':' || c == 0x7f) throw std::invalid_argument("invalid header name");
    if (equalsIgnoreCase(name, "Content-Length") || equalsIgnoreCase(name, "Transfer-Encoding") ||
        equalsIgnoreCase(name, "Connection") || equalsIgnoreCase(name, "Date"))
      throw std::invalid_argument("the server sets framing headers itself");
    if (equalsIgnoreCase(name, "Content-Type")) return setContentType(value);
    checkValue(value);
    headers_.append(name.data(), name.size()).append(": ").append(value.data(), value.size());
    headers_.append("\r\n");
  }
  // The extra header lines, each "Name: value\r\n", in the order added.
  std::string_view headerBlock() const { return headers_; }
  // The value of an extra header (case-insensitive name), or an empty view.
  std::string_view header(std::string_view name) const {
    std::string_view block = headers_;
    while (!block.empty()) {
      std::size_t eol = block.find("\r\n");
      std::string_view line = block.substr(0, eol);
      std::size_t colon = line.find(':');
      if (equalsIgnoreCase(line.substr(0, colon), name)) return line.substr(colon + 2);
      block.remove_prefix(eol + 2);
    }
    return {};
  }

  std::string& body() { return body_; }
  const std::string& body() const { return body_; }
  void setBody(std::string_view text) { body_.assign(text.data(), text.size()); }
  // Takes a string the handler built (no copy; the reused buffer's capacity is given up).
  void setBody(std::string&& text) { body_ = std::move(text); }
  void setBody(const char* text) { setBody(std::string_view(text)); }
  void append(std::string_view text) { body_.append(text.data(), text.size()); }

  // Sends (part of) a file as the body, with sendfile(2). Returns false if it cannot be
  // opened as a regular file. The Response owns the descriptor from here on.
  bool sendFile(const std::string& path, std::uint64_t offset = 0, std::uint64_t length = UINT64_MAX) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return false;
    }
    std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    if (offset > size) offset = size;
    if (length > size - offset) length = size - offset;
    setFile(fd, offset, length);
    return true;
  }
  // Takes ownership of an open descriptor and sends [offset, offset + length) of it.
  void setFile(int fd, std::uint64_t offset, std::uint64_t length) {
    closeFile();
    fileFd_ = fd;
    fileOffset_ = offset;
    fileLength_ = length;
  }
  bool hasFile() const { return fileFd_ >= 0; }
  int fileFd() const { return fileFd_; }
  std::uint64_t fileOffset() const { return fileOffset_; }
  std::uint64_t fileLength() const { return fileLength_; }
  // Hands the descriptor to the caller (the server's write queue).
  int releaseFile() {
    int fd = fileFd_;
    fileFd_ = -1;
    return fd;
  }

  // Sends the body from `stream` instead of body() or a file.
  void setStream(std::unique_ptr<BodyStream> stream) {
    closeFile();
    body_.clear();
    stream_ = std::move(stream);
  }
  bool hasStream() const { return stream_ != nullptr; }
  // Hands the stream to the caller (the server's write queue).
  std::unique_ptr<BodyStream> releaseStream() { return std::move(stream_); }

  // Turns this connection into a WebSocket served by `service` (its accept() creates the
  // session). The server checks that the request is a valid opening handshake and then
  // answers 101 itself (or 400/426 if it is not); status, headers and body set here are
  // not sent. Not available on `blocking: true` routes.
  void acceptWebSocket(std::shared_ptr<Service> service) { webSocket_ = std::move(service); }
  const std::shared_ptr<Service>& webSocketService() const { return webSocket_; }

  // Ask the server to close the connection after this response.
  void setKeepAlive(bool keep) { keepAlive_ = keep; }
  bool keepAlive() const { return keepAlive_; }

  // HEAD requests and 204/304 answers: headers as for GET, no body bytes on the wire.
  void setOmitBody(bool omit) { omitBody_ = omit; }
  bool omitBody() const { return omitBody_; }

  // Length of the body as sent in Content-Length (not used for a stream).
  std::uint64_t contentLength() const { return hasFile() ? fileLength_ : body_.size(); }

  void reset() {
    closeFile();
    stream_.reset();
    webSocket_.reset();
    status_ = 200;
    contentType_.clear();
    headers_.clear();
    body_.clear();
    keepAlive_ = true;
    omitBody_ = false;
  }

 private:
  static void checkValue(std::string_view value) {
    for (char c : value)
      if (c == '\r' || c == '\n' || c == '\0') throw std::invalid_argument("CR, LF or NUL in header value");
  }
  void closeFile() {
    if (fileFd_ >= 0) ::close(fileFd_);
    fileFd_ = -1;
  }

  int status_ = 200;
  std::string contentType_;
  std::string headers_;
  std::string body_;
  int fileFd_ = -1;
  std::uint64_t fileOffset_ = 0;
  std::uint64_t fileLength_ = 0;
  std::unique_ptr<BodyStream> stream_;
  std::shared_ptr<Service> webSocket_;
  bool keepAlive_ = true;
  bool omitBody_ = false;
};

}  // namespace microserver
