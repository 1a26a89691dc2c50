// Timestamp: see Timestamp.h.
#include "Timestamp.h"

#include <ctime>

namespace chat {

void appendTimestamp(std::string& out, std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const auto sinceEpoch = duration_cast<milliseconds>(when.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(sinceEpoch / 1000);
  int millis = static_cast<int>(sinceEpoch % 1000);
  if (millis < 0) {  // before 1970: keep the milliseconds positive
    millis += 1000;
    --seconds;
  }
  // localtime_r takes glibc's time-zone lock, and a busy room stamps thousands of lines a
  // second that share their second: keep the last one per thread.
  thread_local std::time_t cachedSecond = -1;
  thread_local char cached[20];  // "YYYY-MM-DD HH:MM:SS" + NUL
  if (seconds != cachedSecond) {
    std::tm local{};
    localtime_r(&seconds, &local);
    std::strftime(cached, sizeof cached, "%Y-%m-%d %H:%M:%S", &local);
    cachedSecond = seconds;
  }
  out.append(cached, 19);
  const char ms[4] = {'.', static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                      static_cast<char>('0' + millis % 10)};
  out.append(ms, 4);
}

std::string timestamp() {
  std::string out;
  out.reserve(kTimestampLength);
  appendTimestamp(out, std::chrono::system_clock::now());
  return out;
}

}  // namespace chat
