// HttpDate: see HttpDate.h.
#include "HttpDate.h"

#include <cstdio>
#include <cstring>

namespace microserver::core {

namespace {
const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int monthIndex(const char* m) {
  for (int i = 0; i < 12; ++i)
    if (std::strncmp(m, kMonths[i], 3) == 0) return i;
  return -1;
}

bool fromParts(int day, const char* month, int year, int h, int m, int s, std::time_t& out) {
  int mon = monthIndex(month);
  if (mon < 0 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60 || year < 1900) return false;
  struct tm t {};
  t.tm_mday = day;
  t.tm_mon = mon;
  t.tm_year = year - 1900;
  t.tm_hour = h;
  t.tm_min = m;
  t.tm_sec = s;
  out = ::timegm(&t);
  return out != static_cast<std::time_t>(-1);
}
}  // namespace

void formatHttpDate(std::time_t t, char out[29]) {
  struct tm g {};
  ::gmtime_r(&t, &g);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[g.tm_wday], g.tm_mday,
                kMonths[g.tm_mon], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
  std::memcpy(out, buf, 29);
}

std::string_view currentHttpDate() {
  thread_local std::time_t cachedSecond = 0;
  thread_local char cached[29];
  std::time_t now = std::time(nullptr);
  if (now != cachedSecond) {
    formatHttpDate(now, cached);
    cachedSecond = now;
  }
  return std::string_view(cached, 29);
}

std::string_view currentLogTime() {
  thread_local std::time_t cachedSecond = 0;
  thread_local char cached[40];
  thread_local std::size_t cachedLen = 0;
  std::time_t now = std::time(nullptr);
  if (now != cachedSecond) {
    struct tm local {};
    ::localtime_r(&now, &local);
    cachedLen = std::strftime(cached, sizeof cached, "[%d/%b/%Y:%H:%M:%S %z]", &local);
    cachedSecond = now;
  }
  return std::string_view(cached, cachedLen);
}

bool parseHttpDate(std::string_view text, std::time_t& out) {
  char buf[64];
  if (text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  char wday[16], month[4];
  int day, year, h, m, s, consumed = 0;
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  if (std::sscanf(buf, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wday, &day, month, &year, &h, &m, &s,
                  &consumed) == 7 &&
      buf[consumed] == '\0')
    return fromParts(day, month, year, h, m, s, out);
  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: RFC 9110 says read them as
  // the most recent past year with those digits; 70-99 -> 19xx is close enough for caches)
  if (std::sscanf(buf, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wday, &day, month, &year, &h, &m, &s,
                  &consumed) == 7 &&
      buf[consumed] == '\0')
    return fromParts(day, month, year + (year < 70 ? 2000 : 1900), h, m, s, out);
  // asctime: Sun Nov  6 08:49:37 1994
  if (std::sscanf(buf, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wday, month, &day, &h, &m, &s, &year,
                  &consumed) == 7 &&
      buf[consumed] == '\0')
    return fromParts(day, month, year, h, m, s, out);
  return false;
}

}  // namespace microserver::core
