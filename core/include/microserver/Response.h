// Response: the answer a handler gives now, during handle(). The server adds Date, Server,
// Content-Length, Transfer-Encoding and Connection itself, so a handler cannot get the
// framing wrong, whichever protocol carries the answer.
//
// To answer later, from another thread, or as a stream: defer() (see Responder.h).
// Errors in the handler's own use (a status outside 200..599, CR/LF in a header) throw
// std::invalid_argument; a handler that throws answers 500 and the log says why.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "microserver/Host.h"
#include "microserver/Request.h"
#include "microserver/Responder.h"

namespace microserver {

class Service;  // see Service.h

class Response {
 public:
  explicit Response(ms_exchange* exchange) : x_(exchange) {}

  // The final status: 200..599. Interim responses (103 Early Hints) go with sendInterim().
  void setStatus(int status) {
    detail::check(api().response_set_status(x_, status), "the final status must be 200..599 (interim responses: "
                                                         "sendInterim)");
  }
  void setContentType(std::string_view type) {
    detail::check(api().response_set_content_type(x_, type.data(), type.size()), "CR, LF or NUL in Content-Type");
  }
  // Adds a header line. The framing headers belong to the server and are refused; CR, LF
  // and NUL are refused everywhere (they would let a value inject headers).
  void addHeader(std::string_view name, std::string_view value) {
    detail::check(api().response_add_header(x_, name.data(), name.size(), value.data(), value.size()),
                  "invalid header name or value, or a header the server sets itself (Content-Length, "
                  "Transfer-Encoding, Connection, Date)");
  }
  void setBody(std::string_view body) { detail::check(api().response_set_body(x_, body.data(), body.size()), "body"); }
  void append(std::string_view text) { detail::check(api().response_append(x_, text.data(), text.size()), "body"); }

  // Sends (part of) a file as the body (sendfile(2) where the transport allows). Returns
  // false if it cannot be opened as a regular file.
  bool sendFile(const std::string& path, std::uint64_t offset = 0, std::uint64_t length = UINT64_MAX) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return false;
    }
    return api().response_send_file(x_, fd, offset, length) == MS_OK;
  }
  // Takes ownership of an open descriptor and sends [offset, offset + length) of it.
  void setFile(int fd, std::uint64_t offset, std::uint64_t length) {
    detail::check(api().response_send_file(x_, fd, offset, length), "not a regular file");
  }

  // 103 Early Hints (and other 1xx but 101) before the final answer, e.g.
  //   response.sendInterim(103, {{"Link", "</style.css>; rel=preload; as=style"}});
  // HTTP/1.0 clients do not get them.
  void sendInterim(int status, std::initializer_list<Header> headers) {
    detail::sendInterim(status, headers, &interim, x_);
  }

  // Ask the server to close the connection after this response.
  void setKeepAlive(bool keep) { api().response_set_keep_alive(x_, keep ? 1 : 0); }

  // Turns this connection into a WebSocket served by `service` (its accept() creates the
  // session). The server checks that the request is a valid opening handshake and then
  // answers 101 itself (or 400/426 if it is not); status, headers and body set here are
  // not sent. Not available on `blocking: true` routes.
  inline void acceptWebSocket(std::shared_ptr<Service> service);

  // The answer comes later (see Responder.h): what was set so far carries over.
  Responder defer() {
    ms_responder* r = api().response_defer(x_);
    if (!r) throw std::logic_error("defer() was already called for this request");
    return Responder(r);
  }

  ms_exchange* handle() const { return x_; }

 private:
  static const ms_host_api& api() { return detail::host(); }
  static int interim(void* x, int status, const ms_str* names, const ms_str* values, std::size_t count) {
    return api().response_send_interim(static_cast<ms_exchange*>(x), status, names, values, count);
  }

  ms_exchange* x_;
};

}  // namespace microserver
