// Log: see Log.h.
#include "base/Log.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace microserver::core::log {

namespace {
std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::mutex gWriteMutex;

const char* levelName(Level l) {
  switch (l) {
    case Level::Error: return "error";
    case Level::Warning: return "warning";
    case Level::Info: return "info";
    case Level::Debug: return "debug";
  }
  return "?";
}
}  // namespace

void setLevel(Level l) { gLevel.store(static_cast<int>(l), std::memory_order_relaxed); }
Level level() { return static_cast<Level>(gLevel.load(std::memory_order_relaxed)); }

bool parseLevel(std::string_view text, Level& out) {
  for (Level l : {Level::Error, Level::Warning, Level::Info, Level::Debug}) {
    if (text == levelName(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

std::string timestampNow() {
  struct timeval tv {};
  ::gettimeofday(&tv, nullptr);
  struct tm local {};
  ::localtime_r(&tv.tv_sec, &local);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  std::snprintf(buf + n, sizeof buf - n, ".%03d", static_cast<int>(tv.tv_usec / 1000));
  return buf;
}

void write(Level l, std::string_view message) {
  if (!enabled(l)) return;
  std::string line = timestampNow();
  line += " [";
  line += levelName(l);
  line += "] ";
  line.append(message.data(), message.size());
  line += '\n';
  std::lock_guard<std::mutex> lock(gWriteMutex);
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;  // stderr gone: nothing sensible left to do
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace microserver::core::log
