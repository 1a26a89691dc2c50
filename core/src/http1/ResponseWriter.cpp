// ResponseWriter: see ResponseWriter.h.
#include "http1/ResponseWriter.h"

#include <charconv>

#include "base/HttpDate.h"
#include "base/HttpStatus.h"

namespace microserver::core {

namespace {
constexpr std::string_view kServerHeader = "Server: microserver/" MICROSERVER_VERSION "\r\n";

void appendNumber(std::string& out, std::uint64_t n) {
  char buf[24];
  auto result = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, static_cast<std::size_t>(result.ptr - buf));
}
}  // namespace

bool statusHasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

void writeResponse(const Response& response, ConnectionHeader connection, std::string& out) {
  int status = response.status();
  out.append("HTTP/1.1 ");
  appendNumber(out, static_cast<std::uint64_t>(status));
  out.push_back(' ');
  out.append(reasonPhrase(status));
  out.append("\r\nDate: ");
  out.append(currentHttpDate());
  out.append("\r\n");
  out.append(kServerHeader);
  if (!response.contentType().empty()) {
    out.append("Content-Type: ");
    out.append(response.contentType());
    out.append("\r\n");
  }
  bool noBody = statusHasNoBody(status);
  // A 304 says nothing about length unless it repeats the representation's; omit it.
  if (!noBody && response.streamed()) {
    if (connection != ConnectionHeader::Close) out.append("Transfer-Encoding: chunked\r\n");
  } else if (!noBody) {
    out.append("Content-Length: ");
    appendNumber(out, response.contentLength());
    out.append("\r\n");
  }
  if (connection == ConnectionHeader::Close) out.append("Connection: close\r\n");
  if (connection == ConnectionHeader::KeepAlive) out.append("Connection: keep-alive\r\n");
  out.append(response.headerBlock());
  out.append("\r\n");
  if (!noBody && !response.omitBody() && !response.hasFile() && !response.streamed()) out.append(response.body());
}

void writeInterim(const Response& interim, std::string& out) {
  out.append("HTTP/1.1 ");
  appendNumber(out, static_cast<std::uint64_t>(interim.status()));
  out.push_back(' ');
  out.append(reasonPhrase(interim.status()));
  out.append("\r\n");
  out.append(interim.headerBlock());
  out.append("\r\n");
}

void appendChunk(std::string_view bytes, std::string& out) {
  if (bytes.empty()) return;
  char size[20];
  auto result = std::to_chars(size, size + sizeof size, bytes.size(), 16);
  out.append(size, static_cast<std::size_t>(result.ptr - size));
  out.append("\r\n");
  out.append(bytes.data(), bytes.size());
  out.append("\r\n");
}

void writeErrorResponse(int status, std::string_view reason, bool omitBody, std::string& out) {
  std::string_view phrase = reasonPhrase(status);
  std::uint64_t length = phrase.size() + 5 + (reason.empty() ? 0 : reason.size() + 2);
  out.append("HTTP/1.1 ");
  appendNumber(out, static_cast<std::uint64_t>(status));
  out.push_back(' ');
  out.append(phrase);
  out.append("\r\nDate: ");
  out.append(currentHttpDate());
  out.append("\r\n");
  out.append(kServerHeader);
  out.append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  appendNumber(out, length);
  out.append("\r\nConnection: close\r\n\r\n");
  if (omitBody) return;
  appendNumber(out, static_cast<std::uint64_t>(status));
  out.push_back(' ');
  out.append(phrase);
  if (!reason.empty()) {
    out.append(": ");
    out.append(reason);
  }
  out.push_back('\n');
}

}  // namespace microserver::core
