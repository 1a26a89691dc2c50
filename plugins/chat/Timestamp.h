// Timestamp: the time at the front of every chat line, `2026-11-26 14:03:07.512` (local
// time, milliseconds). One place formats it, so the TCP lines, the WebSocket messages, the
// history's "time" and the members' "joined" all read the same and sort as text.
#pragma once

#include <chrono>
#include <string>

namespace chat {

constexpr std::size_t kTimestampLength = 23;  // "YYYY-MM-DD HH:MM:SS.mmm"

// Appends `when` as local time, YYYY-MM-DD HH:MM:SS.mmm. Thread-safe.
void appendTimestamp(std::string& out, std::chrono::system_clock::time_point when);
// The current time, formatted as above.
std::string timestamp();

}  // namespace chat
