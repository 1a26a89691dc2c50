// MimeTypes: the Content-Type of a static file, from its extension.
#pragma once

#include <string_view>

namespace microserver::core {

// The Content-Type for a file name, from its extension ("application/octet-stream" if unknown).
std::string_view mimeTypeFor(std::string_view fileName);

}  // namespace microserver::core
