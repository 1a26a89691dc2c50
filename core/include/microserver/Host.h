// Host: the C++ SDK's link to the server: the server's function table (ms_host_api) and
// this loaded copy of the plugin (ms_library), kept by the plugin's entry point, plus the
// small conversions every wrapper uses. Plugin authors never need this header directly.
//
// Each loaded copy of a plugin library has its own binding (the library is loaded with
// RTLD_LOCAL and built with hidden visibility), so two generations of a plugin never mix.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "microserver/microserver.h"

namespace microserver {
namespace detail {

struct HostBinding {
  const ms_host_api* api = nullptr;
  ms_library* library = nullptr;
};
// Set by the entry point (MICROSERVER_PLUGIN), or by a test that drives plugin code in
// its own process.
inline HostBinding hostBinding;

inline const ms_host_api& host() {
  if (!hostBinding.api) throw std::logic_error("microserver SDK used before the plugin was loaded by a server");
  return *hostBinding.api;
}
inline ms_library* library() { return hostBinding.library; }

inline std::string_view view(ms_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }
inline ms_str str(std::string_view s) { return ms_str{s.data(), s.size()}; }

// Turns a refusal from the server into an exception in the plugin's own code (it never
// crosses back: the SDK's entry points catch it).
inline void check(int result, const char* what) {
  if (result == MS_EINVAL) throw std::invalid_argument(what);
  if (result == MS_ESTATE) throw std::logic_error(what);
}

}  // namespace detail
}  // namespace microserver
