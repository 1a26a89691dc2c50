// FloodControl: how much one sender may say, as token buckets (lines and bytes per second,
// with a burst): per member (ChatSession, opt-in: `flood_members`) and per client address
// for POST /chat/messages (AddressBuckets, on by default: `flood_http`).
//
// A bucket holds up to `burst` tokens and gains `rate` a second; a line takes one line
// token and its size in byte tokens, or, when either is short, is refused and takes
// nothing (the sender is told and the line dropped: see ChatSession and ChatHandler). Both
// buckets start full, so a sender that was quiet may send a whole burst at once.
//
// Time is whatever monotonic microseconds the caller passes (Room::now()), so tests
// control it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace chat {

struct FloodLimits {
  bool enabled = false;
  double linesPerSecond = 20;
  double burstLines = 200;
  double bytesPerSecond = 65536;
  double burstBytes = 262144;

  // "20 lines/s (bursts of 200) and 65536 bytes/s (bursts of 262144)", for notices.
  std::string describe() const;
};

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(const FloodLimits& limits, std::int64_t nowUs);

  // True (and its tokens taken) when a line of `bytes` may go now.
  bool take(const FloodLimits& limits, std::size_t bytes, std::int64_t nowUs);
  // Microseconds until a line of `bytes` would pass (0: now).
  std::int64_t waitUs(const FloodLimits& limits, std::size_t bytes, std::int64_t nowUs) const;
  // Full again: a bucket in this state is the same as a new one, and can be forgotten.
  bool full(const FloodLimits& limits, std::int64_t nowUs) const;

 private:
  void refill(const FloodLimits& limits, std::int64_t nowUs);

  double lines_ = 0, bytes_ = 0;
  std::int64_t lastUs_ = 0;
};

// One bucket per client address (an IPv4 address, or an IPv6 /64: one host or one
// customer's network), for senders that are not members (POST /chat/messages).
// Thread-safe. Buckets that filled up again are forgotten now and then, so the table holds
// only recent senders; past `maxAddresses` of them, the newcomers share one bucket, so
// the table cannot grow without bound (under such a flood they are all slowed together).
class AddressBuckets {
 public:
  explicit AddressBuckets(std::size_t maxAddresses = 100000) : maxAddresses_(maxAddresses) {}

  struct Admitted {
    std::size_t lines = 0;     // the first `lines` of them may go; the rest are dropped
    std::int64_t retryUs = 0;  // when a refused line would pass (0 when all passed)
  };
  // Takes tokens for lines of these sizes, in order, until one is refused.
  Admitted admit(std::string_view key, const std::vector<std::size_t>& lineBytes, const FloodLimits& limits,
                 std::int64_t nowUs);
  std::size_t size() const;

  // The bucket key of an "ip:port" (or "[v6]:port") address: the IPv4 address, or the
  // IPv6 /64 (an IPv4-mapped IPv6 address counts as its IPv4 address).
  static std::string clientKey(std::string_view remoteAddress);

 private:
  void purge(const FloodLimits& limits, std::int64_t nowUs);  // mutex_ held

  const std::size_t maxAddresses_;
  mutable std::mutex mutex_;
  std::map<std::string, TokenBucket, std::less<>> buckets_;
  std::size_t purgeAt_ = 1024;  // size that triggers the next purge
};

}  // namespace chat
