// Log: the server's error log, for people. Each line says what happened and what to do.
//
// Lines go to stderr as `2026-11-26 14:03:07.512 [warning] <message>`. Writing takes a
// mutex and one write(2) per line: fine for errors and events, never used per request
// (the access log has its own buffered path).
#pragma once

#include <string>
#include <string_view>

namespace microserver::core::log {

enum class Level { Error = 0, Warning = 1, Info = 2, Debug = 3 };

void setLevel(Level level);
Level level();
inline bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(level()); }
// "error", "warning", "info", "debug" -> Level; false if unknown.
bool parseLevel(std::string_view text, Level& out);

void write(Level level, std::string_view message);

inline void error(std::string_view m) { write(Level::Error, m); }
inline void warning(std::string_view m) { write(Level::Warning, m); }
inline void info(std::string_view m) { write(Level::Info, m); }
inline void debug(std::string_view m) {
  if (enabled(Level::Debug)) write(Level::Debug, m);
}

// Local time with milliseconds: "2026-11-26 14:03:07.512".
std::string timestampNow();

}  // namespace microserver::core::log
