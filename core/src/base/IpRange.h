// IpRange: IP addresses and CIDR ranges ("10.0.0.0/8", "2001:db8::/32", "127.0.0.1"),
// for server.trusted_proxies: is this peer one of ours?
//
// An IPv4-mapped IPv6 address (::ffff:10.1.2.3, what a dual-stack socket reports for an
// IPv4 peer) is the IPv4 address it carries, so "10.0.0.0/8" matches it either way.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace microserver::core {

struct IpAddress {
  int family = 0;                        // AF_INET or AF_INET6 (0: none)
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

  // "192.0.2.1", "2001:db8::1" (no brackets, no port). False if it is not one.
  static bool parse(std::string_view text, IpAddress& out);
  // The address part of "ip:port", "[v6]:port", or a bare address.
  static bool parseHostOf(std::string_view address, IpAddress& out);
};

class IpRange {
 public:
  // "10.0.0.0/8", "2001:db8::/32", or one address ("127.0.0.1", "::1"). False with a reason
  // when the text is not one (bits beyond the prefix set, "10.0.0.1/8", is refused: it is
  // a typo more often than not).
  static bool parse(std::string_view text, IpRange& out, std::string& why);

  bool contains(const IpAddress& address) const;
  const std::string& text() const { return text_; }

 private:
  IpAddress base_;
  unsigned prefixBits_ = 0;
  std::string text_;
};

// True when any range of `ranges` holds `address`.
bool anyContains(const std::vector<IpRange>& ranges, const IpAddress& address);

}  // namespace microserver::core
