// IpRangeTest: addresses and CIDR ranges for server.trusted_proxies (core/src/base/IpRange.cpp).
#include "base/IpRange.h"

#include <gtest/gtest.h>

#include <string>

namespace microserver::core {
namespace {

IpRange range(const std::string& text) {
  IpRange out;
  std::string why;
  EXPECT_TRUE(IpRange::parse(text, out, why)) << text << ": " << why;
  return out;
}

IpAddress ip(const std::string& text) {
  IpAddress out;
  EXPECT_TRUE(IpAddress::parse(text, out)) << text;
  return out;
}

TEST(IpRange, Ipv4Prefixes) {
  EXPECT_TRUE(range("10.0.0.0/8").contains(ip("10.255.1.2")));
  EXPECT_FALSE(range("10.0.0.0/8").contains(ip("11.0.0.1")));
  EXPECT_TRUE(range("192.168.4.0/22").contains(ip("192.168.7.255")));
  EXPECT_FALSE(range("192.168.4.0/22").contains(ip("192.168.8.0")));
  EXPECT_TRUE(range("0.0.0.0/0").contains(ip("203.0.113.9")));
  EXPECT_TRUE(range("127.0.0.1").contains(ip("127.0.0.1")));
  EXPECT_FALSE(range("127.0.0.1").contains(ip("127.0.0.2")));
  EXPECT_TRUE(range("127.0.0.1/32").contains(ip("127.0.0.1")));
}

TEST(IpRange, Ipv6Prefixes) {
  EXPECT_TRUE(range("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(range("2001:db8::/32").contains(ip("2001:db9::1")));
  EXPECT_TRUE(range("fe80::/10").contains(ip("febf::1")));
  EXPECT_FALSE(range("fe80::/10").contains(ip("fec0::1")));
  EXPECT_TRUE(range("::1").contains(ip("::1")));
  EXPECT_TRUE(range("::/0").contains(ip("2001:db8::1")));
}

TEST(IpRange, FamiliesDoNotMixButMappedIpv4IsIpv4) {
  EXPECT_FALSE(range("::/0").contains(ip("10.0.0.1")));
  EXPECT_FALSE(range("0.0.0.0/0").contains(ip("2001:db8::1")));
  // What a dual-stack socket reports for an IPv4 peer.
  EXPECT_TRUE(range("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
  EXPECT_TRUE(range("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
}

TEST(IpRange, RefusesWithAReason) {
  for (const char* text :
       {"", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8/8", "2001:db8::/129", "10.0.0.1/8", "2001:db8::1/32",
        "example.com", "10.0.0", "::ffff:10.0.0.0/95", "1.2.3.4 ", "::%eth0"}) {
    IpRange out;
    std::string why;
    EXPECT_FALSE(IpRange::parse(text, out, why)) << text;
    EXPECT_FALSE(why.empty()) << text;
  }
}

TEST(IpAddress, HostOfAnAddressWithPort) {
  IpAddress out;
  ASSERT_TRUE(IpAddress::parseHostOf("127.0.0.2:5555", out));
  EXPECT_TRUE(range("127.0.0.2").contains(out));
  ASSERT_TRUE(IpAddress::parseHostOf("[::1]:5555", out));
  EXPECT_TRUE(range("::1").contains(out));
  ASSERT_TRUE(IpAddress::parseHostOf("2001:db8::1", out));
  EXPECT_TRUE(range("2001:db8::/32").contains(out));
  EXPECT_FALSE(IpAddress::parseHostOf("[::1", out));
  EXPECT_FALSE(IpAddress::parseHostOf("[::1]x", out));
  EXPECT_FALSE(IpAddress::parseHostOf("?", out));
  EXPECT_FALSE(IpAddress::parse(std::string("::\0junk", 7), out));  // inet_pton would stop at the NUL
}

TEST(IpRange, AnyContains) {
  std::vector<IpRange> ranges{range("10.0.0.0/8"), range("::1")};
  EXPECT_TRUE(anyContains(ranges, ip("10.9.9.9")));
  EXPECT_TRUE(anyContains(ranges, ip("::1")));
  EXPECT_FALSE(anyContains(ranges, ip("127.0.0.1")));
  EXPECT_FALSE(anyContains({}, ip("127.0.0.1")));
}

}  // namespace
}  // namespace microserver::core
