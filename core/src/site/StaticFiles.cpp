// StaticFiles: serves the site folder with the answers a browser and a cache expect.
//
// Confinement is the point of this file. The path string is normalised first (see
// PathConfinement.cpp), then the file is opened relative to a descriptor of the root with
// openat2(RESOLVE_BENEATH), so the kernel itself refuses any symlink or rename that would
// lead outside the root, including one swapped in between our check and our open. Nothing
// here keeps mutable state except one atomic flag, so serve() can run on every reactor at once.
#include "site/StaticFiles.h"

#include "base/HttpDate.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace microserver::core {

namespace detail {
// Opens `rel` under the root without openat2 (kernels before 5.6): an ordinary openat, then
// the kernel's own name for the opened descriptor must lie under `rootReal`. External
// linkage only so the unit tests can exercise it on kernels that do have openat2.
int openBeneathFallback(int rootFd, const std::string& rootReal, const std::string& rel, int flags);
}  // namespace detail

namespace {

// Closes the descriptor on every early return; release() hands it to the Response.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd& operator=(UniqueFd&&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// ---------------------------------------------------------------------------------------
// Opening under the root

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer and freeze the
// reactor thread; it has no effect on the regular files we actually serve (nginx does the same).
// O_NOCTTY: a terminal device under the root must never become our controlling terminal.
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

// Set once the kernel says it has no openat2, so later requests skip the failing syscall.
std::atomic<bool> gOpenat2Missing{false};

bool isInside(std::string_view path, std::string_view rootReal) {
  if (rootReal == "/") return true;
  if (path.substr(0, rootReal.size()) != rootReal) return false;
  return path.size() == rootReal.size() || path[rootReal.size()] == '/';
}

// Returns a descriptor, or -1 with errno set. EXDEV means "would leave the root".
int openBeneath(int rootFd, const std::string& rootReal, const std::string& rel) {
  if (!gOpenat2Missing.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(kOpenFlags);
    // RESOLVE_BENEATH rather than RESOLVE_IN_ROOT: an absolute symlink is refused instead of
    // being silently reinterpreted relative to the root, which would serve a different file
    // than the one the site's author linked to.
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const char* path = rel.empty() ? "." : rel.c_str();
    // EAGAIN: a concurrent rename made the kernel unsure a ".." in a symlink stayed beneath the
    // root; it asks us to retry. Bounded, so a hostile renamer cannot keep us spinning.
    for (int attempt = 0; attempt < 4; ++attempt) {
      long fd = ::syscall(SYS_openat2, rootFd, path, &how, sizeof how);
      if (fd >= 0) return static_cast<int>(fd);
      if (errno != EAGAIN && errno != EINTR) break;
    }
    if (errno != ENOSYS) return -1;
    gOpenat2Missing.store(true, std::memory_order_relaxed);
  }
  return detail::openBeneathFallback(rootFd, rootReal, rel, kOpenFlags);
}

// ---------------------------------------------------------------------------------------
// Validators and conditional requests (RFC 9110 8.8, 13)

// nginx's format, so caches that sat in front of nginx keep their entries valid.
std::string_view formatETag(const struct stat& st, char (&buffer)[48]) {
  int n = std::snprintf(buffer, sizeof buffer, "\"%llx-%llx\"",
                        static_cast<unsigned long long>(st.st_mtime),
                        static_cast<unsigned long long>(st.st_size));
  return {buffer, n > 0 ? static_cast<std::size_t>(n) : 0};
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// If-None-Match uses the weak comparison (RFC 9110 13.1.2): "W/" is ignored on both sides.
// Malformed members are skipped rather than failing the whole list, so one bad tag from a
// client cannot turn a cache hit into a full download.
bool etagListMatches(std::string_view list, std::string_view etag) {
  list = trimOws(list);
  if (list == "*") return true;
  while (!list.empty()) {
    while (!list.empty() && (list.front() == ',' || list.front() == ' ' || list.front() == '\t'))
      list.remove_prefix(1);
    if (list.substr(0, 2) == "W/") list.remove_prefix(2);
    if (list.empty()) break;
    if (list.front() != '"') {
      std::size_t comma = list.find(',');
      list.remove_prefix(comma == std::string_view::npos ? list.size() : comma);
      continue;
    }
    std::size_t close = list.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(0, close + 1) == etag) return true;
    list.remove_prefix(close + 1);
  }
  return false;
}

// RFC 9110 13.2.2: If-None-Match, when present, decides alone; If-Modified-Since only
// counts without it, and only if it is a valid date.
bool isNotModified(const Request& request, std::string_view etag, std::time_t mtime) {
  if (request.hasHeader("If-None-Match")) return etagListMatches(request.header("If-None-Match"), etag);
  std::string_view since = request.header("If-Modified-Since");
  std::time_t sinceTime = 0;
  if (since.empty() || !parseHttpDate(trimOws(since), sinceTime)) return false;
  return mtime <= sinceTime;
}

// If-Range needs a strong match (RFC 9110 13.1.5): a weak tag or any other date than the
// exact Last-Modified means the client's partial copy is stale, so it gets the whole file.
bool ifRangeAllowsRange(const Request& request, std::string_view etag, std::time_t mtime) {
  if (!request.hasHeader("If-Range")) return true;
  std::string_view value = trimOws(request.header("If-Range"));
  if (!value.empty() && value.front() == '"') return value == etag;
  std::time_t date = 0;
  return parseHttpDate(value, date) && date == mtime;
}

// ---------------------------------------------------------------------------------------
// Range (RFC 9110 14)

enum class RangeVerdict { kIgnore, kUnsatisfiable, kSatisfiable };

// Digits only; saturates instead of overflowing, because a huge first-pos is simply "past
// the end" and a huge last-pos or suffix simply "to the end".
bool parseDecimal(std::string_view s, std::uint64_t& value) {
  if (s.empty()) return false;
  value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
  }
  return true;
}

// Understands exactly one range. A list of several is answered with the whole file:
// multipart/byteranges is not supported (browsers and download managers only ask for one),
// and RFC 9110 14.2 lets a server ignore Range altogether.
RangeVerdict parseRange(std::string_view header, std::uint64_t size, std::uint64_t& start,
                        std::uint64_t& length) {
  header = trimOws(header);
  std::size_t eq = header.find('=');
  if (eq == std::string_view::npos || !equalsIgnoreCase(trimOws(header.substr(0, eq)), "bytes"))
    return RangeVerdict::kIgnore;
  std::string_view spec = trimOws(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return RangeVerdict::kIgnore;
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeVerdict::kIgnore;
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);

  if (first.empty()) {  // "-n": the last n bytes
    std::uint64_t suffix = 0;
    if (!parseDecimal(last, suffix)) return RangeVerdict::kIgnore;
    if (suffix == 0 || size == 0) return RangeVerdict::kUnsatisfiable;
    length = suffix < size ? suffix : size;
    start = size - length;
    return RangeVerdict::kSatisfiable;
  }
  std::uint64_t firstPos = 0, lastPos = UINT64_MAX;
  if (!parseDecimal(first, firstPos)) return RangeVerdict::kIgnore;
  if (!last.empty() && (!parseDecimal(last, lastPos) || lastPos < firstPos)) return RangeVerdict::kIgnore;
  if (firstPos >= size) return RangeVerdict::kUnsatisfiable;
  if (lastPos > size - 1) lastPos = size - 1;  // "a-b" past the end means "to the end"
  start = firstPos;
  length = lastPos - firstPos + 1;
  return RangeVerdict::kSatisfiable;
}

// ---------------------------------------------------------------------------------------
// Small answers

void answerPlain(Response& response, int status, std::string_view text) {
  response.setStatus(status);
  response.setContentType("text/plain; charset=utf-8");
  response.setBody(text);
}

// The request path is decoded, so it may hold bytes a header must not (space, CR, LF, non-
// ASCII); encoding them again keeps Location valid and makes header injection impossible.
void appendEncoded(std::string& out, std::string_view text, bool isQuery) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    bool pathSafe = std::string_view("!$&'()*+,;=:@/").find(ch) != std::string_view::npos;
    // The query is still encoded as the client sent it: only bytes that would break the
    // header need escaping there, and re-escaping its '%' would change its meaning.
    bool querySafe = c > 0x20 && c < 0x7f;
    if (unreserved || (isQuery ? querySafe : pathSafe)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
}

// A folder named without its trailing slash: relative links inside its index page would
// resolve against the parent, so send the browser to the slash form first (as nginx does).
void answerFolderRedirect(const Request& request, std::string_view shownPath, Response& response) {
  std::string location;
  appendEncoded(location, shownPath, false);
  // "//host" would be a protocol-relative URL: an open redirect to another site.
  std::size_t slashes = location.find_first_not_of('/');
  if (slashes == std::string::npos) slashes = location.size();
  location.replace(0, slashes, "/");
  if (location.size() > 1) location.push_back('/');
  if (!request.query().empty()) {
    location.push_back('?');
    appendEncoded(location, request.query(), true);
  }
  answerPlain(response, 301, "301 Moved Permanently\n");
  response.addHeader("Location", location);
}

// Errors that say "nothing to serve here". A symlink out of the root (EXDEV, ELOOP) lands
// here too: answering anything but 404 would tell a prober the link exists.
bool isNotFoundError(int err) {
  switch (err) {
    case ENOENT: case ENOTDIR: case EXDEV: case ELOOP: case ENAMETOOLONG:
    case EACCES: case EPERM: case ENXIO: case ENODEV: case EAGAIN:
      return true;
    default:
      return false;
  }
}

}  // namespace

namespace detail {

int openBeneathFallback(int rootFd, const std::string& rootReal, const std::string& rel, int flags) {
  UniqueFd fd(::openat(rootFd, rel.empty() ? "." : rel.c_str(), flags));
  if (fd.get() < 0) return -1;
  // Ask where the descriptor actually landed rather than resolving the path string again:
  // a symlink swapped in between the open and a path check would otherwise slip through.
  // Without /proc this fails, and we refuse rather than serve unchecked.
  char procPath[40];
  std::snprintf(procPath, sizeof procPath, "/proc/self/fd/%d", fd.get());
  char* real = ::realpath(procPath, nullptr);
  bool inside = real != nullptr && isInside(real, rootReal);
  std::free(real);
  if (!inside) {
    errno = EXDEV;
    return -1;
  }
  return fd.release();
}

}  // namespace detail

// ---------------------------------------------------------------------------------------

struct StaticFiles::Impl {
  StaticFilesOptions options;
  UniqueFd rootFd;
  std::string rootReal;                   // for the pre-openat2 fallback only
  std::vector<std::string> indexPaths;    // normalised once, not per request
  std::string notFoundPath;               // normalised; empty = plain-text 404

  explicit Impl(StaticFilesOptions opts);
  void serve(const Request& request, std::string_view relativePath, Response& response) const;
  void serveFolder(const Request& request, std::string_view relativePath, const std::string& rel,
                   Response& response) const;
  void serveFile(const Request& request, UniqueFd fd, const struct stat& st, std::string_view name,
                 Response& response) const;
  void answerOpenError(int err, Response& response) const;
  void answerNotFound(Response& response) const;
  bool readNotFoundPage(std::string& body) const;
};

// O_PATH: the folder itself is never read, only names beneath it resolved.
StaticFiles::Impl::Impl(StaticFilesOptions opts)
    : options(std::move(opts)), rootFd(::open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
  if (rootFd.get() < 0)
    throw std::system_error(errno, std::generic_category(),
                            "static files: cannot open root folder \"" + options.root + "\" as a directory");
  char* real = ::realpath(options.root.c_str(), nullptr);
  if (real == nullptr)
    throw std::system_error(errno, std::generic_category(),
                            "static files: cannot resolve root folder \"" + options.root + "\"");
  rootReal = real;
  std::free(real);

  for (const std::string& index : options.indexFiles) {
    std::string normalized;
    if (!normalizeConfinedPath(index, normalized) || normalized.empty())
      throw std::runtime_error("static files: index file \"" + index + "\" must name a file inside the folder");
    indexPaths.push_back(std::move(normalized));
  }
  if (!options.notFoundPage.empty() && !normalizeConfinedPath(options.notFoundPage, notFoundPath))
    throw std::runtime_error("static files: 404 page \"" + options.notFoundPage +
                             "\" must name a file inside \"" + options.root + "\"");
}

void StaticFiles::Impl::serve(const Request& request, std::string_view relativePath,
                              Response& response) const {
  bool head = request.method() == "HEAD";
  if (!head && request.method() != "GET") {
    answerPlain(response, 405, "405 Method Not Allowed\n");
    response.addHeader("Allow", "GET, HEAD");
    return;
  }
  // Set first so every answer to HEAD (404, 301, ...) keeps its Content-Length but no body.
  if (head) response.setOmitBody(true);

  std::string rel;
  if (!normalizeConfinedPath(relativePath, rel)) return answerPlain(response, 400, "400 Bad Request\n");

  UniqueFd fd(openBeneath(rootFd.get(), rootReal, rel));
  if (fd.get() < 0) return answerOpenError(errno, response);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return answerOpenError(errno, response);

  if (S_ISDIR(st.st_mode)) return serveFolder(request, relativePath, rel, response);
  // Devices, FIFOs and sockets have no length and reading them can block or have side effects.
  if (!S_ISREG(st.st_mode)) return answerNotFound(response);
  // "/a.txt/" names a folder that does not exist; serving a.txt there would also make the
  // browser resolve the page's relative links against the wrong base.
  if (!relativePath.empty() && relativePath.back() == '/') return answerNotFound(response);
  serveFile(request, std::move(fd), st, rel, response);
}

void StaticFiles::Impl::serveFolder(const Request& request, std::string_view relativePath,
                                    const std::string& rel, Response& response) const {
  // The mount prefix was stripped from relativePath, so the slash test and the redirect use
  // the full request path; direct callers without one (tests, embedders) fall back.
  std::string_view shownPath = request.path().empty() ? relativePath : request.path();
  if (shownPath.empty() || shownPath.back() != '/') return answerFolderRedirect(request, shownPath, response);

  std::string candidate;
  for (const std::string& index : indexPaths) {
    candidate.assign(rel);
    if (!candidate.empty()) candidate.push_back('/');
    candidate.append(index);
    // Opened from the root, not from the folder, so an index symlink to a sibling folder
    // inside the site still works while one leaving the site is still refused.
    UniqueFd fd(openBeneath(rootFd.get(), rootReal, candidate));
    if (fd.get() < 0) {
      if (isNotFoundError(errno)) continue;
      return answerOpenError(errno, response);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return answerOpenError(errno, response);
    if (S_ISREG(st.st_mode)) return serveFile(request, std::move(fd), st, index, response);
  }
  answerNotFound(response);  // no directory listings: they leak file names
}

void StaticFiles::Impl::serveFile(const Request& request, UniqueFd fd, const struct stat& st,
                                  std::string_view name, Response& response) const {
  char etagBuffer[48], dateBuffer[29];
  std::string_view etag = formatETag(st, etagBuffer);
  formatHttpDate(st.st_mtime, dateBuffer);
  std::string_view lastModified(dateBuffer, sizeof dateBuffer);

  if (isNotModified(request, etag, st.st_mtime)) {
    response.setStatus(304);
    response.addHeader("ETag", etag);
    response.addHeader("Last-Modified", lastModified);
    response.setOmitBody(true);
    return;  // fd closes here: a 304 has no body to send
  }

  std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t start = 0, length = size;
  bool partial = false;
  // Range is defined for GET only (RFC 9110 14.2); HEAD describes the whole file.
  if (request.method() == "GET" && request.hasHeader("Range") &&
      ifRangeAllowsRange(request, etag, st.st_mtime)) {
    switch (parseRange(request.header("Range"), size, start, length)) {
      case RangeVerdict::kUnsatisfiable: {
        answerPlain(response, 416, "416 Range Not Satisfiable\n");
        response.addHeader("Content-Range", "bytes */" + std::to_string(size));
        response.addHeader("Accept-Ranges", "bytes");
        return;
      }
      case RangeVerdict::kSatisfiable:
        partial = true;
        break;
      case RangeVerdict::kIgnore:
        start = 0;
        length = size;
        break;
    }
  }

  response.setStatus(partial ? 206 : 200);
  response.setContentType(mimeTypeFor(name));
  response.addHeader("Last-Modified", lastModified);
  response.addHeader("ETag", etag);
  response.addHeader("Accept-Ranges", "bytes");
  if (partial) {
    char contentRange[80];
    int n = std::snprintf(contentRange, sizeof contentRange, "bytes %llu-%llu/%llu",
                          static_cast<unsigned long long>(start),
                          static_cast<unsigned long long>(start + length - 1),
                          static_cast<unsigned long long>(size));
    response.addHeader("Content-Range", std::string_view(contentRange, static_cast<std::size_t>(n)));
  }
  // Attached for HEAD too: the server takes Content-Length from it and sends no bytes.
  response.setFile(fd.release(), start, length);
}

void StaticFiles::Impl::answerOpenError(int err, Response& response) const {
  if (isNotFoundError(err)) return answerNotFound(response);
  // Out of descriptors or memory is temporary: tell clients and proxies to come back.
  if (err == EMFILE || err == ENFILE || err == ENOMEM)
    return answerPlain(response, 503, "503 Service Unavailable\n");
  answerPlain(response, 500, "500 Internal Server Error\n");
}

void StaticFiles::Impl::answerNotFound(Response& response) const {
  // Read on every 404 instead of cached: no lock shared by the reactors, and an edited page
  // shows at once. 404s are rare enough for the extra open and read not to matter.
  response.setStatus(404);
  if (readNotFoundPage(response.body())) {
    response.setContentType(mimeTypeFor(notFoundPath));
    return;
  }
  answerPlain(response, 404, "404 Not Found\n");
}

bool StaticFiles::Impl::readNotFoundPage(std::string& body) const {
  if (notFoundPath.empty()) return false;
  UniqueFd fd(openBeneath(rootFd.get(), rootReal, notFoundPath));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  body.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < body.size()) {
    ssize_t n = ::pread(fd.get(), &body[done], body.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;  // shrank since fstat: send what is there
    done += static_cast<std::size_t>(n);
  }
  body.resize(done);
  return true;
}

// ---------------------------------------------------------------------------------------

StaticFiles::StaticFiles(StaticFilesOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
StaticFiles::~StaticFiles() = default;

void StaticFiles::serve(const Request& request, std::string_view relativePath, Response& response) const {
  impl_->serve(request, relativePath, response);
}

void StaticFiles::notFound(Response& response) const { impl_->answerNotFound(response); }

const std::string& StaticFiles::root() const { return impl_->options.root; }

}  // namespace microserver::core
