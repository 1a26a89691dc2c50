// StaticFiles: serves a folder (the site in www/) safely, fast, and as browsers and caches
// expect.
//
// Safe: every request path is already percent-decoded once by the session; here it is
// normalised and confined under the root: `..`, backslashes, NUL and symlinks that leave
// the root never serve anything outside it (the open itself is confined by the kernel with
// openat2(RESOLVE_BENEATH) where available, so a symlink swapped in mid-request cannot
// escape either).
//
// Fast: hot files are answered from the open-file cache (FileCache) with no system call
// and, when small, header and body leave in one send. Anything that needs the disk (a
// file not cached yet, or due for its once-a-second check, a folder, a listing, the ranges
// of a big file) is done off the event loop, on the server's file threads (nginx's aio
// threads), and comes back as an answer given later: a slow disk stalls no other client.
//
// As expected: 200, 206 (one range, or several as multipart/byteranges), 304 and 412
// (If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, If-Range), 404 with
// the site's 404 page, 405 (Allow: GET, HEAD), 416; gzip and brotli (a precompressed
// sibling file.br / file.gz first, else a copy made once and cached), Vary and an ETag per
// encoding, ranges on the identity encoding only; Cache-Control per route; an optional
// directory listing (HTML, or JSON for Accept: application/json).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/Mailbox.h"
#include "site/MimeTypes.h"
#include "site/PathConfinement.h"
#include "site/Request.h"
#include "site/Responder.h"
#include "site/Response.h"

namespace microserver::core {

struct StaticFilesOptions {
  std::string root;                                    // folder to serve (must exist)
  std::vector<std::string> indexFiles{"index.html"};   // tried in order for a folder
  std::string notFoundPage = "404.html";               // under root; plain text if missing
  bool compress = true;                                // make gzip/brotli copies of compressible files
  bool precompressed = true;                           // send file.br / file.gz when present
  bool listing = false;                                // list folders without an index file
  std::string cacheControl;                            // "max-age=3600, immutable", or none
  std::size_t maxFiles = 1000;                         // the open-file cache's bounds
  std::uint64_t maxBytes = 64ull << 20;
};

class StaticFiles {
 public:
  // Throws std::runtime_error naming the folder if root cannot be opened.
  explicit StaticFiles(StaticFilesOptions options);
  ~StaticFiles();
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  // Answers `request` for the file at `relativePath` (the decoded path with the route's
  // mount prefix removed, e.g. "/css/site.css"). From the cache, now, and returns null;
  // or returns the work to run on a file thread, which answers through `later` (made here,
  // on `mailbox`'s reactor) when it is done. The work keeps what it needs alive, even if
  // this StaticFiles goes away with its Site meanwhile.
  std::function<void()> serve(const Request& request, std::string_view relativePath, Response& response,
                              const std::shared_ptr<ReactorMailbox>& mailbox, std::shared_ptr<Responder>& later) const;
  // The site's 404 answer (its 404 page, or plain text), likewise.
  std::function<void()> notFound(Response& response, const std::shared_ptr<ReactorMailbox>& mailbox,
                                 std::shared_ptr<Responder>& later) const;

  // The same answers made at once on the calling thread, disk and all (tests, tools).
  void serveNow(const Request& request, std::string_view relativePath, Response& response) const;
  void notFoundNow(Response& response) const;

  const std::string& root() const;
  std::size_t cachedFiles() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace microserver::core
