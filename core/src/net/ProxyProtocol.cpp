// ProxyProtocol: see ProxyProtocol.h.
#include "net/ProxyProtocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "net/AddressText.h"

namespace microserver::core {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

ProxyHeader needMore() { return {}; }

ProxyHeader invalid(std::string why) {
  ProxyHeader header;
  header.status = ProxyHeader::Status::Invalid;
  header.why = std::move(why);
  return header;
}

ProxyHeader done(int version, std::size_t length, std::string source) {
  ProxyHeader header;
  header.status = ProxyHeader::Status::Done;
  header.version = version;
  header.length = length;
  header.source = std::move(source);
  return header;
}

// True when `bytes` could still grow into `prefix` (or already starts with it).
bool couldStartWith(std::string_view bytes, std::string_view prefix) {
  const std::size_t n = std::min(bytes.size(), prefix.size());
  return bytes.substr(0, n) == prefix.substr(0, n);
}

// "0" .. "65535", no sign, no leading zero (the specification's form).
bool parsePort(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// One address of `family` in its text form into `out` (sin_addr / sin6_addr).
bool parseIp(int family, std::string_view text, struct sockaddr_storage& out) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buffer) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  out = {};
  out.ss_family = static_cast<sa_family_t>(family);
  void* target = family == AF_INET ? static_cast<void*>(&reinterpret_cast<struct sockaddr_in*>(&out)->sin_addr)
                                   : static_cast<void*>(&reinterpret_cast<struct sockaddr_in6*>(&out)->sin6_addr);
  return ::inet_pton(family, buffer, target) == 1;
}

void setPort(struct sockaddr_storage& address, std::uint16_t port) {
  if (address.ss_family == AF_INET) reinterpret_cast<struct sockaddr_in*>(&address)->sin_port = htons(port);
  else reinterpret_cast<struct sockaddr_in6*>(&address)->sin6_port = htons(port);
}

// "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n", "PROXY UNKNOWN ...\r\n".
ProxyHeader parseV1(std::string_view bytes) {
  const std::size_t end = bytes.find("\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() >= kMaxProxyV1Bytes) return invalid("a PROXY v1 line longer than 107 bytes");
    // A lone CR may only be followed by LF; anything else there can never become a line.
    const std::size_t cr = bytes.find('\r');
    if (cr != std::string_view::npos && cr + 1 < bytes.size()) return invalid("a CR without LF in a PROXY v1 line");
    if (bytes.find('\n') != std::string_view::npos) return invalid("a LF without CR in a PROXY v1 line");
    return needMore();
  }
  const std::size_t length = end + 2;
  if (length > kMaxProxyV1Bytes) return invalid("a PROXY v1 line longer than 107 bytes");
  std::string_view line = bytes.substr(kV1Prefix.size(), end - kV1Prefix.size());
  std::string_view fields[5];
  std::size_t count = 0;
  while (!line.empty()) {
    const std::size_t space = line.find(' ');
    std::string_view field = line.substr(0, space);
    if (field.empty()) return invalid("an empty field in a PROXY v1 line");
    if (count == 5) return invalid("too many fields in a PROXY v1 line");
    fields[count++] = field;
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
    if (line.empty()) return invalid("a PROXY v1 line ending with a space");
  }
  if (count == 0) return invalid("a PROXY v1 line without a protocol");
  // UNKNOWN: whatever follows is to be ignored; the connection keeps its own address.
  if (fields[0] == "UNKNOWN") return done(1, length, {});
  int family = fields[0] == "TCP4" ? AF_INET : fields[0] == "TCP6" ? AF_INET6 : 0;
  if (family == 0) return invalid("unknown PROXY v1 protocol '" + std::string(fields[0]) + "'");
  if (count != 5) return invalid("a PROXY v1 line needs 2 addresses and 2 ports");
  struct sockaddr_storage source {}, destination {};
  std::uint16_t sourcePort = 0, destinationPort = 0;
  if (!parseIp(family, fields[1], source) || !parseIp(family, fields[2], destination))
    return invalid("an invalid address in a PROXY v1 line");
  if (!parsePort(fields[3], sourcePort) || !parsePort(fields[4], destinationPort))
    return invalid("an invalid port in a PROXY v1 line");
  setPort(source, sourcePort);
  return done(1, length, formatAddress(source));
}

std::uint16_t readU16(const char* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
}

// 12 bytes of signature, version/command, family/transport, a 16-bit length, then that
// many bytes: addresses, then TLVs (ignored).
ProxyHeader parseV2(std::string_view bytes) {
  if (bytes.size() < 16) return needMore();
  const auto versionCommand = static_cast<unsigned char>(bytes[12]);
  const auto familyTransport = static_cast<unsigned char>(bytes[13]);
  const std::size_t payload = readU16(bytes.data() + 14);
  if ((versionCommand >> 4) != 2) return invalid("PROXY v2 signature with version " + std::to_string(versionCommand >> 4));
  const unsigned command = versionCommand & 0xF;
  if (command > 1) return invalid("unknown PROXY v2 command " + std::to_string(command));
  if (payload > kMaxProxyV2Payload)
    return invalid("a PROXY v2 header of " + std::to_string(16 + payload) + " bytes (at most " +
                   std::to_string(kMaxProxyHeaderBytes) + " are accepted)");
  const unsigned family = familyTransport >> 4, transport = familyTransport & 0xF;
  if (family > 3 || transport > 2) return invalid("unknown PROXY v2 address family or transport");
  if (bytes.size() < 16 + payload) return needMore();
  const std::size_t length = 16 + payload;
  // LOCAL: the balancer's own connection (a health check): keep the socket's address.
  // UNSPEC, UNIX: no IP to show; the specification lets a receiver keep its own then.
  if (command == 0 || family == 0 || family == 3) return done(2, length, {});
  if (transport == 2) return invalid("a PROXY v2 header for a datagram connection");
  const char* p = bytes.data() + 16;
  struct sockaddr_storage source {};
  if (family == 1) {
    if (payload < 12) return invalid("a PROXY v2 IPv4 header too short for its addresses");
    auto* in = reinterpret_cast<struct sockaddr_in*>(&source);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, p, 4);
    std::memcpy(&in->sin_port, p + 8, 2);  // both in network order already
  } else {
    if (payload < 36) return invalid("a PROXY v2 IPv6 header too short for its addresses");
    auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&source);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, p, 16);
    std::memcpy(&in6->sin6_port, p + 32, 2);
  }
  return done(2, length, formatAddress(source));
}

}  // namespace

ProxyHeader parseProxyHeader(std::string_view bytes) {
  if (bytes.empty()) return needMore();
  if (couldStartWith(bytes, kV2Signature)) return bytes.size() < kV2Signature.size() ? needMore() : parseV2(bytes);
  if (couldStartWith(bytes, kV1Prefix)) return bytes.size() < kV1Prefix.size() ? needMore() : parseV1(bytes);
  return invalid("the connection did not start with a PROXY protocol header");
}

}  // namespace microserver::core
