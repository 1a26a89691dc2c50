// TlsContext: see TlsContext.h.
#include "tls/TlsContext.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/Log.h"

namespace microserver::core {

namespace {

// TLS 1.2: forward secrecy and AEAD only (Mozilla's "intermediate" list without DHE);
// TLS 1.3 keeps OpenSSL's defaults, which are all of that kind.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Sessions a client may resume without a ticket (TLS 1.2 clients that do not take them),
// and how long a session or ticket stays resumable.
constexpr long kSessionCacheSize = 10'000;
constexpr long kSessionTimeoutSeconds = 3600;
constexpr unsigned char kSessionIdContext[] = "microserver";

// The session ticket keys: random, made once per process and given to every context, so a
// ticket issued before a reload still resumes after it.
const unsigned char* ticketKeys() {
  static unsigned char keys[80];
  static std::once_flag once;
  std::call_once(once, [] {
    if (RAND_bytes(keys, sizeof keys) != 1) log::warning("TLS: no random bytes for the session ticket keys");
  });
  return keys;
}

// Never ask for a passphrase on the terminal: an encrypted key is a configuration error.
int noPassphrase(char*, int, int, void*) { return 0; }

// The reason OpenSSL gives for its last error, or `fallback`; clears OpenSSL's queue.
std::string openSslReason(const std::string& fallback) {
  unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    const char* text = ERR_reason_error_string(code);
    reason = text ? text : "";
  }
  ERR_clear_error();
  return reason.empty() ? fallback : reason;
}

bool readFile(const std::string& path, std::string& text, std::string& why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    why = "cannot read " + path + ": " + std::strerror(error);
    if (error == ENOENT)
      why +=
          " (to try TLS out, `./microserver.sh cert` makes a self-signed certificate for localhost; see README, TLS)";
    return false;
  }
  char buffer[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > (1u << 20)) {
        ::close(fd);
        why = path + " is larger than 1 MiB: not a PEM certificate or key";
        return false;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    int error = errno;
    ::close(fd);
    if (n < 0) {
      why = "cannot read " + path + ": " + std::strerror(error);
      return false;
    }
    return true;
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The DNS names of a certificate's subject alternative names, else its common name.
std::vector<std::string> certificateNames(X509* certificate) {
  std::vector<std::string> names;
  auto* alternatives =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (alternatives) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alternatives); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(alternatives, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                             static_cast<std::size_t>(ASN1_STRING_length(dns)))));
    }
    GENERAL_NAMES_free(alternatives);
  }
  if (!names.empty()) return names;
  X509_NAME* subject = X509_get_subject_name(certificate);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                           static_cast<std::size_t>(ASN1_STRING_length(cn)))));
  }
  return names;
}

// "*.example.com" matches "a.example.com", not "example.com" or "a.b.example.com".
bool nameMatches(const std::string& pattern, std::string_view name, bool wildcard) {
  if (!wildcard) return pattern == name;
  if (pattern.size() < 3 || pattern.compare(0, 2, "*.") != 0) return false;
  std::size_t dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && name.substr(dot) == std::string_view(pattern).substr(1);
}

class Place {
 public:
  Place(const std::string& file, const SourceMark& mark, std::string path)
      : text_(file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column) + ": " + std::move(path) +
              ": ") {}
  std::string operator()(const std::string& what) const { return text_ + what; }

 private:
  std::string text_;
};

// One context with the settings every TLS listener shares.
SSL_CTX* newServerContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Buffers are given back while a connection waits (nginx does the same); a write may
  // complete record by record, and be retried from a buffer that moved (OutputQueue).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_cipher_list(ctx, kTls12Ciphers);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_sess_set_cache_size(ctx, kSessionCacheSize);
  SSL_CTX_set_timeout(ctx, kSessionTimeoutSeconds);
  SSL_CTX_set_tlsext_ticket_keys(ctx, const_cast<unsigned char*>(ticketKeys()), 80);
  SSL_CTX_set_default_passwd_cb(ctx, noPassphrase);
  return ctx;
}

// Loads one certificate (with its chain) and its key into `ctx`; errors name their place.
bool loadCertificate(SSL_CTX* ctx, const TlsCertificateConfig& config, const std::string& file,
                     std::vector<std::string>& names, std::vector<std::string>& errors) {
  const Place certificatePlace(file, config.certificateMark, config.path + ".certificate");
  const Place keyPlace(file, config.keyMark, config.path + ".key");
  std::string certificateText, keyText, why;
  bool ok = true;
  if (!readFile(config.certificate, certificateText, why)) {
    errors.push_back(certificatePlace(why));
    ok = false;
  }
  if (!readFile(config.key, keyText, why)) {
    errors.push_back(keyPlace(why));
    ok = false;
  }
  if (!ok) return false;

  ERR_clear_error();
  BIO* bio = BIO_new_mem_buf(certificateText.data(), static_cast<int>(certificateText.size()));
  X509* leaf = bio ? PEM_read_bio_X509_AUX(bio, nullptr, noPassphrase, nullptr) : nullptr;
  if (!leaf) {
    BIO_free(bio);
    ERR_clear_error();
    errors.push_back(certificatePlace("no PEM certificate in " + config.certificate +
                                      " (expected a block starting with -----BEGIN CERTIFICATE-----)"));
    return false;
  }
  if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
    errors.push_back(certificatePlace("OpenSSL refuses the certificate in " + config.certificate + ": " +
                                      openSslReason("unknown reason")));
    ok = false;
  }
  // The chain: every further certificate in the file.
  std::size_t chainIndex = 1;
  while (ok) {
    X509* next = PEM_read_bio_X509(bio, nullptr, noPassphrase, nullptr);
    if (!next) {
      unsigned long code = ERR_peek_last_error();
      bool end = ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE;
      if (!end) {
        errors.push_back(certificatePlace("certificate " + std::to_string(chainIndex + 1) + " in " +
                                          config.certificate +
                                          " is not valid PEM: " + openSslReason("unknown reason")));
        ok = false;
      }
      ERR_clear_error();
      break;
    }
    if (SSL_CTX_add0_chain_cert(ctx, next) != 1) {
      X509_free(next);
      errors.push_back(certificatePlace("OpenSSL refuses certificate " + std::to_string(chainIndex + 1) + " in " +
                                        config.certificate + ": " + openSslReason("unknown reason")));
      ok = false;
    }
    ++chainIndex;
  }
  BIO_free(bio);
  if (ok) {
    names = certificateNames(leaf);
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
      log::warning(certificatePlace("the certificate in " + config.certificate +
                                    " has expired: clients will refuse it; renew it"));
  }
  X509_free(leaf);
  if (!ok) return false;

  bio = BIO_new_mem_buf(keyText.data(), static_cast<int>(keyText.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, noPassphrase, nullptr) : nullptr;
  BIO_free(bio);
  if (!key) {
    ERR_clear_error();
    bool encrypted = keyText.find("ENCRYPTED") != std::string::npos;
    errors.push_back(keyPlace(encrypted ? "the key in " + config.key +
                                              " is encrypted with a passphrase, which a server cannot type: "
                                              "decrypt it (openssl pkey -in KEY -out PLAIN_KEY) and keep it private"
                                        : "no PEM private key in " + config.key +
                                              " (expected a block starting with -----BEGIN PRIVATE KEY-----)"));
    return false;
  }
  // (SSL_CTX_use_PrivateKey already compares the key with the certificate.)
  if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    errors.push_back(keyPlace("the key in " + config.key + " does not match the certificate in " + config.certificate));
    ok = false;
  }
  EVP_PKEY_free(key);
  return ok;
}

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::create(const TlsConfig& config, const std::string& file,
                                                     std::vector<std::string> alpn, std::vector<std::string>& errors) {
  std::shared_ptr<TlsContext> context(new TlsContext);
  for (const std::string& protocol : alpn) {
    context->alpnWire_.push_back(static_cast<char>(protocol.size()));
    context->alpnWire_ += protocol;
  }
  const std::size_t errorsBefore = errors.size();
  for (const TlsCertificateConfig& certificateConfig : config.certificates) {
    Certificate certificate;
    certificate.ctx = newServerContext();
    if (!certificate.ctx) {
      errors.push_back(Place(file, config.mark, certificateConfig.path)("OpenSSL cannot make a TLS context: " +
                                                                        openSslReason("out of memory?")));
      continue;
    }
    SSL_CTX_set_tlsext_servername_callback(certificate.ctx, &TlsContext::onServerName);
    SSL_CTX_set_tlsext_servername_arg(certificate.ctx, context.get());
    if (!context->alpnWire_.empty()) SSL_CTX_set_alpn_select_cb(certificate.ctx, &TlsContext::onAlpn, context.get());
    loadCertificate(certificate.ctx, certificateConfig, file, certificate.names, errors);
    context->certificates_.push_back(std::move(certificate));
  }
  if (errors.size() > errorsBefore || context->certificates_.empty()) return nullptr;
  return context;
}

TlsContext::~TlsContext() {
  for (Certificate& certificate : certificates_) SSL_CTX_free(certificate.ctx);
}

ssl_st* TlsContext::newConnection(int fd) const {
  ERR_clear_error();
  SSL* ssl = SSL_new(certificates_.front().ctx);
  if (!ssl) return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

std::vector<std::vector<std::string>> TlsContext::names() const {
  std::vector<std::vector<std::string>> out;
  for (const Certificate& certificate : certificates_) out.push_back(certificate.names);
  return out;
}

std::size_t TlsContext::select(std::string_view serverName) const {
  std::string name = lower(serverName);
  if (!name.empty() && name.back() == '.') name.pop_back();
  // Exact names first, then wildcards, each in configuration order (nginx's order).
  for (bool wildcard : {false, true})
    for (std::size_t i = 0; i < certificates_.size(); ++i)
      for (const std::string& pattern : certificates_[i].names)
        if (nameMatches(pattern, name, wildcard)) return i;
  return 0;
}

int TlsContext::onServerName(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name || self->certificates_.size() < 2) return SSL_TLSEXT_ERR_OK;
  std::size_t index = self->select(name);
  if (index != 0) SSL_set_SSL_CTX(ssl, self->certificates_[index].ctx);
  return SSL_TLSEXT_ERR_OK;
}

int TlsContext::onAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                       unsigned int inlen, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  unsigned char* selected = nullptr;
  int result = SSL_select_next_proto(&selected, outlen, reinterpret_cast<const unsigned char*>(self->alpnWire_.data()),
                                     static_cast<unsigned int>(self->alpnWire_.size()), in, inlen);
  if (result != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;  // go on without ALPN
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

TlsContexts TlsContexts::load(const Config& config) {
  TlsContexts out;
  std::vector<std::string> errors;
  for (const ListenConfig& listener : config.server.listen)
    out.listeners.push_back(listener.tls ? TlsContext::create(*listener.tls, config.file, {"h2", "http/1.1"}, errors)
                                         : nullptr);
  for (const ServiceConfig& service : config.services)
    out.services.push_back(service.listen.tls ? TlsContext::create(*service.listen.tls, config.file, {}, errors)
                                              : nullptr);
  if (!errors.empty()) throw ConfigLoadError(errors);
  return out;
}

}  // namespace microserver::core
