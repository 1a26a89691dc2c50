// MimeTypes: the Content-Type of a static file, from its extension.
//
// A fixed table compiled in, like nginx's mime.types, so every static response can name its
// type without touching the heap or a lock. Textual types carry "; charset=utf-8": without
// it browsers guess the encoding, and a guess is both a mojibake and an XSS risk.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

#include "site/MimeTypes.h"

namespace microserver::core {

namespace {

struct MimeEntry {
  std::string_view extension;  // lower case, without the dot
  std::string_view type;
};

// Kept sorted by extension (checked at compile time below) for the binary search.
constexpr std::array<MimeEntry, 40> kMimeTypes{{
    {"avif", "image/avif"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/x-icon"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},  // RFC 9239 made text/javascript the one name
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},  // source maps are JSON
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"tar", "application/x-tar"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},  // streaming compilation insists on exactly this type
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json; charset=utf-8"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml; charset=utf-8"},
    {"xml", "application/xml; charset=utf-8"},
    {"yaml", "application/yaml; charset=utf-8"},
    {"yml", "application/yaml; charset=utf-8"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
}};

constexpr bool isSortedAndUnique() {
  for (std::size_t i = 1; i < kMimeTypes.size(); ++i)
    if (!(kMimeTypes[i - 1].extension < kMimeTypes[i].extension)) return false;
  return true;
}
static_assert(isSortedAndUnique(), "kMimeTypes must stay sorted by extension for the binary search");

constexpr std::string_view kDefaultType = "application/octet-stream";
// Longer than any extension in the table: anything longer cannot match.
constexpr std::size_t kMaxExtension = 16;

}  // namespace

std::string_view mimeTypeFor(std::string_view fileName) {
  // Only the last path segment counts: "v1.2/LICENSE" has no extension.
  std::size_t slash = fileName.rfind('/');
  if (slash != std::string_view::npos) fileName.remove_prefix(slash + 1);
  std::size_t dot = fileName.rfind('.');
  if (dot == std::string_view::npos) return kDefaultType;
  std::string_view extension = fileName.substr(dot + 1);
  if (extension.empty() || extension.size() > kMaxExtension) return kDefaultType;

  // Lower-case into a stack buffer: "PHOTO.JPG" from a camera is common, and allocating a
  // string per request just to compare would be waste.
  char lower[kMaxExtension];
  for (std::size_t i = 0; i < extension.size(); ++i) {
    char c = extension[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view key(lower, extension.size());

  auto it = std::lower_bound(kMimeTypes.begin(), kMimeTypes.end(), key,
                             [](const MimeEntry& e, std::string_view k) { return e.extension < k; });
  if (it != kMimeTypes.end() && it->extension == key) return it->type;
  return kDefaultType;
}

}  // namespace microserver::core
