#include "TlsClient.h"

#include "Command.h"
#include "ServerProcess.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace e2e {

Certificate makeCertificate(const TempDir& dir, const std::string& name, const std::string& commonName,
                            const std::string& altNames) {
  Certificate c{dir.path() + "/" + name + ".crt", dir.path() + "/" + name + ".key"};
  CommandResult r = runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                "-nodes", "-days", "2", "-subj", "/CN=" + commonName, "-addext",
                                "subjectAltName=" + altNames, "-keyout", c.key, "-out", c.certificate},
                               std::chrono::seconds(30));
  if (r.exitCode != 0) throw std::runtime_error("openssl req failed: " + r.out + r.err);
  return c;
}

namespace {

std::string sslReason(const std::string& what) {
  unsigned long code = ERR_get_error();
  std::string reason =
      code ? ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "?" : std::strerror(errno);
  ERR_clear_error();
  return what + ": " + reason;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string s) {
  for (char& c : s) c = lower(c);
  return s;
}

}  // namespace

TlsClient::TlsClient(int port, const std::string& serverName) : TlsClient(port, Options{serverName, 0, "", ""}) {}

TlsClient::TlsClient(int port, const Options& options, std::chrono::milliseconds timeout) : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (options.receiveBuffer > 0)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &options.receiveBuffer, sizeof options.receiveBuffer);
  struct timeval tv {};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in address {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<struct sockaddr*>(&address), sizeof address) != 0) {
    int error = errno;
    ::close(fd_);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(error));
  }
  ctx_ = SSL_CTX_new(TLS_client_method());
  ssl_ = ctx_ ? SSL_new(ctx_) : nullptr;
  if (!ssl_) {
    SSL_CTX_free(ctx_);
    ::close(fd_);
    throw std::runtime_error(sslReason("SSL_new"));
  }
  SSL_set_fd(ssl_, fd_);
  if (!options.serverName.empty()) SSL_set_tlsext_host_name(ssl_, options.serverName.c_str());
  if (!options.alpn.empty()) {
    std::string wire(1, static_cast<char>(options.alpn.size()));
    wire += options.alpn;
    SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  if (!options.session.empty()) {
    BIO* bio = BIO_new_mem_buf(options.session.data(), static_cast<int>(options.session.size()));
    SSL_SESSION* session = PEM_read_bio_SSL_SESSION(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (session) {
      SSL_set_session(ssl_, session);
      SSL_SESSION_free(session);
    }
  }
  if (SSL_connect(ssl_) != 1) {
    std::string why = sslReason("TLS handshake with 127.0.0.1:" + std::to_string(port) + " failed");
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
    throw std::runtime_error(why);
  }
}

TlsClient::~TlsClient() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

std::string TlsClient::peerCommonName() const {
  X509* certificate = SSL_get1_peer_certificate(ssl_);
  if (!certificate) return {};
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, name, sizeof name);
  X509_free(certificate);
  return name;
}

std::string TlsClient::version() const { return SSL_get_version(ssl_); }

std::string TlsClient::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &data, &length);
  return data ? std::string(reinterpret_cast<const char*>(data), length) : std::string();
}

bool TlsClient::resumed() const { return SSL_session_reused(ssl_) == 1; }

std::string TlsClient::session() const {
  SSL_SESSION* session = SSL_get1_session(ssl_);
  if (!session) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_SSL_SESSION(bio, session);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  SSL_SESSION_free(session);
  return out;
}

void TlsClient::sendAll(std::string_view data) {
  while (!data.empty()) {
    int n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
    if (n <= 0) throw std::runtime_error(sslReason("TLS write failed"));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void TlsClient::sendCloseNotify() {
  if (SSL_shutdown(ssl_) < 0) throw std::runtime_error(sslReason("sending close_notify failed"));
}

bool TlsClient::fill(const char* waitingFor) {
  char buffer[16 * 1024];
  int n = SSL_read(ssl_, buffer, sizeof buffer);
  if (n > 0) {
    buf_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  int error = SSL_get_error(ssl_, n);
  if (error == SSL_ERROR_ZERO_RETURN) return false;
  if (error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
    throw std::runtime_error(std::string("timed out waiting for ") + waitingFor);
  if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return false;  // closed without close_notify
  throw std::runtime_error(sslReason(std::string("TLS read failed while waiting for ") + waitingFor));
}

HttpResponse TlsClient::readResponse(std::string_view requestMethod) {
  std::size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (!fill("a response head")) throw std::runtime_error("the server closed before a response head: " + buf_);
  HttpResponse r;
  std::string head = buf_.substr(0, end + 2);
  buf_.erase(0, end + 4);
  std::size_t lineEnd = head.find("\r\n");
  std::string statusLine = head.substr(0, lineEnd);
  if (statusLine.compare(0, 5, "HTTP/") != 0 || statusLine.size() < 12)
    throw std::runtime_error("malformed status line: " + statusLine);
  r.version = statusLine.substr(0, 8);
  r.status = std::stoi(statusLine.substr(9, 3));
  r.reason = statusLine.size() > 13 ? statusLine.substr(13) : "";
  for (std::size_t pos = lineEnd + 2; pos < head.size();) {
    std::size_t next = head.find("\r\n", pos);
    std::string line = head.substr(pos, next - pos);
    pos = next + 2;
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) throw std::runtime_error("malformed header line: " + line);
    std::size_t valueStart = line.find_first_not_of(" \t", colon + 1);
    r.headers.emplace_back(line.substr(0, colon), valueStart == std::string::npos ? "" : line.substr(valueStart));
  }
  r.raw = head + "\r\n";
  bool noBody = requestMethod == "HEAD" || r.status / 100 == 1 || r.status == 204 || r.status == 304;
  if (noBody) return r;
  if (lowered(r.header("transfer-encoding")).find("chunked") != std::string::npos) {
    while (true) {
      while ((end = buf_.find("\r\n")) == std::string::npos)
        if (!fill("a chunk size")) throw std::runtime_error("the server closed inside a chunked body");
      std::size_t size = std::stoul(buf_.substr(0, end), nullptr, 16);
      while (buf_.size() < end + 2 + size + 2)
        if (!fill("chunk data")) throw std::runtime_error("the server closed inside a chunk");
      r.body.append(buf_, end + 2, size);
      buf_.erase(0, end + 2 + size + 2);
      if (size == 0) break;
    }
    return r;
  }
  if (r.hasHeader("content-length")) {
    std::size_t length = std::stoul(r.header("content-length"));
    while (buf_.size() < length)
      if (!fill("the response body"))
        throw std::runtime_error("the server closed after " + std::to_string(buf_.size()) + " of " +
                                 std::to_string(length) + " body bytes");
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }
  while (fill("a body delimited by the close")) {
  }
  r.body = std::move(buf_);
  buf_.clear();
  return r;
}

std::string TlsClient::readLine() {
  std::size_t end;
  while ((end = buf_.find('\n')) == std::string::npos)
    if (!fill("a line")) throw std::runtime_error("the server closed before a whole line: " + buf_);
  std::string line = buf_.substr(0, end);
  buf_.erase(0, end + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string TlsClient::readSome() {
  if (buf_.empty() && !fill("some bytes")) return {};
  return std::exchange(buf_, std::string());
}

bool TlsClient::isClosedByPeer(std::chrono::milliseconds timeout) {
  struct timeval tv {};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  try {
    while (fill("the close")) buf_.clear();
    return true;
  } catch (const std::runtime_error& e) {
    return std::string(e.what()).find("timed out") == std::string::npos;  // a reset is a close too
  }
}

}  // namespace e2e
