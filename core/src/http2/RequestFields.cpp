// RequestFields: see RequestFields.h.
#include "http2/RequestFields.h"

namespace microserver::core {

void RequestFields::add(std::string_view name, std::string_view value, const ParserLimits& limits) {
  if (tooLarge) return;
  bytes += name.size() + value.size() + 32;
  if (bytes > limits.headerBytes || fields.size() >= limits.headerCount ||
      (name == ":path" && value.size() > limits.uriBytes)) {
    tooLarge = true;
    return;
  }
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") method = value;
    else if (name == ":path") target = value;
    else if (name == ":authority") authority = value;
    else if (name == ":scheme") scheme = value;
    return;  // (nghttp2 refuses any other)
  }
  if (name == "cookie") {
    if (!cookie.empty()) cookie += "; ";
    cookie += value;
    return;
  }
  if (name == "host") host = value;
  fields.emplace_back(name, value);
}

void RequestFields::finish() {
  headers.clear();
  headers.reserve(fields.size() + 1);
  for (const auto& [name, value] : fields) headers.push_back({name, value});
  if (!cookie.empty()) headers.push_back({"cookie", cookie});
  if (authority.empty()) authority = host;
}

std::optional<std::uint64_t> RequestFields::contentLength() const {
  for (const auto& [name, value] : fields) {
    if (name != "content-length") continue;
    std::uint64_t length = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return std::nullopt;
      if (length > (UINT64_MAX - 9) / 10) return UINT64_MAX;  // more than any limit
      length = length * 10 + static_cast<unsigned>(c - '0');
    }
    return length;
  }
  return std::nullopt;
}

}  // namespace microserver::core
