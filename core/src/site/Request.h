// Request: a read-only view of one parsed request, as the site (router, static files,
// built-in endpoints, the plugin boundary) sees it, whichever protocol carried it.
//
// Every string_view points into memory the connection owns while the request is being
// answered (its read buffer): copy what must outlive that. Nothing here allocates, so
// building a Request per request costs nothing on the hot path. Plugins see it through
// the C ABI (ms_exchange, see plugin/HostApi).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "microserver/Text.h"

namespace microserver::core {

// One header line as received (name case preserved; compare case-insensitively).
struct Header {
  std::string_view name;
  std::string_view value;  // leading/trailing whitespace already trimmed
};

// A named capture from the route's regular expression, e.g. (?P<name>[a-z]+).
struct Capture {
  std::string_view name;
  std::string_view value;
};

template <typename T>
class Span {
 public:
  Span() = default;
  Span(const T* data, std::size_t size) : data_(data), size_(size) {}
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& operator[](std::size_t i) const { return data_[i]; }

 private:
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};

class Request {
 public:
  // "GET", "POST", ... exactly as sent (methods are case-sensitive).
  std::string_view method() const { return method_; }
  // The request-target as sent: "/a%20b/c?x=1".
  std::string_view target() const { return target_; }
  // The path, percent-decoded once: "/a b/c". This is what routes match against.
  std::string_view path() const { return path_; }
  // Who the request is for: the authority of an absolute-form target, else the Host
  // header (HTTP/1.x), or :authority (HTTP/2); "host" or "host:port" as sent.
  std::string_view authority() const { return authority_; }
  // The query string without '?', still encoded: "x=1&y=%20".
  std::string_view query() const { return query_; }
  // 0 for HTTP/1.0, 1 for HTTP/1.1 (and HTTP/2).
  int versionMinor() const { return versionMinor_; }
  // The body, fully received (chunked bodies already decoded). Empty if none.
  std::string_view body() const { return body_; }
  // "ip:port" of the client.
  std::string_view remoteAddress() const { return remoteAddress_; }
  // The request's id (server.request_id_header; see base/RequestId.h), or empty when ids
  // are off.
  std::string_view id() const { return requestId_; }

  Span<Header> headers() const { return headers_; }
  Span<Capture> captures() const { return captures_; }

  // First header with this name (case-insensitive), or an empty view.
  std::string_view header(std::string_view name) const {
    for (const Header& h : headers_)
      if (equalsIgnoreCase(h.name, name)) return h.value;
    return {};
  }
  bool hasHeader(std::string_view name) const {
    for (const Header& h : headers_)
      if (equalsIgnoreCase(h.name, name)) return true;
    return false;
  }
  // A named capture of the matched route, or an empty view.
  std::string_view capture(std::string_view name) const {
    for (const Capture& c : captures_)
      if (c.name == name) return c.value;
    return {};
  }
  // The first query parameter with this name, decoded ('+' is a space); false if absent.
  bool queryParam(std::string_view name, std::string& value) const {
    std::string_view rest = query_;
    std::string key;
    while (!rest.empty()) {
      std::size_t amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      std::size_t eq = pair.find('=');
      std::string_view rawKey = pair.substr(0, eq);
      if (!percentDecode(rawKey, key, true) || key != name) continue;
      std::string_view rawValue = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
      return percentDecode(rawValue, value, true);
    }
    return false;
  }

  // The server fills these in; handlers only read.
  struct Parts {
    std::string_view method, target, path, query, body, remoteAddress, authority, requestId;
    int versionMinor = 1;
    Span<Header> headers;
    Span<Capture> captures;
  };
  Request() = default;
  explicit Request(const Parts& p)
      : method_(p.method), target_(p.target), path_(p.path), query_(p.query), body_(p.body),
        remoteAddress_(p.remoteAddress), authority_(p.authority), requestId_(p.requestId), versionMinor_(p.versionMinor), headers_(p.headers),
        captures_(p.captures) {}

 private:
  std::string_view method_, target_, path_, query_, body_, remoteAddress_, authority_, requestId_;
  int versionMinor_ = 1;
  Span<Header> headers_;
  Span<Capture> captures_;
};

}  // namespace microserver::core
