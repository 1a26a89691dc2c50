// digest: the SHA-256 of a request body of any size, read piece by piece as it arrives:
// the example of a streamed request body. The server's memory stays flat whatever the
// size: each piece is hashed and dropped, and while the plugin is behind the server stops
// reading from the client (flow control), so nothing piles up.
//
//   routes:
//     - { path: '^/api/digest$', methods: [POST, PUT], handler: digest, body: stream, body_bytes: 1GiB }
//
//   curl -s --data-binary @ubuntu.iso http://127.0.0.1:8080/api/digest
//       -> 200 {"sha256":"e3b0c442...","bytes":1468006400}
//   head -c 2G /dev/zero | curl -s -T - http://127.0.0.1:8080/api/digest
//       -> 413 (over the route's body_bytes), and the connection closes
//
// On a route without `body: stream` it works too (the whole body arrives as one piece),
// limited by the route's body_bytes like any buffered body. The hashing is OpenSSL's.
#include <openssl/evp.h>
#include <microserver/Plugin.h>

#include <memory>
#include <string>

namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";

// One body's hash; lives as long as the reader's callbacks (the reactor thread's).
class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("OpenSSL cannot start a SHA-256");
  }
  void update(std::string_view piece) {
    EVP_DigestUpdate(context_.get(), piece.data(), piece.size());
    bytes_ += piece.size();
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(context_.get(), digest, &length);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
      out.push_back(kHex[digest[i] >> 4]);
      out.push_back(kHex[digest[i] & 15]);
    }
    return out;
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context_;
  std::uint64_t bytes_ = 0;
};

class DigestHandler : public microserver::Handler {
 public:
  explicit DigestHandler(const microserver::PluginContext& context) { context.config.allowKeys({}); }

  void handle(const microserver::Request&, microserver::Response& response) override {
    microserver::Responder later = response.defer();
    later.setContentType(kJson);
    auto hash = std::make_shared<Sha256>();
    later.readBody(
        [hash](std::string_view piece) {
          hash->update(piece);
          return microserver::BodyAction::Continue;
        },
        [hash, later](bool complete) mutable {
          // An aborted body has nobody left to answer (or the server answered it).
          if (!complete) return;
          later.finish(R"({"sha256":")" + hash->hex() + R"(","bytes":)" + std::to_string(hash->bytes()) + "}\n");
        });
  }
};

}  // namespace

MICROSERVER_PLUGIN("digest", "1.0.0", "POST /api/digest: the SHA-256 of a streamed body", DigestHandler)
