// Compression: see Compression.h.
#include "site/Compression.h"

#include <brotli/encode.h>
#include <zlib.h>

#include "microserver/Text.h"

namespace microserver::core {

namespace {

bool gzip(std::string_view in, int level, std::string& out) {
  z_stream z{};
  // 15 + 16: a gzip wrapper (not zlib's), the usual 32 KiB window.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int r = deflate(&z, Z_FINISH);
  std::size_t produced = out.size() - z.avail_out;
  deflateEnd(&z);
  if (r != Z_STREAM_END) return false;
  out.resize(produced);
  return true;
}

bool brotli(std::string_view in, int quality, std::string& out) {
  std::size_t size = BrotliEncoderMaxCompressedSize(in.size());
  if (size == 0) size = in.size() + 1024;
  out.resize(size);
  // A 4 MiB window at most: browsers decode any, and bigger only helps bigger files.
  int window = in.size() > (1u << 22) ? 22 : BROTLI_DEFAULT_WINDOW;
  if (!BrotliEncoderCompress(quality, window, BROTLI_MODE_TEXT, in.size(), reinterpret_cast<const uint8_t*>(in.data()),
                             &size, reinterpret_cast<uint8_t*>(out.data())))
    return false;
  out.resize(size);
  return true;
}

}  // namespace

bool compress(Coding coding, std::string_view in, Effort effort, std::string& out) {
  out.clear();
  bool ok = false;
  if (coding == Coding::Gzip) ok = gzip(in, effort == Effort::Best ? 9 : 5, out);
  // Brotli's top qualities cost ~100x its fast ones: worth it once for a file kept in the
  // cache and sent many times, not for one answer. Big files get a middle one.
  if (coding == Coding::Brotli)
    ok = brotli(in, effort == Effort::Fast ? 4 : in.size() > (1u << 20) ? 7 : 11, out);
  return ok && out.size() < in.size();
}

bool compressibleType(std::string_view type) {
  std::size_t semicolon = type.find(';');
  std::string_view media = trimOws(type.substr(0, semicolon));
  if (media.size() > 5 && equalsIgnoreCase(media.substr(0, 5), "text/")) return true;
  for (std::string_view t : {"application/json", "application/javascript", "application/xml", "application/wasm",
                             "image/svg+xml", "application/manifest+json", "application/ld+json",
                             "application/rss+xml", "application/atom+xml", "application/x-javascript",
                             "font/ttf", "font/otf", "application/vnd.ms-fontobject"})
    if (equalsIgnoreCase(media, t)) return true;
  return media.size() > 5 && (media.substr(media.size() - 5) == "+json" || media.substr(media.size() - 4) == "+xml");
}

bool compressAnswer(Response& response, std::string_view acceptEncoding) {
  // 200..203 only: 204/205 have no body, and a 206's Content-Range counts identity bytes.
  if (response.status() < 200 || response.status() > 203 || response.hasFile() || response.streamed() ||
      response.body().size() < kMinCompressBytes || !compressibleType(response.contentType()) ||
      !response.header("Content-Encoding").empty() ||
      response.header("Cache-Control").find("no-transform") != std::string_view::npos)
    return false;
  // Another client may get another encoding of this answer: caches must know.
  response.addHeader("Vary", "Accept-Encoding");
  if (acceptEncoding.empty()) return false;
  bool refused = false;
  Coding coding = chooseCoding(acceptEncoding, {Coding::Brotli, Coding::Gzip}, refused);
  if (coding == Coding::Identity) return false;
  std::string packed;
  if (!compress(coding, response.body(), Effort::Fast, packed)) return false;
  response.setBody(std::move(packed));
  response.addHeader("Content-Encoding", codingName(coding));
  std::string_view etag = response.header("ETag");
  if (!etag.empty() && etag.substr(0, 2) != "W/") {
    std::string weak = "W/" + std::string(etag);
    response.replaceHeader("ETag", weak);
  }
  return true;
}

}  // namespace microserver::core
