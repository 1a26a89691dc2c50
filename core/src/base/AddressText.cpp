// AddressText: see AddressText.h.
#include "base/AddressText.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace microserver::core {

namespace {
std::string format(int family, const void* bytes, std::uint16_t port) {
  char host[INET6_ADDRSTRLEN];
  if ((family != AF_INET && family != AF_INET6) || !::inet_ntop(family, bytes, host, sizeof host)) return "?";
  return family == AF_INET6 ? "[" + std::string(host) + "]:" + std::to_string(port)
                            : std::string(host) + ":" + std::to_string(port);
}
}  // namespace

std::string formatAddress(const struct sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const struct sockaddr_in*>(&address);
    return format(AF_INET, &in->sin_addr, ntohs(in->sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&address);
    return format(AF_INET6, &in6->sin6_addr, ntohs(in6->sin6_port));
  }
  return "?";
}

bool parsePort(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::string formatAddress(const IpAddress& ip, std::uint16_t port) { return format(ip.family, ip.bytes.data(), port); }

}  // namespace microserver::core
