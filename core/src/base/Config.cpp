// Config: routes.yaml read strictly into typed structs (see Config.h for the why).
//
// yaml-cpp gives us a node tree with 0-based marks and silently keeps duplicate keys, so
// this file walks the tree itself: every map goes through fieldsOf(), which reports
// duplicate and unknown keys, and every value through a small typed reader that reports
// the key path and the 1-based place. Errors are collected, never thrown one by one, so a
// user fixes a whole file in one edit-run cycle instead of one typo per restart.
#include "base/Config.h"

#include <pwd.h>

#include "base/RequestId.h"
#include "site/Router.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <re2/re2.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <sstream>
#include <limits>
#include <string_view>
#include <utility>

namespace microserver::core {

namespace {

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += (out.empty() ? "" : "\n") + line;
  return out;
}

std::string joinNames(std::initializer_list<std::string_view> names, std::string_view separator) {
  std::string out;
  for (std::string_view name : names) out += (out.empty() ? "" : std::string(separator)) + std::string(name);
  return out;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Sets the reason and returns false, so parsers can say `return fail(why, "...")`.
bool fail(std::string& why, std::string reason) {
  why = std::move(reason);
  return false;
}

// Whole decimal numbers only: no sign, no spaces, no 0x, no YAML 1_000. Refuses values
// above `max` instead of wrapping, so "99999999999999999999" is an error, not a small number.
bool parseDigits(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty()) return false;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!isDigit(c)) return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

std::size_t countDigits(std::string_view text, std::size_t from) {
  std::size_t end = from;
  while (end < text.size() && isDigit(text[end])) ++end;
  return end - from;
}

// The longest duration we accept, in milliseconds: the most that still fits in int64
// nanoseconds (about 292 years), so the server may add any timeout to a steady_clock
// time point without overflowing.
constexpr std::uint64_t kMaxDurationMs =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / 1'000'000;

std::uint64_t durationUnitMs(std::string_view unit) {
  if (unit.empty() || unit == "s") return 1000;  // a bare number means seconds, like nginx
  if (unit == "ms") return 1;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return 0;
}

// Adds `fraction` (the digits after the point) of one unit to `ms`. Only fractions that come
// out as whole milliseconds are accepted: "1.5s" is 1500 ms, but "0.5ms" would have to be
// rounded, and a limit silently different from what is written is exactly what we refuse.
bool addFraction(std::string_view fraction, std::uint64_t unitMs, std::uint64_t& ms) {
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (fraction.empty()) return true;
  if (fraction.size() > 9) return false;  // finer than a nanosecond of an hour: never whole ms
  std::uint64_t digits = 0;
  if (!parseDigits(fraction, 999'999'999, digits)) return false;
  std::uint64_t scale = 1;
  for (std::size_t i = 0; i < fraction.size(); ++i) scale *= 10;
  const std::uint64_t scaled = digits * unitMs;  // < 1e9 * 3.6e6: no overflow
  if (scaled % scale != 0) return false;
  ms += scaled / scale;
  return ms <= kMaxDurationMs;
}

std::uint64_t sizeUnitBytes(std::string_view unit) {
  constexpr std::uint64_t kKiB = 1024;
  if (unit.empty()) return 1;
  // Every spelling means a power of 1024, as in nginx: these are buffer sizes, and "KB"
  // meaning 1000 right beside "KiB" meaning 1024 would be a trap.
  for (std::string_view k : {"k", "K", "KiB", "KB"})
    if (unit == k) return kKiB;
  for (std::string_view m : {"m", "M", "MiB", "MB"})
    if (unit == m) return kKiB * kKiB;
  for (std::string_view g : {"g", "G", "GiB", "GB"})
    if (unit == g) return kKiB * kKiB * kKiB;
  return 0;
}

bool isPluginName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool isValidIPv4(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool isValidIPv6(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// Validates the host part of "HOST:PORT" (brackets already removed for IPv6). An empty host
// becomes 0.0.0.0: Poco's SocketAddress would try to resolve "" as a host name and fail.
bool normaliseHost(const std::string& text, bool bracketed, std::string& host, std::string& why) {
  if (bracketed && !isValidIPv6(text)) return fail(why, "'" + text + "' is not an IPv6 address");
  if (!bracketed && !text.empty() && text != "localhost" && !isValidIPv4(text))
    return fail(why, "'" + text + "' is not an IPv4 address, a bracketed IPv6 address or localhost");
  host = text.empty() ? "0.0.0.0" : text;
  return true;
}

bool parsePort(std::string_view text, std::uint16_t& port, std::string& why) {
  if (text.empty()) return fail(why, "missing port after ':'");
  if (countDigits(text, 0) != text.size()) return fail(why, "port '" + std::string(text) + "' is not a number");
  std::uint64_t value = 0;
  if (!parseDigits(text, 65535, value)) return fail(why, "port " + std::string(text) + " is out of range (0 to 65535)");
  port = static_cast<std::uint16_t>(value);
  return true;
}

// This RE2 release accepts the same group name twice and then reports only one of them,
// so a route's capture would silently come from the wrong group.
std::string duplicateGroupName(const RE2& re) {
  std::vector<std::string> seen;
  for (const auto& [index, name] : re.CapturingGroupNames()) {
    for (const std::string& other : seen)
      if (other == name) return name;
    seen.push_back(name);
  }
  return {};
}

const std::initializer_list<std::string_view> kTopKeys = {"server", "routes", "services"};
const std::initializer_list<std::string_view> kServerKeys = {
    "listen",    "reactors",    "workers",    "file_threads", "file_cache",   "www",    "plugins",
    "access_log", "access_log_format", "request_id_header", "log_level",  "user",       "health_path",
    "ready_path",  "metrics_path", "limits", "trusted_proxies"};
const std::initializer_list<std::string_view> kFileCacheKeys = {"max_files", "max_bytes"};
const std::initializer_list<std::string_view> kCacheKeys = {"max_age", "immutable"};
const std::initializer_list<std::string_view> kLimitKeys = {
    "header_bytes",  "uri_bytes",      "header_count",    "body_bytes",      "header_timeout", "body_timeout",
    "idle_timeout",  "send_timeout",   "shutdown_delay",  "shutdown_grace",  "max_connections", "handler_timeout",
    "worker_queue"};
const std::initializer_list<std::string_view> kRouteKeys = {
    "path",       "host",    "methods",  "handler",       "static",  "config", "blocking",
    "body",       "body_bytes", "timeout", "compress", "precompressed", "listing", "cache"};
// Keys that only mean something to one kind of route.
const std::initializer_list<std::string_view> kHandlerOnlyKeys = {"config", "blocking", "body", "body_bytes", "timeout"};
const std::initializer_list<std::string_view> kStaticOnlyKeys = {"precompressed", "listing", "cache"};
const std::initializer_list<std::string_view> kServiceKeys = {"plugin", "listen", "config"};
const std::initializer_list<std::string_view> kListenKeys = {"address", "tls", "redirect_to_https", "hsts",
                                                            "proxy_protocol"};
const std::initializer_list<std::string_view> kServiceListenKeys = {"address", "tls", "proxy_protocol"};
const std::initializer_list<std::string_view> kTlsKeys = {"certificate", "key", "certificates"};
const std::initializer_list<std::string_view> kCertificateKeys = {"certificate", "key"};
const std::initializer_list<std::string_view> kMethods = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                                          "PATCH", "OPTIONS", "CONNECT", "TRACE"};
const std::initializer_list<std::string_view> kLogLevels = {"error", "warning", "info", "debug"};

constexpr int kMaxConfigDepth = 64;
// Aliases can make a few lines expand into billions of nodes ("billion laughs"); a plugin
// config is never remotely this large.
constexpr int kMaxConfigNodes = 100'000;
constexpr std::size_t kMaxHeaderBytes = 1024 * 1024;
constexpr std::size_t kMaxHeaderCount = 10'000;
constexpr unsigned kMaxReactors = 256;
constexpr unsigned kMaxWorkers = 1024;
constexpr std::size_t kMaxWorkerQueue = 1'000'000;
constexpr std::size_t kMaxCachedFiles = 1'000'000;

const char* const kListenHelp = "(expected HOST:PORT, e.g. 127.0.0.1:8080, \"[::1]:8080\" or :8080)";

bool contains(std::initializer_list<std::string_view> names, std::string_view name) {
  for (std::string_view n : names)
    if (n == name) return true;
  return false;
}

std::string child(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
std::string item(const std::string& path, std::size_t index) { return path + "[" + std::to_string(index) + "]"; }

// How a value looks, for "expected X, got Y".
std::string describe(const YAML::Node& node) {
  if (node.IsNull()) return "nothing";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

// One key/value pair of a map, with the key path of its value.
struct Field {
  std::string key;
  YAML::Node keyNode;
  YAML::Node value;
  std::string path;

  // yaml-cpp marks an empty value (`key:` and nothing) at the next token, often on the next
  // line, so errors about a missing value point at the key instead.
  YAML::Mark mark() const { return value.IsNull() ? keyNode.Mark() : value.Mark(); }
};

// yaml-cpp counts from 0 and uses -1 for "no place" (an empty document); people count from 1.
SourceMark toSourceMark(const YAML::Mark& mark) { return {std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1}; }

std::string resolvePath(const std::string& folder, const std::string& text) {
  std::filesystem::path path(text);
  if (path.is_relative()) path = std::filesystem::path(folder) / path;
  std::string out = path.lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();  // "www/" and "www" are one folder
  return out;
}

std::string absoluteFolder(const std::string& folder) {
  std::error_code ignored;  // absolute() only fails without a working directory; keep the text then
  std::filesystem::path path = std::filesystem::absolute(folder.empty() ? "." : folder, ignored);
  return resolvePath("/", path.string());
}

// Walks the YAML tree of one file, filling a Config and collecting every error it meets.
class Reader {
 public:
  Reader(std::string file, std::string folder) : file_(std::move(file)), folder_(std::move(folder)) {}

  const std::vector<std::string>& errors() const { return errors_; }

  void error(const YAML::Mark& mark, const std::string& path, const std::string& what) {
    const SourceMark at = toSourceMark(mark);
    std::string line = file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": ";
    if (!path.empty()) line += path + ": ";
    errors_.push_back(line + what);
  }

  void readDocument(const YAML::Node& root, Config& config) {
    if (!root.IsMap()) {
      error(root.Mark(), "",
            "expected a map with keys " + joinNames(kTopKeys, ", ") + " at the top level, got " + describe(root));
      return;
    }
    config.server.www = resolvePath(folder_, config.server.www);  // the default, unless `www:` overrides it
    for (const Field& f : fieldsOf(root, "", kTopKeys)) {
      if (f.key == "server") readServer(f, config.server);
      else if (f.key == "routes") readRoutes(f, config.routes);
      else readServices(f, config.services);
    }
  }

 private:
  // The pairs of a map, minus the ones already reported: keys that are not plain scalars,
  // duplicates (yaml-cpp keeps both, and which one wins would be an accident), and, when
  // `allowed` is given, keys not in it.
  std::vector<Field> fieldsOf(const YAML::Node& map, const std::string& path,
                              std::initializer_list<std::string_view> allowed, bool anyKey = false) {
    std::vector<Field> fields;
    for (const auto& pair : map) {  // a copy: yaml-cpp's iterator hands out temporaries
      const YAML::Node keyNode = pair.first;
      if (!keyNode.IsScalar()) {
        error(keyNode.Mark(), path, "expected a plain key, got " + describe(keyNode));
        continue;
      }
      Field f{keyNode.Scalar(), keyNode, pair.second, child(path, keyNode.Scalar())};
      if (!anyKey && !contains(allowed, f.key)) {
        error(keyNode.Mark(), f.path,
              "unknown key '" + f.key + "' (expected one of: " + joinNames(allowed, ", ") + ")");
        continue;
      }
      if (const Field* first = find(fields, f.key)) {
        error(keyNode.Mark(), f.path,
              "duplicate key '" + f.key + "' (first defined on line " + std::to_string(first->keyNode.Mark().line + 1) +
                  ")");
        continue;
      }
      fields.push_back(std::move(f));
    }
    return fields;
  }

  static const Field* find(const std::vector<Field>& fields, std::string_view key) {
    for (const Field& f : fields)
      if (f.key == key) return &f;
    return nullptr;
  }

  // A section written as `key:` with nothing under it (every entry commented out) is empty,
  // not an error.
  bool sectionMap(const Field& f, const std::string& expected) {
    if (f.value.IsMap() || f.value.IsNull()) return f.value.IsMap();
    error(f.mark(), f.path, "expected " + expected + ", got " + describe(f.value));
    return false;
  }

  bool scalar(const Field& f, const std::string& expected, std::string& out) {
    if (!f.value.IsScalar()) {
      error(f.mark(), f.path, "expected " + expected + ", got " + describe(f.value));
      return false;
    }
    out = f.value.Scalar();
    return true;
  }

  bool nonEmptyScalar(const Field& f, const std::string& expected, std::string& out) {
    if (!scalar(f, expected, out)) return false;
    if (!out.empty()) return true;
    error(f.mark(), f.path, "expected " + expected + ", got an empty string");
    return false;
  }

  void readFolder(const Field& f, std::string& out) {
    std::string text;
    if (nonEmptyScalar(f, "a folder path", text)) out = resolvePath(folder_, text);
  }

  // `server.listen`: one listener (HOST:PORT or a map), or a list of them.
  void readServerListen(const Field& f, std::vector<ListenConfig>& listeners) {
    listeners.clear();
    if (!f.value.IsSequence() && !f.value.IsScalar() && !f.value.IsMap()) {
      error(f.mark(), f.path,
            "expected HOST:PORT, a map with keys " + joinNames(kListenKeys, ", ") + ", or a list of them, got " +
                describe(f.value));
      return;
    }
    if (!f.value.IsSequence()) {
      ListenConfig listener;
      if (readListener(f.value, f.mark(), f.path, kListenKeys, listener)) listeners.push_back(std::move(listener));
      return;
    }
    if (f.value.size() == 0) {
      error(f.mark(), f.path, "an empty list listens nowhere; give at least one HOST:PORT");
      return;
    }
    if (f.value.size() > kMaxListeners) {
      error(f.mark(), f.path,
            std::to_string(f.value.size()) + " listeners; at most " + std::to_string(kMaxListeners) + " are allowed");
      return;
    }
    std::size_t index = 0;
    for (const YAML::Node& node : f.value) {
      ListenConfig listener;
      const std::string path = item(f.path, index++);
      if (!readListener(node, node.Mark(), path, kListenKeys, listener)) continue;
      for (const ListenConfig& other : listeners)
        if (other.port != 0 && other.port == listener.port && other.host == listener.host) {
          error(node.Mark(), path, listener.address() + " is listed twice (first as " + other.path + ")");
          break;
        }
      listeners.push_back(std::move(listener));
    }
  }

  // One listener: "HOST:PORT", or a map with `address` and what `allowed` permits (tls,
  // redirect_to_https, hsts, proxy_protocol). False when it is not usable (the error is reported).
  bool readListener(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                    std::initializer_list<std::string_view> allowed, ListenConfig& out) {
    out.path = path;
    out.mark = toSourceMark(mark);
    if (node.IsScalar()) return readAddress(node.Scalar(), mark, path, out);
    if (!node.IsMap()) {
      error(mark, path, "expected HOST:PORT or a map with keys " + joinNames(allowed, ", ") + ", got " + describe(node));
      return false;
    }
    const std::vector<Field> fields = fieldsOf(node, path, allowed);
    bool ok = true;
    for (const Field& f : fields) {
      if (f.key == "address") {
        std::string text;
        ok = scalar(f, "HOST:PORT", text) && readAddress(text, f.mark(), f.path, out) && ok;
      } else if (f.key == "tls") {
        ok = readTls(f, out.tls) && ok;
      } else if (f.key == "redirect_to_https") {
        ok = readRedirect(f, out) && ok;
      } else if (f.key == "proxy_protocol") {
        ok = readBool(f, out.proxyProtocol) && ok;
      } else {
        Duration age{-1};
        readDuration(f, age, true);
        if (age.count() >= 0) out.hsts = age;
        else ok = false;
      }
    }
    if (!find(fields, "address")) {
      error(mark, path, "missing required key 'address' (HOST:PORT, e.g. 127.0.0.1:8443)");
      return false;
    }
    const Field* redirect = find(fields, "redirect_to_https");
    const Field* hsts = find(fields, "hsts");
    if (redirect && out.secure()) {
      error(redirect->keyNode.Mark(), redirect->path, "only allowed on a plain listener (this one has tls)");
      ok = false;
    }
    if (hsts && !out.secure()) {
      error(hsts->keyNode.Mark(), hsts->path,
            "only allowed on a TLS listener (browsers ignore Strict-Transport-Security over plain HTTP)");
      ok = false;
    }
    return ok;
  }

  bool readAddress(const std::string& text, const YAML::Mark& mark, const std::string& path, ListenConfig& out) {
    std::string why;
    if (parseListenAddress(text, out.host, out.port, why)) return true;
    error(mark, path, "invalid address '" + text + "': " + why + " " + kListenHelp);
    return false;
  }

  // `redirect_to_https: 8443` (the request's host, this port) or `https://example.com`.
  bool readRedirect(const Field& f, ListenConfig& out) {
    const std::string expected = "a port (e.g. 443) or a URL starting with https:// (e.g. https://example.com)";
    std::string text;
    if (!nonEmptyScalar(f, expected, text)) return false;
    std::uint64_t port = 0;
    if (parseDigits(text, 65535, port) && port > 0) {
      out.redirectPort = static_cast<std::uint16_t>(port);
      return true;
    }
    constexpr std::string_view kScheme = "https://";
    const bool url = text.compare(0, kScheme.size(), kScheme) == 0 && text.size() > kScheme.size() &&
                     text.find_first_of(" \t\r\n?#", 0) == std::string::npos && text[kScheme.size()] != '/';
    if (!url) {
      error(f.mark(), f.path, "expected " + expected + ", got '" + text + "'");
      return false;
    }
    while (text.back() == '/') text.pop_back();  // the request target brings its own '/'
    out.redirectUrl = text;
    return true;
  }

  bool readTls(const Field& f, std::optional<TlsConfig>& out) {
    const std::string expected =
        "a map with keys certificate and key (PEM files), or certificates (a list of such maps, chosen by SNI)";
    if (!f.value.IsMap()) {
      error(f.mark(), f.path, "expected " + expected + ", got " + describe(f.value));
      return false;
    }
    TlsConfig tls;
    tls.mark = toSourceMark(f.mark());
    const std::vector<Field> fields = fieldsOf(f.value, f.path, kTlsKeys);
    const Field* list = find(fields, "certificates");
    bool ok = true;
    if (list && (find(fields, "certificate") || find(fields, "key"))) {
      error(list->keyNode.Mark(), list->path,
            "give either certificate and key (one certificate) or certificates (a list), not both");
      return false;
    }
    if (list) {
      if (!list->value.IsSequence() || list->value.size() == 0) {
        error(list->mark(), list->path,
              "expected a list of maps with keys certificate and key, got " +
                  (list->value.IsSequence() ? std::string("an empty list") : describe(list->value)));
        return false;
      }
      std::size_t index = 0;
      for (const YAML::Node& node : list->value) {
        const std::string path = item(list->path, index++);
        if (!node.IsMap()) {
          error(node.Mark(), path, "expected a map with keys certificate and key, got " + describe(node));
          ok = false;
          continue;
        }
        TlsCertificateConfig certificate;
        ok = readCertificate(fieldsOf(node, path, kCertificateKeys), node.Mark(), path, certificate) && ok;
        tls.certificates.push_back(std::move(certificate));
      }
    } else {
      TlsCertificateConfig certificate;
      ok = readCertificate(fields, f.mark(), f.path, certificate);
      tls.certificates.push_back(std::move(certificate));
    }
    if (ok) out = std::move(tls);
    return ok;
  }

  // `certificate` and `key` of one map (paths are checked when the certificates are loaded).
  bool readCertificate(const std::vector<Field>& fields, const YAML::Mark& mark, const std::string& path,
                       TlsCertificateConfig& out) {
    out.path = path;
    const Field* certificate = find(fields, "certificate");
    const Field* key = find(fields, "key");
    bool ok = true;
    std::string text;
    if (!certificate) {
      error(mark, path, "missing required key 'certificate' (a PEM file: the certificate, then its chain)");
      ok = false;
    } else if (nonEmptyScalar(*certificate, "a PEM file path", text)) {
      out.certificate = resolvePath(folder_, text);
      out.certificateMark = toSourceMark(certificate->mark());
    } else {
      ok = false;
    }
    if (!key) {
      error(mark, path, "missing required key 'key' (a PEM file: the certificate's private key)");
      ok = false;
    } else if (nonEmptyScalar(*key, "a PEM file path", text)) {
      out.key = resolvePath(folder_, text);
      out.keyMark = toSourceMark(key->mark());
    } else {
      ok = false;
    }
    return ok;
  }

  void readServer(const Field& section, ServerConfig& server) {
    server.mark = toSourceMark(section.mark());
    if (!sectionMap(section, "a map with keys " + joinNames(kServerKeys, ", "))) return;
    for (const Field& f : fieldsOf(section.value, section.path, kServerKeys)) {
      if (f.key == "listen") readServerListen(f, server.listen);
      else if (f.key == "reactors") readReactors(f, server.reactors);
      else if (f.key == "workers") readThreads(f, "worker", server.workers);
      else if (f.key == "file_threads") readThreads(f, "file", server.fileThreads);
      else if (f.key == "file_cache") readFileCache(f, server);
      else if (f.key == "www") readFolder(f, server.www);
      else if (f.key == "plugins") readFolder(f, server.plugins);
      else if (f.key == "access_log") readAccessLog(f, server.accessLog);
      else if (f.key == "access_log_format") readAccessLogFormat(f, server.accessLogFormat);
      else if (f.key == "request_id_header") readRequestIdHeader(f, server.requestIdHeader);
      else if (f.key == "log_level") readLogLevel(f, server.logLevel);
      else if (f.key == "user") readUser(f, server.user);
      else if (f.key == "health_path") readEndpoint(f, server.healthPath);
      else if (f.key == "ready_path") readEndpoint(f, server.readyPath);
      else if (f.key == "metrics_path") readEndpoint(f, server.metricsPath);
      else if (f.key == "trusted_proxies") readTrustedProxies(f, server.trustedProxies);
      else readLimits(f, server.limits);
    }
  }

  void readReactors(const Field& f, unsigned& reactors) {
    const std::string expected = "'auto' or a number of reactor threads from 1 to " + std::to_string(kMaxReactors);
    std::string text;
    if (!scalar(f, expected, text)) return;
    std::uint64_t n = 0;
    if (text == "auto") reactors = 0;
    else if (parseDigits(text, kMaxReactors, n) && n > 0) reactors = static_cast<unsigned>(n);
    else error(f.mark(), f.path, "expected " + expected + ", got '" + text + "'");
  }

  // A thread count: `what` names the threads ("worker", "file") in the message.
  void readThreads(const Field& f, const char* what, unsigned& workers) {
    const std::string expected = std::string("a number of ") + what + " threads from 1 to " + std::to_string(kMaxWorkers);
    std::string text;
    if (!scalar(f, expected, text)) return;
    std::uint64_t n = 0;
    if (parseDigits(text, kMaxWorkers, n) && n > 0) workers = static_cast<unsigned>(n);
    else error(f.mark(), f.path, "expected " + expected + ", got '" + text + "'");
  }

  void readFileCache(const Field& section, ServerConfig& server) {
    if (!sectionMap(section, "a map with keys " + joinNames(kFileCacheKeys, ", "))) return;
    for (const Field& f : fieldsOf(section.value, section.path, kFileCacheKeys)) {
      if (f.key == "max_files") readCount(f, server.fileCacheFiles, kMaxCachedFiles);
      else readSize(f, server.fileCacheBytes, std::numeric_limits<std::size_t>::max());
    }
  }

  void readCache(const Field& section, RouteConfig& route) {
    if (!sectionMap(section, "a map with keys " + joinNames(kCacheKeys, ", "))) return;
    for (const Field& f : fieldsOf(section.value, section.path, kCacheKeys)) {
      if (f.key == "max_age") {
        Duration age{-1};  // stays negative if the value is refused (readDuration reports it)
        readDuration(f, age, true);
        if (age.count() >= 0) route.cacheMaxAge = age;
      } else readBool(f, route.cacheImmutable);
    }
  }

  void readEndpoint(const Field& f, std::string& path) {
    std::string text;
    if (!nonEmptyScalar(f, "a path such as /metrics, or off", text)) return;
    if (text == "off" || (text[0] == '/' && text.find_first_of(" ?#") == std::string::npos)) path = text;
    else error(f.mark(), f.path, "expected a path starting with '/' (no spaces, '?' or '#'), or off; got '" + text + "'");
  }

  void readAccessLog(const Field& f, std::string& accessLog) {
    std::string text;
    if (!nonEmptyScalar(f, "\"-\" (standard output), off, or a file path", text)) return;
    accessLog = (text == "-" || text == "off") ? text : resolvePath(folder_, text);
  }

  void readAccessLogFormat(const Field& f, AccessLogFormat& format) {
    std::string text;
    if (!nonEmptyScalar(f, "combined or json", text)) return;
    if (text == "combined") format = AccessLogFormat::Combined;
    else if (text == "json") format = AccessLogFormat::Json;
    else error(f.mark(), f.path, "expected combined (nginx's and Apache's format) or json (one object per line), got '" +
                                     text + "'");
  }

  // A header name (letters, digits and '-', as every id header is), or off.
  void readRequestIdHeader(const Field& f, std::string& header) {
    std::string text;
    if (!nonEmptyScalar(f, "a header name such as X-Request-Id, or off", text)) return;
    if (text == "off") {
      header.clear();
      return;
    }
    for (char c : text) {
      if ((!std::isalnum(static_cast<unsigned char>(c)) && c != '-') || text.size() > kMaxRequestIdHeaderLength) {
        error(f.mark(), f.path, "expected a header name (up to 64 letters, digits and '-') such as X-Request-Id, or off; got '" +
                                    text + "'");
        return;
      }
    }
    header = text;
  }

  // A user name that exists here: the server switches to it once it listens.
  void readUser(const Field& f, std::string& user) {
    std::string text;
    if (!nonEmptyScalar(f, "a user name such as www-data", text)) return;
    struct passwd entry {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwnam_r(text.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr)
      error(f.mark(), f.path, "no user '" + text + "' on this machine (create it, e.g. adduser --system " + text +
                                  ", or leave server.user out)");
    else user = text;
  }

  // A list of CIDR ranges (or single addresses), IPv4 and IPv6; empty or absent: nobody.
  void readTrustedProxies(const Field& f, std::vector<IpRange>& ranges) {
    const std::string expected = "a list of addresses or CIDR ranges (e.g. [127.0.0.1, 10.0.0.0/8, \"::1\"])";
    if (f.value.IsNull()) return;
    if (!f.value.IsSequence()) {
      error(f.mark(), f.path, "expected " + expected + ", got " + describe(f.value));
      return;
    }
    for (std::size_t i = 0; i < f.value.size(); ++i) {
      const YAML::Node node = f.value[i];
      const std::string path = item(f.path, i);
      if (!node.IsScalar() || node.Scalar().empty()) {
        error(node.Mark(), path, "expected an address or CIDR range such as 10.0.0.0/8, got " + describe(node));
        continue;
      }
      IpRange range;
      std::string why;
      if (IpRange::parse(node.Scalar(), range, why)) ranges.push_back(std::move(range));
      else error(node.Mark(), path, "invalid address range '" + node.Scalar() + "': " + why);
    }
  }

  void readLogLevel(const Field& f, std::string& level) {
    const std::string expected = "one of " + joinNames(kLogLevels, ", ");
    std::string text;
    if (!scalar(f, expected, text)) return;
    if (contains(kLogLevels, text)) level = text;
    else error(f.mark(), f.path, "unknown log level '" + text + "' (expected " + expected + ")");
  }

  void readLimits(const Field& section, Limits& limits) {
    if (!sectionMap(section, "a map with keys " + joinNames(kLimitKeys, ", "))) return;
    const std::vector<Field> fields = fieldsOf(section.value, section.path, kLimitKeys);
    bool uriValid = true;
    for (const Field& f : fields) {
      if (f.key == "header_bytes") readSize(f, limits.headerBytes, kMaxHeaderBytes);
      else if (f.key == "uri_bytes") uriValid = readSize(f, limits.uriBytes, kMaxHeaderBytes);
      else if (f.key == "body_bytes") readSize(f, limits.bodyBytes, std::numeric_limits<std::size_t>::max());
      else if (f.key == "header_count") readCount(f, limits.headerCount, kMaxHeaderCount);
      else if (f.key == "max_connections") readCount(f, limits.maxConnections, std::numeric_limits<std::size_t>::max());
      else if (f.key == "header_timeout") readDuration(f, limits.headerTimeout, false);
      else if (f.key == "body_timeout") readDuration(f, limits.bodyTimeout, false);
      else if (f.key == "idle_timeout") readDuration(f, limits.idleTimeout, false);
      else if (f.key == "send_timeout") readDuration(f, limits.sendTimeout, false);
      else if (f.key == "handler_timeout") readDuration(f, limits.handlerTimeout, false);
      else if (f.key == "worker_queue") readCount(f, limits.workerQueue, kMaxWorkerQueue);
      else if (f.key == "shutdown_delay") readDuration(f, limits.shutdownDelay, true);  // 0 = none (the default)
      else readDuration(f, limits.shutdownGrace, true);  // 0 = stop at once, a valid choice
    }
    if (uriValid) checkUriFitsHeader(find(fields, "uri_bytes"), limits);  // else already reported
  }

  // The request-target is part of the header block, so a larger URI limit could never be
  // reached. When only header_bytes is set below the default URI limit, the URI limit
  // follows it down rather than failing a file that never mentioned uri_bytes.
  void checkUriFitsHeader(const Field* uriField, Limits& limits) {
    if (limits.uriBytes <= limits.headerBytes) return;
    if (!uriField) {
      limits.uriBytes = limits.headerBytes;
      return;
    }
    error(uriField->mark(), uriField->path,
          std::to_string(limits.uriBytes) + " bytes is larger than header_bytes (" +
              std::to_string(limits.headerBytes) + " bytes), which the request line must fit in");
  }

  bool readSize(const Field& f, std::size_t& out, std::size_t max) {
    std::string text;
    std::size_t bytes = 0;
    if (!scalar(f, "a size", text)) return false;
    if (!parseSize(text, bytes)) {
      error(f.mark(), f.path,
            "invalid size '" + text +
                "' (expected a whole number of bytes, optionally with a suffix k, KiB, m, MiB, g or GiB, e.g. 16KiB)");
      return false;
    }
    if (bytes == 0 || bytes > max) {
      error(f.mark(), f.path,
            bytes == 0 ? "must be greater than 0"
                       : "'" + text + "' is too large (at most " + std::to_string(max) + " bytes)");
      return false;
    }
    out = bytes;
    return true;
  }

  void readCount(const Field& f, std::size_t& out, std::size_t max) {
    std::string text;
    std::uint64_t n = 0;
    if (!scalar(f, "a whole number", text)) return;
    if (!parseDigits(text, std::numeric_limits<std::size_t>::max(), n))
      error(f.mark(), f.path, "expected a whole number, got '" + text + "'");
    else if (n == 0) error(f.mark(), f.path, "must be greater than 0");
    else if (n > max) error(f.mark(), f.path, text + " is too large (at most " + std::to_string(max) + ")");
    else out = static_cast<std::size_t>(n);
  }

  void readDuration(const Field& f, Duration& out, bool zeroAllowed) {
    std::string text;
    Duration value{};
    if (!scalar(f, "a duration", text)) return;
    if (!parseDuration(text, value))
      error(f.mark(), f.path,
            "invalid duration '" + text +
                "' (expected a number with a unit ms, s, m or h, e.g. 250ms, 1.5s or 2m; "
                "a bare number means seconds)");
    else if (value.count() == 0 && !zeroAllowed) error(f.mark(), f.path, "must be greater than 0");
    else out = value;
  }

  void readRoutes(const Field& section, std::vector<RouteConfig>& routes) {
    if (section.value.IsNull()) return;
    if (!section.value.IsSequence()) {
      error(section.mark(), section.path, "expected a list of routes, got " + describe(section.value));
      return;
    }
    std::size_t index = 0;
    for (const YAML::Node& node : section.value) routes.push_back(readRoute(node, item(section.path, index++)));
  }

  RouteConfig readRoute(const YAML::Node& node, const std::string& path) {
    RouteConfig route;
    route.mark = toSourceMark(node.Mark());
    if (!node.IsMap()) {
      error(node.Mark(), path, "expected a map with keys " + joinNames(kRouteKeys, ", ") + ", got " + describe(node));
      return route;
    }
    const std::vector<Field> fields = fieldsOf(node, path, kRouteKeys);
    for (const Field& f : fields) {
      if (f.key == "path") readPattern(f, route);
      else if (f.key == "methods") readMethods(f, route.methods);
      else if (f.key == "host") readHosts(f, route.hosts);
      else if (f.key == "handler") readPluginName(f, route.handler, route.handlerMark);
      else if (f.key == "static") readFolder(f, route.staticDir);
      else if (f.key == "config") route.config = toConfigNode(f);
      else if (f.key == "body") readBodyMode(f, route.streamBody);
      else if (f.key == "body_bytes") {
        std::size_t bytes = 0;
        if (readSize(f, bytes, std::numeric_limits<std::size_t>::max())) route.bodyBytes = bytes;
      } else if (f.key == "timeout") {
        Duration timeout{0};
        readDuration(f, timeout, false);
        if (timeout.count() > 0) route.timeout = timeout;
      } else if (f.key == "compress") {
        bool on = false;
        if (readBool(f, on)) route.compress = on;
      } else if (f.key == "precompressed") readBool(f, route.precompressed);
      else if (f.key == "listing") readBool(f, route.listing);
      else if (f.key == "cache") readCache(f, route);
      else readBool(f, route.blocking);
    }
    checkRouteTarget(node, path, fields);
    if (route.streamBody && route.blocking)
      if (const Field* f = find(fields, "body"))
        error(f->keyNode.Mark(), f->path,
              "'body: stream' cannot be combined with 'blocking: true' (a streamed body is read on the event loop; "
              "a blocking handler gets the whole body)");
    return route;
  }

  // A route either calls a plugin or serves a folder; `config` and `blocking` only mean
  // something to a plugin, so on a static route they are a mistake, not a no-op.
  void checkRouteTarget(const YAML::Node& node, const std::string& path, const std::vector<Field>& fields) {
    if (!find(fields, "path"))
      error(node.Mark(), path, "missing required key 'path' (a regular expression matched against the request path)");
    const bool hasHandler = find(fields, "handler") != nullptr;
    const bool hasStatic = find(fields, "static") != nullptr;
    if (hasHandler && hasStatic)
      error(node.Mark(), path, "expected exactly one of 'handler' (a plugin name) or 'static' (a folder), got both");
    if (!hasHandler && !hasStatic)
      error(node.Mark(), path, "expected exactly one of 'handler' (a plugin name) or 'static' (a folder), got neither");
    if (hasHandler && !hasStatic)
      for (std::string_view key : kStaticOnlyKeys)
        if (const Field* f = find(fields, key))
          error(f->keyNode.Mark(), f->path, "only allowed with 'static' (this route calls a plugin)");
    if (hasHandler || !hasStatic) return;
    for (std::string_view key : kHandlerOnlyKeys)
      if (const Field* f = find(fields, key))
        error(f->keyNode.Mark(), f->path, "only allowed with 'handler' (this route serves static files)");
  }

  void readBodyMode(const Field& f, bool& stream) {
    std::string text;
    if (!scalar(f, "buffer or stream", text)) return;
    if (text == "stream") stream = true;
    else if (text == "buffer") stream = false;
    else error(f.mark(), f.path, "expected buffer (the handler gets the whole body) or stream (it reads it piece by "
                                 "piece), got '" + text + "'");
  }

  void readPattern(const Field& f, RouteConfig& route) {
    std::string text;
    route.pathMark = toSourceMark(f.mark());
    if (!scalar(f, "a regular expression", text)) return;
    if (text.empty()) {
      error(f.mark(), f.path, "expected a regular expression, got an empty string (use '^/' to match every path)");
      return;
    }
    route.path = translateNamedGroups(text);
    RE2::Options options;
    options.set_log_errors(false);  // the error goes into our message, not to stderr
    const RE2 re(route.path, options);
    if (!re.ok()) {
      error(f.mark(), f.path, "invalid regular expression '" + text + "': " + re.error());
    } else if (std::string name = duplicateGroupName(re); !name.empty()) {
      error(f.mark(), f.path, "invalid regular expression '" + text + "': group name '" + name + "' is used twice");
    }
  }

  // `host: example.com`, or a list of them; each exact, "*.example.com", "example.*" or an
  // RE2 pattern after '~' (see site/Router.h).
  void readHosts(const Field& f, std::vector<std::string>& hosts) {
    auto one = [&](const YAML::Node& node, const YAML::Mark& mark, const std::string& path) {
      if (!node.IsScalar() || node.Scalar().empty()) {
        error(mark, path, "expected a host name such as example.com, *.example.com or ~^pattern$, got " +
                              describe(node));
        return;
      }
      if (std::string why = Router::checkHostSpec(node.Scalar()); !why.empty())
        error(mark, path, "invalid host '" + node.Scalar() + "': " + why);
      else
        hosts.push_back(node.Scalar());
    };
    if (f.value.IsSequence()) {
      if (f.value.size() == 0) error(f.mark(), f.path, "an empty list serves no host; leave 'host' out to serve every host");
      std::size_t index = 0;
      for (const YAML::Node& node : f.value) {
        one(node, node.Mark(), item(f.path, index));
        ++index;
      }
    } else {
      one(f.value, f.mark(), f.path);
    }
  }

  void readMethods(const Field& f, std::vector<std::string>& methods) {
    if (!f.value.IsSequence()) {
      error(f.mark(), f.path, "expected a list of methods such as [GET, HEAD], got " + describe(f.value));
      return;
    }
    if (f.value.size() == 0) {
      error(f.mark(), f.path, "an empty list allows no method; leave 'methods' out to allow every method");
      return;
    }
    std::size_t index = 0;
    for (const YAML::Node& node : f.value) readMethod(node, item(f.path, index++), methods);
  }

  void readMethod(const YAML::Node& node, const std::string& path, std::vector<std::string>& methods) {
    const std::string expected = "one of " + joinNames(kMethods, ", ");
    if (!node.IsScalar()) {
      error(node.Mark(), path, "expected a method, " + expected + ", got " + describe(node));
      return;
    }
    const std::string& method = node.Scalar();
    if (!contains(kMethods, method)) {
      error(node.Mark(), path, "unknown method '" + method + "' (expected " + expected + ")");
      return;
    }
    for (const std::string& seen : methods) {
      if (seen == method) {
        error(node.Mark(), path, "duplicate method '" + method + "'");
        return;
      }
    }
    methods.push_back(method);
  }

  void readPluginName(const Field& f, std::string& name, SourceMark& mark) {
    const char* const expected = "a plugin name (letters, digits, '_' and '-')";
    std::string text;
    mark = toSourceMark(f.mark());
    if (!scalar(f, expected, text)) return;
    if (isPluginName(text)) name = text;
    else error(f.mark(), f.path, "invalid plugin name '" + text + "' (expected letters, digits, '_' and '-')");
  }

  // Accepts the same spellings as ConfigTree::getBool, so a plugin's booleans and the
  // server's read alike.
  bool readBool(const Field& f, bool& out) {
    std::string text;
    if (!scalar(f, "true or false", text)) return false;
    if (text == "true" || text == "yes" || text == "on") out = true;
    else if (text == "false" || text == "no" || text == "off") out = false;
    else {
      error(f.mark(), f.path, "expected true or false, got '" + text + "'");
      return false;
    }
    return true;
  }

  void readServices(const Field& section, std::vector<ServiceConfig>& services) {
    if (section.value.IsNull()) return;
    if (!section.value.IsSequence()) {
      error(section.mark(), section.path, "expected a list of services, got " + describe(section.value));
      return;
    }
    std::size_t index = 0;
    for (const YAML::Node& node : section.value) services.push_back(readService(node, item(section.path, index++)));
  }

  ServiceConfig readService(const YAML::Node& node, const std::string& path) {
    ServiceConfig service;
    service.mark = toSourceMark(node.Mark());
    if (!node.IsMap()) {
      error(node.Mark(), path, "expected a map with keys " + joinNames(kServiceKeys, ", ") + ", got " + describe(node));
      return service;
    }
    const std::vector<Field> fields = fieldsOf(node, path, kServiceKeys);
    for (const Field& f : fields) {
      if (f.key == "plugin") readPluginName(f, service.plugin, service.pluginMark);
      else if (f.key == "listen") readListener(f.value, f.mark(), f.path, kServiceListenKeys, service.listen);
      else service.config = toConfigNode(f);
    }
    if (!find(fields, "plugin")) error(node.Mark(), path, "missing required key 'plugin' (the plugin's name)");
    if (!find(fields, "listen"))
      error(node.Mark(), path, "missing required key 'listen' (HOST:PORT, e.g. 127.0.0.1:9999)");
    return service;
  }

  // Each bound is reported once: a runaway alias would otherwise produce an error per node.
  bool withinConfigBounds(const YAML::Mark& mark, const std::string& path, int depth) {
    if (++nodeCount_ > kMaxConfigNodes) {
      if (!tooManyReported_)
        error(mark, path, "more than " + std::to_string(kMaxConfigNodes) + " values (aliases expanding too far?)");
      tooManyReported_ = true;
      return false;
    }
    if (depth > kMaxConfigDepth) {
      // yaml-cpp builds `&a [*a]` as a cycle; without this bound the walk would never end.
      if (!tooDeepReported_)
        error(mark, path,
              "nested more than " + std::to_string(kMaxConfigDepth) + " levels deep (an alias inside itself?)");
      tooDeepReported_ = true;
      return false;
    }
    return true;
  }

  ConfigTree toConfigNode(const Field& f) { return toConfigNode(f.value, f.mark(), f.path, 0); }

  // Any YAML shape becomes a ConfigTree; the plugin validates it. Map keys still go
  // through fieldsOf() so duplicates are caught here, where the marks are known.
  ConfigTree toConfigNode(const YAML::Node& node, const YAML::Mark& mark, const std::string& path, int depth) {
    ConfigTree out;
    if (!withinConfigBounds(mark, path, depth)) return out;
    if (node.IsScalar()) {
      out = ConfigTree::makeScalar(node.Scalar());
    } else if (node.IsSequence()) {
      out = ConfigTree::makeList();
      std::size_t index = 0;
      for (const YAML::Node& element : node) {
        out.addItem(toConfigNode(element, element.Mark(), item(path, index), depth + 1));
        ++index;
      }
    } else if (node.IsMap()) {
      out = ConfigTree::makeMap();
      for (const Field& f : fieldsOf(node, path, {}, true)) {
        ConfigTree child = toConfigNode(f.value, f.mark(), f.path, depth + 1);
        const SourceMark key = toSourceMark(f.keyNode.Mark());
        child.setKeyPlace(key.line, key.column);
        out.addEntry(f.key, std::move(child));
      }
    }
    const SourceMark at = toSourceMark(mark);
    out.setPlace(file_, at.line, at.column, path);
    return out;
  }

  std::string file_;
  std::string folder_;
  std::vector<std::string> errors_;
  int nodeCount_ = 0;
  bool tooManyReported_ = false;
  bool tooDeepReported_ = false;
};

// yaml-cpp's message for a tab in the indentation ("illegal map value", "end of map not
// found") never mentions the tab, which is invisible in most editors.
std::string tabHint(const std::string& text, const YAML::Mark& mark) {
  if (mark.line < 0) return {};
  std::size_t start = 0;
  for (int line = 0; line < mark.line && start != std::string::npos; ++line) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos) return {};
  const std::size_t indentEnd = text.find_first_not_of(" \t", start);
  const std::string_view indent = std::string_view(text).substr(start, indentEnd - start);
  return indent.find('\t') == std::string_view::npos ? "" : " (this line is indented with a tab; YAML needs spaces)";
}

// Where each YAML document of a stream starts (its first token) and where its root node is;
// the rest of the events are ignored.
class DocumentMarks : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts, roots;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { root(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { root(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { root(mark); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    root(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    root(mark);
  }
  void OnMapEnd() override {}

 private:
  void root(const YAML::Mark& mark) {
    if (roots.size() < starts.size()) roots.push_back(mark);
  }
};

// Parses the text; a YAML syntax error becomes the only error, since nothing after it can
// be trusted.
//
// Not YAML::LoadAll: in yaml-cpp 0.7 it loops forever on some invalid input ("," alone),
// appending an empty document per turn until memory runs out (jbeder/yaml-cpp#1040, fixed
// upstream after 0.8 by PR #1319). Only two documents matter here (the second only to refuse
// it), so the stream's first two document starts are found with a bounded walk, and the
// first document is built by YAML::Load, which parses one document and stops.
Config loadFromText(const std::string& text, const std::string& fileName, const std::string& folder) {
  Config config;
  config.file = fileName;
  config.folder = absoluteFolder(folder);
  Reader reader(fileName, config.folder);
  try {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentMarks marks;
    for (int i = 0; i < 2 && parser.HandleNextDocument(marks); ++i) {
    }
    const YAML::Node first = YAML::Load(text);
    if (marks.starts.size() > 1 && marks.starts[1].pos == marks.starts[0].pos) {
      // The parser made no progress: a token no document can start with.
      reader.error(marks.starts[0], "", "invalid YAML: unexpected '" + text.substr(marks.starts[0].pos, 1) + "'");
    } else if (first.IsNull()) {
      reader.error(YAML::Mark(), "",
                   "the file is empty (expected a map with keys " + joinNames(kTopKeys, ", ") + " at the top level)");
    } else if (marks.starts.size() > 1) {
      reader.error(marks.roots.size() > 1 ? marks.roots[1] : marks.starts[1], "",
                   "a second YAML document; the file must hold exactly one");
    } else {
      reader.readDocument(first, config);
    }
  } catch (const YAML::Exception& e) {
    reader.error(e.mark, "", "invalid YAML: " + e.msg + tabHint(text, e.mark));
  }
  if (!reader.errors().empty()) throw ConfigLoadError(reader.errors());
  return config;
}

// read(2) rather than an ifstream so a failure has an errno to report (EACCES, EISDIR...).
bool readWholeFile(const std::string& path, std::string& text, int& err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err = errno, false;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      err = n == 0 ? 0 : errno;
      ::close(fd);
      return n == 0;
    }
  }
}

}  // namespace

ConfigLoadError::ConfigLoadError(std::vector<std::string> errors)
    : std::runtime_error(joinLines(errors)), errors_(std::move(errors)) {}

Config loadConfigFile(const std::string& path) {
  std::string text;
  int err = 0;
  if (!readWholeFile(path, text, err)) throw ConfigLoadError({path + ": cannot read: " + std::strerror(err)});
  const std::string folder = std::filesystem::path(path).parent_path().string();
  return loadFromText(text, path, folder);
}

Config loadConfigText(const std::string& text, const std::string& fileName, const std::string& folder) {
  return loadFromText(text, fileName, folder);
}

ListenConfig defaultListen() {
  ListenConfig listener;
  listener.port = 8080;
  listener.path = "server.listen";
  return listener;
}

std::string ListenConfig::address() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool parseListenAddress(const std::string& text, std::string& host, std::uint16_t& port, std::string& why) {
  if (text.empty()) return fail(why, "empty address");
  std::string hostText;
  std::string_view rest;
  const bool bracketed = text[0] == '[';
  if (bracketed) {
    const std::size_t close = text.find(']');
    if (close == std::string::npos) return fail(why, "missing ']' after the IPv6 address");
    if (text.compare(close + 1, 1, ":") != 0) return fail(why, "expected ':PORT' after ']'");
    hostText = text.substr(1, close - 1);
    rest = std::string_view(text).substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) return fail(why, "missing ':PORT'");
    hostText = text.substr(0, colon);
    if (hostText.find(':') != std::string::npos)
      return fail(why, "an IPv6 address must be in brackets, as in \"[::1]:8080\"");
    rest = std::string_view(text).substr(colon + 1);
  }
  std::uint16_t parsedPort = 0;
  std::string parsedHost;
  if (!parsePort(rest, parsedPort, why) || !normaliseHost(hostText, bracketed, parsedHost, why)) return false;
  host = std::move(parsedHost);
  port = parsedPort;
  return true;
}

// Grammar: DIGITS [ "." DIGITS ] [ "ms" | "s" | "m" | "h" ]. No sign, no spaces, no
// compound "1m30s". Fractions are accepted when they come out as whole milliseconds
// ("1.5s", "0.25s", "1.5m"), refused otherwise ("0.5ms", "1.0001s").
bool parseDuration(const std::string& text, Duration& out) {
  const std::string_view s = text;
  const std::size_t wholeDigits = countDigits(s, 0);
  std::size_t end = wholeDigits;
  std::string_view fraction;
  if (end < s.size() && s[end] == '.') {
    fraction = s.substr(end + 1, countDigits(s, end + 1));
    if (fraction.empty()) return false;  // "1." and "1.s" are typos, not 1 second
    end += 1 + fraction.size();
  }
  const std::uint64_t unitMs = durationUnitMs(s.substr(end));
  std::uint64_t whole = 0;
  if (wholeDigits == 0 || unitMs == 0 || !parseDigits(s.substr(0, wholeDigits), kMaxDurationMs, whole)) return false;
  if (whole > kMaxDurationMs / unitMs) return false;
  std::uint64_t ms = whole * unitMs;
  if (!addFraction(fraction, unitMs, ms)) return false;
  out = Duration(static_cast<Duration::rep>(ms));
  return true;
}

bool parseSize(const std::string& text, std::size_t& out) {
  const std::string_view s = text;
  const std::size_t digits = countDigits(s, 0);
  const std::uint64_t unit = sizeUnitBytes(s.substr(digits));
  constexpr std::uint64_t kMax = std::numeric_limits<std::size_t>::max();
  std::uint64_t n = 0;
  if (digits == 0 || unit == 0 || !parseDigits(s.substr(0, digits), kMax, n) || n > kMax / unit) return false;
  out = static_cast<std::size_t>(n * unit);
  return true;
}

}  // namespace microserver::core
