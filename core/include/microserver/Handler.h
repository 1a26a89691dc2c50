// Handler: answers the HTTP requests of one route.
//
// Threads: the server calls handle() on its reactor threads, several at once, so a handler
// must be thread-safe (keep per-request state on the stack; guard shared state). It must
// not block: a slow handler stalls every connection of its reactor. To wait for something
// (a timer, another service, a database), defer() the answer and give it later from any
// thread (Responder.h): that holds no thread. A route whose handler has to block (disk,
// a blocking client library, sleeping) says `blocking: true` in routes.yaml; its handler
// then runs on the server's worker pool and may take its time.
//
// Errors: throwing is fine. The request gets a 500, the log gets a line naming the
// plugin, and the server goes on.
#pragma once

#include "microserver/Request.h"
#include "microserver/Response.h"

namespace microserver {

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void handle(const Request& request, Response& response) = 0;
};

}  // namespace microserver
