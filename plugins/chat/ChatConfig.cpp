// ChatConfig: see ChatConfig.h.
#include "ChatConfig.h"

#include <optional>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
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

// A size: whole bytes, or with a suffix k, K, KiB, KB, m, M, MiB, MB, g, G, GiB, GB (all
// powers of 1024), as the server's own limits are written.
bool parseSize(std::string_view text, std::uint64_t& out) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return false;
  std::uint64_t n = 0;
  std::from_chars(text.data(), text.data() + digits, n);
  const std::string_view unit = text.substr(digits);
  std::uint64_t scale = 0;
  if (unit.empty()) scale = 1;
  for (std::string_view k : {"k", "K", "KiB", "KB"})
    if (unit == k) scale = std::uint64_t(1) << 10;
  for (std::string_view m : {"m", "M", "MiB", "MB"})
    if (unit == m) scale = std::uint64_t(1) << 20;
  for (std::string_view g : {"g", "G", "GiB", "GB"})
    if (unit == g) scale = std::uint64_t(1) << 30;
  if (scale == 0) return false;
  out = n * scale;  // at most 15 digits times 2^30: no overflow
  return true;
}

// A duration in whole milliseconds: DIGITS[.DIGITS] with ms, s, m or h (a bare number is
// seconds); a fraction must come out as whole milliseconds ("1.5s", not "0.5ms").
bool parseDuration(std::string_view text, std::uint64_t& ms) {
  std::size_t end = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  const std::size_t whole = end;
  std::size_t fractionEnd = end;
  if (end < text.size() && text[end] == '.') {
    fractionEnd = end + 1;
    while (fractionEnd < text.size() && text[fractionEnd] >= '0' && text[fractionEnd] <= '9') ++fractionEnd;
    if (fractionEnd == end + 1) return false;
  }
  if (whole == 0 || whole > 9 || fractionEnd - end > 10) return false;
  const std::string_view unit = text.substr(fractionEnd);
  std::uint64_t unitMs = unit.empty() || unit == "s" ? 1000 : unit == "ms" ? 1 : unit == "m" ? 60000 : unit == "h" ? 3600000 : 0;
  if (unitMs == 0) return false;
  std::uint64_t n = 0;
  std::from_chars(text.data(), text.data() + whole, n);
  ms = n * unitMs;
  if (fractionEnd > end) {
    // The fraction's digits times the unit must be a whole number of milliseconds.
    std::string_view digits = text.substr(end + 1, fractionEnd - end - 1);
    std::uint64_t numerator = 0, denominator = 1;
    for (char c : digits) {
      numerator = numerator * 10 + static_cast<std::uint64_t>(c - '0');
      denominator *= 10;
    }
    if ((numerator * unitMs) % denominator != 0) return false;
    ms += numerator * unitMs / denominator;
  }
  return true;
}

bool isOff(const microserver::ConfigNode& node) {
  if (!node.isScalar()) return false;
  std::string_view v = node.scalar();
  return v == "off" || v == "false" || v == "no";
}

bool isOn(const microserver::ConfigNode& node) {
  if (!node.isScalar()) return false;
  std::string_view v = node.scalar();
  return v == "on" || v == "true" || v == "yes";
}

// The size at `key` in [min, max], or `fallback` when absent; `off` (0) when allowOff.
std::uint64_t readSize(const microserver::ConfigNode& node, std::string_view key, std::uint64_t fallback,
                       std::uint64_t min, std::uint64_t max, bool allowOff) {
  std::optional<microserver::ConfigNode> n = node.find(key);
  if (!n || n->isNull()) return fallback;
  if (allowOff && isOff(*n)) return 0;
  const std::string text(n->isScalar() ? n->scalar() : std::string_view());
  std::uint64_t value = 0;
  if (!n->isScalar() || !parseSize(text, value))
    n->fail("invalid size '" + text +
            "' (expected a whole number of bytes, optionally with a suffix k, KiB, m, MiB, g or GiB, e.g. 8MiB" +
            (allowOff ? std::string(", or off") : std::string()) + ")");
  if (value < min || value > max)
    n->fail("'" + text + "' is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "] bytes");
  return value;
}

std::chrono::milliseconds readDuration(const microserver::ConfigNode& node, std::string_view key,
                                       std::chrono::milliseconds fallback, std::uint64_t minMs, std::uint64_t maxMs) {
  std::optional<microserver::ConfigNode> n = node.find(key);
  if (!n || n->isNull()) return fallback;
  const std::string text(n->isScalar() ? n->scalar() : std::string_view());
  std::uint64_t ms = 0;
  if (!n->isScalar() || !parseDuration(text, ms))
    n->fail("invalid duration '" + text +
            "' (expected a number with a unit ms, s, m or h, e.g. 250ms, 1.5s or 2m; a bare number means seconds)");
  if (ms < minMs || ms > maxMs)
    n->fail("'" + text + "' is out of range [" + std::to_string(minMs) + "ms, " + std::to_string(maxMs) + "ms]");
  return std::chrono::milliseconds(ms);
}

// A positive rate or count (a decimal number, "0.5" allowed) in [min, max].
double readNumber(const microserver::ConfigNode& node, std::string_view key, double fallback, double min,
                  double max) {
  std::optional<microserver::ConfigNode> n = node.find(key);
  if (!n || n->isNull()) return fallback;
  const std::string text(n->isScalar() ? n->scalar() : std::string_view());
  bool ok = !text.empty() && text.size() <= 20;
  int dots = 0;
  for (char c : text) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') ok = false;
  }
  ok = ok && dots <= 1 && text.front() != '.' && text.back() != '.';
  const double value = ok ? std::strtod(text.c_str(), nullptr) : 0;
  if (!ok) n->fail("expected a number such as 20 or 0.5, got '" + text + "'");
  if (value < min || value > max) {
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", min, max);
    n->fail("value " + text + " is out of range " + range);
  }
  return value;
}

// flood_members / flood_http: on, off, or a map of the four limits (enabled).
FloodLimits readFlood(const microserver::ConfigNode& node, std::string_view key, FloodLimits limits,
                      std::size_t maxLineBytes) {
  std::optional<microserver::ConfigNode> n = node.find(key);
  if (!n || n->isNull()) return limits;
  if (isOff(*n)) {
    limits.enabled = false;
    return limits;
  }
  if (isOn(*n)) {
    limits.enabled = true;
  } else {
    if (!n->isMap())
      n->fail("expected on, off, or a map of lines_per_second, burst_lines, bytes_per_second and burst_bytes");
    n->allowKeys({"lines_per_second", "burst_lines", "bytes_per_second", "burst_bytes"});
    limits.enabled = true;
    limits.linesPerSecond = readNumber(*n, "lines_per_second", limits.linesPerSecond, 0.001, 1e9);
    limits.burstLines = readNumber(*n, "burst_lines", limits.burstLines, 1, 1e9);
    limits.bytesPerSecond = static_cast<double>(
        readSize(*n, "bytes_per_second", static_cast<std::uint64_t>(limits.bytesPerSecond), 1, std::uint64_t(1) << 40, false));
    limits.burstBytes = static_cast<double>(
        readSize(*n, "burst_bytes", static_cast<std::uint64_t>(limits.burstBytes), 1, std::uint64_t(1) << 40, false));
  }
  if (limits.burstBytes < static_cast<double>(maxLineBytes)) {
    std::optional<microserver::ConfigNode> at = n->isMap() ? n->find("burst_bytes") : std::nullopt;
    (at ? *at : *n)
        .fail(std::string(key) + ": burst_bytes (" + std::to_string(static_cast<std::uint64_t>(limits.burstBytes)) +
              ") must be at least max_line_bytes (" + std::to_string(maxLineBytes) +
              "), or a line that long could never pass");
  }
  return limits;
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
  node.allowKeys({"room", "history", "max_queue_bytes", "soft_queue_bytes", "soft_queue_time", "room_queue_bytes",
                  "max_line_bytes", "max_clients", "flood_members", "flood_http", "summary_interval", "redis",
                  "instance"});
  ServiceConfig config;
  RoomSettings& s = config.settings;
  config.room = roomName(node);
  s.history = static_cast<std::size_t>(node.getInt("history", 100, 0, 10000));
  s.maxQueueBytes = static_cast<std::size_t>(readSize(node, "max_queue_bytes", s.maxQueueBytes, 4096, 1u << 30, false));
  s.maxLineBytes = static_cast<std::size_t>(readSize(node, "max_line_bytes", 4096, 1, 1048576, false));
  s.maxClients = static_cast<std::size_t>(node.getInt("max_clients", 10000, 1, 1000000));
  config.summaryInterval = std::chrono::seconds(node.getInt("summary_interval", 60, 0, 86400));
  const std::size_t least = 3 * s.maxLineBytes + 1024;
  if (s.maxQueueBytes < least) {
    std::optional<microserver::ConfigNode> at = node.find("max_queue_bytes");
    if (!at) at = node.find("max_line_bytes");
    at->fail("max_queue_bytes (" + std::to_string(s.maxQueueBytes) + ") must be at least 3 * max_line_bytes + 1024 = " +
             std::to_string(least) + ", or one long line would cut every member off");
  }
  // The soft limit follows a lower hard limit down, as Redis' 8mb does its 32mb.
  const std::size_t softDefault = std::min<std::size_t>(s.softQueueBytes, s.maxQueueBytes / 4);
  s.softQueueBytes = static_cast<std::size_t>(readSize(node, "soft_queue_bytes", softDefault, 1, s.maxQueueBytes, true));
  if (s.softQueueBytes >= s.maxQueueBytes)
    node.find("soft_queue_bytes")
        ->fail("soft_queue_bytes (" + std::to_string(s.softQueueBytes) + ") must be below max_queue_bytes (" +
               std::to_string(s.maxQueueBytes) + "), or it would never matter");
  s.softQueueTime = readDuration(node, "soft_queue_time", s.softQueueTime, 100, 3600000);
  s.roomQueueBytes = readSize(node, "room_queue_bytes", s.roomQueueBytes, 4096, std::uint64_t(1) << 40, true);
  if (s.roomQueueBytes != 0 && s.roomQueueBytes < least)
    node.find("room_queue_bytes")
        ->fail("room_queue_bytes (" + std::to_string(s.roomQueueBytes) +
               ") must be at least 3 * max_line_bytes + 1024 = " + std::to_string(least) +
               ", or one long line would cut members off");
  s.memberFlood = readFlood(node, "flood_members", RoomSettings::defaultMemberFlood(), s.maxLineBytes);
  s.httpFlood = readFlood(node, "flood_http", RoomSettings::defaultHttpFlood(), s.maxLineBytes);
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
  node.allowKeys({"room", "allowed_origins"});
  HandlerConfig config;
  config.room = roomName(node);
  if (std::optional<microserver::ConfigNode> origins = node.find("allowed_origins"); origins && !origins->isNull()) {
    if (!origins->isList()) origins->fail("expected a list of origins, e.g. [\"https://chat.example.com\"]");
    for (const microserver::ConfigNode& item : origins->items()) {
      // An unquoted null is YAML's null: the origin of pages without one (file://, sandboxes).
      const std::string text(item.isNull() ? std::string_view("null") : item.isScalar() ? item.scalar() : std::string_view());
      std::string origin = text == "*" ? text : normalizeOrigin(text);
      if (origin.empty())
        item.fail("'" + text +
                  "' is not an origin: expected scheme://host[:port] with scheme http or https and nothing after "
                  "(e.g. https://chat.example.com or http://localhost:3000), null, or * for any");
      config.allowedOrigins.push_back(std::move(origin));
    }
  }
  return config;
}

std::string normalizeOrigin(std::string_view origin) {
  std::string out;
  for (char c : origin) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (out == "null") return out;
  std::string_view defaultPort;
  std::size_t hostStart = 0;
  if (out.rfind("http://", 0) == 0) {
    hostStart = 7;
    defaultPort = ":80";
  } else if (out.rfind("https://", 0) == 0) {
    hostStart = 8;
    defaultPort = ":443";
  } else {
    return {};
  }
  std::string_view authority = std::string_view(out).substr(hostStart);
  if (authority.empty() || authority.front() == ':') return {};
  for (char c : authority)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']' &&
        c != '_')
      return {};  // a path, a user, a query: not an origin
  if (authority.size() > defaultPort.size() &&
      authority.compare(authority.size() - defaultPort.size(), defaultPort.size(), defaultPort) == 0)
    out.resize(out.size() - defaultPort.size());
  return out;
}

bool originAllowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed) {
  const std::string normal = normalizeOrigin(origin);
  for (const std::string& a : allowed)
    if (a == "*" || (!normal.empty() && a == normal)) return true;
  if (normal.empty() || normal == "null") return false;
  // The same host: the origin's host:port is the request's Host (without its default port).
  std::string_view authority = std::string_view(normal).substr(normal.find("://") + 3);
  std::string requestHost;
  for (char c : host) requestHost.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const std::string_view defaultPort = normal.rfind("https://", 0) == 0 ? ":443" : ":80";
  if (requestHost.size() > defaultPort.size() &&
      requestHost.compare(requestHost.size() - defaultPort.size(), defaultPort.size(), defaultPort) == 0)
    requestHost.resize(requestHost.size() - defaultPort.size());
  return !requestHost.empty() && authority == requestHost;
}

}  // namespace chat
