// ConfigTree: a `config:` node from routes.yaml (a route's or a service's), as a small tree
// that remembers where each value came from, so an error can say `routes.yaml:12:5: ...`.
//
// The server keeps it; plugins read it through the C ABI (ms_config, see HostApi) and the
// SDK's ConfigTree, whose getters mirror the ones here (used by the server and its tests).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace microserver::core {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigTree {
 public:
  enum class Kind { Null, Scalar, List, Map };

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isScalar() const { return kind_ == Kind::Scalar; }
  bool isList() const { return kind_ == Kind::List; }
  bool isMap() const { return kind_ == Kind::Map; }

  // Where the node was written, and its key path ("routes[2].config.greeting").
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& path() const { return path_; }
  // Where its key was written, for a map's value (0 otherwise).
  int keyLine() const { return keyLine_; }
  int keyColumn() const { return keyColumn_; }
  std::string where() const {
    return file_ + ":" + std::to_string(line_) + ":" + std::to_string(column_) + ": " + path_;
  }
  [[noreturn]] void fail(const std::string& what) const { throw ConfigError(where() + ": " + what); }

  const std::string& scalar() const { return scalar_; }
  const std::vector<ConfigTree>& items() const { return items_; }
  const std::vector<std::pair<std::string, ConfigTree>>& entries() const { return entries_; }

  // The child with this key, or nullptr (also when this node is not a map).
  const ConfigTree* find(std::string_view key) const {
    for (const auto& [k, v] : entries_)
      if (k == key) return &v;
    return nullptr;
  }

  // Refuses any key not in the list, naming the key and the keys that are allowed.
  void allowKeys(std::initializer_list<std::string_view> allowed) const {
    if (isNull()) return;
    if (!isMap()) fail("expected a map");
    for (const auto& [k, v] : entries_) {
      bool ok = false;
      for (std::string_view a : allowed) ok = ok || a == k;
      if (ok) continue;
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      // Point at the key itself, where the typo is.
      throw ConfigError(file_ + ":" + std::to_string(v.keyLine_ ? v.keyLine_ : v.line_) + ":" +
                        std::to_string(v.keyLine_ ? v.keyColumn_ : v.column_) + ": " + v.path_ + ": unknown key '" +
                        k + "' (expected one of: " + list + ")");
    }
  }

  std::string getString(std::string_view key, std::string fallback) const {
    const ConfigTree* n = find(key);
    if (!n || n->isNull()) return fallback;
    if (!n->isScalar()) n->fail("expected a string");
    return n->scalar_;
  }
  std::int64_t getInt(std::string_view key, std::int64_t fallback, std::int64_t min = INT64_MIN,
                      std::int64_t max = INT64_MAX) const {
    const ConfigTree* n = find(key);
    if (!n || n->isNull()) return fallback;
    if (!n->isScalar()) n->fail("expected an integer");
    const char* s = n->scalar_.c_str();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') n->fail("expected an integer, got '" + n->scalar_ + "'");
    if (v < min || v > max)
      n->fail("value " + n->scalar_ + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    return v;
  }
  bool getBool(std::string_view key, bool fallback) const {
    const ConfigTree* n = find(key);
    if (!n || n->isNull()) return fallback;
    if (n->isScalar()) {
      if (n->scalar_ == "true" || n->scalar_ == "yes" || n->scalar_ == "on") return true;
      if (n->scalar_ == "false" || n->scalar_ == "no" || n->scalar_ == "off") return false;
    }
    n->fail("expected true or false, got '" + n->scalar_ + "'");
  }

  // Building (used by the server's config reader and by tests).
  static ConfigTree makeScalar(std::string value) {
    ConfigTree n;
    n.kind_ = Kind::Scalar;
    n.scalar_ = std::move(value);
    return n;
  }
  static ConfigTree makeList() {
    ConfigTree n;
    n.kind_ = Kind::List;
    return n;
  }
  static ConfigTree makeMap() {
    ConfigTree n;
    n.kind_ = Kind::Map;
    return n;
  }
  void setPlace(std::string file, int line, int column, std::string path) {
    file_ = std::move(file);
    line_ = line;
    column_ = column;
    path_ = std::move(path);
  }
  // Where this node's key was written, for a node that is a map's value.
  void setKeyPlace(int line, int column) {
    keyLine_ = line;
    keyColumn_ = column;
  }
  void addItem(ConfigTree item) { items_.push_back(std::move(item)); }
  void addEntry(std::string key, ConfigTree value) { entries_.emplace_back(std::move(key), std::move(value)); }

 private:
  Kind kind_ = Kind::Null;
  std::string scalar_;
  std::vector<ConfigTree> items_;
  std::vector<std::pair<std::string, ConfigTree>> entries_;
  std::string file_;
  int line_ = 0;
  int column_ = 0;
  int keyLine_ = 0;
  int keyColumn_ = 0;
  std::string path_;
};

}  // namespace microserver::core
