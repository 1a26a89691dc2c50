// Fuzzes the first fence of static-file confinement, normalizeConfinedPath()
// (core/src/PathConfinement.cpp), with the input both as an already decoded path and, as
// the server does, percent-decoded once from the raw request path.
//
// Invariants for an accepted path (any violation traps):
//  - no ".." or "." segment, no empty segment: never "//", never a leading or trailing '/';
//  - no NUL and no '\\';
//  - normalising it again gives it back unchanged (idempotent), and so does normalising it
//    with a leading '/' (how it is written in a URL);
//  - it never climbs: walking the input's segments, the depth never went below the root.
// A refused path must contain NUL, '\\', or a ".." that climbs above the root.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzInput.h"
#include "site/PathConfinement.h"
#include "microserver/Text.h"

using microserver::core::normalizeConfinedPath;

namespace {

// The reference: does some ".." climb above the root? Counted on segments.
bool climbs(std::string_view path) {
  long depth = 0;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (--depth < 0) return true;
    } else {
      ++depth;
    }
  }
  return false;
}

void checkOne(std::string_view input) {
  std::string out = "garbage";
  const bool ok = normalizeConfinedPath(input, out);
  const bool mustRefuse =
      input.find('\0') != std::string_view::npos || input.find('\\') != std::string_view::npos || climbs(input);
  FUZZ_CHECK(ok == !mustRefuse);
  if (!ok) return;

  FUZZ_CHECK(out.find('\0') == std::string::npos && out.find('\\') == std::string::npos);
  FUZZ_CHECK(out.find("//") == std::string::npos);
  FUZZ_CHECK(out.empty() || (out.front() != '/' && out.back() != '/'));
  std::size_t pos = 0;
  while (pos <= out.size() && !out.empty()) {
    std::size_t slash = out.find('/', pos);
    if (slash == std::string::npos) slash = out.size();
    const std::string_view seg = std::string_view(out).substr(pos, slash - pos);
    FUZZ_CHECK(!seg.empty() && seg != "." && seg != "..");
    pos = slash + 1;
  }

  std::string again;
  FUZZ_CHECK(normalizeConfinedPath(out, again) && again == out);
  FUZZ_CHECK(normalizeConfinedPath("/" + out, again) && again == out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::ExactCopy raw(reinterpret_cast<const char*>(data), size);
  checkOne(raw.view());
  std::string decoded;
  if (microserver::percentDecode(raw.view(), decoded)) {
    const fuzz::ExactCopy exact(decoded.data(), decoded.size());
    checkOne(exact.view());
  }
  return 0;
}
