// Builtins: see Builtins.h.
#include "site/Builtins.h"

#include <cstring>

#include "base/Metrics.h"
#include "base/RequestId.h"

namespace microserver::core {

void echoRequestId(Response& response, std::string_view header, std::string_view id) {
  if (header.empty() || id.empty() || !response.header(header).empty()) return;
  // The id is a checked token (base/RequestId.h) and the name was checked when loaded.
  // One append of a line built on the stack: this is on every answer's path.
  char line[kMaxRequestIdHeaderLength + kMaxRequestIdLength + 4];
  if (header.size() > kMaxRequestIdHeaderLength || id.size() > kMaxRequestIdLength) return;  // cannot be
  char* at = line;
  std::memcpy(at, header.data(), header.size());
  at += header.size();
  std::memcpy(at, ": ", 2);
  std::memcpy(at + 2, id.data(), id.size());
  at += 2 + id.size();
  std::memcpy(at, "\r\n", 2);
  response.addTrustedHeaders(std::string_view(line, static_cast<std::size_t>(at + 2 - line)));
}

void answerBusy(Response& response) {
  response.reset();
  response.setStatus(503);
  response.addHeader("Retry-After", "1");
  response.setContentType("text/plain; charset=utf-8");
  response.setBody("503 Service Unavailable: the server is busy, try again shortly\n");
}

namespace {
bool matches(std::string_view path, const std::string& configured) {
  return !configured.empty() && configured != "off" && path == configured;
}

void answer(Response& response, int status, std::string_view type, std::string body) {
  response.setStatus(status);
  response.setContentType(type);
  response.addHeader("Cache-Control", "no-store");
  response.setBody(std::move(body));
}
}  // namespace

bool answerBuiltin(const Request::Parts& parts, const ServerConfig& server, const ServerContext& context,
                   Response& response) {
  std::string_view path = parts.path;
  bool health = matches(path, server.healthPath), ready = matches(path, server.readyPath),
       metrics = matches(path, server.metricsPath);
  if (!health && !ready && !metrics) return false;
  if (parts.method != "GET" && parts.method != "HEAD") {
    answer(response, 405, "text/plain; charset=utf-8", "405 Method Not Allowed\n");
    response.addHeader("Allow", "GET, HEAD");
    return true;
  }
  if (health) {
    answer(response, 200, "text/plain; charset=utf-8", "ok\n");
  } else if (ready) {
    std::string reason;
    if (context.draining.load(std::memory_order_relaxed))
      answer(response, 503, "text/plain; charset=utf-8", "not ready: the server is stopping\n");
    else if (!Metrics::instance().pluginsReady(reason))
      answer(response, 503, "text/plain; charset=utf-8", "not ready: " + reason + "\n");
    else
      answer(response, 200, "text/plain; charset=utf-8", "ready\n");
  } else {
    answer(response, 200, "text/plain; version=0.0.4; charset=utf-8",
           Metrics::instance().render(context.openConnections.load(std::memory_order_relaxed)));
  }
  return true;
}

}  // namespace microserver::core
