// RedisUrl: the kv plugin's `redis:` setting, `redis://[[user]:password@]host[:port][/db]`.
//
//   redis://127.0.0.1:6379/0          host, port (default 6379), database (default 0)
//   redis://:secret@cache.internal/2  AUTH secret, then SELECT 2
//   redis://app:s%40cret@[::1]:6380   AUTH app s@cret (Redis 6 ACLs); an IPv6 host in brackets
//
// The same syntax the chat plugin accepts (plugins/chat/ChatConfig.h); a small parser of
// its own, so that neither plugin's build depends on the other's files. rediss:// (TLS),
// a query and a fragment are refused with a message saying so.
#pragma once

#include <string>
#include <string_view>

namespace kv {

struct RedisAddress {
  std::string host;  // without brackets for IPv6
  int port = 6379;
  int db = 0;
  std::string user;      // AUTH user password when both are given
  std::string password;  // AUTH password when only this is given
  // host:port/db (IPv6 in brackets), for logs and metrics: never the password.
  std::string display() const;
  // Two routes share one client when these are equal (the password included).
  bool operator==(const RedisAddress& o) const {
    return host == o.host && port == o.port && db == o.db && user == o.user && password == o.password;
  }
  bool operator!=(const RedisAddress& o) const { return !(*this == o); }
};

// Parses a `redis:` URL; throws std::invalid_argument saying what is wrong (the config
// parser adds the place).
RedisAddress parseRedisUrl(std::string_view url);

}  // namespace kv
