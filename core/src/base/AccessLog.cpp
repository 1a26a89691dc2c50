// AccessLog: see AccessLog.h.
#include "base/AccessLog.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "base/HttpDate.h"
#include "base/Log.h"
#include "microserver/Text.h"

namespace microserver::core {

namespace {
constexpr std::size_t kFlushThreshold = 16 * 1024;
constexpr std::size_t kMaxPendingBytes = 8 * 1024 * 1024;

std::string& threadBuffer() {
  thread_local std::string buffer;
  return buffer;
}
}  // namespace

namespace {
// True if `text` needs no escaping in either format (printable ASCII but '"' and '\\'):
// nearly every field of nearly every request, appended then in one piece.
struct PlainBytes {
  bool plain[256];
  constexpr PlainBytes() : plain() {
    for (int c = 0x20; c < 0x7f; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainBytes kPlainBytes;

bool plainText(std::string_view text) {
  bool plain = true;
  for (char ch : text) plain &= kPlainBytes.plain[static_cast<unsigned char>(ch)];
  return plain;
}
}  // namespace

void appendLogEscaped(std::string& out, std::string_view text) {
  if (plainText(text)) {
    out.append(text.data(), text.size());
    return;
  }
  static const char hex[] = "0123456789abcdef";
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7f) {
      out.append("\\x");
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
}

std::unique_ptr<AccessLog> AccessLog::open(const std::string& destination, AccessLogFormat format) {
  if (destination == "off") return nullptr;
  if (destination == "-" || destination.empty())
    return std::unique_ptr<AccessLog>(new AccessLog(STDOUT_FILENO, false, "", format));
  int fd = ::open(destination.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open access log '" + destination + "': " + std::strerror(errno) +
                             " (check the folder exists and is writable, or set server.access_log)");
  return std::unique_ptr<AccessLog>(new AccessLog(fd, true, destination, format));
}

void AccessLog::reopen() {
  if (destination_.empty()) return;
  int fd = ::open(destination_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot reopen access log '" + destination_ + "': " + std::strerror(errno) +
                             " (still writing to the file it had open)");
  // dup3 swaps what fd_ names in one step: the writer thread's next write() goes to the
  // new file, a write in progress finishes in the old one; no lock, no line split.
  ::dup3(fd, fd_, O_CLOEXEC);
  ::close(fd);
}

AccessLog::AccessLog(int fd, bool ownsFd, std::string destination, AccessLogFormat format)
    : fd_(fd), ownsFd_(ownsFd), destination_(std::move(destination)), immediate_(::isatty(fd) == 1), format_(format) {
  writer_ = std::thread([this] { writerLoop(); });
}

AccessLog::~AccessLog() {
  flushThisThread();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (ownsFd_) ::close(fd_);
}

void AccessLog::record(const AccessRecord& entry) {
  std::string& out = threadBuffer();
  if (format_ == AccessLogFormat::Json) appendJson(out, entry);
  else appendCombined(out, entry);
  if (immediate_ || out.size() >= kFlushThreshold) handOver(out);
}

namespace {
void appendNumber(std::string& out, std::uint64_t n) {
  char num[24];
  auto r = std::to_chars(num, num + sizeof num, n);
  out.append(num, static_cast<std::size_t>(r.ptr - num));
}

std::string_view protocolOf(const AccessRecord& e) {
  return e.http2 ? "HTTP/2.0" : e.versionMinor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

// `key` (',"name":') then the value as a JSON string, or null for an empty one (a field
// the request did not have).
void appendJsonField(std::string& out, std::string_view key, std::string_view value) {
  out.append(key.data(), key.size());
  if (value.empty()) {
    out.append("null");
  } else if (plainText(value)) {
    out.push_back('"');
    out.append(value.data(), value.size());
    out.push_back('"');
  } else {
    appendJsonString(out, value);
  }
}
}  // namespace

void AccessLog::appendCombined(std::string& out, const AccessRecord& e) {
  out.append(e.remoteIp);
  out.append(" - - ");
  out.append(currentLogTime());
  if (e.method.empty()) {
    out.append(" \"-\" ");  // refused before a request line could be read
  } else {
    out.append(" \"");
    appendLogEscaped(out, e.method);
    out.push_back(' ');
    appendLogEscaped(out, e.target);
    out.push_back(' ');
    out.append(protocolOf(e));
    out.append("\" ");
  }
  appendNumber(out, static_cast<std::uint64_t>(e.status));
  out.push_back(' ');
  if (e.bodyBytes == 0) out.push_back('-');
  else appendNumber(out, e.bodyBytes);
  out.append(" \"");
  if (e.referer.empty()) out.push_back('-');
  else appendLogEscaped(out, e.referer);
  out.append("\" \"");
  if (e.userAgent.empty()) out.push_back('-');
  else appendLogEscaped(out, e.userAgent);
  out.append("\"\n");
}

void AccessLog::appendJson(std::string& out, const AccessRecord& e) {
  out.append("{\"time\":\"");
  out.append(currentIsoTime());
  out.append("\",\"remote_addr\":");
  appendJsonString(out, e.remoteIp);
  appendJsonField(out, ",\"request_id\":", e.requestId);
  appendJsonField(out, ",\"method\":", e.method);
  appendJsonField(out, ",\"target\":", e.target);
  // null when refused before a request line could be read
  appendJsonField(out, ",\"protocol\":", e.method.empty() ? std::string_view() : protocolOf(e));
  out.append(",\"status\":");
  appendNumber(out, static_cast<std::uint64_t>(e.status));
  out.append(",\"body_bytes\":");
  appendNumber(out, e.bodyBytes);
  // Seconds with microseconds (nginx's $request_time has milliseconds).
  out.append(",\"request_time\":");
  appendNumber(out, e.durationNs / 1000000000);
  out.push_back('.');
  std::uint64_t micros = e.durationNs / 1000 % 1000000;
  char digits[6];
  for (int i = 5; i >= 0; --i, micros /= 10) digits[i] = static_cast<char>('0' + micros % 10);
  out.append(digits, 6);
  appendJsonField(out, ",\"route\":", e.route);
  appendJsonField(out, ",\"plugin\":", e.plugin);
  appendJsonField(out, ",\"referer\":", e.referer);
  appendJsonField(out, ",\"user_agent\":", e.userAgent);
  out.append("}\n");
}

void AccessLog::flushThisThread() {
  std::string& out = threadBuffer();
  if (!out.empty()) handOver(out);
}

void AccessLog::handOver(std::string& buffer) {
  bool drop;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    drop = pendingBytes_ + buffer.size() > kMaxPendingBytes;
    if (drop) {
      dropped_ += static_cast<std::uint64_t>(std::count(buffer.begin(), buffer.end(), '\n'));
    } else {
      pendingBytes_ += buffer.size();
      pending_.push_back(std::move(buffer));
    }
  }
  buffer.clear();  // moved-from or dropped: either way start afresh
  if (!drop) wake_.notify_one();
}

void AccessLog::writerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, and everything is written
    std::string chunk = std::move(pending_.front());
    pending_.pop_front();
    pendingBytes_ -= chunk.size();
    std::uint64_t dropped = dropped_;
    dropped_ = 0;
    lock.unlock();
    if (dropped > 0)
      log::warning("the access log fell behind: " + std::to_string(dropped) +
                   " lines dropped (is whatever reads it stalled?)");
    writeAll(chunk);
    lock.lock();
  }
}

void AccessLog::writeAll(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk or closed pipe must not stop the server; drop the lines
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace microserver::core
