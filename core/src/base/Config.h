// Config: routes.yaml read strictly into typed structs.
//
// A typo must never silently change behaviour, so unknown keys, duplicate keys, wrong
// types and invalid regular expressions are errors, each naming file:line:col and the key
// path: `routes.yaml:14:14: routes[2].methods[0]: unknown method 'GTE' (expected GET, ...)`.
// Loading collects every error it can find before it gives up, like a compiler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/ConfigTree.h"
#include "base/IpRange.h"

namespace microserver::core {

using Duration = std::chrono::milliseconds;

// Where a value was written: 1-based line and column, as editors count.
struct SourceMark {
  int line = 0;
  int column = 0;
};

struct Limits {
  std::size_t headerBytes = 16 * 1024;   // request line + headers (431 beyond)
  std::size_t uriBytes = 8 * 1024;       // request-target (414 beyond)
  std::size_t headerCount = 100;         // header lines (431 beyond)
  std::size_t bodyBytes = 1024 * 1024;   // request body (413 beyond); a route may say otherwise
  Duration headerTimeout{10'000};        // to receive a complete header block (slowloris)
  Duration bodyTimeout{60'000};          // to receive a complete body once headers are in
  Duration idleTimeout{60'000};          // keep-alive connection with nothing in flight
  Duration sendTimeout{60'000};          // a peer that stops reading our response
  Duration shutdownDelay{0};             // SIGTERM: time to go on serving, not ready, before stopping
  Duration shutdownGrace{10'000};        // SIGTERM: time in-flight requests get to finish
  std::size_t maxConnections = 16'384;   // open client connections (HTTP and services): a 10,000-member chat room and more
  Duration handlerTimeout{30'000};       // a handler's answer, blocking or given later (504 beyond)
  std::size_t workerQueue = 1024;        // blocking requests waiting for a worker (503 beyond)
};

// One certificate (PEM: the certificate, then its chain) and its private key (PEM).
struct TlsCertificateConfig {
  std::string certificate;               // absolute after loading
  std::string key;                       // absolute after loading
  SourceMark certificateMark;            // where each value is written
  SourceMark keyMark;
  std::string path;                      // the key path of the map holding both ("server.listen[1].tls")
};

// A TLS listener's settings (TLS 1.2 and 1.3 only, no renegotiation: not configurable).
struct TlsConfig {
  // The first is the default (a client that sends no SNI, or a name no certificate has);
  // the others are chosen by the name the client asks for (SNI).
  std::vector<TlsCertificateConfig> certificates;
  SourceMark mark;
};

// One listening socket: `server.listen` (a list of them) or a service's `listen`.
struct ListenConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::optional<TlsConfig> tls;          // set: connections speak TLS
  // A plain listener may answer every request with 301 to https: to this port of the
  // request's host (redirectPort), or to this URL followed by the request target.
  std::uint16_t redirectPort = 0;
  std::string redirectUrl;
  std::optional<Duration> hsts;          // a TLS listener's Strict-Transport-Security max-age
  // Every connection starts with a PROXY protocol header (v1 or v2) naming the real
  // client, before TLS if any: for a listener that only a balancer can reach.
  bool proxyProtocol = false;
  SourceMark mark;
  std::string path;                      // "server.listen[1]", for messages
  bool secure() const { return tls.has_value(); }
  // "127.0.0.1:8080", "[::1]:8443"
  std::string address() const;
};

ListenConfig defaultListen();
// server.listen holds at most this many listeners.
constexpr std::size_t kMaxListeners = 64;

// server.access_log_format: nginx's and Apache's Combined Log Format, or one JSON object
// per line (see base/AccessLog.h for the fields).
enum class AccessLogFormat { Combined, Json };

struct ServerConfig {
  // At least one; the first is the one `--listen` replaces and the ready line names.
  std::vector<ListenConfig> listen{defaultListen()};
  unsigned reactors = 0;                 // 0 = auto: one per core
  unsigned workers = 8;                  // threads for `blocking: true` routes
  unsigned fileThreads = 4;              // threads that open and read files off the event loop
  std::size_t fileCacheFiles = 1000;     // open-file cache, per static route: files (descriptors)
  std::size_t fileCacheBytes = 64 << 20; // and bytes kept in memory (small files, compressed copies)
  std::string www = "www";               // absolute after loading (resolved against the file's folder)
  std::string plugins;                   // empty = `plugins/` beside the binary; absolute otherwise
  std::string accessLog = "-";           // "-" = stdout, "off", or a file path (absolute after loading)
  AccessLogFormat accessLogFormat = AccessLogFormat::Combined;
  // The header that carries a request's id (see base/RequestId.h): taken from a trusted
  // proxy, else made, and echoed in the answer. Empty (`off`): no ids.
  std::string requestIdHeader = "X-Request-Id";
  std::string logLevel = "info";         // error, warning, info, debug
  std::string user;                      // once listening, switch from root to this user; empty = stay
  std::string healthPath = "/healthz";   // built-in endpoints; "off" disables one
  std::string readyPath = "/readyz";
  std::string metricsPath = "/metrics";
  // Peers (after the PROXY protocol) whose X-Forwarded-For, X-Forwarded-Proto and
  // Forwarded headers are believed; empty: nobody's.
  std::vector<IpRange> trustedProxies;
  Limits limits;
  SourceMark mark;
};

struct RouteConfig {
  std::string path;                      // RE2 pattern matched against the decoded path
  std::vector<std::string> methods;      // empty = any method
  std::vector<std::string> hosts;        // empty = any host (see site/Router.h for the forms)
  std::string handler;                   // plugin name; exactly one of handler / staticDir
  std::string staticDir;                 // absolute after loading
  bool blocking = false;                 // run the handler on the worker pool
  bool streamBody = false;               // `body: stream`: the handler reads the body piece by piece
  std::optional<std::size_t> bodyBytes;  // this route's body limit (else limits.body_bytes)
  std::optional<Duration> timeout;       // this route's answer deadline (else limits.handler_timeout)
  std::optional<bool> compress;          // gzip/brotli answers (default: on for static, off for handlers)
  bool precompressed = true;             // static: send file.br / file.gz beside a file when accepted
  bool listing = false;                  // static: list a folder that has no index file
  std::optional<Duration> cacheMaxAge;   // static: Cache-Control max-age
  bool cacheImmutable = false;           // static: Cache-Control immutable
  ConfigTree config;                     // the plugin's own `config:` node (Null if absent)
  SourceMark mark;                       // where the route's map starts
  SourceMark pathMark;                   // where its `path:` value is
  SourceMark handlerMark;                // where its `handler:` value is
};

struct ServiceConfig {
  std::string plugin;
  ListenConfig listen;                   // a service's listener: address, optional tls and proxy_protocol only
  ConfigTree config;
  SourceMark mark;
  SourceMark pluginMark;
};

struct Config {
  std::string file;                      // the path it was loaded from, as given
  std::string folder;                    // its absolute folder, for resolving relative paths
  ServerConfig server;
  std::vector<RouteConfig> routes;
  std::vector<ServiceConfig> services;
};

// Every error found, one per line, each starting with file:line:col.
class ConfigLoadError : public std::runtime_error {
 public:
  explicit ConfigLoadError(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// Reads and validates a file. Throws ConfigLoadError listing every problem found.
Config loadConfigFile(const std::string& path);
// Same, from text in memory; `fileName` is used in messages and `folder` to resolve paths.
Config loadConfigText(const std::string& text, const std::string& fileName, const std::string& folder);

// "127.0.0.1:8080", "[::1]:8080", "localhost:0", ":8080" (all interfaces) -> host, port.
// Returns false with a reason when the text is not a valid HOST:PORT.
bool parseListenAddress(const std::string& text, std::string& host, std::uint16_t& port, std::string& why);

// "10s", "250ms", "2m", "1h", or a bare number of seconds -> milliseconds.
bool parseDuration(const std::string& text, Duration& out);
// "16384", "16k", "16KiB", "1m", "1MiB", "1g" -> bytes.
bool parseSize(const std::string& text, std::size_t& out);

}  // namespace microserver::core
