// Compression: gzip (zlib) and brotli encodings of a body, for the static files' cached
// variants and for plugin answers on routes that ask for it (`compress: true`).
//
// What is worth compressing is decided here once: text formats and a few others that
// compress well (JSON, JavaScript, SVG, XML, WebAssembly), above a minimum size (small
// bodies grow or gain nothing), never a body that already has a Content-Encoding.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "site/Negotiation.h"
#include "site/Response.h"

namespace microserver::core {

// Effort: Best for something compressed once and kept (a cached static variant), Fast for
// an answer compressed on the event loop for one request.
enum class Effort { Fast, Best };

// Compresses `in` with `coding` (Gzip or Brotli) into `out`; false if the library failed
// (out of memory) or the result would not be smaller.
bool compress(Coding coding, std::string_view in, Effort effort, std::string& out);

// Whether a body of this media type ("text/css; charset=utf-8") is worth compressing.
bool compressibleType(std::string_view contentType);

// Bodies below this are sent as they are.
constexpr std::size_t kMinCompressBytes = 1024;

// Compresses a plugin's answer given whole, when the client accepts a coding and it is
// worth it: a 200..203 answer with a compressible type, a buffered body of at least
// kMinCompressBytes, no Content-Encoding yet, no Cache-Control: no-transform. Such an
// answer gets Vary: Accept-Encoding either way; compressed, it gets Content-Encoding and
// an ETag the plugin set turns weak (the bytes differ from what it named). Returns
// whether it compressed.
bool compressAnswer(Response& response, std::string_view acceptEncoding);

}  // namespace microserver::core
