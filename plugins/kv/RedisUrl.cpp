// RedisUrl: see RedisUrl.h.
#include "RedisUrl.h"

#include <cctype>
#include <stdexcept>

namespace kv {

namespace {

constexpr std::string_view kUsage = " (expected redis://[[user]:password@]host[:port][/db])";

// A decimal number in [min, max] that is all of `text`.
bool parseNumber(std::string_view text, int min, int max, int& out) {
  if (text.empty() || text.size() > 9) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) return false;
  out = value;
  return true;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes in the user and password (a password may hold ':' or '@').
std::string percentDecode(std::string_view text, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size() || hexDigit(text[i + 1]) < 0 || hexDigit(text[i + 2]) < 0)
      throw std::invalid_argument(std::string("bad %-escape in the ") + what + " (use %XX, e.g. %40 for '@')");
    out.push_back(static_cast<char>(hexDigit(text[i + 1]) * 16 + hexDigit(text[i + 2])));
    i += 2;
  }
  return out;
}

}  // namespace

std::string RedisAddress::display() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

RedisAddress parseRedisUrl(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, 9) == "rediss://")
    throw std::invalid_argument("TLS (rediss://) is not supported: use redis:// on a trusted network or a TLS tunnel");
  if (url.substr(0, scheme.size()) != scheme)
    throw std::invalid_argument("'" + std::string(url) + "' is not a redis:// URL" + std::string(kUsage));
  std::string_view rest = url.substr(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    throw std::invalid_argument("a query or fragment is not supported in the redis URL" + std::string(kUsage));
  RedisAddress address;
  // The path: /db, and nothing after it.
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.size() < rest.size()) {
    std::string_view path = rest.substr(authority.size() + 1);
    if (!path.empty() && !parseNumber(path, 0, 65535, address.db))
      throw std::invalid_argument("the database '" + std::string(path) + "' is not a number in [0, 65535]");
  }
  // user:password@ (the last '@': a password may hold one, escaped or not).
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument("give the password as :password@ (or user:password@)" + std::string(kUsage));
    address.user = percentDecode(userinfo.substr(0, colon), "user");
    address.password = percentDecode(userinfo.substr(colon + 1), "password");
    if (address.password.empty()) throw std::invalid_argument("the password after ':' is empty");
  }
  // host[:port], an IPv6 host in brackets.
  std::string_view port;
  bool hasPort = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("an IPv6 host needs its closing ']'");
    address.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("expected ':port' after the IPv6 host");
      port = after.substr(1);
      hasPort = true;
    }
  } else {
    const std::size_t colon = authority.find(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      hasPort = true;
    }
  }
  if (address.host.empty()) throw std::invalid_argument("the host is missing" + std::string(kUsage));
  for (char c : address.host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' && c != '_' && c != '%')
      throw std::invalid_argument("the host '" + address.host + "' holds a character a host name cannot");
  if (hasPort && port.empty()) throw std::invalid_argument("the port after ':' is empty");
  if (hasPort && !parseNumber(port, 1, 65535, address.port))
    throw std::invalid_argument("the port '" + std::string(port) + "' is not a number in [1, 65535]");
  return address;
}

}  // namespace kv
