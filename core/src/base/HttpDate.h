// HttpDate: IMF-fixdate formatting ("Sun, 06 Nov 1994 08:49:37 GMT") and parsing, plus a
// per-thread cache of the current Date header value, refreshed at most once a second,
// so building a response costs one time() call and a 29-byte copy, not a strftime.
#pragma once

#include <ctime>
#include <string_view>

namespace microserver::core {

// Writes exactly 29 characters to out (no terminating NUL).
void formatHttpDate(std::time_t t, char out[29]);

// The current date, formatted; valid until this thread calls it again.
std::string_view currentHttpDate();

// Parses IMF-fixdate, RFC 850 and asctime() forms (RFC 9110 5.6.7). False if invalid.
bool parseHttpDate(std::string_view text, std::time_t& out);

// Common Log Format time, "[10/Oct/2000:13:55:36 +0000]", cached per second and thread.
std::string_view currentLogTime();

// ISO 8601 local time with its offset, "2000-10-10T13:55:36+00:00" (nginx's $time_iso8601),
// cached per second and thread.
std::string_view currentIsoTime();

}  // namespace microserver::core
