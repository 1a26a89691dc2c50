// AccessLog: one line per request in the Combined Log Format, as nginx and Apache write it
//   127.0.0.1 - - [26/Nov/2026:14:03:07 +0000] "GET / HTTP/1.1" 200 1234 "-" "curl/7.88.1"
// so existing log tools read it.
//
// Lines collect in a per-thread buffer and are written when it passes 16 KiB or when the
// reactor ticks (every ~100 ms), so a busy server makes one write(2) per many requests, not
// one per request. When the log is a terminal each line is written at once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

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
};

class AccessLog {
 public:
  // "-" = stdout, "off" = no log (returns nullptr), anything else = a file opened for
  // appending. Throws std::runtime_error naming the file if it cannot be opened.
  static std::unique_ptr<AccessLog> open(const std::string& destination);
  ~AccessLog();

  void record(const AccessRecord& entry);
  // Writes this thread's buffered lines. Reactors call it on every tick and at exit.
  void flushThisThread();

 private:
  AccessLog(int fd, bool ownsFd);
  void writeOut(std::string& buffer);

  int fd_;
  bool ownsFd_;
  bool immediate_;
  std::mutex writeMutex_;  // whole buffers from different threads must not interleave
};

// Appends `text` to `out` with quotes, backslashes and control bytes escaped (\x07), so
// a client cannot forge log lines.
void appendLogEscaped(std::string& out, std::string_view text);

}  // namespace microserver::core
