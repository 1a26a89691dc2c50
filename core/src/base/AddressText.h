// AddressText: a client's address as logs, plugins and the access log show it:
// "127.0.0.1:53122", "[::1]:53122".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/IpRange.h"

namespace microserver::core {

// "?" for a family other than IPv4 and IPv6.
std::string formatAddress(const struct sockaddr_storage& address);
std::string formatAddress(const IpAddress& ip, std::uint16_t port);

// "0" .. "65535" (decimal digits only) -> port.
bool parsePort(std::string_view text, std::uint16_t& port);

}  // namespace microserver::core
