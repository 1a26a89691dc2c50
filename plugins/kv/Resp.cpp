// Resp: see Resp.h.
#include "Resp.h"

#include <utility>

namespace kv {

namespace {

template <typename Args>
void appendArgs(std::string& out, const Args& args) {
  out.push_back('*');
  out.append(std::to_string(args.size()));
  out.append("\r\n");
  for (std::string_view arg : args) {
    out.push_back('$');
    out.append(std::to_string(arg.size()));
    out.append("\r\n");
    out.append(arg);
    out.append("\r\n");
  }
}

// A RESP integer: an optional '-' and 1 to 19 digits, nothing else.
bool parseInteger(std::string_view text, std::int64_t& out) {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.size() > 19) return false;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value > static_cast<std::uint64_t>(INT64_MAX)) return false;
  out = negative ? -static_cast<std::int64_t>(value) : static_cast<std::int64_t>(value);
  return true;
}

}  // namespace

void appendCommand(std::string& out, std::initializer_list<std::string_view> args) { appendArgs(out, args); }
void appendCommand(std::string& out, const std::vector<std::string_view>& args) { appendArgs(out, args); }

void RespParser::reset() {
  buffer_.clear();
  pos_ = 0;
  bulkLength_ = -1;
  stack_.clear();
  error_.clear();
}

bool RespParser::fail(std::string why) {
  error_ = std::move(why);
  return false;
}

void RespParser::emit(RespValue value, std::vector<RespValue>& out) {
  while (!stack_.empty()) {
    Frame& top = stack_.back();
    top.array.elements.push_back(std::move(value));
    if (top.array.elements.size() < top.expected) return;
    value = std::move(top.array);
    stack_.pop_back();
  }
  out.push_back(std::move(value));
}

bool RespParser::feed(std::string_view bytes, std::vector<RespValue>& out) {
  if (!error_.empty()) return false;
  // Drop what was consumed before appending, when that is cheap or worth it.
  if (pos_ > 0 && (pos_ == buffer_.size() || pos_ >= 64 * 1024)) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes);
  for (;;) {
    const std::size_t available = buffer_.size() - pos_;
    if (bulkLength_ >= 0) {
      const std::size_t need = static_cast<std::size_t>(bulkLength_) + 2;
      if (available < need) return true;
      if (buffer_[pos_ + need - 2] != '\r' || buffer_[pos_ + need - 1] != '\n')
        return fail("a bulk string not followed by CRLF");
      RespValue value;
      value.type = RespValue::Type::Bulk;
      value.text.assign(buffer_, pos_, static_cast<std::size_t>(bulkLength_));
      pos_ += need;
      bulkLength_ = -1;
      emit(std::move(value), out);
      continue;
    }
    const std::size_t end = buffer_.find("\r\n", pos_);
    if (end == std::string::npos) {
      if (available > kMaxLine) return fail("a reply line longer than 64 KiB");
      return true;
    }
    if (end - pos_ > kMaxLine) return fail("a reply line longer than 64 KiB");
    if (end == pos_) return fail("an empty reply line");
    const char kind = buffer_[pos_];
    const std::string_view line(buffer_.data() + pos_ + 1, end - pos_ - 1);
    pos_ = end + 2;
    RespValue value;
    std::int64_t n = 0;
    switch (kind) {
      case '+':
        value.type = RespValue::Type::Simple;
        value.text = std::string(line);
        break;
      case '-':
        value.type = RespValue::Type::Error;
        value.text = std::string(line);
        break;
      case ':':
        if (!parseInteger(line, value.integer)) return fail("a malformed integer reply");
        value.type = RespValue::Type::Integer;
        break;
      case '$':
        if (!parseInteger(line, n) || n < -1) return fail("a malformed bulk string length");
        if (n > kMaxBulk) return fail("a bulk string longer than 512 MiB");
        if (n >= 0) {
          bulkLength_ = n;
          continue;
        }
        break;  // $-1: nil
      case '*':
        if (!parseInteger(line, n) || n < -1) return fail("a malformed array length");
        if (n > 0) {
          if (stack_.size() >= kMaxDepth) return fail("arrays nested deeper than 32");
          Frame frame;
          frame.array.type = RespValue::Type::Array;
          frame.expected = static_cast<std::size_t>(n);
          frame.array.elements.reserve(static_cast<std::size_t>(n < 1024 ? n : 1024));
          stack_.push_back(std::move(frame));
          continue;
        }
        if (n == 0) value.type = RespValue::Type::Array;  // else *-1: nil
        break;
      default:
        return fail(std::string("an unknown reply type '") + (kind >= 32 && kind < 127 ? std::string(1, kind) : "?") +
                    "'");
    }
    emit(std::move(value), out);
  }
}

}  // namespace kv
