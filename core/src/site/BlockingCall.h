// BlockingCall: one request handed to the worker pool for a `blocking: true` route.
//
// The connection's buffers move on while the worker runs (the next pipelined request may
// overwrite them), so the call owns a copy of everything the Request points to. It also
// holds the snapshot the route came from, so a reload meanwhile cannot unload the
// plugin under the running handler.
//
// Threads: the worker only touches the request, `response`, `exchange` and `handler`.
// Everything else (`connection`) belongs to the connection's reactor thread, where the
// result is delivered through `mailbox`. The handler may also defer its answer (the
// exchange's responder then carries it, as on any route).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/AccessLog.h"
#include "site/Exchange.h"
#include "site/Request.h"
#include "site/Response.h"
#include "site/Site.h"

namespace microserver::core {

class ReactorMailbox;
class WorkerPool;

// The access log's route for /healthz, /readyz, /metrics and redirects (the metrics' label).
constexpr std::string_view kBuiltinRoute = "(builtin)";

// What the connection needs to send the response once it is ready.
struct ResponseContext {
  std::string_view method, target, referer, userAgent;
  int versionMinor = 1;
  bool keepAlive = true;
  std::uint32_t routeId = 0;    // for GET /metrics
  std::uint64_t startNs = 0;    // when the request was complete, for its duration
  bool compress = false;        // the route compresses whole answers (`compress: true`)
  std::string_view acceptEncoding;  // the request's Accept-Encoding, when compress
  // For the access log: the request's id (empty: ids off), the route's pattern and its
  // plugin (empty: none).
  std::string_view requestId, route, plugin;
};

// What the access log writes about an answered request. `clientIp`: without the port.
inline AccessRecord accessRecordOf(std::string_view clientIp, const ResponseContext& c, int status,
                                   std::uint64_t bodyBytes, std::uint64_t durationNs) {
  AccessRecord entry{clientIp, c.method, c.target, c.versionMinor, status, bodyBytes, c.referer, c.userAgent};
  entry.requestId = c.requestId;
  entry.route = c.route;
  entry.plugin = c.plugin;
  entry.durationNs = durationNs;
  return entry;
}

// The same, owned: for an answer that comes after the request's buffers moved on.
struct ResponseRecord {
  ResponseRecord() = default;
  explicit ResponseRecord(const ResponseContext& c)
      : method(c.method), target(c.target), referer(c.referer), userAgent(c.userAgent), versionMinor(c.versionMinor),
        keepAlive(c.keepAlive), routeId(c.routeId), startNs(c.startNs), compress(c.compress),
        acceptEncoding(c.acceptEncoding), requestId(c.requestId), route(c.route), plugin(c.plugin) {}
  ResponseContext context() const {
    return {method,   target,         referer,   userAgent, versionMinor, keepAlive, routeId,
            startNs,  compress,       acceptEncoding, requestId, route,        plugin};
  }

  std::string method, target, referer, userAgent;
  int versionMinor = 1;
  bool keepAlive = true;
  std::uint32_t routeId = 0;
  std::uint64_t startNs = 0;
  bool compress = false;
  std::string acceptEncoding;
  std::string requestId, route, plugin;
};

struct BlockingCall {
  BlockingCall(const Request::Parts& parts, bool keepAlive, std::shared_ptr<const Site> site,
               const BoundHandler* handler, std::uint32_t routeId, std::string_view route, std::uint64_t startNs,
               std::shared_ptr<ReactorMailbox> mailbox);
  BlockingCall(const BlockingCall&) = delete;
  BlockingCall& operator=(const BlockingCall&) = delete;

  // Who waits for the result, on the reactor thread the call came from (an HTTP/1
  // connection, an HTTP/2 stream).
  class Waiter {
   public:
    virtual ~Waiter() = default;
    // The handler returned; `call` holds what it asked for. Reactor thread.
    virtual void blockingDone(BlockingCall& call) = 0;
  };

  // Queues the call on `workers`; its result goes to call->waiter on the reactor of
  // call->mailbox. False if the pool's queue is full (answer 503).
  static bool start(const std::shared_ptr<BlockingCall>& call, WorkerPool& workers);
  // Runs the handler (on a worker).
  void run();
  ResponseContext responseContext() const;

  // Owned copies of the request.
  std::string method, target, path, query, body, remoteAddress, authority, referer, userAgent, acceptEncoding,
      requestId;
  std::vector<std::pair<std::string, std::string>> headerText, captureText;
  std::vector<Header> headers;
  std::vector<Capture> captures;
  Request request;
  int versionMinor = 1;
  bool keepAlive = true;
  std::uint32_t routeId = 0;
  std::string_view route;  // the route's pattern, in `site`
  std::uint64_t startNs = 0;

  std::shared_ptr<const Site> site;  // keeps the handler's plugin loaded
  const BoundHandler* handler;
  Response response;
  Exchange exchange;

  // Where the result goes: the reactor's mailbox (safe after the reactor is gone), and
  // the waiter, which only its reactor thread reads or clears.
  std::shared_ptr<ReactorMailbox> mailbox;
  Waiter* waiter = nullptr;  // nullptr once the waiter gave up on the call
};

}  // namespace microserver::core
