// Logger: how a plugin writes to the server's error log. Lines carry the plugin's name,
// e.g. `2026-11-26 14:03:07.512 [warning] plugin kv: store is 90% full`.
// Thread-safe; cheap to call. Say what happened and what the operator should do.
//
// PluginContext::logger is the server's; tests may hand plugin code a Logger of their own.
#pragma once

#include <string_view>

#include "microserver/Host.h"

namespace microserver {

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void error(std::string_view message) const = 0;
  virtual void warning(std::string_view message) const = 0;
  virtual void info(std::string_view message) const = 0;
  virtual void debug(std::string_view message) const = 0;
};

namespace detail {
// The server's log, for this copy of the plugin.
class HostLogger final : public Logger {
 public:
  void error(std::string_view m) const override { write(MS_LOG_ERROR, m); }
  void warning(std::string_view m) const override { write(MS_LOG_WARNING, m); }
  void info(std::string_view m) const override { write(MS_LOG_INFO, m); }
  void debug(std::string_view m) const override { write(MS_LOG_DEBUG, m); }

 private:
  static void write(int level, std::string_view m) { host().log(library(), level, m.data(), m.size()); }
};
inline const Logger& hostLogger() {
  static const HostLogger logger;
  return logger;
}
}  // namespace detail

}  // namespace microserver
