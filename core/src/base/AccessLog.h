// AccessLog: one line per request in the Combined Log Format, as nginx and Apache write it
//   127.0.0.1 - - [26/Nov/2026:14:03:07 +0000] "GET / HTTP/1.1" 200 1234 "-" "curl/7.88.1"
// so existing log tools read it; or (server.access_log_format: json) one JSON object per
// line, for log shippers (Vector, Fluent Bit, Loki, jq):
//   {"time":"2026-11-26T14:03:07+00:00","remote_addr":"127.0.0.1","request_id":"9f0c...",
//    "method":"GET","target":"/","protocol":"HTTP/1.1","status":200,"body_bytes":1234,
//    "request_time":0.000153,"route":"^/","plugin":null,"referer":null,"user_agent":"curl/7.88.1"}
// request_time is in seconds, from the request being read to its answer being handed to
// the connection (the end of a streamed answer); route is the matched route's path
// pattern (null: no route, "(builtin)": /healthz, /readyz, /metrics, redirects), plugin
// the route's handler (null: static files). Strings are escaped so that every line is
// valid JSON whatever a client sent (bytes that are not UTF-8 become U+FFFD).
//
// Reactor threads never write(2) the log themselves: a stalled reader (a pipe into a
// paused `less`, a stuck log shipper) would freeze every connection. Lines collect in a
// per-thread buffer, which is handed to a writer thread when it passes 16 KiB or when
// the reactor ticks (every ~100 ms). If the writer falls more than 8 MiB behind, lines
// are dropped and counted, and the count is reported in the error log.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "base/Config.h"

namespace microserver::core {

struct AccessRecord {
  std::string_view remoteIp;
  std::string_view method;
  std::string_view target;
  int versionMinor = 1;
  int status = 0;
  std::uint64_t bodyBytes = 0;
  std::string_view referer;
  std::string_view userAgent;
  bool http2 = false;  // carried by HTTP/2 (versionMinor is then 1)
  std::string_view requestId;   // empty: ids are off
  std::string_view route;       // the route's pattern; empty: none
  std::string_view plugin;      // the route's handler; empty: none
  std::uint64_t durationNs = 0;
};

class AccessLog {
 public:
  // "-" = stdout, "off" = no log (returns nullptr), anything else = a file opened for
  // appending. Throws std::runtime_error naming the file if it cannot be opened.
  static std::unique_ptr<AccessLog> open(const std::string& destination,
                                         AccessLogFormat format = AccessLogFormat::Combined);
  ~AccessLog();  // writes out everything handed over, then stops the writer

  void record(const AccessRecord& entry);
  // Opens the file again by its name (SIGUSR1, after logrotate renamed it): lines from now
  // on go to the new file; none is lost or split. Nothing to do for stdout. Throws
  // std::runtime_error naming the file if it cannot be opened (the old one stays in use).
  void reopen();
  // Hands this thread's buffered lines to the writer. Reactors call it on every tick
  // and at exit.
  void flushThisThread();

 private:
  AccessLog(int fd, bool ownsFd, std::string destination, AccessLogFormat format);
  static void appendCombined(std::string& out, const AccessRecord& entry);
  static void appendJson(std::string& out, const AccessRecord& entry);
  void handOver(std::string& buffer);
  void writerLoop();
  void writeAll(const std::string& bytes);

  int fd_;
  bool ownsFd_;
  std::string destination_;  // the file's name; empty for stdout
  bool immediate_;  // a terminal: every line at once
  AccessLogFormat format_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> pending_;
  std::size_t pendingBytes_ = 0;
  std::uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

// Appends `text` to `out` with quotes, backslashes and control bytes escaped (\x07), so
// a client cannot forge log lines.
void appendLogEscaped(std::string& out, std::string_view text);

}  // namespace microserver::core
