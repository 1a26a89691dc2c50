// RequestId: the id that follows one request through the logs, the answer and the plugin
// (server.request_id_header, X-Request-Id by default).
//
// A proxy we trust (server.trusted_proxies) may have given the request one already: that
// one is kept, so a request keeps a single id across the balancer, this server and what
// it calls. Anybody else's is ignored (a client could pick an id to confuse the logs), and
// so is one that is not a short token; then the server makes one: 32 lowercase hex digits
// (128 random bits), as nginx's $request_id. Making one costs a few nanoseconds: a
// per-thread generator seeded from the kernel once (getrandom), not a system call per
// request. The ids are unique, not secret: never use them as tokens.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace microserver::core {

constexpr std::size_t kGeneratedRequestIdLength = 32;
constexpr std::size_t kMaxRequestIdLength = 128;
constexpr std::size_t kMaxRequestIdHeaderLength = 64;  // server.request_id_header's name

// Replaces `out` with a new id.
void generateRequestId(std::string& out);

// Whether an id a proxy sent may be used as is: 1..128 bytes of letters, digits and
// - _ . : / + = @ (UUIDs, nginx's and Heroku's ids, base64), nothing that could break a
// log line, a header or a JSON string.
bool acceptableRequestId(std::string_view id);

// `out` = the trusted proxy's id when acceptable (`forwarded`: the header's value, empty
// when absent or the peer is not trusted), else a new one.
void assignRequestId(std::string_view forwarded, std::string& out);

}  // namespace microserver::core
