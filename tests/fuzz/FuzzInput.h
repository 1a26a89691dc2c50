// FuzzInput: the input layout shared by the fuzzers of incremental decoders, which must give
// the same result whatever pieces the network cuts their input into.
//
//   byte 0        control: low nibble = k, the number of piece sizes that follow (0 = the
//                 payload arrives in one piece); high nibble = a "flavour" each target maps
//                 to its limits, so small limits are fuzzed as well as the defaults
//   bytes 1..k    piece sizes: byte value + 1 (1..256), used in turn, cycling, until the
//                 payload is used up; {0x00} alone therefore feeds one byte at a time
//   the rest      the payload: the bytes a peer sends
//
// An input shorter than 1 + k bytes has an empty payload. Seeds start with a control byte
// (see README.md: "\x00" = whole, "\x01\x00" = byte by byte, "\x03\x00\x06\x1f" = pieces of
// 1, 7 and 32 bytes, repeated).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace fuzz {

// Fails the run: says which invariant broke, then traps; libFuzzer reports a deadly signal
// and saves the input that caused it.
[[noreturn]] inline void failAt(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
  __builtin_trap();
}

}  // namespace fuzz

#define FUZZ_CHECK(condition)                                         \
  do {                                                                \
    if (!(condition)) ::fuzz::failAt(__FILE__, __LINE__, #condition); \
  } while (0)
#define FUZZ_FAIL(what) ::fuzz::failAt(__FILE__, __LINE__, what)

namespace fuzz {

struct SplitInput {
  unsigned flavour = 0;
  std::vector<std::size_t> pieceSizes;  // empty: one piece
  const char* payload = nullptr;
  std::size_t size = 0;

  SplitInput(const std::uint8_t* data, std::size_t len) {
    if (len == 0) return;
    flavour = data[0] >> 4;
    std::size_t k = data[0] & 0x0F;
    if (k > len - 1) k = len - 1;
    for (std::size_t i = 0; i < k; ++i) pieceSizes.push_back(std::size_t{data[1 + i]} + 1);
    payload = reinterpret_cast<const char*>(data + 1 + k);
    size = len - 1 - k;
  }

  // The ends of the pieces, ascending, the last one == size (none for an empty payload).
  std::vector<std::size_t> cuts() const {
    std::vector<std::size_t> out;
    if (pieceSizes.empty()) {
      if (size > 0) out.push_back(size);
      return out;
    }
    std::size_t at = 0;
    for (std::size_t i = 0; at < size; i = (i + 1) % pieceSizes.size()) {
      at += pieceSizes[i];
      if (at > size) at = size;
      out.push_back(at);
    }
    return out;
  }
};

// An exact-size heap copy, so AddressSanitizer catches a read one byte past what a decoder
// was given (a connection's buffer has stale bytes there that ASan could not flag).
class ExactCopy {
 public:
  ExactCopy(const char* data, std::size_t len) : bytes_(new char[len == 0 ? 1 : len]), len_(len) {
    if (len > 0) std::memcpy(bytes_.get(), data, len);
  }
  const char* data() const { return len_ == 0 ? bytes_.get() + 1 : bytes_.get(); }  // one past: any read traps
  std::size_t size() const { return len_; }
  std::string_view view() const { return {data(), len_}; }

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t len_;
};

// True if `part` is empty or lies entirely inside [begin, begin + len).
inline bool inside(std::string_view part, const char* begin, std::size_t len) {
  if (part.empty()) return true;
  auto p = reinterpret_cast<std::uintptr_t>(part.data());
  auto b = reinterpret_cast<std::uintptr_t>(begin);
  return p >= b && p - b <= len && part.size() <= len - (p - b);
}

}  // namespace fuzz
