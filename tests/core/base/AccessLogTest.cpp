// AccessLogTest: the access log's two formats (core/src/base/AccessLog.cpp), written to a
// real file and read back; JSON lines are checked with a real JSON parser (Poco::JSON),
// hostile input included: every line must stay one valid object.
#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "base/AccessLog.h"

namespace microserver::core {
namespace {

// Writes the records through a log of that format and returns the file's lines.
std::vector<std::string> writeAndRead(AccessLogFormat format, const std::vector<AccessRecord>& records) {
  std::string file = (std::filesystem::temp_directory_path() / "access-log-test-XXXXXX").string();
  int fd = ::mkstemp(file.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  {
    std::unique_ptr<AccessLog> log = AccessLog::open(file, format);
    for (const AccessRecord& record : records) log->record(record);
  }  // the destructor writes everything out
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::filesystem::remove(file);
  return lines;
}

// A request as the server records it: the fields every format has, then the JSON's own.
AccessRecord request(std::string_view ip, std::string_view method, std::string_view target, int status,
                     std::uint64_t bodyBytes, std::string_view referer, std::string_view userAgent) {
  AccessRecord record;
  record.remoteIp = ip;
  record.method = method;
  record.target = target;
  record.status = status;
  record.bodyBytes = bodyBytes;
  record.referer = referer;
  record.userAgent = userAgent;
  return record;
}

AccessRecord sample() {
  AccessRecord record = request("192.0.2.7", "GET", "/hello/world?x=1", 200, 1234, "https://example.com/", "curl/7.88.1");
  record.requestId = "0123456789abcdef0123456789abcdef";
  record.route = "^/hello/(?P<name>[a-z]+)$";
  record.plugin = "hello";
  record.durationNs = 1'234'567'890;
  return record;
}

Poco::JSON::Object::Ptr parse(const std::string& line) {
  Poco::JSON::Parser parser;
  return parser.parse(line).extract<Poco::JSON::Object::Ptr>();
}

TEST(AccessLogTest, CombinedIsNginxsFormat) {
  AccessRecord http2 = sample();
  http2.http2 = true;
  http2.bodyBytes = 0;
  http2.referer = {};
  std::vector<std::string> lines = writeAndRead(AccessLogFormat::Combined, {sample(), http2});
  ASSERT_EQ(lines.size(), 2u);
  std::regex combined(R"(192\.0\.2\.7 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] )"
                      R"("GET /hello/world\?x=1 HTTP/1\.1" 200 1234 "https://example\.com/" "curl/7\.88\.1")");
  EXPECT_TRUE(std::regex_match(lines[0], combined)) << lines[0];
  EXPECT_NE(lines[1].find(R"("GET /hello/world?x=1 HTTP/2.0" 200 - "-" "curl/7.88.1")"), std::string::npos) << lines[1];
}

TEST(AccessLogTest, JsonLineHasEveryField) {
  std::vector<std::string> lines = writeAndRead(AccessLogFormat::Json, {sample()});
  ASSERT_EQ(lines.size(), 1u);
  Poco::JSON::Object::Ptr entry = parse(lines[0]);
  EXPECT_TRUE(std::regex_match(entry->getValue<std::string>("time"),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)")))
      << entry->getValue<std::string>("time");
  EXPECT_EQ(entry->getValue<std::string>("remote_addr"), "192.0.2.7");
  EXPECT_EQ(entry->getValue<std::string>("request_id"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(entry->getValue<std::string>("method"), "GET");
  EXPECT_EQ(entry->getValue<std::string>("target"), "/hello/world?x=1");
  EXPECT_EQ(entry->getValue<std::string>("protocol"), "HTTP/1.1");
  EXPECT_EQ(entry->getValue<int>("status"), 200);
  EXPECT_EQ(entry->getValue<int>("body_bytes"), 1234);
  // Seconds, to the microsecond, as text exactly (a float would hide a formatting slip).
  EXPECT_NE(lines[0].find(R"("request_time":1.234567,)"), std::string::npos) << lines[0];
  EXPECT_EQ(entry->getValue<std::string>("route"), "^/hello/(?P<name>[a-z]+)$");
  EXPECT_EQ(entry->getValue<std::string>("plugin"), "hello");
  EXPECT_EQ(entry->getValue<std::string>("referer"), "https://example.com/");
  EXPECT_EQ(entry->getValue<std::string>("user_agent"), "curl/7.88.1");
}

TEST(AccessLogTest, JsonLeavesOutWhatTheRequestDidNotHave) {
  AccessRecord refused = request("192.0.2.7", {}, {}, 400, 0, {}, {});  // refused before a request line
  AccessRecord file = sample();
  file.plugin = {};
  file.requestId = {};
  file.durationNs = 42'000;
  file.versionMinor = 0;
  std::vector<std::string> lines = writeAndRead(AccessLogFormat::Json, {refused, file});
  ASSERT_EQ(lines.size(), 2u);
  Poco::JSON::Object::Ptr first = parse(lines[0]);
  for (const char* absent : {"request_id", "method", "target", "protocol", "route", "plugin", "referer", "user_agent"})
    EXPECT_TRUE(first->isNull(absent)) << absent << " in " << lines[0];
  EXPECT_EQ(first->getValue<int>("status"), 400);
  EXPECT_NE(lines[0].find(R"("request_time":0.000000,)"), std::string::npos) << lines[0];
  Poco::JSON::Object::Ptr second = parse(lines[1]);
  EXPECT_TRUE(second->isNull("plugin"));
  EXPECT_TRUE(second->isNull("request_id"));
  EXPECT_EQ(second->getValue<std::string>("protocol"), "HTTP/1.0");
  EXPECT_NE(lines[1].find(R"("request_time":0.000042,)"), std::string::npos) << lines[1];
}

TEST(AccessLogTest, HostileTextStaysOneValidJsonLine) {
  AccessRecord hostile = sample();
  std::string target = "/\"},{\"status\":999\n\r\\\x01\x7f\xff\xc3";  // quotes, controls, bad UTF-8
  std::string agent = "caf\xc3\xa9 \xe2\x80\xa8 \"agent\"";           // UTF-8 kept, U+2028 too
  hostile.target = target;
  hostile.userAgent = agent;
  std::vector<std::string> lines = writeAndRead(AccessLogFormat::Json, {hostile, sample()});
  ASSERT_EQ(lines.size(), 2u) << "a line break got through";
  Poco::JSON::Object::Ptr entry = parse(lines[0]);
  EXPECT_EQ(entry->getValue<int>("status"), 200);
  EXPECT_EQ(entry->getValue<std::string>("target"), "/\"},{\"status\":999\n\r\\\x01\x7f\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(entry->getValue<std::string>("user_agent"), agent);
  EXPECT_EQ(parse(lines[1])->getValue<std::string>("target"), "/hello/world?x=1");
}

}  // namespace
}  // namespace microserver::core
