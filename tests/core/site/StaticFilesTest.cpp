// Tests for StaticFiles: confinement, folders, methods, validators, 304, Range.
//
// Each test gets a fresh site in a mkdtemp folder, with a secret file beside (outside) the
// site root that no request may ever reach. Bodies sent as files are read back with pread
// through the Response's descriptor, exactly what the server's sendfile would send.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "site/StaticFiles.h"

namespace microserver::core::detail {
// Defined in StaticFiles.cpp: the confinement used on kernels without openat2.
int openBeneathFallback(int rootFd, const std::string& rootReal, const std::string& rel, int flags);
}  // namespace microserver::core::detail

namespace {

// Options with the defaults except the folder, its index files and its 404 page.
microserver::core::StaticFilesOptions optionsFor(std::string root, std::vector<std::string> indexFiles,
                                                 std::string notFoundPage) {
  microserver::core::StaticFilesOptions options;
  options.root = std::move(root);
  options.indexFiles = std::move(indexFiles);
  options.notFoundPage = std::move(notFoundPage);
  return options;
}

using microserver::core::Header;
using microserver::core::Request;
using microserver::core::Response;
using microserver::core::StaticFiles;
using microserver::core::StaticFilesOptions;

constexpr std::time_t kMtime = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr const char* kMtimeImf = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr const char* kETag = "\"2ebc98a1-a\"";  // mtime hex - size hex of a.txt
constexpr const char* kDigits = "0123456789";    // a.txt
constexpr const char* kCustom404 = "<h1>custom 404</h1>\n";

struct Call {
  std::string method = "GET";
  std::string path;          // the request path; also the relative path unless `relative` is set
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  const char* relative = nullptr;
};

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/static-files-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr) << std::strerror(errno);
    base_ = pattern;
    root_ = base_ + "/site";

    makeFolder("");
    writeFile("index.html", "<h1>home</h1>\n");
    writeFile("a.txt", kDigits);
    setMtime("a.txt", kMtime);
    writeFile("style.css", "body { color: red }\n");
    writeFile("app.js", "console.log(1)\n");
    writeFile("logo.png", std::string("\x89PNG\r\n\x1a\n", 8));
    writeFile("blob.bin", "binary");
    writeFile("empty.txt", "");
    writeFile("404.html", kCustom404);
    makeFolder("sub");
    writeFile("sub/index.html", "sub index\n");
    makeFolder("empty");
    makeFolder("my dir");
    writeFile("%2e%2e", "a file literally named %2e%2e\n");
    // Outside the root: what every escape attempt is after.
    writeRaw(base_ + "/secret.txt", "SECRET\n");
    symlinkAt("../secret.txt", "link-out");
    symlinkAt(base_ + "/secret.txt", "link-out-absolute");
    symlinkAt("..", "folder-link-out");
    symlinkAt("a.txt", "link-in");
    symlinkAt("sub", "folder-link-in");
    ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0644), 0) << std::strerror(errno);

    files_ = std::make_unique<StaticFiles>(optionsFor(root_, {"index.html"}, "404.html"));
  }

  void TearDown() override {
    files_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }

  void makeFolder(const std::string& rel) {
    ASSERT_EQ(::mkdir((root_ + "/" + rel).c_str(), 0755), 0) << rel << ": " << std::strerror(errno);
  }
  static void writeRaw(const std::string& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    ASSERT_TRUE(out.good()) << path;
  }
  void writeFile(const std::string& rel, std::string_view content) { writeRaw(root_ + "/" + rel, content); }
  void symlinkAt(const std::string& target, const std::string& rel) {
    ASSERT_EQ(::symlink(target.c_str(), (root_ + "/" + rel).c_str()), 0) << rel << ": " << std::strerror(errno);
  }
  void setMtime(const std::string& rel, std::time_t mtime) {
    struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (root_ + "/" + rel).c_str(), times, 0), 0) << std::strerror(errno);
  }

  Response serve(const Call& call, const StaticFiles* files = nullptr) const {
    std::vector<Header> headers;
    for (const auto& [name, value] : call.headers) headers.push_back(Header{name, value});
    Request::Parts parts;
    parts.method = call.method;
    parts.target = call.path;
    parts.path = call.path;
    parts.query = call.query;
    parts.headers = microserver::core::Span<Header>(headers.data(), headers.size());
    Request request(parts);
    Response response;
    (files ? files : files_.get())->serveNow(request, call.relative ? call.relative : call.path, response);
    return response;
  }
  Response get(const std::string& path, std::vector<std::pair<std::string, std::string>> headers = {}) const {
    Call call;
    call.path = path;
    call.headers = std::move(headers);
    return serve(call);
  }

  // What would go on the wire as the body: the attached file range, or the text body.
  static std::string bodyOf(const Response& response) {
    if (!response.hasFile()) return response.body();
    std::string bytes(static_cast<std::size_t>(response.fileLength()), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::pread(response.fileFd(), &bytes[done], bytes.size() - done,
                          static_cast<off_t>(response.fileOffset() + done));
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    bytes.resize(done);
    return bytes;
  }

  std::string base_, root_;
  std::unique_ptr<StaticFiles> files_;
};

// ---------------------------------------------------------------------------------------
// Confinement

TEST_F(StaticFilesTest, SmallFileIsServedWholeFromMemory) {
  // Small files are kept in the open-file cache and copied after the header (one send).
  Response r = get("/a.txt");
  EXPECT_EQ(r.status(), 200);
  EXPECT_FALSE(r.hasFile());
  EXPECT_EQ(r.contentLength(), 10u);
  EXPECT_EQ(bodyOf(r), kDigits);
  EXPECT_FALSE(r.omitBody());
}

TEST_F(StaticFilesTest, LargeFileIsServedFromItsDescriptorAndRangesAreOffsets) {
  std::string big(100 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  writeFile("big.bin", big);
  Response r = get("/big.bin");
  EXPECT_EQ(r.status(), 200);
  ASSERT_TRUE(r.hasFile());
  EXPECT_EQ(r.fileOffset(), 0u);
  EXPECT_EQ(r.fileLength(), big.size());
  EXPECT_EQ(bodyOf(r), big);
  Response part = get("/big.bin", {{"Range", "bytes=1000-1999"}});
  EXPECT_EQ(part.status(), 206);
  ASSERT_TRUE(part.hasFile());
  EXPECT_EQ(part.fileOffset(), 1000u);
  EXPECT_EQ(bodyOf(part), big.substr(1000, 1000));
}

TEST_F(StaticFilesTest, DotDotAboveRootIsRefusedWith400) {
  for (const char* path : {"/../etc/passwd", "/a/../../x", "/..", "/./../x", "/../secret.txt"}) {
    Response r = get(path);
    EXPECT_EQ(r.status(), 400) << path;
    EXPECT_FALSE(r.hasFile()) << path;
    EXPECT_EQ(r.body(), "400 Bad Request\n") << path;
    EXPECT_EQ(r.contentType(), "text/plain; charset=utf-8") << path;
  }
}

TEST_F(StaticFilesTest, DotDotThatStaysInsideRootServesTheFile) {
  Response r = get("/sub/../a.txt");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(bodyOf(r), kDigits);
}

TEST_F(StaticFilesTest, DecodedPercent2e2eIsALiteralFileNameNotDotDot) {
  Response literal = get("/%2e%2e");
  EXPECT_EQ(literal.status(), 200);
  EXPECT_EQ(bodyOf(literal), "a file literally named %2e%2e\n");

  Response escape = get("/%2e%2e/secret.txt");
  EXPECT_EQ(escape.status(), 404);
  EXPECT_EQ(escape.body(), kCustom404);
}

TEST_F(StaticFilesTest, BackslashIsRefusedWith400) {
  EXPECT_EQ(get("/..\\secret.txt").status(), 400);
  EXPECT_EQ(get("/..\\x").status(), 400);
  EXPECT_EQ(get("/sub\\index.html").status(), 400);
}

TEST_F(StaticFilesTest, NulIsRefusedWith400) {
  Response r = get(std::string("/a.txt\0.html", 12));
  EXPECT_EQ(r.status(), 400);
  EXPECT_FALSE(r.hasFile());
}

TEST_F(StaticFilesTest, DoubleSlashStaysInsideRoot) {
  EXPECT_EQ(get("//etc/passwd").status(), 404);  // root/etc/passwd, which does not exist
  Response r = get("//a.txt");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(bodyOf(r), kDigits);
}

TEST_F(StaticFilesTest, SymlinkPointingOutsideRootIs404) {
  for (const char* path : {"/link-out", "/link-out-absolute", "/folder-link-out/secret.txt"}) {
    Response r = get(path);
    EXPECT_EQ(r.status(), 404) << path;
    EXPECT_EQ(bodyOf(r), kCustom404) << path;  // same answer as a missing file: reveals nothing
  }
}

TEST_F(StaticFilesTest, SymlinkPointingInsideRootIsServed) {
  Response file = get("/link-in");
  EXPECT_EQ(file.status(), 200);
  EXPECT_EQ(bodyOf(file), kDigits);

  Response throughFolder = get("/folder-link-in/index.html");
  EXPECT_EQ(throughFolder.status(), 200);
  EXPECT_EQ(bodyOf(throughFolder), "sub index\n");
}

TEST_F(StaticFilesTest, FallbackWithoutOpenat2RefusesSymlinksLeavingRoot) {
  int rootFd = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(rootFd, 0);
  char* real = ::realpath(root_.c_str(), nullptr);
  ASSERT_NE(real, nullptr);
  std::string rootReal = real;
  std::free(real);
  using microserver::core::detail::openBeneathFallback;

  for (const char* rel : {"link-out", "link-out-absolute", "folder-link-out/secret.txt"}) {
    errno = 0;
    EXPECT_EQ(openBeneathFallback(rootFd, rootReal, rel, O_RDONLY | O_CLOEXEC), -1) << rel;
    EXPECT_EQ(errno, EXDEV) << rel;
  }
  for (const char* rel : {"a.txt", "link-in", "folder-link-in/index.html", ""}) {
    int fd = openBeneathFallback(rootFd, rootReal, rel, O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0) << rel << ": " << std::strerror(errno);
    if (fd >= 0) ::close(fd);
  }
  ::close(rootFd);
}

TEST_F(StaticFilesTest, FifoIsNotServedAndDoesNotBlock) {
  Response r = get("/fifo");  // a blocking open would hang this test forever
  EXPECT_EQ(r.status(), 404);
  EXPECT_EQ(r.body(), kCustom404);
}

TEST_F(StaticFilesTest, UnixSocketIsNotServed) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string path = root_ + "/socket";
  ASSERT_LT(path.size(), sizeof address.sun_path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
  EXPECT_EQ(get("/socket").status(), 404);
  ::close(fd);
}

// ---------------------------------------------------------------------------------------
// Folders and 404

TEST_F(StaticFilesTest, FolderWithoutTrailingSlashRedirects301) {
  Response r = get("/sub");
  EXPECT_EQ(r.status(), 301);
  EXPECT_EQ(r.header("Location"), "/sub/");
  EXPECT_FALSE(r.hasFile());
}

TEST_F(StaticFilesTest, FolderRedirectKeepsTheQuery) {
  Call call;
  call.path = "/sub";
  call.query = "x=1&y=%20";
  EXPECT_EQ(serve(call).header("Location"), "/sub/?x=1&y=%20");
}

TEST_F(StaticFilesTest, FolderRedirectUsesTheFullRequestPathUnderAMount) {
  Call call;
  call.path = "/static/sub";
  call.relative = "/sub";
  EXPECT_EQ(serve(call).header("Location"), "/static/sub/");
}

TEST_F(StaticFilesTest, FolderRedirectReencodesTheDecodedPath) {
  Response r = get("/my dir");
  EXPECT_EQ(r.status(), 301);
  EXPECT_EQ(r.header("Location"), "/my%20dir/");
}

TEST_F(StaticFilesTest, FolderRedirectIsNeverProtocolRelative) {
  // "//sub/" in Location would send the browser to a host named "sub".
  Response r = get("//sub");
  EXPECT_EQ(r.status(), 301);
  EXPECT_EQ(r.header("Location"), "/sub/");
}

TEST_F(StaticFilesTest, EmptyPathNamesTheRootFolder) {
  Call redirect;
  redirect.path = "";
  Response r = serve(redirect);
  EXPECT_EQ(r.status(), 301);
  EXPECT_EQ(r.header("Location"), "/");

  Call mounted;  // "/" mounted at "/": the prefix ate the whole path
  mounted.path = "/";
  mounted.relative = "";
  Response index = serve(mounted);
  EXPECT_EQ(index.status(), 200);
  EXPECT_EQ(bodyOf(index), "<h1>home</h1>\n");
}

TEST_F(StaticFilesTest, FolderWithTrailingSlashServesItsIndexFile) {
  Response r = get("/sub/");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.contentType(), "text/html; charset=utf-8");
  EXPECT_EQ(bodyOf(r), "sub index\n");

  Response home = get("/");
  EXPECT_EQ(home.status(), 200);
  EXPECT_EQ(bodyOf(home), "<h1>home</h1>\n");
}

TEST_F(StaticFilesTest, IndexFilesAreTriedInOrder) {
  writeFile("sub/default.txt", "default\n");
  StaticFiles files(optionsFor(root_, {"missing.html", "default.txt", "index.html"}, "404.html"));
  Call call;
  call.path = "/sub/";
  Response r = serve(call, &files);
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.contentType(), "text/plain; charset=utf-8");
  EXPECT_EQ(bodyOf(r), "default\n");
}

TEST_F(StaticFilesTest, FolderWithoutIndexIs404WithTheCustomPageNotAListing) {
  Response r = get("/empty/");
  EXPECT_EQ(r.status(), 404);
  EXPECT_EQ(r.contentType(), "text/html; charset=utf-8");
  EXPECT_EQ(bodyOf(r), kCustom404);
}

TEST_F(StaticFilesTest, MissingFileIs404WithTheCustomPage) {
  Response r = get("/nope.html");
  EXPECT_EQ(r.status(), 404);
  EXPECT_EQ(r.contentType(), "text/html; charset=utf-8");
  EXPECT_EQ(bodyOf(r), kCustom404);
}

TEST_F(StaticFilesTest, CustomNotFoundPageEditsShowWithoutRestart) {
  writeFile("404.html", "<p>edited</p>");
  EXPECT_EQ(bodyOf(get("/nope")), "<p>edited</p>");
}

TEST_F(StaticFilesTest, MissingCustomPageFallsBackToPlainText404) {
  StaticFiles files(optionsFor(root_, {"index.html"}, "missing-404.html"));
  Call call;
  call.path = "/nope";
  Response r = serve(call, &files);
  EXPECT_EQ(r.status(), 404);
  EXPECT_EQ(r.contentType(), "text/plain; charset=utf-8");
  EXPECT_EQ(r.body(), "404 Not Found\n");
}

TEST_F(StaticFilesTest, FileNamedAsAFolderIs404) {
  EXPECT_EQ(get("/a.txt/").status(), 404);
  EXPECT_EQ(get("/a.txt/x").status(), 404);
}

// ---------------------------------------------------------------------------------------
// Methods

TEST_F(StaticFilesTest, OtherMethodsGet405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get"}) {
    Call call;
    call.method = method;
    call.path = "/a.txt";
    Response r = serve(call);
    EXPECT_EQ(r.status(), 405) << method;
    EXPECT_EQ(r.header("Allow"), "GET, HEAD") << method;
    EXPECT_FALSE(r.hasFile()) << method;
  }
}

TEST_F(StaticFilesTest, HeadHasGetsHeadersAndLengthButNoBody) {
  Call call;
  call.method = "HEAD";
  call.path = "/a.txt";
  Response head = serve(call);
  Response getResponse = get("/a.txt");
  EXPECT_EQ(head.status(), 200);
  EXPECT_TRUE(head.omitBody());
  EXPECT_EQ(head.contentLength(), 10u);
  EXPECT_EQ(head.contentType(), getResponse.contentType());
  EXPECT_EQ(head.headerBlock(), getResponse.headerBlock());
}

TEST_F(StaticFilesTest, HeadOfMissingFileIs404WithoutBody) {
  Call call;
  call.method = "HEAD";
  call.path = "/nope";
  Response r = serve(call);
  EXPECT_EQ(r.status(), 404);
  EXPECT_TRUE(r.omitBody());
}

TEST_F(StaticFilesTest, HeadIgnoresRange) {
  Call call;
  call.method = "HEAD";
  call.path = "/a.txt";
  call.headers = {{"Range", "bytes=0-1"}};
  Response r = serve(call);
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.contentLength(), 10u);
}

// ---------------------------------------------------------------------------------------
// Headers

TEST_F(StaticFilesTest, ContentTypeComesFromTheExtension) {
  EXPECT_EQ(get("/style.css").contentType(), "text/css; charset=utf-8");
  EXPECT_EQ(get("/app.js").contentType(), "text/javascript; charset=utf-8");
  EXPECT_EQ(get("/logo.png").contentType(), "image/png");
  EXPECT_EQ(get("/index.html").contentType(), "text/html; charset=utf-8");
  EXPECT_EQ(get("/blob.bin").contentType(), "application/octet-stream");
}

TEST_F(StaticFilesTest, ValidatorsAreNginxStyleETagAndImfLastModified) {
  Response r = get("/a.txt");
  EXPECT_EQ(r.header("ETag"), kETag);
  EXPECT_EQ(r.header("Last-Modified"), kMtimeImf);
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
}

TEST_F(StaticFilesTest, EmptyFileIsServedWithZeroLength) {
  Response r = get("/empty.txt");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.contentLength(), 0u);
  EXPECT_EQ(bodyOf(r), "");
}

// ---------------------------------------------------------------------------------------
// Conditional requests

void expectNotModified(const Response& r) {
  EXPECT_EQ(r.status(), 304);
  EXPECT_TRUE(r.omitBody());
  EXPECT_FALSE(r.hasFile());
  EXPECT_EQ(r.header("ETag"), kETag);
  EXPECT_EQ(r.header("Last-Modified"), kMtimeImf);
}

TEST_F(StaticFilesTest, IfNoneMatchExactETagIs304) { expectNotModified(get("/a.txt", {{"If-None-Match", kETag}})); }

TEST_F(StaticFilesTest, IfNoneMatchListContainingTheETagIs304) {
  expectNotModified(get("/a.txt", {{"If-None-Match", std::string("\"other\", ") + kETag + " , \"x\""}}));
}

TEST_F(StaticFilesTest, IfNoneMatchWeakFormMatchesWeakly) {
  expectNotModified(get("/a.txt", {{"If-None-Match", std::string("W/") + kETag}}));
}

TEST_F(StaticFilesTest, IfNoneMatchStarIs304) { expectNotModified(get("/a.txt", {{"If-None-Match", "*"}})); }

TEST_F(StaticFilesTest, IfNoneMatchOnHeadIs304) {
  Call call;
  call.method = "HEAD";
  call.path = "/a.txt";
  call.headers = {{"If-None-Match", kETag}};
  expectNotModified(serve(call));
}

TEST_F(StaticFilesTest, IfNoneMatchMismatchIs200) {
  Response r = get("/a.txt", {{"If-None-Match", "\"2ebc98a1-b\", W/\"nope\", garbage"}});
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(bodyOf(r), kDigits);
}

TEST_F(StaticFilesTest, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
  Response r = get("/a.txt", {{"If-None-Match", "\"stale\""}, {"If-Modified-Since", kMtimeImf}});
  EXPECT_EQ(r.status(), 200);
}

TEST_F(StaticFilesTest, IfModifiedSinceAtOrAfterMtimeIs304) {
  expectNotModified(get("/a.txt", {{"If-Modified-Since", kMtimeImf}}));
  expectNotModified(get("/a.txt", {{"If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT"}}));
}

TEST_F(StaticFilesTest, IfModifiedSinceAcceptsObsoleteDateForms) {
  expectNotModified(get("/a.txt", {{"If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT"}}));
  expectNotModified(get("/a.txt", {{"If-Modified-Since", "Sun Nov  6 08:49:37 1994"}}));
}

TEST_F(StaticFilesTest, IfModifiedSinceBeforeMtimeIs200) {
  EXPECT_EQ(get("/a.txt", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT"}}).status(), 200);
}

TEST_F(StaticFilesTest, InvalidIfModifiedSinceIsIgnored) {
  for (const char* date : {"yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 31 Feb 2030 00:00:00 GMT",
                           "Sun, 06 Nov 2094 25:00:00 GMT", "sun, 06 nov 2094 08:49:37 GMT", ""}) {
    EXPECT_EQ(get("/a.txt", {{"If-Modified-Since", date}}).status(), 200) << date;
  }
}

// ---------------------------------------------------------------------------------------
// Range

void expectPartial(const Response& r, std::string_view body, std::string_view contentRange) {
  EXPECT_EQ(r.status(), 206);
  EXPECT_EQ(r.header("Content-Range"), contentRange);
  EXPECT_EQ(r.header("ETag"), kETag);
  EXPECT_EQ(r.contentType(), "text/plain; charset=utf-8");
  EXPECT_EQ(r.contentLength(), body.size());
}

TEST_F(StaticFilesTest, RangeFirstToLastIs206WithThatPart) {
  Response r = get("/a.txt", {{"Range", "bytes=2-5"}});
  expectPartial(r, "2345", "bytes 2-5/10");
  EXPECT_EQ(bodyOf(r), "2345");
}

TEST_F(StaticFilesTest, RangeOpenEndedIs206ToTheEnd) {
  Response r = get("/a.txt", {{"Range", "bytes=7-"}});
  expectPartial(r, "789", "bytes 7-9/10");
  EXPECT_EQ(bodyOf(r), "789");
}

TEST_F(StaticFilesTest, RangeSuffixIs206WithTheLastBytes) {
  Response r = get("/a.txt", {{"Range", "bytes=-3"}});
  expectPartial(r, "789", "bytes 7-9/10");
  EXPECT_EQ(bodyOf(r), "789");
}

TEST_F(StaticFilesTest, RangeEndBeyondSizeIsClamped) {
  Response r = get("/a.txt", {{"Range", "bytes=5-100"}});
  expectPartial(r, "56789", "bytes 5-9/10");
  EXPECT_EQ(bodyOf(r), "56789");

  Response huge = get("/a.txt", {{"Range", "bytes=0-99999999999999999999999"}});
  expectPartial(huge, kDigits, "bytes 0-9/10");
}

TEST_F(StaticFilesTest, RangeSuffixLongerThanFileIsTheWholeFile) {
  Response r = get("/a.txt", {{"Range", "bytes=-100"}});
  expectPartial(r, kDigits, "bytes 0-9/10");
  EXPECT_EQ(bodyOf(r), kDigits);
}

TEST_F(StaticFilesTest, UnsatisfiableRangeIs416WithSize) {
  for (const char* range : {"bytes=10-", "bytes=10-20", "bytes=-0", "bytes=99999999999999999999999-"}) {
    Response r = get("/a.txt", {{"Range", range}});
    EXPECT_EQ(r.status(), 416) << range;
    EXPECT_EQ(r.header("Content-Range"), "bytes */10") << range;
    EXPECT_FALSE(r.hasFile()) << range;
  }
}

TEST_F(StaticFilesTest, RangeOnEmptyFileIs416) {
  EXPECT_EQ(get("/empty.txt", {{"Range", "bytes=0-"}}).header("Content-Range"), "bytes */0");
  EXPECT_EQ(get("/empty.txt", {{"Range", "bytes=-5"}}).status(), 416);
}

TEST_F(StaticFilesTest, MalformedOrOverlappingRangesAreIgnoredWith200) {
  for (const char* range : {"bytes=abc", "bytes=5-2", "items=0-1", "bytes=", "bytes=-", "bytes 0-1",
                            "bytes=1-2-3", "bytes=+1-2", "bytes=-1,-2", "bytes=0-5,3-7"}) {
    Response r = get("/a.txt", {{"Range", range}});
    EXPECT_EQ(r.status(), 200) << range;
    EXPECT_EQ(r.header("Content-Range"), "") << range;
    EXPECT_EQ(bodyOf(r), kDigits) << range;
  }
}

TEST_F(StaticFilesTest, RangeUnitIsCaseInsensitive) {
  expectPartial(get("/a.txt", {{"Range", "Bytes=0-0"}}), "0", "bytes 0-0/10");
}

TEST_F(StaticFilesTest, IfRangeMatchingETagOrDateAllowsRange) {
  expectPartial(get("/a.txt", {{"Range", "bytes=0-1"}, {"If-Range", kETag}}), "01", "bytes 0-1/10");
  expectPartial(get("/a.txt", {{"Range", "bytes=0-1"}, {"If-Range", kMtimeImf}}), "01", "bytes 0-1/10");
}

TEST_F(StaticFilesTest, IfRangeMismatchSendsTheWholeFile) {
  for (const char* ifRange : {"\"stale\"", "W/\"2ebc98a1-a\"", "Mon, 07 Nov 1994 08:49:37 GMT", "junk"}) {
    Response r = get("/a.txt", {{"Range", "bytes=0-1"}, {"If-Range", ifRange}});
    EXPECT_EQ(r.status(), 200) << ifRange;
    EXPECT_EQ(bodyOf(r), kDigits) << ifRange;
  }
}

TEST_F(StaticFilesTest, NotModifiedWinsOverRange) {
  expectNotModified(get("/a.txt", {{"Range", "bytes=0-1"}, {"If-None-Match", kETag}}));
}

// ---------------------------------------------------------------------------------------
// Construction and concurrency

TEST_F(StaticFilesTest, SeveralRangesAreMultipartByteranges) {
  Response r = get("/a.txt", {{"Range", "bytes=0-1, 5-6"}});
  EXPECT_EQ(r.status(), 206);
  const std::string type(r.contentType());
  const std::string prefix = "multipart/byteranges; boundary=";
  ASSERT_EQ(type.substr(0, prefix.size()), prefix);
  const std::string boundary = type.substr(prefix.size());
  EXPECT_EQ(r.header("Content-Range"), "");
  EXPECT_EQ(bodyOf(r), "\r\n--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/10\r\n\r\n01" +
                           "\r\n--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 5-6/10\r\n\r\n56" +
                           "\r\n--" + boundary + "--\r\n");
}

TEST_F(StaticFilesTest, SeveralRangesOfALargeFileAreReadFromIt) {
  std::string big(100 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  writeFile("big.bin", big);
  Response r = get("/big.bin", {{"Range", "bytes=-2,0-2"}});
  EXPECT_EQ(r.status(), 206);
  const std::string body = bodyOf(r);
  EXPECT_NE(body.find("Content-Range: bytes 102398-102399/102400\r\n\r\n" + big.substr(102398)), std::string::npos);
  EXPECT_NE(body.find("Content-Range: bytes 0-2/102400\r\n\r\nabc"), std::string::npos);
  EXPECT_LT(body.find("102398-"), body.find("bytes 0-2"));  // in the order asked
}

TEST_F(StaticFilesTest, IfMatchMismatchIs412AndMatchServes) {
  Response failed = get("/a.txt", {{"If-Match", "\"other\""}});
  EXPECT_EQ(failed.status(), 412);
  EXPECT_EQ(get("/a.txt", {{"If-Match", kETag}}).status(), 200);
  EXPECT_EQ(get("/a.txt", {{"If-Match", "*"}}).status(), 200);
}

TEST_F(StaticFilesTest, IfUnmodifiedSinceBeforeMtimeIs412) {
  EXPECT_EQ(get("/a.txt", {{"If-Unmodified-Since", "Sat, 05 Nov 1994 08:49:37 GMT"}}).status(), 412);
  EXPECT_EQ(get("/a.txt", {{"If-Unmodified-Since", kMtimeImf}}).status(), 200);
}

TEST_F(StaticFilesTest, CacheControlComesFromTheOptions) {
  StaticFilesOptions options = optionsFor(root_, {"index.html"}, "404.html");
  options.cacheControl = "max-age=3600, immutable";
  StaticFiles files(options);
  Call call;
  call.path = "/a.txt";
  EXPECT_EQ(serve(call, &files).header("Cache-Control"), "max-age=3600, immutable");
  call.headers = {{"If-None-Match", kETag}};
  EXPECT_EQ(serve(call, &files).header("Cache-Control"), "max-age=3600, immutable");  // 304 too
  EXPECT_EQ(get("/a.txt").header("Cache-Control"), "");
}

// ---------------------------------------------------------------------------------------
// Compression

std::string cssText(std::size_t bytes) {
  std::string text;
  for (int i = 0; text.size() < bytes; ++i) text += ".rule-" + std::to_string(i) + " { color: #123456 }\n";
  text.resize(bytes);
  return text;
}

TEST_F(StaticFilesTest, CompressibleFilesHaveACopyPerEncodingWithItsOwnETag) {
  const std::string css = cssText(20 * 1024);
  writeFile("site.css", css);
  Response plain = get("/site.css");
  EXPECT_EQ(bodyOf(plain), css);
  EXPECT_EQ(plain.header("Vary"), "Accept-Encoding");
  EXPECT_EQ(plain.header("Content-Encoding"), "");
  Response br = get("/site.css", {{"Accept-Encoding", "gzip, deflate, br"}});
  EXPECT_EQ(br.header("Content-Encoding"), "br");
  EXPECT_EQ(br.header("Vary"), "Accept-Encoding");
  EXPECT_LT(br.contentLength(), css.size() / 3);
  Response gz = get("/site.css", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(gz.header("Content-Encoding"), "gzip");
  EXPECT_EQ(bodyOf(gz).substr(0, 2), "\x1f\x8b");
  std::string etags[] = {std::string(plain.header("ETag")), std::string(br.header("ETag")), std::string(gz.header("ETag"))};
  EXPECT_NE(etags[0], etags[1]);
  EXPECT_NE(etags[1], etags[2]);
  EXPECT_NE(etags[0], etags[2]);
  // Each encoding revalidates against its own tag.
  EXPECT_EQ(get("/site.css", {{"Accept-Encoding", "br"}, {"If-None-Match", etags[1]}}).status(), 304);
  EXPECT_EQ(get("/site.css", {{"Accept-Encoding", "gzip"}, {"If-None-Match", etags[1]}}).status(), 200);
}

TEST_F(StaticFilesTest, RangesAreAnsweredFromTheIdentityOnly) {
  const std::string css = cssText(4096);
  writeFile("site.css", css);
  Response r = get("/site.css", {{"Accept-Encoding", "br, gzip"}, {"Range", "bytes=0-9"}});
  EXPECT_EQ(r.status(), 206);
  EXPECT_EQ(r.header("Content-Encoding"), "");
  EXPECT_EQ(bodyOf(r), css.substr(0, 10));
}

TEST_F(StaticFilesTest, SmallOrIncompressibleFilesAreSentAsTheyAre) {
  writeFile("tiny.css", "a{}\n");
  Response tiny = get("/tiny.css", {{"Accept-Encoding", "br"}});
  EXPECT_EQ(tiny.header("Content-Encoding"), "");
  std::string png(4096, 'p');
  writeFile("big.png", png);
  Response image = get("/big.png", {{"Accept-Encoding", "br"}});
  EXPECT_EQ(image.header("Content-Encoding"), "");
  EXPECT_EQ(image.header("Vary"), "");
}

TEST_F(StaticFilesTest, PrecompressedSiblingsAreSentAsGiven) {
  writeFile("app.js", cssText(2000));
  writeFile("app.js.gz", "not really gzip, but what the site put there");
  Response gz = get("/app.js", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(gz.header("Content-Encoding"), "gzip");
  EXPECT_EQ(bodyOf(gz), "not really gzip, but what the site put there");
  EXPECT_EQ(gz.contentType(), "text/javascript; charset=utf-8");

  StaticFilesOptions options = optionsFor(root_, {"index.html"}, "404.html");
  options.precompressed = false;
  options.compress = false;
  StaticFiles files(options);
  Call call;
  call.path = "/app.js";
  call.headers = {{"Accept-Encoding", "gzip"}};
  Response off = serve(call, &files);
  EXPECT_EQ(off.header("Content-Encoding"), "");
  EXPECT_EQ(bodyOf(off), cssText(2000));
}

TEST_F(StaticFilesTest, ACachedFileChangedOnDiskIsSeenWithinOneSecond) {
  EXPECT_EQ(bodyOf(get("/a.txt")), kDigits);
  writeFile("a.txt", "changed");
  auto start = std::chrono::steady_clock::now();
  std::string seen;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    seen = bodyOf(get("/a.txt"));
    if (seen == "changed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(seen, "changed");
  EXPECT_LE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  ASSERT_EQ(::unlink((root_ + "/a.txt").c_str()), 0);
  start = std::chrono::steady_clock::now();
  int status = 200;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    status = get("/a.txt").status();
    if (status == 404) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 404);
  EXPECT_LE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

// ---------------------------------------------------------------------------------------
// Listing

TEST_F(StaticFilesTest, ListingIsOffByDefaultAndEscapesNamesWhenOn) {
  writeFile("empty/<img src=x onerror=alert(1)>.txt", "x");
  writeFile("empty/a&b \"q\".txt", "xy");
  writeFile("empty/.hidden", "secret");
  makeFolder("empty/inner");
  EXPECT_EQ(get("/empty/").status(), 404);

  StaticFilesOptions options = optionsFor(root_, {"index.html"}, "404.html");
  options.listing = true;
  StaticFiles files(options);
  Call call;
  call.path = "/empty/";
  Response html = serve(call, &files);
  EXPECT_EQ(html.status(), 200);
  EXPECT_EQ(html.contentType(), "text/html; charset=utf-8");
  const std::string page = bodyOf(html);
  EXPECT_EQ(page.find("<img"), std::string::npos) << page;
  EXPECT_NE(page.find("&lt;img src=x onerror=alert(1)&gt;.txt"), std::string::npos) << page;
  EXPECT_NE(page.find("a&amp;b &quot;q&quot;.txt"), std::string::npos) << page;
  EXPECT_NE(page.find("href=\"./inner/\""), std::string::npos) << page;
  EXPECT_NE(page.find("href=\"./a&amp;b%20%22q%22.txt\""), std::string::npos) << page;
  EXPECT_EQ(page.find(".hidden"), std::string::npos);
  EXPECT_LT(page.find("inner/"), page.find("a&amp;b"));  // folders first

  call.headers = {{"Accept", "application/json"}};
  Response json = serve(call, &files);
  EXPECT_EQ(json.contentType(), "application/json; charset=utf-8");
  const std::string body = bodyOf(json);
  EXPECT_NE(body.find("\"path\":\"/empty/\""), std::string::npos) << body;
  EXPECT_NE(body.find("{\"name\":\"inner\",\"type\":\"folder\""), std::string::npos) << body;
  EXPECT_NE(body.find("{\"name\":\"a&b \\\"q\\\".txt\",\"type\":\"file\",\"size\":2"), std::string::npos) << body;
  EXPECT_EQ(body.find(".hidden"), std::string::npos);
  // A folder with an index file is still its index, and confinement is unchanged.
  call.path = "/sub/";
  call.headers.clear();
  EXPECT_EQ(bodyOf(serve(call, &files)), "sub index\n");
  call.path = "/folder-link-out/";
  EXPECT_EQ(serve(call, &files).status(), 404);
}

TEST_F(StaticFilesTest, ConstructorNamesTheFolderAndTheReasonWhenRootIsMissing) {
  std::string missing = base_ + "/no-such-folder";
  try {
    StaticFiles files(optionsFor(missing, {"index.html"}, "404.html"));
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(missing), std::string::npos) << message;
    EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  }
}

TEST_F(StaticFilesTest, ConstructorRefusesAFileAsRoot) {
  try {
    StaticFiles files(optionsFor(root_ + "/a.txt", {"index.html"}, "404.html"));
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Not a directory"), std::string::npos) << e.what();
  }
}

TEST_F(StaticFilesTest, ConstructorRefusesPagesOutsideTheRoot) {
  EXPECT_THROW(StaticFiles(optionsFor(root_, {"index.html"}, "../secret.txt")), std::runtime_error);
  EXPECT_THROW(StaticFiles(optionsFor(root_, {"../secret.txt"}, "404.html")), std::runtime_error);
  EXPECT_THROW(StaticFiles(optionsFor(root_, {""}, "404.html")), std::runtime_error);
}

TEST_F(StaticFilesTest, RootIsReportedAsGiven) { EXPECT_EQ(files_->root(), root_); }

std::size_t openDescriptorCount() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

TEST_F(StaticFilesTest, NoAnswerLeaksADescriptor) {
  // Every early return (304, 416, 404 page, index probing, refused symlink) must close what
  // it opened: one leaked descriptor per request would exhaust a busy server in minutes.
  // The open-file cache keeps hot files open; that is bounded by the files, not the requests.
  std::size_t before = openDescriptorCount();
  std::size_t warm = 0;
  for (int i = 0; i < 20; ++i) {
    if (i == 1) warm = openDescriptorCount();
    get("/a.txt");
    get("/a.txt", {{"If-None-Match", kETag}});
    get("/a.txt", {{"Range", "bytes=50-"}});
    get("/a.txt", {{"Range", "bytes=1-2"}});
    get("/nope");
    get("/empty/");
    get("/sub/");
    get("/sub");
    get("/link-out");
    get("/fifo");
    get("/a.txt/");
  }
  EXPECT_EQ(openDescriptorCount(), warm);
  files_.reset();
  EXPECT_EQ(openDescriptorCount(), before - 1);  // and the root's own descriptor is gone too
}

TEST_F(StaticFilesTest, ConcurrentServesFromSeveralThreadsAgree) {
  // Stands in for several reactors sharing one StaticFiles; run under TSan to check races.
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t, &failures] {
      for (int i = 0; i < 200; ++i) {
        Response file = get("/a.txt", {{"Range", "bytes=1-2"}});
        Response missing = get("/nope");
        Response escape = get("/link-out");
        if (file.status() != 206 || bodyOf(file) != "12" || missing.status() != 404 ||
            escape.status() != 404 || bodyOf(escape) != kCustom404)
          ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

}  // namespace
