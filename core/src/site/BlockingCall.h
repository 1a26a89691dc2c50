// BlockingCall: one request handed to the worker pool for a `blocking: true` route.
//
// The connection's buffers move on while the worker runs (the next pipelined request may
// overwrite them), so the call owns a copy of everything the Request points to. It also
// holds the snapshot the route came from, so a reload meanwhile cannot unload the
// plugin under the running handler.
//
// Threads: the worker only touches request data, `response` and `handler`. Everything
// else (`connection`, `timedOut`) belongs to the connection's reactor thread, where the
// result is delivered with Reactor::post().
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "site/Site.h"
#include "microserver/Request.h"
#include "microserver/Response.h"

namespace microserver::core {

class HttpConnection;
class ReactorMailbox;

// What the connection needs to send the response once it is ready.
struct ResponseContext {
  std::string_view method, target, referer, userAgent;
  int versionMinor = 1;
  bool keepAlive = true;
  std::uint32_t routeId = 0;    // for GET /metrics
  std::uint64_t startNs = 0;    // when the request was complete, for its duration
};

struct BlockingCall {
  BlockingCall(const Request::Parts& parts, bool keepAlive, std::shared_ptr<const Site> site,
               const BoundHandler* handler, std::uint32_t routeId, std::uint64_t startNs);

  Request request() const;
  ResponseContext responseContext() const;

  // Owned copies of the request.
  std::string method, target, path, query, body, remoteAddress, referer, userAgent;
  std::vector<std::pair<std::string, std::string>> headerText, captureText;
  std::vector<Header> headers;
  std::vector<Capture> captures;
  int versionMinor = 1;
  bool keepAlive = true;
  std::uint32_t routeId = 0;
  std::uint64_t startNs = 0;

  std::shared_ptr<const Site> site;  // keeps the handler's plugin loaded
  const BoundHandler* handler;
  Response response;

  // Where the result goes: the reactor's mailbox (safe after the reactor is gone), and
  // the connection, which only its reactor thread reads or clears.
  std::shared_ptr<ReactorMailbox> mailbox;
  HttpConnection* connection = nullptr;  // nullptr once the connection gave up on the call
};

}  // namespace microserver::core
