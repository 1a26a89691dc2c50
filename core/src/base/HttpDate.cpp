// HttpDate: see HttpDate.h.
#include "base/HttpDate.h"

#include <cstdio>
#include <cstring>
#include <string_view>

namespace microserver::core {

namespace {
const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

const char* const kLongDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
// Formatting below is by hand, never strftime's %a/%b: those follow the locale, and HTTP
// dates must be English whatever the server's LANG says.

// Reads the fixed-width pieces of an HTTP date, consuming as it goes.
class DateCursor {
 public:
  explicit DateCursor(std::string_view text) : rest_(text) {}

  bool literal(std::string_view expected) {
    if (rest_.substr(0, expected.size()) != expected) return false;
    rest_.remove_prefix(expected.size());
    return true;
  }
  bool digits(std::size_t count, int& value) {
    if (rest_.size() < count) return false;
    value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      char c = rest_[i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    rest_.remove_prefix(count);
    return true;
  }
  // One of `names`; HTTP day and month names are case-sensitive.
  template <std::size_t N>
  bool name(const char* const (&names)[N], int& index) {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  bool clock(std::tm& t) {
    return digits(2, t.tm_hour) && literal(":") && digits(2, t.tm_min) && literal(":") && digits(2, t.tm_sec);
  }
  bool atEnd() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool parseImfFixdate(std::string_view text, std::tm& t) {
  DateCursor c(text);
  int weekday = 0;
  return c.name(kDays, weekday) && c.literal(", ") && c.digits(2, t.tm_mday) && c.literal(" ") &&
         c.name(kMonths, t.tm_mon) && c.literal(" ") && c.digits(4, t.tm_year) && c.literal(" ") &&
         c.clock(t) && c.literal(" GMT") && c.atEnd();
}

// "Sunday, 06-Nov-94 08:49:37 GMT" (obsolete, but RFC 9110 says recipients must accept it)
bool parseRfc850Date(std::string_view text, std::tm& t) {
  DateCursor c(text);
  int weekday = 0;
  if (!(c.name(kLongDays, weekday) && c.literal(", ") && c.digits(2, t.tm_mday) && c.literal("-") &&
        c.name(kMonths, t.tm_mon) && c.literal("-") && c.digits(2, t.tm_year) && c.literal(" ") &&
        c.clock(t) && c.literal(" GMT") && c.atEnd()))
    return false;
  // Two-digit years: a fixed pivot is enough for dates that only ever compare with mtimes.
  t.tm_year += t.tm_year < 70 ? 2000 : 1900;
  return true;
}

// "Sun Nov  6 08:49:37 1994" (C's asctime; the day is space-padded)
bool parseAsctimeDate(std::string_view text, std::tm& t) {
  DateCursor c(text);
  int weekday = 0;
  if (!(c.name(kDays, weekday) && c.literal(" ") && c.name(kMonths, t.tm_mon) && c.literal(" ")))
    return false;
  bool day = c.literal(" ") ? c.digits(1, t.tm_mday) : c.digits(2, t.tm_mday);
  return day && c.literal(" ") && c.clock(t) && c.literal(" ") && c.digits(4, t.tm_year) && c.atEnd();
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

namespace {
// The local time formatted with strftime, once per second and thread.
struct CachedLocalTime {
  std::time_t second = 0;
  char text[40] = {};
  std::size_t length = 0;

  // True if the second changed and `text` was formatted again.
  bool refresh(const char* format) {
    std::time_t now = std::time(nullptr);
    if (now == second) return false;
    struct tm local {};
    ::localtime_r(&now, &local);
    length = std::strftime(text, sizeof text, format, &local);
    second = now;
    return true;
  }
  std::string_view view() const { return std::string_view(text, length); }
};
}  // namespace

std::string_view currentLogTime() {
  thread_local CachedLocalTime cache;
  cache.refresh("[%d/%b/%Y:%H:%M:%S %z]");
  return cache.view();
}

std::string_view currentIsoTime() {
  thread_local CachedLocalTime cache;
  // strftime's %z is "+0000"; ISO 8601's extended form (and nginx) write "+00:00".
  if (cache.refresh("%Y-%m-%dT%H:%M:%S%z") && cache.length == 24) {
    char* zone = cache.text + 22;  // the offset's minutes
    zone[3] = '\0';
    zone[2] = zone[1];
    zone[1] = zone[0];
    zone[0] = ':';
    cache.length = 25;
  }
  return cache.view();
}

// Returns false for anything that is not a valid HTTP date; callers then ignore the header,
// as RFC 9110 13.1.3 requires.
bool parseHttpDate(std::string_view text, std::time_t& out) {
  std::tm t{};
  bool parsed = parseImfFixdate(text, t);
  if (!parsed) parsed = parseRfc850Date(text, t = std::tm{});
  if (!parsed) parsed = parseAsctimeDate(text, t = std::tm{});
  if (!parsed) return false;
  int day = t.tm_mday, month = t.tm_mon;
  if (day < 1 || t.tm_hour > 23 || t.tm_min > 59 || t.tm_sec > 60) return false;
  if (t.tm_sec == 60) t.tm_sec = 59;  // a leap second still names the same second for us
  t.tm_year -= 1900;
  out = ::timegm(&t);
  // timegm quietly rolls "31 Feb" into March; a date that does not survive is invalid.
  return t.tm_mday == day && t.tm_mon == month;
}

}  // namespace microserver::core
