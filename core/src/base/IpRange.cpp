// IpRange: see IpRange.h.
#include "base/IpRange.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace microserver::core {

namespace {

// ::ffff:a.b.c.d -> a.b.c.d
IpAddress unmapped(const IpAddress& address) {
  static const std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (address.family != AF_INET6 || std::memcmp(address.bytes.data(), kMappedPrefix, 12) != 0) return address;
  IpAddress v4;
  v4.family = AF_INET;
  std::memcpy(v4.bytes.data(), address.bytes.data() + 12, 4);
  return v4;
}

unsigned bitsOf(int family) { return family == AF_INET ? 32 : 128; }

bool parseBits(std::string_view text, unsigned max, unsigned& bits) {
  if (text.empty() || text.size() > 3) return false;
  bits = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    bits = bits * 10 + static_cast<unsigned>(c - '0');
  }
  return bits <= max;
}

// The first `bits` bits of a and b are equal.
bool samePrefix(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) {
  const unsigned whole = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

bool IpAddress::parse(std::string_view text, IpAddress& out) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buffer) return false;
  // inet_pton would stop at a NUL and take "::\0junk" for "::".
  if (text.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress parsed;
  if (::inet_pton(AF_INET, buffer, parsed.bytes.data()) == 1)
    parsed.family = AF_INET;
  else if (::inet_pton(AF_INET6, buffer, parsed.bytes.data()) == 1)
    parsed.family = AF_INET6;
  else
    return false;
  out = unmapped(parsed);
  return true;
}

bool IpAddress::parseHostOf(std::string_view address, IpAddress& out) {
  if (!address.empty() && address.front() == '[') {
    const std::size_t close = address.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view after = address.substr(close + 1);
    if (!after.empty() && after.front() != ':') return false;
    return parse(address.substr(1, close - 1), out);
  }
  // One colon: IPv4 with a port. None, or several: a bare address.
  const std::size_t colon = address.find(':');
  if (colon != std::string_view::npos && address.find(':', colon + 1) == std::string_view::npos)
    return parse(address.substr(0, colon), out);
  return parse(address, out);
}

bool IpRange::parse(std::string_view text, IpRange& out, std::string& why) {
  const std::size_t slash = text.find('/');
  IpRange range;
  if (!IpAddress::parse(text.substr(0, slash), range.base_)) {
    why = "'" + std::string(text.substr(0, slash)) + "' is not an IPv4 or IPv6 address";
    return false;
  }
  const unsigned max = bitsOf(range.base_.family);
  range.prefixBits_ = max;
  if (slash != std::string_view::npos) {
    // A mapped IPv6 range (::ffff:10.0.0.0/104) counts its bits as IPv6 does.
    const bool mapped = text.substr(0, slash).find(':') != std::string_view::npos && range.base_.family == AF_INET;
    unsigned bits = 0;
    if (!parseBits(text.substr(slash + 1), mapped ? 128 : max, bits) || (mapped && bits < 96)) {
      why = "the prefix length after '/' must be a number from 0 to " + std::to_string(mapped ? 128 : max);
      return false;
    }
    range.prefixBits_ = mapped ? bits - 96 : bits;
  }
  IpAddress masked = range.base_;
  for (unsigned bit = range.prefixBits_; bit < max; ++bit)
    masked.bytes[bit / 8] = static_cast<std::uint8_t>(masked.bytes[bit / 8] & ~(0x80 >> (bit % 8)));
  if (masked.bytes != range.base_.bytes) {
    why = "'" + std::string(text) + "' has bits set beyond its /" + std::to_string(range.prefixBits_) +
          " prefix (did you mean the range's first address?)";
    return false;
  }
  range.text_ = std::string(text);
  out = std::move(range);
  return true;
}

bool IpRange::contains(const IpAddress& address) const {
  return address.family == base_.family && samePrefix(address.bytes.data(), base_.bytes.data(), prefixBits_);
}

bool anyContains(const std::vector<IpRange>& ranges, const IpAddress& address) {
  for (const IpRange& range : ranges)
    if (range.contains(address)) return true;
  return false;
}

}  // namespace microserver::core
