// StaticFiles: serves the site folder with the answers a browser and a cache expect.
//
// Confinement is the first point of this file. The path string is normalised first (see
// PathConfinement.cpp), then the file is opened relative to a descriptor of the root with
// openat2(RESOLVE_BENEATH), so the kernel itself refuses any symlink or rename that would
// lead outside the root, including one swapped in between our check and our open.
//
// Speed is the second: what a request needs from a file (its descriptor, validators,
// encodings, small bytes) is built once, off the event loop, and kept in the FileCache;
// respond() then makes an answer from it with no system call. Everything that touches the
// disk is in the "Disk" part below and runs on a file thread (or on the caller's, for
// serveNow).
#include "site/StaticFiles.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/HttpDate.h"
#include "base/Log.h"
#include "microserver/Text.h"
#include "net/Reactor.h"
#include "site/Compression.h"
#include "site/FileCache.h"
#include "site/Negotiation.h"

namespace microserver::core {

namespace {

// Closes the descriptor on every early return; release() hands it on.
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
// thread; it has no effect on the regular files we actually serve (nginx does the same).
// O_NOCTTY: a terminal device under the root must never become our controlling terminal.
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

// Set once the kernel says it has no openat2, so later requests skip the failing syscall.
std::atomic<bool> gOpenat2Missing{false};

bool isInside(std::string_view path, std::string_view rootReal) {
  if (rootReal == "/") return true;
  if (path.substr(0, rootReal.size()) != rootReal) return false;
  return path.size() == rootReal.size() || path[rootReal.size()] == '/';
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

namespace {

// A test-only fault (used by tests/e2e/StaticSiteTest.cpp): MICROSERVER_TEST_SLOW_OPEN
// = "<path suffix>:<ms>" makes every open of a path ending with <path suffix> take <ms>
// more, as a slow or network disk would; read once.
struct SlowOpen {
  std::string part;
  long ms = 0;
  SlowOpen() {
    const char* spec = std::getenv("MICROSERVER_TEST_SLOW_OPEN");
    if (!spec) return;
    std::string_view s = spec;
    std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return;
    part = std::string(s.substr(0, colon));
    ms = std::strtol(std::string(s.substr(colon + 1)).c_str(), nullptr, 10);
  }
};
const SlowOpen& slowOpen() {
  static const SlowOpen fault;
  return fault;
}

// Returns a descriptor, or -1 with errno set. EXDEV means "would leave the root".
int openBeneath(int rootFd, const std::string& rootReal, const std::string& rel) {
  const SlowOpen& fault = slowOpen();
  if (fault.ms > 0 && rel.size() >= fault.part.size() &&
      rel.compare(rel.size() - fault.part.size(), fault.part.size(), fault.part) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(fault.ms));
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
void answerFolderRedirect(std::string_view shownPath, std::string_view query, Response& response) {
  std::string location;
  appendEncoded(location, shownPath, false);
  // "//host" would be a protocol-relative URL: an open redirect to another site.
  std::size_t slashes = location.find_first_not_of('/');
  if (slashes == std::string::npos) slashes = location.size();
  location.replace(0, slashes, "/");
  if (location.size() > 1) location.push_back('/');
  if (!query.empty()) {
    location.push_back('?');
    appendEncoded(location, query, true);
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


// What a static answer depends on in a request: views, into the request or into an Owned
// copy made when the answer moves off the event loop.
struct Query {
  std::string_view method, path, rel, query, range, ifRange, acceptEncoding, accept;
  bool hasRange = false, hasIfRange = false;
  Validators validators;

  static Query of(const Request& request, std::string_view rel) {
    Query q;
    q.method = request.method();
    q.path = request.path();
    q.rel = rel;
    q.query = request.query();
    q.hasRange = request.hasHeader("Range");
    q.range = request.header("Range");
    q.hasIfRange = request.hasHeader("If-Range");
    q.ifRange = request.header("If-Range");
    q.acceptEncoding = request.header("Accept-Encoding");
    q.accept = request.header("Accept");
    q.validators.hasIfMatch = request.hasHeader("If-Match");
    q.validators.ifMatch = request.header("If-Match");
    q.validators.hasIfNoneMatch = request.hasHeader("If-None-Match");
    q.validators.ifNoneMatch = request.header("If-None-Match");
    q.validators.ifModifiedSince = request.header("If-Modified-Since");
    q.validators.ifUnmodifiedSince = request.header("If-Unmodified-Since");
    return q;
  }
  bool head() const { return method == "HEAD"; }
};

// A Query that owns its text (for a file thread).
class OwnedQuery {
 public:
  explicit OwnedQuery(const Query& q) : q_(q) {
    std::string_view* views[] = {&q_.method, &q_.path, &q_.rel, &q_.query, &q_.range, &q_.ifRange,
                                 &q_.acceptEncoding, &q_.accept, &q_.validators.ifMatch,
                                 &q_.validators.ifNoneMatch, &q_.validators.ifModifiedSince,
                                 &q_.validators.ifUnmodifiedSince};
    std::size_t total = 0;
    for (std::string_view* v : views) total += v->size();
    text_.reserve(total);
    std::vector<std::size_t> starts;
    for (std::string_view* v : views) {
      starts.push_back(text_.size());
      text_.append(v->data(), v->size());
    }
    for (std::size_t i = 0; i < starts.size(); ++i) *views[i] = std::string_view(text_).substr(starts[i], views[i]->size());
  }
  OwnedQuery(const OwnedQuery&) = delete;
  OwnedQuery& operator=(const OwnedQuery&) = delete;
  const Query& query() const { return q_; }

 private:
  Query q_;
  std::string text_;
};

constexpr std::size_t kMaxRanges = 16;
// Files up to this size are kept in memory (header and body leave in one send); bigger ones
// are sent from their descriptor (sendfile).
constexpr std::uint64_t kSmallFile = 32 * 1024;
// Compressed copies are made of files up to this size (bigger ones go as they are, unless
// a precompressed sibling exists).
constexpr std::uint64_t kMaxCompressFile = 8ull << 20;
// Several ranges of a file not in memory are read into the answer up to this much; more is
// answered with the whole file (RFC 9110 14.2 allows ignoring Range).
constexpr std::uint64_t kMaxMultipartBytes = 16ull << 20;

// nginx's format, so caches that sat in front of nginx keep their entries valid.
std::string formatETag(const struct stat& st, std::string_view suffix = {}) {
  char buffer[64];
  int n = std::snprintf(buffer, sizeof buffer, "\"%llx-%llx%.*s\"", static_cast<unsigned long long>(st.st_mtime),
                        static_cast<unsigned long long>(st.st_size), static_cast<int>(suffix.size()), suffix.data());
  return std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
}

long long mtimeNs(const struct stat& st) {
  return static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool sameFile(const CachedFile& entry, const struct stat& st) {
  return entry.device == st.st_dev && entry.inode == st.st_ino && entry.size == static_cast<std::uint64_t>(st.st_size) &&
         entry.mtimeNs == mtimeNs(st);
}

// Reads all of a file (size known) from offset 0; false on an error or if it shrank.
bool readAll(int fd, std::uint64_t size, std::string& out) {
  out.resize(static_cast<std::size_t>(size));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, &out[done], out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::int64_t nowMs() { return Reactor::monotonicMs(); }

}  // namespace

// ---------------------------------------------------------------------------------------

struct StaticFiles::Impl : std::enable_shared_from_this<StaticFiles::Impl> {
  StaticFilesOptions options;
  UniqueFd rootFd;
  std::string rootReal;                   // for the pre-openat2 fallback only
  std::vector<std::string> indexPaths;    // normalised once, not per request
  std::string notFoundPath;               // normalised; empty = plain-text 404
  mutable FileCache cache;

  explicit Impl(StaticFilesOptions opts);

  // ---- From the cache: no system call. Done = answered.
  enum class Outcome { Done, NeedsDisk };
  Outcome fromCache(const Query& q, Response& response) const;
  Outcome respond(const Query& q, const CachedFile& entry, Response& response, bool onFileThread) const;
  void respondNotFound(const CachedFile* page, Response& response) const;

  // ---- Disk (a file thread, or the caller's for serveNow).
  void fromDisk(const Query& q, Response& response) const;
  void serveFolder(const Query& q, const std::string& rel, Response& response) const;
  std::shared_ptr<const CachedFile> entryFor(const std::string& key, UniqueFd fd, const struct stat& st,
                                             const std::string& rel, std::string_view name) const;
  void notFoundFromDisk(Response& response) const;
  void answerOpenError(int err, Response& response) const;
  void listFolder(const Query& q, int folder, Response& response) const;

  // The work for a file thread: `answer` runs there and the result finishes `later`.
  std::function<void()> offLoop(std::function<void(Response&)> answer, const std::shared_ptr<ReactorMailbox>& mailbox,
                                std::shared_ptr<Responder>& later) const;
};

// O_PATH: the folder itself is never read, only names beneath it resolved.
StaticFiles::Impl::Impl(StaticFilesOptions opts)
    : options(std::move(opts)),
      rootFd(::open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
      cache(options.maxFiles, options.maxBytes) {
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

// The cache key of a request path: the normalised path, and a trailing '/' for a folder
// (whose entry is its index file).
bool cacheKey(std::string_view relativePath, std::string& key) {
  if (!normalizeConfinedPath(relativePath, key)) return false;
  if (!relativePath.empty() && relativePath.back() == '/') key.push_back('/');
  return true;
}

StaticFiles::Impl::Outcome StaticFiles::Impl::fromCache(const Query& q, Response& response) const {
  bool head = q.head();
  if (!head && q.method != "GET") {
    answerPlain(response, 405, "405 Method Not Allowed\n");
    response.addHeader("Allow", "GET, HEAD");
    return Outcome::Done;
  }
  // Set first so every answer to HEAD (404, 301, ...) keeps its Content-Length but no body.
  if (head) response.setOmitBody(true);
  thread_local std::string key;
  if (!cacheKey(q.rel, key)) {
    answerPlain(response, 400, "400 Bad Request\n");
    return Outcome::Done;
  }
  bool fresh = false;
  std::shared_ptr<const CachedFile> entry = cache.find(key, nowMs(), fresh);
  if (!entry || !fresh) return Outcome::NeedsDisk;
  return respond(q, *entry, response, false);
}

StaticFiles::Impl::Outcome StaticFiles::Impl::respond(const Query& q, const CachedFile& entry, Response& response,
                                                      bool onFileThread) const {
  // One encoding: a range is only ever of the identity (RFC 9110 14: our encoded copies
  // are other representations, and caches handle ranges of them badly).
  Coding coding = Coding::Identity;
  if (!entry.encoded.empty() && !q.hasRange && !q.acceptEncoding.empty()) {
    bool refused = false;
    coding = chooseCoding(q.acceptEncoding, entry.codings(), refused);
  }
  const FileVariant& v = entry.variant(coding);
  bool head = q.head();

  auto validators = [&] {
    response.addHeader("ETag", v.etag);
    response.addHeader("Last-Modified", entry.lastModified);
    if (entry.varies) response.addHeader("Vary", "Accept-Encoding");
    if (!options.cacheControl.empty()) response.addHeader("Cache-Control", options.cacheControl);
  };
  switch (evaluatePreconditions(q.validators, true, v.etag, v.mtime)) {
    case Precondition::Failed:
      answerPlain(response, 412, "412 Precondition Failed\n");
      return Outcome::Done;
    case Precondition::NotModified:
      response.setStatus(304);
      validators();
      response.setOmitBody(true);
      return Outcome::Done;
    case Precondition::Proceed:
      break;
  }

  std::vector<ByteRange> ranges;
  // Range is defined for GET only (RFC 9110 14.2); HEAD describes the whole file.
  if (!head && q.hasRange && coding == Coding::Identity &&
      ifRangeAllows(q.ifRange, q.hasIfRange, v.etag, v.mtime)) {
    switch (parseRanges(q.range, v.size, kMaxRanges, ranges)) {
      case RangeVerdict::Unsatisfiable:
        answerPlain(response, 416, "416 Range Not Satisfiable\n");
        response.addHeader("Content-Range", "bytes */" + std::to_string(v.size));
        response.addHeader("Accept-Ranges", "bytes");
        return Outcome::Done;
      case RangeVerdict::Satisfiable:
        break;
      case RangeVerdict::Ignore:
        ranges.clear();
        break;
    }
  }
  if (ranges.size() > 1) {
    std::uint64_t total = 0;
    for (const ByteRange& r : ranges) total += r.length;
    if (!v.bytes && total > kMaxMultipartBytes) ranges.clear();  // the whole file instead
    else if (!v.bytes && !onFileThread) return Outcome::NeedsDisk;  // read the ranges off the loop
  }

  response.setStatus(ranges.empty() ? 200 : 206);
  if (ranges.size() <= 1) response.setContentType(entry.contentType);
  validators();
  if (coding == Coding::Identity) response.addHeader("Accept-Ranges", "bytes");
  else response.addHeader("Content-Encoding", codingName(coding));

  if (ranges.size() > 1) {
    // multipart/byteranges (RFC 9110 14.6): each part with its own Content-Type and
    // Content-Range, between boundaries no body can contain by chance.
    char boundary[40];
    std::snprintf(boundary, sizeof boundary, "microserver-%016llx",
                  static_cast<unsigned long long>(std::hash<std::string>()(v.etag) ^ static_cast<unsigned long long>(nowMs())));
    response.setContentType("multipart/byteranges; boundary=" + std::string(boundary));
    std::string& out = response.body();
    for (const ByteRange& r : ranges) {
      char partHead[160];
      int n = std::snprintf(partHead, sizeof partHead, "\r\n--%s\r\nContent-Type: %.*s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
                            boundary, static_cast<int>(entry.contentType.size()), entry.contentType.data(),
                            static_cast<unsigned long long>(r.start), static_cast<unsigned long long>(r.start + r.length - 1),
                            static_cast<unsigned long long>(v.size));
      out.append(partHead, static_cast<std::size_t>(n));
      if (v.bytes) {
        out.append(*v.bytes, static_cast<std::size_t>(r.start), static_cast<std::size_t>(r.length));
      } else {
        std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(r.length));
        std::size_t done = 0;
        while (done < r.length) {
          ssize_t got = ::pread(v.file->fd(), &out[at + done], static_cast<std::size_t>(r.length - done),
                                static_cast<off_t>(r.start + done));
          if (got < 0 && errno == EINTR) continue;
          if (got <= 0) {
            // Shrank under us: the file changed; answer it afresh next time.
            cache.erase(std::string(q.rel));
            response.reset();
            answerPlain(response, 503, "503 Service Unavailable: the file changed while it was read\n");
            return Outcome::Done;
          }
          done += static_cast<std::size_t>(got);
        }
      }
    }
    out.append("\r\n--").append(boundary).append("--\r\n");
    return Outcome::Done;
  }

  std::uint64_t start = ranges.empty() ? 0 : ranges[0].start;
  std::uint64_t length = ranges.empty() ? v.size : ranges[0].length;
  if (!ranges.empty()) {
    char contentRange[80];
    int n = std::snprintf(contentRange, sizeof contentRange, "bytes %llu-%llu/%llu", static_cast<unsigned long long>(start),
                          static_cast<unsigned long long>(start + length - 1), static_cast<unsigned long long>(v.size));
    response.addHeader("Content-Range", std::string_view(contentRange, static_cast<std::size_t>(n)));
  }
  if (head) {
    // Content-Length as for GET, no bytes: a file reference says how long without sending.
    if (v.file) response.setFile(v.file, start, length);
    else response.body().assign(static_cast<std::size_t>(length), '\0');
    return Outcome::Done;
  }
  if (v.bytes) response.body().assign(*v.bytes, static_cast<std::size_t>(start), static_cast<std::size_t>(length));
  else response.setFile(v.file, start, length);
  return Outcome::Done;
}

void StaticFiles::Impl::respondNotFound(const CachedFile* page, Response& response) const {
  response.setStatus(404);
  if (page && page->identity.bytes) {
    response.setContentType(page->contentType);
    response.setBody(*page->identity.bytes);
    return;
  }
  answerPlain(response, 404, "404 Not Found\n");
}

// ---------------------------------------------------------------------------------------
// Disk

void StaticFiles::Impl::fromDisk(const Query& q, Response& response) const {
  if (fromCache(q, response) == Outcome::Done && response.status() != 0) {
    // (A cached answer that needed no disk after all: nothing changed meanwhile.)
    return;
  }
  response.reset();
  bool head = q.head();
  if (head) response.setOmitBody(true);
  std::string rel, key;
  if (!normalizeConfinedPath(q.rel, rel) || !cacheKey(q.rel, key)) return answerPlain(response, 400, "400 Bad Request\n");

  UniqueFd fd(openBeneath(rootFd.get(), rootReal, rel));
  if (fd.get() < 0) {
    int err = errno;
    cache.erase(key);  // deleted or made unreadable: its entry goes now, not when it ages out
    return answerOpenError(err, response);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return answerOpenError(errno, response);

  if (S_ISDIR(st.st_mode)) return serveFolder(q, rel, response);
  // Devices, FIFOs and sockets have no length and reading them can block or have side effects.
  if (!S_ISREG(st.st_mode)) return notFoundFromDisk(response);
  // "/a.txt/" names a folder that does not exist; serving a.txt there would also make the
  // browser resolve the page's relative links against the wrong base.
  if (!q.rel.empty() && q.rel.back() == '/') return notFoundFromDisk(response);
  std::string_view name = rel;
  name = name.substr(name.rfind('/') == std::string_view::npos ? 0 : name.rfind('/') + 1);
  std::shared_ptr<const CachedFile> entry = entryFor(key, std::move(fd), st, rel, name);
  if (!entry) return answerPlain(response, 503, "503 Service Unavailable: the file changed while it was read\n");
  respond(q, *entry, response, true);
}

void StaticFiles::Impl::serveFolder(const Query& q, const std::string& rel, Response& response) const {
  // The mount prefix was stripped from q.rel, so the slash test and the redirect use the
  // full request path; direct callers without one (tests, embedders) fall back.
  std::string_view shownPath = q.path.empty() ? q.rel : q.path;
  if (shownPath.empty() || shownPath.back() != '/') return answerFolderRedirect(shownPath, q.query, response);
  std::string key;
  cacheKey(q.rel, key);
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
    if (!S_ISREG(st.st_mode)) continue;
    std::shared_ptr<const CachedFile> entry = entryFor(key, std::move(fd), st, candidate, index);
    if (!entry) return answerPlain(response, 503, "503 Service Unavailable: the file changed while it was read\n");
    respond(q, *entry, response, true);
    return;
  }
  if (options.listing) {
    UniqueFd folder(openBeneath(rootFd.get(), rootReal, rel.empty() ? "." : rel));
    if (folder.get() >= 0) return listFolder(q, folder.get(), response);
  }
  notFoundFromDisk(response);  // no listing unless asked for: names can leak
}

std::shared_ptr<const CachedFile> StaticFiles::Impl::entryFor(const std::string& key, UniqueFd fd,
                                                              const struct stat& st, const std::string& rel,
                                                              std::string_view name) const {
  bool fresh = false;
  if (std::shared_ptr<const CachedFile> cached = cache.find(key, nowMs(), fresh); cached && sameFile(*cached, st)) {
    cached->checkedAtMs.store(nowMs(), std::memory_order_relaxed);  // checked: good for another second
    return cached;
  }
  auto entry = std::make_shared<CachedFile>();
  entry->device = st.st_dev;
  entry->inode = st.st_ino;
  entry->size = static_cast<std::uint64_t>(st.st_size);
  entry->mtimeNs = mtimeNs(st);
  entry->name = std::string(name);
  entry->contentType = mimeTypeFor(entry->name);
  char date[29];
  formatHttpDate(st.st_mtime, date);
  entry->lastModified.assign(date, sizeof date);
  FileVariant& identity = entry->identity;
  identity.size = entry->size;
  identity.mtime = st.st_mtime;
  identity.etag = formatETag(st);
  const bool compressible = compressibleType(entry->contentType);
  std::string content;
  bool haveContent = false;
  if (entry->size <= kSmallFile || (compressible && options.compress && entry->size <= kMaxCompressFile &&
                                    entry->size >= kMinCompressBytes)) {
    if (!readAll(fd.get(), entry->size, content)) return nullptr;
    haveContent = true;
  }
  if (entry->size <= kSmallFile) identity.bytes = std::make_shared<const std::string>(content);
  identity.file = std::make_shared<const OpenFile>(fd.release());

  for (Coding coding : {Coding::Brotli, Coding::Gzip}) {
    FileVariant variant;
    variant.coding = coding;
    bool found = false;
    if (options.precompressed) {
      // A sibling made at build time (nginx gzip_static, Caddy precompressed).
      std::string sibling = rel + (coding == Coding::Brotli ? ".br" : ".gz");
      UniqueFd sfd(openBeneath(rootFd.get(), rootReal, sibling));
      struct stat sst {};
      if (sfd.get() >= 0 && ::fstat(sfd.get(), &sst) == 0 && S_ISREG(sst.st_mode)) {
        variant.size = static_cast<std::uint64_t>(sst.st_size);
        variant.mtime = std::max(st.st_mtime, sst.st_mtime);
        variant.etag = formatETag(sst, coding == Coding::Brotli ? "-br" : "-gz");
        if (variant.size <= kSmallFile) {
          std::string bytes;
          if (readAll(sfd.get(), variant.size, bytes)) variant.bytes = std::make_shared<const std::string>(std::move(bytes));
        }
        if (!variant.bytes) variant.file = std::make_shared<const OpenFile>(sfd.release());
        found = variant.bytes || variant.file;
      }
    }
    if (!found && haveContent && compressible && options.compress && entry->size >= kMinCompressBytes) {
      std::string packed;
      if (compress(coding, content, Effort::Best, packed)) {
        variant.size = packed.size();
        variant.mtime = st.st_mtime;
        variant.etag = formatETag(st, coding == Coding::Brotli ? "-br" : "-gz");
        variant.bytes = std::make_shared<const std::string>(std::move(packed));
        found = true;
      }
    }
    if (found) entry->encoded.push_back(std::move(variant));
  }
  std::sort(entry->encoded.begin(), entry->encoded.end(),
            [](const FileVariant& a, const FileVariant& b) { return a.size < b.size; });
  entry->varies = !entry->encoded.empty() || (compressible && options.compress);
  entry->checkedAtMs.store(nowMs(), std::memory_order_relaxed);
  cache.put(key, entry, nowMs());
  return entry;
}

void StaticFiles::Impl::notFoundFromDisk(Response& response) const {
  bool omit = response.omitBody();
  response.reset();
  response.setOmitBody(omit);
  if (notFoundPath.empty()) return respondNotFound(nullptr, response);
  std::string key = "\n404";  // no path normalises to this
  bool fresh = false;
  std::shared_ptr<const CachedFile> page = cache.find(key, nowMs(), fresh);
  if (!page || !fresh) {
    UniqueFd fd(openBeneath(rootFd.get(), rootReal, notFoundPath));
    struct stat st {};
    if (fd.get() >= 0 && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_size) <= kSmallFile) {
      page = entryFor(key, std::move(fd), st, notFoundPath, notFoundPath);
    } else {
      cache.erase(key);
      page = nullptr;
    }
  }
  respondNotFound(page.get(), response);
}

void StaticFiles::Impl::answerOpenError(int err, Response& response) const {
  if (isNotFoundError(err)) return notFoundFromDisk(response);
  // Out of descriptors or memory is temporary: tell clients and proxies to come back.
  if (err == EMFILE || err == ENFILE || err == ENOMEM) return answerPlain(response, 503, "503 Service Unavailable\n");
  answerPlain(response, 500, "500 Internal Server Error\n");
}

void StaticFiles::Impl::listFolder(const Query& q, int folderFd, Response& response) const {
  // Read through a descriptor opened beneath the root (never by path again), names sorted,
  // dot files left out (.git, .env: never listed), everything escaped for its format.
  int dup = ::openat(folderFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* dir = dup >= 0 ? ::fdopendir(dup) : nullptr;
  if (!dir) {
    if (dup >= 0) ::close(dup);
    return answerOpenError(errno, response);
  }
  struct Item {
    std::string name;
    bool folder;
    std::uint64_t size;
    std::time_t mtime;
  };
  std::vector<Item> items;
  while (struct dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
    items.push_back({std::move(name), S_ISDIR(st.st_mode), static_cast<std::uint64_t>(st.st_size), st.st_mtime});
    if (items.size() >= 10000) break;  // a bound on the answer, whatever the folder holds
  }
  ::closedir(dir);
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.folder != b.folder ? a.folder : a.name < b.name;
  });
  bool json = q.accept.find("application/json") != std::string_view::npos &&
              q.accept.find("text/html") == std::string_view::npos;
  std::string& out = response.body();
  char date[29];
  if (json) {
    out = "{\"path\":";
    appendJsonString(out, q.path);
    out += ",\"entries\":[";
    bool first = true;
    for (const Item& item : items) {
      formatHttpDate(item.mtime, date);
      out += first ? "{" : ",{";
      first = false;
      out += "\"name\":";
      appendJsonString(out, item.name);
      out += std::string(",\"type\":\"") + (item.folder ? "folder" : "file") + "\"";
      if (!item.folder) out += ",\"size\":" + std::to_string(item.size);
      out += ",\"modified\":";
      appendJsonString(out, std::string_view(date, sizeof date));
      out += "}";
    }
    out += "]}\n";
    response.setContentType("application/json; charset=utf-8");
  } else {
    auto html = [&](std::string_view text) {
      std::string valid;
      appendValidUtf8(valid, text);
      for (char c : valid) {
        switch (c) {
          case '&': out += "&amp;"; break;
          case '<': out += "&lt;"; break;
          case '>': out += "&gt;"; break;
          case '"': out += "&quot;"; break;
          case '\'': out += "&#39;"; break;
          default: out += c;
        }
      }
    };
    out = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Index of ";
    html(q.path);
    out += "</title></head>\n<body><h1>Index of ";
    html(q.path);
    out += "</h1>\n<ul>\n";
    if (q.path != "/") out += "<li><a href=\"../\">../</a></li>\n";
    for (const Item& item : items) {
      std::string href;
      appendEncoded(href, item.name, false);
      // A name with a ':' could read as a scheme ("javascript:..."): "./" keeps it a path.
      out += "<li><a href=\"./";
      html(href);
      if (item.folder) out += "/";
      out += "\">";
      html(item.name);
      if (item.folder) out += "/";
      out += "</a>";
      if (!item.folder) out += " (" + std::to_string(item.size) + " bytes)";
      out += "</li>\n";
    }
    out += "</ul>\n</body></html>\n";
    response.setContentType("text/html; charset=utf-8");
  }
  response.setStatus(200);
  response.addHeader("Vary", "Accept");
  if (q.head()) response.setOmitBody(true);
}

std::function<void()> StaticFiles::Impl::offLoop(std::function<void(Response&)> answer,
                                                 const std::shared_ptr<ReactorMailbox>& mailbox,
                                                 std::shared_ptr<Responder>& later) const {
  later = std::make_shared<Responder>(nullptr, mailbox, Response());
  std::shared_ptr<Responder> responder = later;
  std::shared_ptr<const Impl> self = shared_from_this();
  return [self, responder, answer = std::move(answer)] {
    Response response;
    try {
      answer(response);
    } catch (const std::exception& e) {
      log::error(std::string("static files: ") + e.what() + " (answered 500)");
      response.reset();
      answerPlain(response, 500, "500 Internal Server Error\n");
    }
    responder->finishWith(std::move(response));
  };
}

// ---------------------------------------------------------------------------------------

StaticFiles::StaticFiles(StaticFilesOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}
StaticFiles::~StaticFiles() = default;

std::function<void()> StaticFiles::serve(const Request& request, std::string_view relativePath, Response& response,
                                         const std::shared_ptr<ReactorMailbox>& mailbox,
                                         std::shared_ptr<Responder>& later) const {
  Query q = Query::of(request, relativePath);
  if (impl_->fromCache(q, response) == Impl::Outcome::Done) return nullptr;
  response.reset();
  auto owned = std::make_shared<OwnedQuery>(q);
  std::shared_ptr<const Impl> impl = impl_;
  return impl_->offLoop([impl, owned](Response& r) { impl->fromDisk(owned->query(), r); }, mailbox, later);
}

std::function<void()> StaticFiles::notFound(Response& response, const std::shared_ptr<ReactorMailbox>& mailbox,
                                            std::shared_ptr<Responder>& later) const {
  if (impl_->notFoundPath.empty()) {
    impl_->respondNotFound(nullptr, response);
    return nullptr;
  }
  bool fresh = false;
  std::shared_ptr<const CachedFile> page = impl_->cache.find("\n404", nowMs(), fresh);
  if (page && fresh) {
    impl_->respondNotFound(page.get(), response);
    return nullptr;
  }
  std::shared_ptr<const Impl> impl = impl_;
  return impl_->offLoop([impl](Response& r) { impl->notFoundFromDisk(r); }, mailbox, later);
}

void StaticFiles::serveNow(const Request& request, std::string_view relativePath, Response& response) const {
  Query q = Query::of(request, relativePath);
  if (impl_->fromCache(q, response) == Impl::Outcome::Done) return;
  response.reset();
  impl_->fromDisk(q, response);
}

void StaticFiles::notFoundNow(Response& response) const { impl_->notFoundFromDisk(response); }

const std::string& StaticFiles::root() const { return impl_->options.root; }

std::size_t StaticFiles::cachedFiles() const { return impl_->cache.files(); }

}  // namespace microserver::core
