// Builtins: the server's own endpoints, answered before any route:
//   GET /healthz  liveness: 200 "ok" while the process serves at all;
//   GET /readyz   readiness: 200 once the configuration is loaded and the listeners are
//                 up, 503 while stopping or while a plugin says it is not ready (e.g. the
//                 chat's Redis is unreachable), so a load balancer stops sending traffic;
//   GET /metrics  Prometheus text: requests by route and status, latency histogram, open
//                 connections, bytes, reloads, plugin errors, and each plugin's own.
// Their paths are server.health_path, ready_path and metrics_path ("off" disables one).
#pragma once

#include "base/Config.h"
#include "app/ServerContext.h"
#include "site/Request.h"
#include "site/Response.h"

namespace microserver::core {

// 503 with Retry-After: a pool's queue (workers, file threads) is full.
void answerBusy(Response& response);

// Echoes the request's id in `response` under `header` (server.request_id_header), unless
// the handler set that header itself. Nothing when ids are off (empty).
void echoRequestId(Response& response, std::string_view header, std::string_view id);

// True if `parts` asked for a built-in endpoint; `response` then holds its answer.
bool answerBuiltin(const Request::Parts& parts, const ServerConfig& server, const ServerContext& context,
                   Response& response);

}  // namespace microserver::core
