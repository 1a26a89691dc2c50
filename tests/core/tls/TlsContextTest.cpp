// TlsContextTest: certificates from routes.yaml (core/src/tls/TlsContext.cpp): loading,
// the names SNI chooses by, and every certificate problem as a configuration error with
// the place of its value in the file. Certificates are made with the openssl command.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "base/Config.h"
#include "tls/TlsContext.h"

namespace microserver::core {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tls-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ + "/" + name) << text;
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

// <name>.crt and <name>.key in `dir`: self-signed P-256 for `cn`, with `altNames` if given.
void makeCertificate(const TempDir& dir, const std::string& name, const std::string& cn,
                     const std::string& altNames = "") {
  std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" + cn +
      (altNames.empty() ? "" : " -addext subjectAltName=" + altNames) + " -keyout " + dir.path() + "/" + name +
      ".key -out " + dir.path() + "/" + name + ".crt >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl failed: " + command);
}

// The config text's TLS contexts, loaded with `dir` as the config's folder.
TlsContexts loadTls(const TempDir& dir, const std::string& yaml) {
  return TlsContexts::load(loadConfigText(yaml, "routes.yaml", dir.path()));
}

const std::string kHint =
    " (to try TLS out, `./microserver.sh cert` makes a self-signed certificate for localhost; see README, TLS)";

std::string tlsErrorOf(const TempDir& dir, const std::string& yaml) {
  try {
    loadTls(dir, yaml);
  } catch (const ConfigLoadError& e) {
    return e.what();
  }
  return "(loaded without error)";
}

TEST(TlsContextTest, LoadsOneContextPerTlsListenerAndService) {
  TempDir dir;
  makeCertificate(dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
  TlsContexts tls = loadTls(dir, R"(server:
  listen:
    - 127.0.0.1:8080
    - { address: 127.0.0.1:8443, tls: { certificate: server.crt, key: server.key } }
services:
  - { plugin: chat, listen: { address: 127.0.0.1:9998, tls: { certificate: server.crt, key: server.key } } }
  - { plugin: chat, listen: 127.0.0.1:9999 }
)");
  ASSERT_EQ(tls.listeners.size(), 2u);
  EXPECT_EQ(tls.listeners[0], nullptr);
  ASSERT_NE(tls.listeners[1], nullptr);
  // Its DNS names (IP addresses never come in SNI).
  EXPECT_EQ(tls.listeners[1]->names(), (std::vector<std::vector<std::string>>{{"localhost"}}));
  ASSERT_EQ(tls.services.size(), 2u);
  EXPECT_NE(tls.services[0], nullptr);
  EXPECT_EQ(tls.services[1], nullptr);
}

TEST(TlsContextTest, SniSelectsByNameExactBeforeWildcardElseTheFirst) {
  TempDir dir;
  makeCertificate(dir, "default", "Default.Test");  // no SAN: the common name counts
  makeCertificate(dir, "wild", "wild", "DNS:*.b.test");
  makeCertificate(dir, "exact", "exact", "DNS:a.test,DNS:x.b.test");
  TlsContexts tls = loadTls(dir, R"(server:
  listen:
    - address: :8443
      tls:
        certificates:
          - { certificate: default.crt, key: default.key }
          - { certificate: wild.crt, key: wild.key }
          - { certificate: exact.crt, key: exact.key }
)");
  const TlsContext& context = *tls.listeners[0];
  EXPECT_EQ(context.names(),
            (std::vector<std::vector<std::string>>{{"default.test"}, {"*.b.test"}, {"a.test", "x.b.test"}}));
  EXPECT_EQ(context.select("default.test"), 0u);
  EXPECT_EQ(context.select("A.TEST."), 2u);
  EXPECT_EQ(context.select("x.b.test"), 2u);  // exact wins over the wildcard listed earlier
  EXPECT_EQ(context.select("y.b.test"), 1u);
  EXPECT_EQ(context.select("b.test"), 0u);      // a wildcard needs one label more
  EXPECT_EQ(context.select("z.y.b.test"), 0u);  // and exactly one
  EXPECT_EQ(context.select("unknown.test"), 0u);
  EXPECT_EQ(context.select(""), 0u);
}

TEST(TlsContextTest, CertificateProblemsAreErrorsWithTheirPlace) {
  TempDir dir;
  makeCertificate(dir, "a", "a");
  makeCertificate(dir, "b", "b");
  dir.write("garbage.crt", "hello\n");
  dir.write("chain.crt", [&] {
    std::ifstream in(dir.path() + "/a.crt");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text + "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  }());
  ASSERT_EQ(std::system(("openssl pkey -in " + dir.path() + "/a.key -aes256 -passout pass:secret -out " + dir.path() +
                         "/encrypted.key 2>/dev/null")
                            .c_str()),
            0);
  const std::string d = dir.path();

  EXPECT_EQ(
      tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: none.crt, key: a.key } }\n"),
      "routes.yaml:3:44: server.listen[0].tls.certificate: cannot read " + d + "/none.crt: No such file or directory" +
          kHint);
  EXPECT_EQ(
      tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: a.crt, key: none.key } }\n"),
      "routes.yaml:3:56: server.listen[0].tls.key: cannot read " + d + "/none.key: No such file or directory" + kHint);
  EXPECT_EQ(tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: ., key: a.key } }\n"),
            "routes.yaml:3:44: server.listen[0].tls.certificate: cannot read " + d + ": Is a directory");
  EXPECT_EQ(
      tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: garbage.crt, key: a.key } }\n"),
      "routes.yaml:3:44: server.listen[0].tls.certificate: no PEM certificate in " + d +
          "/garbage.crt (expected a block starting with -----BEGIN CERTIFICATE-----)");
  EXPECT_EQ(tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: a.crt, key: a.crt } }\n"),
            "routes.yaml:3:56: server.listen[0].tls.key: no PEM private key in " + d +
                "/a.crt (expected a block starting with -----BEGIN PRIVATE KEY-----)");
  EXPECT_EQ(tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: a.crt, key: b.key } }\n"),
            "routes.yaml:3:56: server.listen[0].tls.key: the key in " + d +
                "/b.key does not match the certificate in " + d + "/a.crt");
  EXPECT_EQ(
      tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: a.crt, key: encrypted.key } }\n"),
      "routes.yaml:3:56: server.listen[0].tls.key: the key in " + d +
          "/encrypted.key is encrypted with a passphrase, which a server cannot type: decrypt it (openssl pkey -in "
          "KEY -out PLAIN_KEY) and keep it private");
  std::string chain =
      tlsErrorOf(dir, "server:\n  listen:\n    - { address: ':1', tls: { certificate: chain.crt, key: a.key } }\n");
  EXPECT_EQ(chain.rfind("routes.yaml:3:44: server.listen[0].tls.certificate: certificate 2 in " + d +
                            "/chain.crt is not valid PEM: ",
                        0),
            0u)
      << chain;
  // Every problem of the file at once, each in its list item.
  EXPECT_EQ(tlsErrorOf(dir, R"(server:
  listen:
    - address: ':1'
      tls:
        certificates:
          - { certificate: a.crt, key: a.key }
          - { certificate: b.crt, key: a.key }
services:
  - { plugin: chat, listen: { address: ':2', tls: { certificate: x.crt, key: b.key } } }
)"),
            "routes.yaml:7:40: server.listen[0].tls.certificates[1].key: the key in " + d +
                "/a.key does not match the certificate in " + d +
                "/b.crt\nroutes.yaml:9:66: services[0].listen.tls.certificate: cannot read " + d +
                "/x.crt: No such file or directory" + kHint);
}

}  // namespace
}  // namespace microserver::core
