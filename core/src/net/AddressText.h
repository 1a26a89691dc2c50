// AddressText: a socket address as logs, plugins and the access log show it.
#pragma once

#include <sys/socket.h>

#include <string>

namespace microserver::core {

// "127.0.0.1:53122", "[::1]:53122"; "?" for a family other than IPv4 and IPv6.
std::string formatAddress(const struct sockaddr_storage& address);

}  // namespace microserver::core
