// ForwardedClientTest: who a request is from behind trusted proxies
// (core/src/site/ForwardedClient.cpp): X-Forwarded-For, X-Forwarded-Proto, Forwarded.
#include "site/ForwardedClient.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace microserver::core {
namespace {

std::vector<IpRange> trusted(std::initializer_list<const char*> texts) {
  std::vector<IpRange> out;
  for (const char* text : texts) {
    IpRange range;
    std::string why;
    EXPECT_TRUE(IpRange::parse(text, range, why)) << why;
    out.push_back(range);
  }
  return out;
}

ForwardedClient resolve(const std::vector<Header>& headers, const std::vector<IpRange>& ranges) {
  return forwardedClient(Span<Header>(headers.data(), headers.size()), ranges);
}

const std::vector<IpRange> kProxies = trusted({"127.0.0.1", "10.0.0.0/8", "2001:db8:f::/48"});

TEST(ForwardedClient, XForwardedForTakesTheRightmostUntrustedAddress) {
  // The client forged "6.6.6.6"; the first proxy appended the real 203.0.113.7, an inner
  // proxy 10.1.1.1.
  ForwardedClient c = resolve({{"X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.1.1.1"}}, kProxies);
  EXPECT_EQ(c.address, "203.0.113.7:0");
  EXPECT_EQ(c.scheme, "");
}

TEST(ForwardedClient, SeveralHeaderLinesFormOneList) {
  ForwardedClient c = resolve({{"X-Forwarded-For", "6.6.6.6"}, {"x-forwarded-for", "203.0.113.7, 10.1.1.1"}}, kProxies);
  EXPECT_EQ(c.address, "203.0.113.7:0");
}

TEST(ForwardedClient, AllTrustedGivesTheLeftmost) {
  EXPECT_EQ(resolve({{"X-Forwarded-For", "10.2.2.2, 10.1.1.1"}}, kProxies).address, "10.2.2.2:0");
}

TEST(ForwardedClient, AddressFormsWithPortsAndIpv6) {
  EXPECT_EQ(resolve({{"X-Forwarded-For", "203.0.113.7:4711"}}, kProxies).address, "203.0.113.7:4711");
  EXPECT_EQ(resolve({{"X-Forwarded-For", "2001:db8::7"}}, kProxies).address, "[2001:db8::7]:0");
  EXPECT_EQ(resolve({{"X-Forwarded-For", "[2001:db8::7]:4711, 2001:db8:f::1"}}, kProxies).address,
            "[2001:db8::7]:4711");
}

TEST(ForwardedClient, GarbageStopsTheWalkAtTheLastAddressVouchedFor) {
  // "unknown" cannot be vouched for: the trusted hop to its right is as far as we know.
  EXPECT_EQ(resolve({{"X-Forwarded-For", "203.0.113.7, unknown, 10.1.1.1"}}, kProxies).address, "10.1.1.1:0");
  EXPECT_EQ(resolve({{"X-Forwarded-For", "nonsense"}}, kProxies).address, "");
  EXPECT_EQ(resolve({{"X-Forwarded-For", ""}}, kProxies).address, "");
  EXPECT_EQ(resolve({{"X-Forwarded-For", "1.2.3.4:99999"}}, kProxies).address, "");
  EXPECT_EQ(resolve({}, kProxies).address, "");
}

TEST(ForwardedClient, XForwardedProtoTakesTheLastValue) {
  EXPECT_EQ(resolve({{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Proto", "https"}}, kProxies).scheme, "https");
  EXPECT_EQ(resolve({{"X-Forwarded-Proto", "http, HTTPS"}}, kProxies).scheme, "https");
  EXPECT_EQ(resolve({{"X-Forwarded-Proto", "https, http"}}, kProxies).scheme, "http");
  EXPECT_EQ(resolve({{"X-Forwarded-Proto", "gopher"}}, kProxies).scheme, "");
}

TEST(ForwardedClient, ForwardedHeader) {
  ForwardedClient c = resolve(
      {{"Forwarded", "for=6.6.6.6, for=203.0.113.7;proto=https;by=10.1.1.1, for=10.1.1.1;proto=http"}}, kProxies);
  EXPECT_EQ(c.address, "203.0.113.7:0");
  EXPECT_EQ(c.scheme, "https");
  EXPECT_EQ(resolve({{"Forwarded", "For=\"[2001:db8::7]:4711\""}}, kProxies).address, "[2001:db8::7]:4711");
  EXPECT_EQ(resolve({{"Forwarded", "for=\"203.0.113.7:80\"; proto=http"}}, kProxies).address, "203.0.113.7:80");
  // Obfuscated and unknown nodes cannot be used.
  EXPECT_EQ(resolve({{"Forwarded", "for=_hidden"}}, kProxies).address, "");
  EXPECT_EQ(resolve({{"Forwarded", "for=unknown, for=10.1.1.1"}}, kProxies).address, "10.1.1.1:0");
  EXPECT_EQ(resolve({{"Forwarded", "proto=https"}}, kProxies).address, "");
}

TEST(ForwardedClient, XForwardedForWinsOverForwarded) {
  // HAProxy's `option forwardfor` appends to X-Forwarded-For and passes a client's
  // Forwarded on untouched: that one must not be believed.
  ForwardedClient c = resolve({{"Forwarded", "for=6.6.6.6;proto=https"}, {"X-Forwarded-For", "203.0.113.7"}}, kProxies);
  EXPECT_EQ(c.address, "203.0.113.7:0");
  EXPECT_EQ(c.scheme, "");
}

}  // namespace
}  // namespace microserver::core
