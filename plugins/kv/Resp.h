// Resp: the Redis protocol (RESP2) as the kv plugin speaks it: commands out, replies in.
// Pure code, no I/O: RedisClient feeds it the bytes it reads.
//
//   std::string out;
//   appendCommand(out, {"HMGET", "kv:default:k:greeting", "t", "v"});  // *4\r\n$5\r\nHMGET\r\n...
//
//   RespParser parser;
//   std::vector<RespValue> replies;
//   if (!parser.feed(bytes, replies)) ... parser.error() says what was wrong
//
// The parser takes replies in pieces of any size and resumes where it stopped (a reply
// split at any byte is the same reply), so a large reply costs one pass over its bytes,
// never a rescan per read. It refuses what no Redis sends and what would cost unbounded
// memory: a line (+, -, :, $, * header) over 64 KiB, a bulk string over 512 MiB (Redis's
// own proto-max-bulk-len), an array nested deeper than 32, a malformed length or integer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

struct RespValue {
  enum class Type { Simple, Error, Integer, Bulk, Nil, Array };
  Type type = Type::Nil;
  std::string text;       // Simple, Error (without the '-'), Bulk
  std::int64_t integer = 0;
  std::vector<RespValue> elements;  // Array

  bool isError() const { return type == Type::Error; }
  bool isNil() const { return type == Type::Nil; }
};

// Appends one command as a RESP array of bulk strings (binary-safe).
void appendCommand(std::string& out, std::initializer_list<std::string_view> args);
void appendCommand(std::string& out, const std::vector<std::string_view>& args);

class RespParser {
 public:
  static constexpr std::size_t kMaxLine = 64 * 1024;
  static constexpr std::int64_t kMaxBulk = 512LL * 1024 * 1024;
  static constexpr std::size_t kMaxDepth = 32;

  // Takes the next bytes; appends every reply they complete to `out`, in order. False on
  // a protocol error (error() says which); the parser is then unusable until reset().
  bool feed(std::string_view bytes, std::vector<RespValue>& out);
  const std::string& error() const { return error_; }
  // Forgets everything (a new connection).
  void reset();
  // Bytes held for a reply not yet complete.
  std::size_t buffered() const { return buffer_.size() - pos_; }

 private:
  struct Frame {
    RespValue array;
    std::size_t expected = 0;
  };
  bool fail(std::string why);
  // A finished value: into the array being read, or out.
  void emit(RespValue value, std::vector<RespValue>& out);

  std::string buffer_;
  std::size_t pos_ = 0;          // consumed prefix of buffer_
  std::int64_t bulkLength_ = -1; // >= 0 while the payload of a bulk string is awaited
  std::vector<Frame> stack_;     // arrays being filled, outermost first
  std::string error_;
};

}  // namespace kv
