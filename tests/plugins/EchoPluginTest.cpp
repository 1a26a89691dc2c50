// The echo plugin as built: loaded from the plugin folder and called in-process.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "PluginTestSupport.h"

namespace {

using plugintest::LoadedHandler;
using plugintest::TestRequest;

const std::string kJson = "application/json; charset=utf-8";

TestRequest post(std::string body, std::string query = "") {
  TestRequest request;
  request.method = "POST";
  request.path = "/api/echo";
  request.target = query.empty() ? request.path : request.path + "?" + query;
  request.query = std::move(query);
  request.body = std::move(body);
  return request;
}

std::string configError(const std::string& configYaml) {
  try {
    LoadedHandler echo("echo", configYaml);
  } catch (const microserver::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

// --- an independent, strict reader for what the plugin writes --------------------------

// Decodes one code point of well-formed UTF-8 at text[i] (advancing i); false if the
// bytes there are not well-formed: computed arithmetically, unlike the plugin's table.
bool nextCodePoint(const std::string& text, std::size_t& i, std::uint32_t& cp) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : (lead >> 3) == 30 ? 4 : 0;
  if (length == 0 || i + length > text.size()) return false;
  cp = length == 1 ? lead : lead & (0xFF >> (length + 1));
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  std::uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < minimum[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += length;
  return true;
}

// A minimal strict JSON reader: objects, arrays, strings, integers. Strings must be
// well-formed UTF-8 without raw control characters; `strings` collects them decoded.
class JsonReader {
 public:
  explicit JsonReader(const std::string& text) : text_(text) {}
  bool document() {
    if (!value()) return false;
    if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
    return pos_ == text_.size();
  }
  std::vector<std::string> strings;

 private:
  bool value() {
    if (pos_ >= text_.size()) return false;
    char c = text_[pos_];
    if (c == '"') return string();
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++pos_;
      if (peek(close)) return expect(close);
      for (;;) {
        if (c == '{' && !(string() && expect(':'))) return false;
        if (!value()) return false;
        if (peek(',')) {
          ++pos_;
          continue;
        }
        return expect(close);
      }
    }
    std::size_t start = pos_;
    if (peek('-')) ++pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start && !(text_[start] == '0' && pos_ - start > 1);
  }
  bool string() {
    if (!expect('"')) return false;
    std::string decoded;
    while (pos_ < text_.size()) {
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        strings.push_back(decoded);
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) return false;
        char e = text_[pos_ + 1];
        if (e == '"' || e == '\\' || e == '/') {
          decoded.push_back(e);
          pos_ += 2;
          continue;
        }
        if (e != 'u' || pos_ + 6 > text_.size()) return false;  // the plugin writes no \n, \t
        std::uint32_t cp = static_cast<std::uint32_t>(std::stoul(text_.substr(pos_ + 2, 4), nullptr, 16));
        if (cp >= 0x80) return false;  // the plugin only escapes ASCII
        decoded.push_back(static_cast<char>(cp));
        pos_ += 6;
        continue;
      }
      std::size_t start = pos_;
      std::uint32_t cp = 0;
      if (!nextCodePoint(text_, pos_, cp)) return false;
      decoded.append(text_, start, pos_ - start);
    }
    return false;
  }
  bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool expect(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  const std::string& text_;
  std::size_t pos_ = 0;
};

// The "body" member of the plugin's JSON answer, decoded (the last string it holds).
std::string bodyOfJson(const std::string& json) {
  JsonReader reader(json);
  EXPECT_TRUE(reader.document()) << "not valid JSON: " << json;
  return reader.strings.empty() ? "" : reader.strings.back();
}

bool isWellFormedUtf8(const std::string& text) {
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < text.size();)
    if (!nextCodePoint(text, i, cp)) return false;
  return true;
}

// --- the body, as sent -------------------------------------------------------------------

TEST(EchoPlugin, AnswersTheBodyWithTheRequestsContentType) {
  LoadedHandler echo("echo", "");
  TestRequest request = post("{\"a\": 1}");
  request.headers = {{"content-type", "application/json"}};
  plugintest::Answer response = echo.call(request);
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body(), "{\"a\": 1}");
  EXPECT_EQ(response.contentType(), "application/json");
  EXPECT_EQ(response.headerBlock(), "");
}

TEST(EchoPlugin, DefaultsTheContentTypeToOctetStream) {
  LoadedHandler echo("echo", "");
  plugintest::Answer response = echo.call(post("raw"));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.contentType(), "application/octet-stream");
}

TEST(EchoPlugin, AnswersAnEmptyBodyWithAnEmptyBody) {
  LoadedHandler echo("echo", "");
  plugintest::Answer response = echo.call(post(""));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body(), "");
}

TEST(EchoPlugin, KeepsNulAndNonUtf8BytesExactly) {
  LoadedHandler echo("echo", "");
  std::string body("a\0b\0\xff\xfe\r\n\0", 9);
  plugintest::Answer response = echo.call(post(body));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body(), body);
}

TEST(EchoPlugin, AnswersAOneMebibyteBodyByteForByte) {
  LoadedHandler echo("echo", "");
  std::string body(1024 * 1024, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 131 + i / 7) & 0xFF);
  plugintest::Answer response = echo.call(post(body));
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body().size(), body.size());
  EXPECT_TRUE(response.body() == body);  // not EXPECT_EQ: a mismatch would print 2 MiB
}

// --- the JSON description ------------------------------------------------------------------

TEST(EchoPlugin, DescribesTheRequestAsJsonWithHeadersOne) {
  LoadedHandler echo("echo", "");
  TestRequest request = post("hi", "headers=1&x=%20y");
  request.headers = {{"Host", "127.0.0.1:8080"}, {"X-Quote", "say \"hi\" \\o/"}};
  plugintest::Answer response = echo.call(request);
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.contentType(), kJson);
  EXPECT_EQ(response.body(), R"({"method":"POST","path":"/api/echo","query":"headers=1&x=%20y",)"
                             R"("remote":"127.0.0.1:40000","request_id":"4c1f0b6e9a8d7c2b5e3f1a0d9c8b7a6e",)"
                             R"("headers":[["Host","127.0.0.1:8080"],["X-Quote","say \"hi\" \\o/"]],"body":"hi"})"
                             "\n");
}

TEST(EchoPlugin, DescribesARequestWithoutHeadersAsAnEmptyList) {
  LoadedHandler echo("echo", "");
  TestRequest request = post("", "headers");
  request.id = "";  // ids off
  plugintest::Answer response = echo.call(request);
  EXPECT_EQ(response.body(), R"({"method":"POST","path":"/api/echo","query":"headers","remote":"127.0.0.1:40000",)"
                             R"("request_id":"","headers":[],"body":""})"
                             "\n");
}

TEST(EchoPlugin, ConfigHeadersTrueMakesJsonTheDefaultAndHeadersZeroTurnsItOff) {
  LoadedHandler echo("echo", "{ headers: true }");
  plugintest::Answer json = echo.call(post("x"));
  EXPECT_EQ(json.contentType(), kJson);
  EXPECT_EQ(bodyOfJson(json.body()), "x");
  plugintest::Answer raw = echo.call(post("x", "headers=0"));
  EXPECT_EQ(raw.body(), "x");
  EXPECT_EQ(raw.contentType(), "application/octet-stream");
  EXPECT_EQ(echo.call(post("x", "headers=false")).body(), "x");
  EXPECT_EQ(echo.call(post("x", "headers=true")).contentType(), kJson);
}

TEST(EchoPlugin, RefusesAnUnknownHeadersValueWithA400) {
  LoadedHandler echo("echo", "");
  plugintest::Answer response = echo.call(post("x", "headers=ja%22"));
  EXPECT_EQ(response.status(), 400);
  EXPECT_EQ(response.contentType(), kJson);
  EXPECT_EQ(response.body(), R"({"error":"headers must be 1 or 0","headers":"ja\""})"
                             "\n");
}

TEST(EchoPlugin, EscapesQuotesBackslashesAndEveryControlCharacter) {
  LoadedHandler echo("echo", "");
  std::string body;
  for (int c = 0; c < 0x20; ++c) body.push_back(static_cast<char>(c));
  body += "\"\\/\x7f";
  plugintest::Answer response = echo.call(post(body, "headers=1"));
  std::string expected =
      R"("body":")"
      R"(\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f)"
      R"(\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f)"
      "\\\"\\\\/\x7f\"}\n";
  ASSERT_GE(response.body().size(), expected.size());
  EXPECT_EQ(response.body().substr(response.body().size() - expected.size()), expected);
  EXPECT_EQ(bodyOfJson(response.body()), body);
}

TEST(EchoPlugin, KeepsWellFormedUtf8AsItIs) {
  LoadedHandler echo("echo", "");
  std::string body = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf \xef\xbf\xbd";
  plugintest::Answer response = echo.call(post(body, "headers=1"));
  EXPECT_NE(response.body().find("\"body\":\"" + body + "\"}"), std::string::npos) << response.body();
}

// Decision: bytes that are not UTF-8 become U+FFFD, one per maximal subpart (Unicode 3.9,
// WHATWG), not \u00XX of the byte, which would read as a Latin-1 character.
TEST(EchoPlugin, ReplacesBytesThatAreNotUtf8WithOneReplacementCharacterPerMaximalSubpart) {
  const std::string r = "\xef\xbf\xbd";  // U+FFFD
  struct Case {
    std::string in, out;
  };
  const Case cases[] = {
      {"\xff", r},                               // never valid in UTF-8
      {"a\x80z", "a" + r + "z"},                 // a stray continuation byte
      {"\xc0\xaf", r + r},                       // overlong '/': C0 never starts anything
      {"\xe0\x80\xaf", r + r + r},               // overlong: E0 needs A0..BF next
      {"\xed\xa0\x80", r + r + r},               // a UTF-16 surrogate (U+D800)
      {"\xf4\x90\x80\x80", r + r + r + r},       // above U+10FFFF
      {"\xf5\x80", r + r},                       // F5 never starts anything
      {"\xe2\x82", r},                           // truncated at the end: one subpart
      {"\xe2\x82z", r + "z"},                    // cut short by ASCII
      {"\xf0\x9f\x98\xc3\xa9", r + "\xc3\xa9"},  // cut short by a valid sequence
      {"\xe9t\xe9", r + "t" + r},                // Latin-1 "été"
  };
  LoadedHandler echo("echo", "");
  for (const Case& c : cases) {
    plugintest::Answer response = echo.call(post(c.in, "headers=1"));
    EXPECT_TRUE(isWellFormedUtf8(response.body()));
    EXPECT_EQ(bodyOfJson(response.body()), c.out) << "input bytes: " << testing::PrintToString(c.in);
  }
}

TEST(EchoPlugin, AnswersValidJsonForAnyBytesAndRoundTripsValidUtf8) {
  LoadedHandler echo("echo", "");
  std::mt19937 random(20261126);
  // Biased towards the interesting bytes: controls, quotes, lead and continuation bytes.
  const char controls[] = "\0\x01\x1f \"\\/az\x7f";
  const std::string alphabet =
      std::string(controls, sizeof controls - 1) +
      "\x80\xbf\xc0\xc1\xc2\xdf\xe0\xe1\xec\xed\xee\xef\xf0\xf1\xf3\xf4\xf5\xff\xa0\x9f\x90\x8f";
  int validSeen = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string body(random() % 24, '\0');
    for (char& c : body) c = alphabet[random() % alphabet.size()];
    plugintest::Answer response = echo.call(post(body, "headers=1"));
    ASSERT_TRUE(isWellFormedUtf8(response.body())) << testing::PrintToString(body);
    std::string decoded = bodyOfJson(response.body());
    if (isWellFormedUtf8(body)) {
      ++validSeen;
      ASSERT_EQ(decoded, body);
    }
  }
  EXPECT_GT(validSeen, 100);  // the round trip was really exercised
}

TEST(EchoPlugin, DescribesAOneMebibyteBodyAsValidJson) {
  LoadedHandler echo("echo", "");
  std::string body(1024 * 1024, 'x');
  for (std::size_t i = 0; i < body.size(); i += 1000) body[i] = static_cast<char>(i % 256);
  plugintest::Answer response = echo.call(post(body, "headers=1"));
  EXPECT_EQ(response.status(), 200);
  EXPECT_TRUE(isWellFormedUtf8(response.body()));
  JsonReader reader(response.body());
  EXPECT_TRUE(reader.document());
}

// --- max_body ---------------------------------------------------------------------------

TEST(EchoPlugin, AcceptsABodyOfExactlyMaxBody) {
  LoadedHandler echo("echo", "{ max_body: 4 }");
  EXPECT_EQ(echo.call(post("abcd")).status(), 200);
}

TEST(EchoPlugin, AnswersALargerBodyWith413AndAJsonError) {
  LoadedHandler echo("echo", "{ max_body: 4 }");
  for (const char* query : {"", "headers=1"}) {
    plugintest::Answer response = echo.call(post("abcde", query));
    EXPECT_EQ(response.status(), 413);
    EXPECT_EQ(response.contentType(), kJson);
    EXPECT_EQ(response.body(), R"({"error":"body too large","size":5,"max_body":4})"
                               "\n");
  }
}

TEST(EchoPlugin, MaxBodyZeroAllowsOnlyEmptyBodies) {
  LoadedHandler echo("echo", "{ max_body: 0 }");
  EXPECT_EQ(echo.call(post("")).status(), 200);
  EXPECT_EQ(echo.call(post("x")).status(), 413);
}

// --- config -----------------------------------------------------------------------------

TEST(EchoPlugin, RefusesAnUnknownConfigKeyWithItsPlace) {
  EXPECT_EQ(configError("{ header: true }"),
            "routes.yaml:4:15: routes[0].config.header: unknown key 'header' (expected one of: headers, max_body)");
}

TEST(EchoPlugin, RefusesAHeadersValueThatIsNotABool) {
  EXPECT_EQ(configError("{ headers: maybe }"),
            "routes.yaml:4:24: routes[0].config.headers: expected true or false, got 'maybe'");
}

TEST(EchoPlugin, RefusesANegativeOrNonNumericMaxBody) {
  EXPECT_EQ(configError("{ max_body: -1 }"),
            "routes.yaml:4:25: routes[0].config.max_body: value -1 is out of range [0, 9223372036854775807]");
  EXPECT_EQ(configError("{ max_body: 1MiB }"),
            "routes.yaml:4:25: routes[0].config.max_body: expected an integer, got '1MiB'");
}

TEST(EchoPlugin, RefusesAConfigThatIsNotAMap) {
  EXPECT_EQ(configError("[headers]"), "routes.yaml:4:13: routes[0].config: expected a map");
}

TEST(EchoPlugin, DescribesItself) {
  LoadedHandler echo("echo", "");
  EXPECT_STREQ(echo.descriptor().name, "echo");
  EXPECT_STREQ(echo.descriptor().abi, MS_ABI_DIGEST);
}

}  // namespace
