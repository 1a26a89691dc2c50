// Tests for Compression: both encodings round-trip through their decoders, and plugin
// answers are compressed only when that is right.
#include "site/Compression.h"

#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace {

using microserver::core::Coding;
using microserver::core::compress;
using microserver::core::compressAnswer;
using microserver::core::compressibleType;
using microserver::core::Effort;
using microserver::core::Response;

std::string gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

std::string unbrotli(const std::string& in) {
  std::string out(1 << 20, '\0');
  std::size_t size = out.size();
  EXPECT_EQ(BrotliDecoderDecompress(in.size(), reinterpret_cast<const uint8_t*>(in.data()), &size,
                                    reinterpret_cast<uint8_t*>(out.data())),
            BROTLI_DECODER_RESULT_SUCCESS);
  out.resize(size);
  return out;
}

std::string css(std::size_t bytes) {
  std::string text;
  for (int i = 0; text.size() < bytes; ++i) text += ".rule-" + std::to_string(i) + " { color: #123456; margin: 0 auto }\n";
  text.resize(bytes);
  return text;
}

TEST(CompressTest, BothEncodingsRoundTripAtBothEfforts) {
  const std::string text = css(20 * 1024);
  for (Effort effort : {Effort::Fast, Effort::Best}) {
    std::string packed;
    ASSERT_TRUE(compress(Coding::Gzip, text, effort, packed));
    EXPECT_LT(packed.size(), text.size() / 3);
    EXPECT_EQ(gunzip(packed), text);
    ASSERT_TRUE(compress(Coding::Brotli, text, effort, packed));
    EXPECT_LT(packed.size(), text.size() / 3);
    EXPECT_EQ(unbrotli(packed), text);
  }
}

TEST(CompressTest, IncompressibleBytesAreRefused) {
  std::mt19937 random(42);
  std::string noise(8192, '\0');
  for (char& c : noise) c = static_cast<char>(random());
  std::string packed;
  EXPECT_FALSE(compress(Coding::Gzip, noise, Effort::Best, packed));
  EXPECT_FALSE(compress(Coding::Brotli, noise, Effort::Best, packed));
  EXPECT_FALSE(compress(Coding::Identity, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Effort::Fast, packed));
}

TEST(CompressibleTypeTest, TextAndStructuredFormatsOnly) {
  for (const char* type : {"text/html; charset=utf-8", "TEXT/CSS", "application/json", "application/javascript",
                           "image/svg+xml", "application/problem+json", "application/vnd.api+json",
                           "application/soap+xml", "application/wasm"})
    EXPECT_TRUE(compressibleType(type)) << type;
  for (const char* type : {"image/png", "image/jpeg", "application/octet-stream", "video/mp4", "application/zip",
                           "font/woff2", "", "text/", "+json"})
    EXPECT_FALSE(compressibleType(type)) << type;
}

Response jsonAnswer(std::size_t bytes) {
  Response r;
  r.setStatus(200);
  r.setContentType("application/json");
  std::string body = "[";
  while (body.size() < bytes) body += "{\"id\":1,\"name\":\"microserver\"},";
  body.back() = ']';
  r.setBody(std::move(body));
  return r;
}

TEST(CompressAnswerTest, PrefersBrotliThenGzipAndVaries) {
  Response r = jsonAnswer(4096);
  const std::string original = r.body();
  ASSERT_TRUE(compressAnswer(r, "gzip, deflate, br"));
  EXPECT_EQ(r.header("Content-Encoding"), "br");
  EXPECT_EQ(r.header("Vary"), "Accept-Encoding");
  EXPECT_EQ(unbrotli(r.body()), original);

  Response g = jsonAnswer(4096);
  ASSERT_TRUE(compressAnswer(g, "gzip"));
  EXPECT_EQ(g.header("Content-Encoding"), "gzip");
  EXPECT_EQ(gunzip(g.body()), original);
}

TEST(CompressAnswerTest, WithoutAcceptEncodingOnlyVaries) {
  Response r = jsonAnswer(4096);
  const std::string original = r.body();
  EXPECT_FALSE(compressAnswer(r, ""));
  EXPECT_EQ(r.header("Vary"), "Accept-Encoding");
  EXPECT_EQ(r.header("Content-Encoding"), "");
  EXPECT_EQ(r.body(), original);
  Response refused = jsonAnswer(4096);
  EXPECT_FALSE(compressAnswer(refused, "br;q=0, gzip;q=0"));
  EXPECT_EQ(refused.body(), original);
}

TEST(CompressAnswerTest, LeavesAloneWhatMustNotChange) {
  Response small = jsonAnswer(100);
  EXPECT_FALSE(compressAnswer(small, "br"));
  EXPECT_EQ(small.header("Vary"), "");

  Response partial = jsonAnswer(4096);
  partial.setStatus(206);
  EXPECT_FALSE(compressAnswer(partial, "br"));

  Response image = jsonAnswer(4096);
  image.setContentType("image/png");
  EXPECT_FALSE(compressAnswer(image, "br"));

  Response encoded = jsonAnswer(4096);
  encoded.addHeader("Content-Encoding", "gzip");
  EXPECT_FALSE(compressAnswer(encoded, "br"));

  Response noTransform = jsonAnswer(4096);
  noTransform.addHeader("Cache-Control", "public, no-transform");
  EXPECT_FALSE(compressAnswer(noTransform, "br"));
  EXPECT_EQ(noTransform.header("Content-Encoding"), "");
}

TEST(CompressAnswerTest, AStrongETagTurnsWeak) {
  Response r = jsonAnswer(4096);
  r.addHeader("ETag", "\"v1\"");
  ASSERT_TRUE(compressAnswer(r, "gzip"));
  EXPECT_EQ(r.header("ETag"), "W/\"v1\"");
  Response weak = jsonAnswer(4096);
  weak.addHeader("ETag", "W/\"v1\"");
  ASSERT_TRUE(compressAnswer(weak, "gzip"));
  EXPECT_EQ(weak.header("ETag"), "W/\"v1\"");
}

}  // namespace
