// RequestFields: an HTTP/2 header block, field by field, into what the site reads.
#include "http2/RequestFields.h"

#include <gtest/gtest.h>

#include <string>

namespace microserver::core {
namespace {

RequestFields block(std::initializer_list<std::pair<std::string, std::string>> fields, ParserLimits limits = {}) {
  RequestFields request;
  for (const auto& [name, value] : fields) request.add(name, value, limits);
  request.finish();
  return request;
}

TEST(RequestFields, PseudoHeadersGoToTheirPlacesAndTheRestAreHeaders) {
  RequestFields r = block({{":method", "POST"}, {":scheme", "https"}, {":authority", "example.com:8443"},
                           {":path", "/a?b=1"}, {"user-agent", "t"}, {"content-type", "text/plain"}});
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.scheme, "https");
  EXPECT_EQ(r.authority, "example.com:8443");
  EXPECT_EQ(r.target, "/a?b=1");
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[0].name, "user-agent");
  EXPECT_EQ(r.headers[1].value, "text/plain");
  EXPECT_FALSE(r.tooLarge);
}

TEST(RequestFields, CookieFieldsAreJoinedIntoOneHeader) {
  RequestFields r = block({{":method", "GET"}, {":path", "/"}, {"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}});
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[1].name, "cookie");
  EXPECT_EQ(r.headers[1].value, "a=1; b=2");
}

TEST(RequestFields, HostStandsInForAMissingAuthorityButNeverReplacesOne) {
  EXPECT_EQ(block({{":method", "GET"}, {":path", "/"}, {"host", "h.example"}}).authority, "h.example");
  EXPECT_EQ(block({{":authority", "a.example"}, {"host", "h.example"}}).authority, "a.example");
}

TEST(RequestFields, EachLimitMakesTheBlockTooLargeAndDropsTheRest) {
  ParserLimits limits;
  limits.headerBytes = 100;
  RequestFields bytes = block({{":method", "GET"}, {"x", std::string(40, 'a')}, {"y", "b"}}, limits);
  EXPECT_TRUE(bytes.tooLarge);
  EXPECT_EQ(bytes.headers.size(), 0u);  // 37 + 73 > 100: the field over the limit and all after it

  limits = {};
  limits.headerCount = 2;
  EXPECT_TRUE(block({{"a", "1"}, {"b", "2"}, {"c", "3"}}, limits).tooLarge);
  EXPECT_FALSE(block({{"a", "1"}, {"b", "2"}}, limits).tooLarge);

  limits = {};
  limits.uriBytes = 8;
  EXPECT_TRUE(block({{":path", "/123456789"}}, limits).tooLarge);
  EXPECT_FALSE(block({{":path", "/1234567"}}, limits).tooLarge);
}

TEST(RequestFields, ContentLengthIsReadOnlyWhenItIsANumber) {
  EXPECT_EQ(block({{"content-length", "1234"}}).contentLength(), 1234u);
  EXPECT_EQ(block({}).contentLength(), std::nullopt);
  EXPECT_EQ(block({{"content-length", "12x"}}).contentLength(), std::nullopt);
  EXPECT_EQ(block({{"content-length", "99999999999999999999999"}}).contentLength(), UINT64_MAX);
}

}  // namespace
}  // namespace microserver::core
