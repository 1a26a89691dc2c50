// PathConfinement: turns a decoded request path into a path relative to a served root.
//
// This is the first of two fences (the second is the kernel's RESOLVE_BENEATH when the file
// is opened): it works on the string alone, so it can refuse what no file system lookup
// should ever see. It never decodes: the caller decoded once, and decoding again would turn a
// file literally named "%2e%2e" into "..", the classic double-decoding escape.
#include <string>
#include <string_view>

#include "site/PathConfinement.h"

namespace microserver::core {

namespace {

// Drops the last segment of `out` (and the '/' before it). Returns false if there is none,
// that is, if ".." would climb above the root.
bool popSegment(std::string& out) {
  if (out.empty()) return false;
  std::size_t slash = out.rfind('/');
  out.resize(slash == std::string::npos ? 0 : slash);
  return true;
}

}  // namespace

bool normalizeConfinedPath(std::string_view decodedPath, std::string& out) {
  out.clear();
  // NUL would truncate the path in the syscall; a backslash is a separator on Windows
  // shares and in some proxies, so "..\\" could mean something different elsewhere.
  // Refusing both outright is simpler than reasoning about every interpretation.
  if (decodedPath.find('\0') != std::string_view::npos ||
      decodedPath.find('\\') != std::string_view::npos)
    return false;

  std::size_t pos = 0;
  while (pos <= decodedPath.size()) {
    std::size_t slash = decodedPath.find('/', pos);
    if (slash == std::string_view::npos) slash = decodedPath.size();
    std::string_view segment = decodedPath.substr(pos, slash - pos);
    pos = slash + 1;

    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      // Clamping at the root (as browsers do) would hide an attack behind a 404 or, worse,
      // serve a different file than asked for; refusing makes the probe visible as a 400.
      if (!popSegment(out)) return false;
      continue;
    }
    if (!out.empty()) out.push_back('/');
    out.append(segment.data(), segment.size());
  }
  return true;
}

}  // namespace microserver::core
