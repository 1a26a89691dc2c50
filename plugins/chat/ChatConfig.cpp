// ChatConfig: see ChatConfig.h.
#include "ChatConfig.h"

#include <optional>

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <stdexcept>

namespace chat {

namespace {
std::string roomName(const microserver::ConfigNode& node) {
  std::string room = node.getString("room", "lobby");
  if (room.empty()) node.find("room")->fail("the room name must not be empty");
  return room;
}

bool instanceChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-';
}

// A decimal number in [min, max] that is all of `text`.
bool parseNumber(std::string_view text, int min, int max, int& out) {
  if (text.empty() || text.size() > 9) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  int value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value < min || value > max) return false;
  out = value;
  return true;
}

// %XX escapes in the user and password (a password may hold ':' or '@').
std::string percentDecode(std::string_view text, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= text.size() || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0)
      throw std::invalid_argument(std::string("bad %-escape in the ") + what);
    out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
    i += 2;
  }
  return out;
}
}  // namespace

std::string RedisAddress::display() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + (db ? "/" + std::to_string(db) : "");
}

RedisAddress parseRedisUrl(std::string_view url) {
  const std::string_view usage = " (expected redis://[[user]:password@]host[:port][/db])";
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, 9) == "rediss://")
    throw std::invalid_argument("TLS (rediss://) is not supported: use redis:// on a trusted network or a TLS tunnel");
  if (url.substr(0, scheme.size()) != scheme)
    throw std::invalid_argument("'" + std::string(url) + "' is not a redis:// URL" + std::string(usage));
  std::string_view rest = url.substr(scheme.size());
  RedisAddress address;
  // The path: /db, and nothing after it.
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.size() < rest.size()) {
    std::string_view path = rest.substr(authority.size() + 1);
    if (path.find_first_of("?#") != std::string_view::npos)
      throw std::invalid_argument("query and fragment are not supported in the redis URL" + std::string(usage));
    if (!path.empty() && !parseNumber(path, 0, 65535, address.db))
      throw std::invalid_argument("the database '" + std::string(path) + "' is not a number in [0, 65535]");
  }
  // user:password@ (the last '@': a password may hold one escaped or not).
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument("give the password as :password@ (or user:password@)" + std::string(usage));
    address.user = percentDecode(userinfo.substr(0, colon), "user");
    address.password = percentDecode(userinfo.substr(colon + 1), "password");
    if (address.password.empty()) throw std::invalid_argument("the password after ':' is empty");
  }
  // host[:port], an IPv6 host in brackets.
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("an IPv6 host needs its closing ']'");
    address.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("expected ':port' after the IPv6 host");
      port = after.substr(1);
      if (port.empty()) throw std::invalid_argument("the port after ':' is empty");
    }
  } else {
    const std::size_t colon = authority.find(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) throw std::invalid_argument("the port after ':' is empty");
    }
  }
  if (address.host.empty()) throw std::invalid_argument("the host is missing" + std::string(usage));
  for (char c : address.host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' && c != '_' && c != '%')
      throw std::invalid_argument("the host '" + address.host + "' holds a character a host name cannot");
  if (!port.empty() && !parseNumber(port, 1, 65535, address.port))
    throw std::invalid_argument("the port '" + std::string(port) + "' is not a number in [1, 65535]");
  return address;
}

bool isInstanceName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!instanceChar(c)) return false;
  return true;
}

std::string defaultInstanceName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string name;
  for (const char* p = host; *p && *p != '.' && name.size() < 40; ++p) name.push_back(instanceChar(*p) ? *p : '-');
  if (name.empty()) name = "localhost";
  return name + ":" + std::to_string(::getpid());
}

ServiceConfig parseServiceConfig(const microserver::ConfigNode& node) {
  node.allowKeys(
      {"room", "history", "max_queue_bytes", "max_line_bytes", "max_clients", "summary_interval", "redis", "instance"});
  ServiceConfig config;
  RoomSettings& s = config.settings;
  config.room = roomName(node);
  s.history = static_cast<std::size_t>(node.getInt("history", 100, 0, 10000));
  s.maxQueueBytes = static_cast<std::size_t>(node.getInt("max_queue_bytes", 1048576, 4096, 1073741824));
  s.maxLineBytes = static_cast<std::size_t>(node.getInt("max_line_bytes", 4096, 1, 1048576));
  s.maxClients = static_cast<std::size_t>(node.getInt("max_clients", 1000, 1, 1000000));
  config.summaryInterval = std::chrono::seconds(node.getInt("summary_interval", 60, 0, 86400));
  const std::size_t least = 3 * s.maxLineBytes + 1024;
  if (s.maxQueueBytes < least) {
    std::optional<microserver::ConfigNode> at = node.find("max_queue_bytes");
    if (!at) at = node.find("max_line_bytes");
    at->fail("max_queue_bytes (" + std::to_string(s.maxQueueBytes) + ") must be at least 3 * max_line_bytes + 1024 = " +
             std::to_string(least) + ", or one long line would cut every member off");
  }
  if (std::optional<microserver::ConfigNode> redis = node.find("redis"); redis && !redis->isNull()) {
    if (!redis->isScalar()) redis->fail("expected a redis:// URL");
    try {
      config.redis = parseRedisUrl(std::string(redis->scalar()));
    } catch (const std::invalid_argument& e) {
      redis->fail(e.what());
    }
  }
  config.instance = node.getString("instance", "");
  if (std::optional<microserver::ConfigNode> instance = node.find("instance");
      instance && !isInstanceName(config.instance))
    instance->fail("the instance name '" + config.instance +
                   "' must be 1 to 64 characters of A-Z a-z 0-9 . _ : - (it follows the '@' in member addresses)");
  return config;
}

HandlerConfig parseHandlerConfig(const microserver::ConfigNode& node) {
  node.allowKeys({"room"});
  HandlerConfig config;
  config.room = roomName(node);
  return config;
}

}  // namespace chat
