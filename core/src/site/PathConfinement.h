// PathConfinement: the string-level fence in front of every static file (see the .cpp).
#pragma once

#include <string>
#include <string_view>

namespace microserver::core {

// Normalises a decoded path into a relative path under a root: collapses "//" and "./",
// resolves ".." (never above the root), and refuses NUL and backslash. On success `out`
// holds segments joined by '/', without a leading '/', possibly empty (the root itself).
// Returns false if the path must be refused.
bool normalizeConfinedPath(std::string_view decodedPath, std::string& out);

}  // namespace microserver::core
