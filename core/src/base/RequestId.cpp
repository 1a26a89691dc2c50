// RequestId: see RequestId.h.
#include "base/RequestId.h"

#include <sys/random.h>

#include <chrono>
#include <cstring>
#include <cstdint>
#include <thread>

namespace microserver::core {

namespace {

// xoshiro256** (Blackman and Vigna): fast, 256 bits of state, good enough statistics for
// unique ids. Seeded per thread from getrandom(2); should that fail (a kernel without it),
// from the clock and the thread, which still differs between threads and restarts.
class IdGenerator {
 public:
  IdGenerator() {
    if (::getrandom(state_, sizeof state_, 0) != static_cast<ssize_t>(sizeof state_)) {
      std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
                           std::hash<std::thread::id>{}(std::this_thread::get_id());
      for (std::uint64_t& word : state_) word = splitMix(seed);
    }
  }
  std::uint64_t next() {
    std::uint64_t result = rotate(state_[1] * 5, 7) * 9;
    std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotate(state_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotate(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitMix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t state_[4] = {};
};

bool idByte(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '_': case '.': case ':': case '/': case '+': case '=': case '@':
      return true;
    default:
      return false;
  }
}

// Eight lowercase hex digits from 32 random bits, without a loop or a table: each nibble
// is spread into a byte of its own, then turned into '0'..'9' or 'a'..'f' in all eight
// bytes at once. (Which digit lands where does not matter: the bits are random.) Making an
// id is on every request's path: a digit at a time it cost ~350 instructions, this ~60
// (callgrind).
void appendHex8(std::uint32_t bits, char* to) {
  std::uint64_t v = bits;
  v = (v | (v << 16)) & 0x0000FFFF0000FFFFULL;
  v = (v | (v << 8)) & 0x00FF00FF00FF00FFULL;
  v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0FULL;
  std::uint64_t letters = ((v + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;  // 1 where >= 10
  v += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
  std::memcpy(to, &v, 8);
}

}  // namespace

void generateRequestId(std::string& out) {
  thread_local IdGenerator generator;
  out.resize(kGeneratedRequestIdLength);
  char* to = out.data();
  for (int word = 0; word < 2; ++word, to += 16) {
    std::uint64_t bits = generator.next();
    appendHex8(static_cast<std::uint32_t>(bits), to);
    appendHex8(static_cast<std::uint32_t>(bits >> 32), to + 8);
  }
}

bool acceptableRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id)
    if (!idByte(static_cast<unsigned char>(c))) return false;
  return true;
}

void assignRequestId(std::string_view forwarded, std::string& out) {
  if (acceptableRequestId(forwarded)) out.assign(forwarded);
  else generateRequestId(out);
}

}  // namespace microserver::core
