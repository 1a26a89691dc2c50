// Response: an answer as the site builds it (static files, built-ins, a plugin through the
// C ABI). The protocol session adds Date, Server, Content-Length and Connection itself, so
// nothing that fills a Response can get the framing wrong.
//
// One Response object is reused for many requests on a reactor thread: reset() keeps the
// capacity of its strings, so an answer with a small body allocates nothing.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/OpenFile.h"
#include "microserver/Text.h"

namespace microserver::core {

class Response {
 public:
  Response() = default;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  Response(Response&& other) noexcept { *this = std::move(other); }
  Response& operator=(Response&& other) noexcept {
    if (this != &other) {
      status_ = other.status_;
      contentType_ = std::move(other.contentType_);
      headers_ = std::move(other.headers_);
      body_ = std::move(other.body_);
      file_ = std::move(other.file_);
      fileOffset_ = other.fileOffset_;
      fileLength_ = other.fileLength_;
      streamed_ = other.streamed_;
      keepAlive_ = other.keepAlive_;
      omitBody_ = other.omitBody_;
    }
    return *this;
  }
  ~Response() = default;

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
    // Framing and hop-by-hop headers are the protocol's business (HTTP/2 forbids the
    // hop-by-hop ones outright).
    for (std::string_view own : {"Content-Length", "Transfer-Encoding", "Connection", "Date", "Keep-Alive", "Upgrade",
                                 "Proxy-Connection"})
      if (equalsIgnoreCase(name, own)) throw std::invalid_argument("the server sets framing headers itself");
    if (equalsIgnoreCase(name, "Content-Type")) return setContentType(value);
    checkValue(value);
    headers_.append(name.data(), name.size()).append(": ").append(value.data(), value.size());
    headers_.append("\r\n");
  }
  // Appends header lines the server formatted itself ("Name: value\r\n" each), unchecked:
  // the static files' ready-made blocks, so a cached answer costs no validation.
  void addTrustedHeaders(std::string_view block) { headers_.append(block.data(), block.size()); }
  // Removes every header line of that name (case-insensitive), then adds one.
  void replaceHeader(std::string_view name, std::string_view value) {
    removeHeader(name);
    addHeader(name, value);
  }
  void removeHeader(std::string_view name) {
    std::size_t at = 0;
    while (at < headers_.size()) {
      std::size_t eol = headers_.find("\r\n", at);
      std::size_t colon = headers_.find(':', at);
      if (colon < eol && equalsIgnoreCase(std::string_view(headers_).substr(at, colon - at), name))
        headers_.erase(at, eol + 2 - at);
      else
        at = eol + 2;
    }
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

  // Sends [offset, offset + length) of an open file as the body (sendfile(2) on plain
  // TCP). The Response shares the file: the open-file cache may hold it too.
  void setFile(FileRef file, std::uint64_t offset, std::uint64_t length) {
    file_ = std::move(file);
    fileOffset_ = offset;
    fileLength_ = length;
  }
  // Takes ownership of an open descriptor.
  void setFile(int fd, std::uint64_t offset, std::uint64_t length) {
    setFile(std::make_shared<const OpenFile>(fd), offset, length);
  }
  bool hasFile() const { return file_ != nullptr; }
  int fileFd() const { return file_ ? file_->fd() : -1; }
  std::uint64_t fileOffset() const { return fileOffset_; }
  std::uint64_t fileLength() const { return fileLength_; }
  // Hands the file to the caller (the server's write queue).
  FileRef releaseFile() { return std::move(file_); }

  // The body follows later, piece by piece (a plugin's stream): no Content-Length; the
  // session frames it (chunked on HTTP/1.1, the connection's close on HTTP/1.0).
  void setStreamed(bool streamed) {
    file_.reset();
    body_.clear();
    streamed_ = streamed;
  }
  bool streamed() const { return streamed_; }

  // Ask the server to close the connection after this response.
  void setKeepAlive(bool keep) { keepAlive_ = keep; }
  bool keepAlive() const { return keepAlive_; }

  // HEAD requests and 204/304 answers: headers as for GET, no body bytes on the wire.
  void setOmitBody(bool omit) { omitBody_ = omit; }
  bool omitBody() const { return omitBody_; }

  // Length of the body as sent in Content-Length (not used for a stream).
  std::uint64_t contentLength() const { return hasFile() ? fileLength_ : body_.size(); }

  void reset() {
    file_.reset();
    streamed_ = false;
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

  int status_ = 200;
  std::string contentType_;
  std::string headers_;
  std::string body_;
  FileRef file_;
  std::uint64_t fileOffset_ = 0;
  std::uint64_t fileLength_ = 0;
  bool streamed_ = false;
  bool keepAlive_ = true;
  bool omitBody_ = false;
};

}  // namespace microserver::core
