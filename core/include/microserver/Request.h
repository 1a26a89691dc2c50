// Request: a read-only view of one HTTP request, handed to a handler's handle().
//
// Every string_view points into memory the server owns during the handle() call only
// (the connection's buffers): copy what you need to keep, e.g. before answering later.
// Nothing here allocates. The request may have come over HTTP/1.x or HTTP/2: nothing in it
// depends on which (framing, Connection and chunking are the server's business).
#pragma once

#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>

#include "microserver/Host.h"
#include "microserver/Text.h"

namespace microserver {

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

class Request {
  // (Declared first: the header and capture lists below name them.)
  static std::size_t headerCount(const ms_exchange* x) { return detail::host().request_header_count(x); }
  static void headerAt(const ms_exchange* x, std::size_t i, ms_str* n, ms_str* v) {
    detail::host().request_header_at(x, i, n, v);
  }
  static std::size_t captureCount(const ms_exchange* x) { return detail::host().request_capture_count(x); }
  static void captureAt(const ms_exchange* x, std::size_t i, ms_str* n, ms_str* v) {
    detail::host().request_capture_at(x, i, n, v);
  }
 public:
  explicit Request(const ms_exchange* exchange) : x_(exchange) {}

  // "GET", "POST", ... exactly as sent (methods are case-sensitive).
  std::string_view method() const { return detail::view(detail::host().request_method(x_)); }
  // The request-target as sent: "/a%20b/c?x=1".
  std::string_view target() const { return detail::view(detail::host().request_target(x_)); }
  // The path, percent-decoded once: "/a b/c". This is what routes match against.
  std::string_view path() const { return detail::view(detail::host().request_path(x_)); }
  // The query string without '?', still encoded: "x=1&y=%20".
  std::string_view query() const { return detail::view(detail::host().request_query(x_)); }
  // 10 for HTTP/1.0, 11 for HTTP/1.1, 20 for HTTP/2.
  int version() const { return detail::host().request_version(x_); }
  // 0 for HTTP/1.0, 1 otherwise.
  int versionMinor() const { return version() == 10 ? 0 : 1; }
  // The body, fully received (chunked bodies already decoded); empty if none, and on
  // `body: stream` routes, which read it piece by piece (Responder::readBody).
  std::string_view body() const { return detail::view(detail::host().request_body(x_)); }
  bool bodyStreamed() const { return detail::host().request_body_streamed(x_) != 0; }
  // Who the request is for: "example.com" or "example.com:8443" as the client sent it (the
  // authority of an absolute-form target, else Host; :authority over HTTP/2).
  std::string_view authority() const { return detail::view(detail::host().request_authority(x_)); }
  // "ip:port" of the client.
  std::string_view remoteAddress() const { return detail::view(detail::host().request_remote_address(x_)); }
  // The request's id (server.request_id_header, X-Request-Id by default): the one a trusted
  // proxy sent, else one the server made. The answer carries it; put it in your log lines
  // and pass it on to the services you call. Empty when ids are off.
  std::string_view id() const { return detail::view(detail::host().request_id(x_)); }

  // First header with this name (case-insensitive), or an empty view.
  std::string_view header(std::string_view name) const {
    ms_str value{};
    return detail::host().request_header(x_, name.data(), name.size(), &value) ? detail::view(value)
                                                                               : std::string_view();
  }
  bool hasHeader(std::string_view name) const {
    ms_str value{};
    return detail::host().request_header(x_, name.data(), name.size(), &value) != 0;
  }
  // A named capture of the matched route, or an empty view.
  std::string_view capture(std::string_view name) const {
    ms_str value{};
    return detail::host().request_capture(x_, name.data(), name.size(), &value) ? detail::view(value)
                                                                                 : std::string_view();
  }
  // The first query parameter with this name, decoded ('+' is a space); false if absent.
  bool queryParam(std::string_view name, std::string& value) const {
    std::string_view rest = query();
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

  // The headers or captures, in order: `for (const Header& h : request.headers())`.
  template <typename Item, std::size_t (*Count)(const ms_exchange*),
            void (*At)(const ms_exchange*, std::size_t, ms_str*, ms_str*)>
  class List {
   public:
    class iterator {
     public:
      using iterator_category = std::forward_iterator_tag;
      using value_type = Item;
      using difference_type = std::ptrdiff_t;
      using pointer = const Item*;
      using reference = const Item&;
      iterator(const ms_exchange* x, std::size_t i) : x_(x), i_(i) {}
      Item operator*() const {
        ms_str name{}, value{};
        At(x_, i_, &name, &value);
        return Item{detail::view(name), detail::view(value)};
      }
      iterator& operator++() {
        ++i_;
        return *this;
      }
      bool operator==(const iterator& o) const { return i_ == o.i_; }
      bool operator!=(const iterator& o) const { return i_ != o.i_; }

     private:
      const ms_exchange* x_;
      std::size_t i_;
    };
    explicit List(const ms_exchange* x) : x_(x) {}
    iterator begin() const { return iterator(x_, 0); }
    iterator end() const { return iterator(x_, size()); }
    std::size_t size() const { return Count(x_); }
    bool empty() const { return size() == 0; }
    Item operator[](std::size_t i) const { return *iterator(x_, i); }

   private:
    const ms_exchange* x_;
  };
  using Headers = List<Header, &Request::headerCount, &Request::headerAt>;
  using Captures = List<Capture, &Request::captureCount, &Request::captureAt>;
  Headers headers() const { return Headers(x_); }
  Captures captures() const { return Captures(x_); }

  const ms_exchange* handle() const { return x_; }

 private:
  const ms_exchange* x_;
};

}  // namespace microserver
