// HttpStatus: reason phrases for status codes (RFC 9110 15).
#pragma once

#include <string_view>

namespace microserver::core {

// "Not Found" for 404; "Unknown" for codes without a registered phrase.
std::string_view reasonPhrase(int status);

}  // namespace microserver::core
