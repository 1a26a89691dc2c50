// ConfigNode: a plugin's `config:` node from routes.yaml, read-only, remembering where each
// value was written, so a plugin's error can say `routes.yaml:12:5: ...` too.
//
// Plugins read their settings through the typed getters below; each throws ConfigError
// with the file, line, column and key path when a value has the wrong type. Call
// allowKeys() first so a typo in a key is an error, never silently ignored.
//
// A ConfigNode is a view of the server's tree: valid during the create call that received
// it (a handler's or service's constructor). Copy the values you keep.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "microserver/Host.h"

namespace microserver {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigNode {
 public:
  enum class Kind { Null = MS_CONFIG_NULL, Scalar = MS_CONFIG_SCALAR, List = MS_CONFIG_LIST, Map = MS_CONFIG_MAP };

  explicit ConfigNode(const ms_config* node) : node_(node) {}

  Kind kind() const { return static_cast<Kind>(detail::host().config_kind(node_)); }
  bool isNull() const { return kind() == Kind::Null; }
  bool isScalar() const { return kind() == Kind::Scalar; }
  bool isList() const { return kind() == Kind::List; }
  bool isMap() const { return kind() == Kind::Map; }

  // Where the node was written, and its key path ("routes[2].config.greeting").
  std::string file() const { return std::string(detail::view(place().file)); }
  int line() const { return place().line; }
  int column() const { return place().column; }
  std::string path() const { return std::string(detail::view(place().path)); }
  std::string where() const {
    ms_place p = place();
    return std::string(detail::view(p.file)) + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": " +
           std::string(detail::view(p.path));
  }
  [[noreturn]] void fail(const std::string& what) const { throw ConfigError(where() + ": " + what); }

  std::string_view scalar() const { return detail::view(detail::host().config_scalar(node_)); }
  // A list's items, or a map's values; and a map's keys.
  std::size_t size() const { return detail::host().config_size(node_); }
  ConfigNode item(std::size_t i) const { return ConfigNode(detail::host().config_item(node_, i)); }
  std::string_view key(std::size_t i) const { return detail::view(detail::host().config_key(node_, i)); }
  std::vector<ConfigNode> items() const {
    std::vector<ConfigNode> out;
    for (std::size_t i = 0, n = size(); i < n; ++i) out.push_back(item(i));
    return out;
  }
  std::vector<std::pair<std::string_view, ConfigNode>> entries() const {
    std::vector<std::pair<std::string_view, ConfigNode>> out;
    if (!isMap()) return out;
    for (std::size_t i = 0, n = size(); i < n; ++i) out.emplace_back(key(i), item(i));
    return out;
  }

  // The child with this key, or nothing (also when this node is not a map).
  std::optional<ConfigNode> find(std::string_view key) const {
    const ms_config* child = detail::host().config_find(node_, key.data(), key.size());
    if (!child) return std::nullopt;
    return ConfigNode(child);
  }

  // Refuses any key not in the list, naming the key and the keys that are allowed.
  void allowKeys(std::initializer_list<std::string_view> allowed) const {
    if (isNull()) return;
    if (!isMap()) fail("expected a map");
    for (std::size_t i = 0, n = size(); i < n; ++i) {
      std::string_view k = key(i);
      bool ok = false;
      for (std::string_view a : allowed) ok = ok || a == k;
      if (ok) continue;
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      // Point at the key itself, where the typo is.
      ms_place p = item(i).place();
      int line = p.key_line ? p.key_line : p.line, column = p.key_line ? p.key_column : p.column;
      throw ConfigError(std::string(detail::view(p.file)) + ":" + std::to_string(line) + ":" + std::to_string(column) +
                        ": " + std::string(detail::view(p.path)) + ": unknown key '" + std::string(k) +
                        "' (expected one of: " + list + ")");
    }
  }

  std::string getString(std::string_view key, std::string fallback) const {
    std::optional<ConfigNode> n = find(key);
    if (!n || n->isNull()) return fallback;
    if (!n->isScalar()) n->fail("expected a string");
    return std::string(n->scalar());
  }
  std::int64_t getInt(std::string_view key, std::int64_t fallback, std::int64_t min = INT64_MIN,
                      std::int64_t max = INT64_MAX) const {
    std::optional<ConfigNode> n = find(key);
    if (!n || n->isNull()) return fallback;
    if (!n->isScalar()) n->fail("expected an integer");
    std::string text(n->scalar());
    const char* s = text.c_str();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') n->fail("expected an integer, got '" + text + "'");
    if (v < min || v > max)
      n->fail("value " + text + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    return v;
  }
  bool getBool(std::string_view key, bool fallback) const {
    std::optional<ConfigNode> n = find(key);
    if (!n || n->isNull()) return fallback;
    if (n->isScalar()) {
      std::string_view v = n->scalar();
      if (v == "true" || v == "yes" || v == "on") return true;
      if (v == "false" || v == "no" || v == "off") return false;
    }
    n->fail("expected true or false, got '" + std::string(n->isScalar() ? n->scalar() : std::string_view("a list or map")) +
            "'");
  }

  const ms_config* handle() const { return node_; }

 private:
  ms_place place() const {
    ms_place p{};
    detail::host().config_place(node_, &p);
    return p;
  }

  const ms_config* node_;
};

}  // namespace microserver
