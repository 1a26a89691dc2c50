// Exchange: one request and its answer while a plugin's handler runs: what the plugin's
// ms_exchange points to (see plugin/HostApi). The protocol session fills it in, calls the
// handler (BoundHandler::run), and then looks at what the handler asked for: an answer
// now (`response`), later (`deferred`), a WebSocket, interim responses to send first.
//
// It lives on the session's stack (or in a BlockingCall on a worker) for the duration of
// the handler call only, like the request views it holds.
#pragma once

#include <memory>
#include <vector>

#include "microserver/microserver.h"
#include "net/Mailbox.h"
#include "site/Request.h"
#include "site/Responder.h"
#include "site/Response.h"

namespace microserver::core {

class BoundHandler;

struct Exchange {
  const Request* request = nullptr;
  Response* response = nullptr;           // the answer given now
  const BoundHandler* handler = nullptr;  // the route's handler (its plugin, its settings)
  // The session's reactor, for an answer given later (a pointer to a mailbox its owner
  // keeps: no reference count is touched per request).
  const std::shared_ptr<ReactorMailbox>* mailbox = nullptr;
  int version = 11;                       // 10, 11 or 20
  bool bodyStreamed = false;              // a `body: stream` route: the body comes later
  bool webSocketAllowed = true;           // not on blocking routes, nor over HTTP/2 (yet)

  // What the handler asked for.
  std::vector<Response> interims;         // 1xx to send before the answer, in order
  std::shared_ptr<Responder> deferred;    // the answer comes later
  const ms_session_callbacks* webSocket = nullptr;  // become a WebSocket served by this session
  void* webSocketSession = nullptr;

  ms_exchange* handle() { return reinterpret_cast<ms_exchange*>(this); }
  static Exchange* from(ms_exchange* x) { return reinterpret_cast<Exchange*>(x); }
  static const Exchange* from(const ms_exchange* x) { return reinterpret_cast<const Exchange*>(x); }
};

}  // namespace microserver::core
