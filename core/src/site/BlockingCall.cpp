// BlockingCall: see BlockingCall.h.
#include "site/BlockingCall.h"

#include "base/Log.h"
#include "net/Mailbox.h"
#include "site/WorkerPool.h"

namespace microserver::core {

BlockingCall::BlockingCall(const Request::Parts& parts, bool keepAliveRequested, std::shared_ptr<const Site> snapshot,
                           const BoundHandler* boundHandler, std::uint32_t metricsRoute, std::string_view routePattern,
                           std::uint64_t start,
                           std::shared_ptr<ReactorMailbox> reactorMailbox)
    : method(parts.method),
      target(parts.target),
      path(parts.path),
      query(parts.query),
      body(parts.body),
      remoteAddress(parts.remoteAddress),
      authority(parts.authority),
      requestId(parts.requestId),
      versionMinor(parts.versionMinor),
      keepAlive(keepAliveRequested),
      routeId(metricsRoute),
      route(routePattern),
      startNs(start),
      site(std::move(snapshot)),
      handler(boundHandler),
      mailbox(std::move(reactorMailbox)) {
  Request original(parts);
  referer = std::string(original.header("Referer"));
  userAgent = std::string(original.header("User-Agent"));
  if (handler->compresses()) acceptEncoding = std::string(original.header("Accept-Encoding"));
  for (const Header& h : parts.headers) headerText.emplace_back(h.name, h.value);
  for (const Capture& c : parts.captures) captureText.emplace_back(c.name, c.value);
  // Views into the strings above; built once the vectors stopped growing.
  for (const auto& [name, value] : headerText) headers.push_back({name, value});
  for (const auto& [name, value] : captureText) captures.push_back({name, value});
  Request::Parts mine;
  mine.method = method;
  mine.target = target;
  mine.path = path;
  mine.query = query;
  mine.body = body;
  mine.remoteAddress = remoteAddress;
  mine.authority = authority;
  mine.requestId = requestId;
  mine.versionMinor = versionMinor;
  mine.headers = Span<Header>(headers.data(), headers.size());
  mine.captures = Span<Capture>(captures.data(), captures.size());
  request = Request(mine);
  exchange.request = &request;
  exchange.response = &response;
  exchange.mailbox = &mailbox;
  exchange.version = versionMinor == 0 ? 10 : 11;
  exchange.webSocketAllowed = false;  // the connection went on without it
}

bool BlockingCall::start(const std::shared_ptr<BlockingCall>& call, WorkerPool& workers) {
  return workers.submit([call] {
    if (log::enabled(log::Level::Debug))
      log::debug("a worker runs " + call->method + " " + call->target + " (plugin " + call->handler->pluginName() + ")");
    call->run();
    // The reactor may be gone by now (a handler stuck past the shutdown grace).
    call->mailbox->post([call] {
      // On the waiter's reactor thread. It may have closed, or answered 504, while the
      // worker ran: then the result has nobody to go to, and an answer the handler
      // deferred is given up too.
      if (call->waiter) return call->waiter->blockingDone(*call);
      if (call->exchange.deferred) call->exchange.deferred->detach(MS_CANCEL_TIMEOUT);
    });
  });
}

void BlockingCall::run() { handler->run(exchange); }

ResponseContext BlockingCall::responseContext() const {
  return {method,   target,         referer,   userAgent, versionMinor, keepAlive,
          routeId,  startNs,        handler->compresses(), acceptEncoding, requestId, route,
          handler->pluginName()};
}

}  // namespace microserver::core
