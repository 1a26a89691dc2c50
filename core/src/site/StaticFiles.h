// StaticFiles: serves a folder (the site in www/) safely and cache-friendly.
//
// Every request path is already percent-decoded once by the connection. Here it is
// normalised and confined under the root: `..`, backslashes, NUL and symlinks that leave
// the root never serve anything outside it (the open itself is confined by the kernel with
// openat2(RESOLVE_BENEATH) where available, so a symlink swapped in mid-request cannot
// escape either). Answers: 200, 206 (Range), 304 (ETag / Last-Modified), 404 (with the
// site's 404 page), 405 (Allow: GET, HEAD), 416. Bodies go out with sendfile(2).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "site/Request.h"
#include "site/Response.h"

namespace microserver::core {

struct StaticFilesOptions {
  std::string root;                                    // folder to serve (must exist)
  std::vector<std::string> indexFiles{"index.html"};   // tried in order for a folder
  std::string notFoundPage = "404.html";               // under root; plain text if missing
};

class StaticFiles {
 public:
  // Throws std::runtime_error naming the folder if root cannot be opened.
  explicit StaticFiles(StaticFilesOptions options);
  ~StaticFiles();
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  // Answers `request` for the file at `relativePath` (the decoded path with the route's
  // mount prefix removed, e.g. "/css/site.css"). HEAD gets GET's headers without a body.
  void serve(const Request& request, std::string_view relativePath, Response& response) const;

  // The site's 404 answer (its 404 page, or plain text), for requests no route matched.
  void notFound(Response& response) const;

  const std::string& root() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Normalises a decoded path into a relative path under a root: collapses "//" and "./",
// resolves ".." (never above the root), and refuses NUL and backslash. On success `out`
// holds segments joined by '/', without a leading '/', possibly empty (the root itself).
// Returns false if the path must be refused.
bool normalizeConfinedPath(std::string_view decodedPath, std::string& out);

// The Content-Type for a file name, from its extension ("application/octet-stream" if unknown).
std::string_view mimeTypeFor(std::string_view fileName);

}  // namespace microserver::core
