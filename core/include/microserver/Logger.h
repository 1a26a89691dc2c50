// Logger: how a plugin writes to the server's error log. Lines carry the plugin's name,
// e.g. `2026-11-26 14:03:07.512 [warning] plugin kv: store is 90% full`.
// Thread-safe; cheap to call. Say what happened and what the operator should do.
#pragma once

#include <string_view>

namespace microserver {

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void error(std::string_view message) const = 0;
  virtual void warning(std::string_view message) const = 0;
  virtual void info(std::string_view message) const = 0;
  virtual void debug(std::string_view message) const = 0;
};

}  // namespace microserver
