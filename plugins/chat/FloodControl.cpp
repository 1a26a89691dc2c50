// FloodControl: see FloodControl.h.
#include "FloodControl.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace chat {

namespace {
std::string number(double value) {
  char text[32];
  if (value == std::floor(value) && value < 1e15)
    std::snprintf(text, sizeof text, "%.0f", value);
  else
    std::snprintf(text, sizeof text, "%g", value);
  return text;
}
}  // namespace

std::string FloodLimits::describe() const {
  return number(linesPerSecond) + " lines/s (bursts of " + number(burstLines) + ") and " + number(bytesPerSecond) +
         " bytes/s (bursts of " + number(burstBytes) + ")";
}

TokenBucket::TokenBucket(const FloodLimits& limits, std::int64_t nowUs)
    : lines_(limits.burstLines), bytes_(limits.burstBytes), lastUs_(nowUs) {}

void TokenBucket::refill(const FloodLimits& limits, std::int64_t nowUs) {
  if (nowUs <= lastUs_) return;
  const double seconds = static_cast<double>(nowUs - lastUs_) / 1e6;
  lines_ = std::min(limits.burstLines, lines_ + seconds * limits.linesPerSecond);
  bytes_ = std::min(limits.burstBytes, bytes_ + seconds * limits.bytesPerSecond);
  lastUs_ = nowUs;
}

bool TokenBucket::take(const FloodLimits& limits, std::size_t bytes, std::int64_t nowUs) {
  refill(limits, nowUs);
  const double size = static_cast<double>(bytes);
  if (lines_ < 1.0 || bytes_ < size) return false;
  lines_ -= 1.0;
  bytes_ -= size;
  return true;
}

std::int64_t TokenBucket::waitUs(const FloodLimits& limits, std::size_t bytes, std::int64_t nowUs) const {
  TokenBucket now = *this;
  now.refill(limits, nowUs);
  double seconds = 0;
  if (now.lines_ < 1.0) seconds = std::max(seconds, (1.0 - now.lines_) / limits.linesPerSecond);
  const double size = static_cast<double>(bytes);
  if (now.bytes_ < size) seconds = std::max(seconds, (size - now.bytes_) / limits.bytesPerSecond);
  return static_cast<std::int64_t>(std::ceil(seconds * 1e6));
}

bool TokenBucket::full(const FloodLimits& limits, std::int64_t nowUs) const {
  TokenBucket now = *this;
  now.refill(limits, nowUs);
  return now.lines_ >= limits.burstLines && now.bytes_ >= limits.burstBytes;
}

// ---------------------------------------------------------------------------------------

AddressBuckets::Admitted AddressBuckets::admit(std::string_view key, const std::vector<std::size_t>& lineBytes,
                                               const FloodLimits& limits, std::int64_t nowUs) {
  Admitted admitted;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= purgeAt_) purge(limits, nowUs);
    // Too many senders at once: the newcomers share the bucket of the empty key.
    std::string_view slot = buckets_.size() < maxAddresses_ ? key : std::string_view();
    it = buckets_.find(slot);
    if (it == buckets_.end()) it = buckets_.emplace(std::string(slot), TokenBucket(limits, nowUs)).first;
  }
  TokenBucket& bucket = it->second;
  for (std::size_t bytes : lineBytes) {
    if (!bucket.take(limits, bytes, nowUs)) {
      admitted.retryUs = std::max<std::int64_t>(1, bucket.waitUs(limits, bytes, nowUs));
      break;
    }
    ++admitted.lines;
  }
  return admitted;
}

void AddressBuckets::purge(const FloodLimits& limits, std::int64_t nowUs) {
  for (auto it = buckets_.begin(); it != buckets_.end();) it = it->second.full(limits, nowUs) ? buckets_.erase(it) : ++it;
  // Amortized: the next purge when the table has doubled.
  purgeAt_ = std::max<std::size_t>(1024, 2 * buckets_.size());
}

std::size_t AddressBuckets::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return buckets_.size();
}

std::string AddressBuckets::clientKey(std::string_view remoteAddress) {
  std::string host;
  if (!remoteAddress.empty() && remoteAddress.front() == '[') {
    host = std::string(remoteAddress.substr(1, remoteAddress.find(']') - 1));
  } else {
    const std::size_t colon = remoteAddress.rfind(':');
    // "ip:port"; several colons without brackets: an IPv6 address as it is.
    host = std::string(colon != std::string_view::npos && remoteAddress.find(':') == colon
                           ? remoteAddress.substr(0, colon)
                           : remoteAddress);
  }
  unsigned char v6[16];
  if (host.find(':') == std::string::npos || ::inet_pton(AF_INET6, host.c_str(), v6) != 1) return host;
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN];
  if (std::equal(kMapped, kMapped + 12, v6)) {
    ::inet_ntop(AF_INET, v6 + 12, text, sizeof text);
    return text;
  }
  std::fill(v6 + 8, v6 + 16, 0);  // the /64
  ::inet_ntop(AF_INET6, v6, text, sizeof text);
  return std::string(text) + "/64";
}

}  // namespace chat
