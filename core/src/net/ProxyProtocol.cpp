// ProxyProtocol: see ProxyProtocol.h.
#include "net/ProxyProtocol.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/AddressText.h"

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

// One address of a v1 line: TCP4 takes dotted IPv4 only, TCP6 IPv6 text only.
bool parseV1Address(bool ipv6, std::string_view text, IpAddress& out) {
  return IpAddress::parse(text, out) && (text.find(':') != std::string_view::npos) == ipv6;
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
  // The same verdict as while the line was arriving: a lone CR or LF before its end is wrong.
  if (bytes.substr(0, end).find_first_of("\r\n") != std::string_view::npos)
    return invalid("a CR or LF alone in a PROXY v1 line");
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
  if (fields[0] != "TCP4" && fields[0] != "TCP6")
    return invalid("unknown PROXY v1 protocol '" + std::string(fields[0]) + "'");
  const bool ipv6 = fields[0] == "TCP6";
  if (count != 5) return invalid("a PROXY v1 line needs 2 addresses and 2 ports");
  IpAddress source, destination;
  std::uint16_t sourcePort = 0, destinationPort = 0;
  if (!parseV1Address(ipv6, fields[1], source) || !parseV1Address(ipv6, fields[2], destination))
    return invalid("an invalid address in a PROXY v1 line");
  // (The specification writes ports without leading zeros; refusing "0443" buys nothing.)
  if (!parsePort(fields[3], sourcePort) || !parsePort(fields[4], destinationPort))
    return invalid("an invalid port in a PROXY v1 line");
  return done(1, length, formatAddress(source, sourcePort));
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
  if ((versionCommand >> 4) != 2)
    return invalid("PROXY v2 signature with version " + std::to_string(versionCommand >> 4));
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
  // Source address, destination address, source port, destination port.
  const std::size_t addressBytes = family == 1 ? 4 : 16;
  if (payload < 2 * addressBytes + 4)
    return invalid(std::string("a PROXY v2 ") + (family == 1 ? "IPv4" : "IPv6") +
                   " header too short for its addresses");
  const char* p = bytes.data() + 16;
  IpAddress source;
  source.family = family == 1 ? AF_INET : AF_INET6;
  std::memcpy(source.bytes.data(), p, addressBytes);
  return done(2, length, formatAddress(source, readU16(p + 2 * addressBytes)));
}

}  // namespace

ProxyHeader parseProxyHeader(std::string_view bytes) {
  if (bytes.empty()) return needMore();
  if (couldStartWith(bytes, kV2Signature)) return bytes.size() < kV2Signature.size() ? needMore() : parseV2(bytes);
  if (couldStartWith(bytes, kV1Prefix)) return bytes.size() < kV1Prefix.size() ? needMore() : parseV1(bytes);
  return invalid("the connection did not start with a PROXY protocol header");
}

}  // namespace microserver::core
