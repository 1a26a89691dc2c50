// ProxyProtocolTest: the PROXY protocol header parser (core/src/net/ProxyProtocol.cpp),
// v1 and v2, whole and cut at every point, valid, malformed and oversized.
#include "net/ProxyProtocol.h"

#include <gtest/gtest.h>

#include <string>

namespace microserver::core {
namespace {

using Status = ProxyHeader::Status;

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: version/command byte, family/transport byte, then the payload.
std::string v2(unsigned char versionCommand, unsigned char familyTransport, const std::string& payload) {
  std::string out = kSignature;
  out += static_cast<char>(versionCommand);
  out += static_cast<char>(familyTransport);
  out += static_cast<char>(payload.size() >> 8);
  out += static_cast<char>(payload.size() & 0xFF);
  return out + payload;
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

// 192.0.2.1:56324 -> 198.51.100.2:443
const std::string kIpv4Addresses = bytes({192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB});
// [2001:db8::1]:4711 -> [2001:db8::2]:443
const std::string kIpv6Addresses =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    1,    0x20, 0x01,
           0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x12, 0x67, 0x01, 0xBB});

// Every proper prefix needs more; the whole parses as `expected`, and so does the whole
// followed by the protocol's own bytes (which the header must not claim).
void expectEveryCutNeedsMore(const std::string& header) {
  for (std::size_t cut = 0; cut < header.size(); ++cut)
    EXPECT_EQ(parseProxyHeader(header.substr(0, cut)).status, Status::NeedMore) << "cut at " << cut;
}

ProxyHeader expectDone(const std::string& header, int version) {
  expectEveryCutNeedsMore(header);
  ProxyHeader result = parseProxyHeader(header + "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(result.status, Status::Done) << result.why;
  EXPECT_EQ(result.length, header.size());
  EXPECT_EQ(result.version, version);
  return result;
}

void expectInvalid(const std::string& input) {
  ProxyHeader result = parseProxyHeader(input);
  EXPECT_EQ(result.status, Status::Invalid) << "input: " << input;
  EXPECT_FALSE(result.why.empty());
}

TEST(ProxyProtocol, V1Tcp4GivesTheSourceAddress) {
  EXPECT_EQ(expectDone("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 1).source, "192.0.2.1:56324");
}

TEST(ProxyProtocol, V1Tcp6GivesTheSourceAddressInBrackets) {
  EXPECT_EQ(expectDone("PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n", 1).source, "[2001:db8::1]:4711");
}

TEST(ProxyProtocol, V1UnknownKeepsTheConnectionsAddress) {
  EXPECT_EQ(expectDone("PROXY UNKNOWN\r\n", 1).source, "");
  EXPECT_EQ(expectDone("PROXY UNKNOWN ffff:f...f:ffff 65535 65535\r\n", 1).source, "");
}

TEST(ProxyProtocol, V1AtTheLongestAllowedLength) {
  // The specification's worst case: 107 bytes.
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  ASSERT_EQ(longest.size(), 104u);
  EXPECT_EQ(expectDone(longest, 1).source, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  expectInvalid("PROXY UNKNOWN " + std::string(93, 'x') + "\r\n");  // 109 bytes
  expectInvalid("PROXY UNKNOWN " + std::string(120, 'x'));          // no end in sight
}

TEST(ProxyProtocol, V1Malformed) {
  expectInvalid("PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n");        // a port missing
  expectInvalid("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 9\r\n");  // one field too many
  expectInvalid("PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n");   // two spaces
  expectInvalid("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n");   // a trailing space
  expectInvalid("PROXY TCP4 2001:db8::1 198.51.100.2 56324 443\r\n");  // IPv6 in TCP4
  expectInvalid("PROXY TCP6 192.0.2.1 2001:db8::2 56324 443\r\n");     // IPv4 in TCP6
  expectInvalid("PROXY TCP4 192.0.2.256 198.51.100.2 56324 443\r\n");  // not an address
  expectInvalid("PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n");    // port out of range
  expectInvalid("PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n");       // a sign
  expectInvalid("PROXY UDP4 192.0.2.1 198.51.100.2 56324 443\r\n");    // unknown protocol
  expectInvalid("PROXY \r\n");                                         // no protocol
  expectInvalid("PROXY TCP4 192.0.2.1\n");                             // LF alone
  expectInvalid("PROXY TCP4 192.0.2.1\rX");                            // CR alone
  expectInvalid("proxy TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");    // case matters
  // Found by ProxyProtocolFuzzer: a NUL cut the address short for inet_pton, and a lone LF
  // was refused only while the line was still arriving.
  expectInvalid(
      std::string("PROXY TCP6 2:: ::\0\0\0\0\0\0\0\0"
                  "2\nQz 4711 4443\r\n",
                  41));
  expectInvalid(std::string("PROXY TCP4 192.0.2.1\0 198.51.100.2 56324 443\r\n", 46));
}

TEST(ProxyProtocol, AnythingElseIsRefusedAtTheFirstWrongByte) {
  expectInvalid("GET / HTTP/1.1\r\n\r\n");
  expectInvalid("G");
  expectInvalid("PROXZ");
  expectInvalid(std::string("\x16\x03\x01\x02\x00", 5));  // a TLS ClientHello
  expectInvalid(std::string("\r\n\r\n\0\r\nQUIX", 11));   // a v2 signature gone wrong
}

TEST(ProxyProtocol, V2ProxyIpv4) { EXPECT_EQ(expectDone(v2(0x21, 0x11, kIpv4Addresses), 2).source, "192.0.2.1:56324"); }

TEST(ProxyProtocol, V2ProxyIpv6) {
  EXPECT_EQ(expectDone(v2(0x21, 0x21, kIpv6Addresses), 2).source, "[2001:db8::1]:4711");
}

TEST(ProxyProtocol, V2SkipsTlvsAfterTheAddresses) {
  // PP2_TYPE_ALPN "h2" and PP2_TYPE_AUTHORITY "example.com", as HAProxy may send them.
  const std::string tlvs = bytes({0x01, 0x00, 0x02}) + "h2" + bytes({0x02, 0x00, 0x0B}) + "example.com";
  EXPECT_EQ(expectDone(v2(0x21, 0x11, kIpv4Addresses + tlvs), 2).source, "192.0.2.1:56324");
}

TEST(ProxyProtocol, V2LocalKeepsTheConnectionsAddress) {
  EXPECT_EQ(expectDone(v2(0x20, 0x00, ""), 2).source, "");
  // LOCAL with addresses (a health check may send them): still ignored.
  EXPECT_EQ(expectDone(v2(0x20, 0x11, kIpv4Addresses), 2).source, "");
}

TEST(ProxyProtocol, V2UnspecifiedAndUnixFamiliesKeepTheConnectionsAddress) {
  EXPECT_EQ(expectDone(v2(0x21, 0x00, ""), 2).source, "");
  EXPECT_EQ(expectDone(v2(0x21, 0x31, std::string(216, 'x')), 2).source, "");
}

TEST(ProxyProtocol, V2Malformed) {
  expectInvalid(v2(0x11, 0x11, kIpv4Addresses));                // version 1 in binary
  expectInvalid(v2(0x31, 0x11, kIpv4Addresses));                // version 3
  expectInvalid(v2(0x22, 0x11, kIpv4Addresses));                // command 2
  expectInvalid(v2(0x21, 0x41, kIpv4Addresses));                // family 4
  expectInvalid(v2(0x21, 0x13, kIpv4Addresses));                // transport 3
  expectInvalid(v2(0x21, 0x12, kIpv4Addresses));                // datagrams on a stream listener
  expectInvalid(v2(0x21, 0x11, kIpv4Addresses.substr(0, 11)));  // addresses cut short
  expectInvalid(v2(0x21, 0x21, kIpv4Addresses));                // IPv4 bytes for IPv6
}

TEST(ProxyProtocol, V2OversizedIsRefusedFromItsFixedPart) {
  std::string header = v2(0x21, 0x11, kIpv4Addresses + std::string(kMaxProxyV2Payload, '\0'));
  // The 16 fixed bytes already say it is too large: no need to wait for the rest.
  expectInvalid(header.substr(0, 16));
  std::string largest = v2(0x21, 0x11, kIpv4Addresses + std::string(kMaxProxyV2Payload - 12, '\0'));
  ASSERT_EQ(largest.size(), kMaxProxyHeaderBytes);
  EXPECT_EQ(parseProxyHeader(largest).status, Status::Done);
}

TEST(ProxyProtocol, EmptyInputNeedsMore) { EXPECT_EQ(parseProxyHeader("").status, Status::NeedMore); }

}  // namespace
}  // namespace microserver::core
