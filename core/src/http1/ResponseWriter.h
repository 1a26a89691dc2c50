// ResponseWriter: turns a Response into the bytes of a status line and header block.
//
// The server owns the framing headers: Date, Server, Content-Length and Connection are
// written here from the Response's state, never taken from a handler, so no handler can
// produce an ambiguous or smuggled response. No iostreams, no allocation once the
// output buffer has grown: this runs for every request.
#pragma once

#include <string>

#include "site/Response.h"

namespace microserver::core {

enum class ConnectionHeader { None, KeepAlive, Close };

// Appends the head (status line through the empty line) to `out`; then, unless the
// response has no body on the wire or a file or streamed body, the body bytes too.
// `connection` says which Connection header to send (HTTP/1.1 keep-alive needs none).
// A streamed body is framed chunked, except on a connection that closes after it
// (HTTP/1.0): there the close ends the body.
void writeResponse(const Response& response, ConnectionHeader connection, std::string& out);

// An interim (1xx) response: its status line and headers (HTTP/1.1 only).
void writeInterim(const Response& interim, std::string& out);

// One piece of a chunked body ("<hex size>\r\n<bytes>\r\n"); nothing for an empty one,
// which would end the body. The end: "0\r\n\r\n".
void appendChunk(std::string_view bytes, std::string& out);
constexpr std::string_view kLastChunk = "0\r\n\r\n";

// True if this status never has a body (1xx, 204, 304): no Content-Length either way for
// 1xx/204, and 304 only repeats the headers.
bool statusHasNoBody(int status);

// Appends a complete minimal error response ("400 Bad Request: reason") that closes the
// connection.
void writeErrorResponse(int status, std::string_view reason, bool omitBody, std::string& out);

}  // namespace microserver::core
