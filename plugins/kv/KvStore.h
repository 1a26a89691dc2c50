// KvStore: the kv plugin's data: keys to (Content-Type, bytes), shared by every request on
// every reactor thread, and found by name in a registry that lives as long as the library.
//
// Threads: any method may be called from any thread at any time. Reads take a shared lock
// and run in parallel; writes take it exclusively, and only to link or unlink an entry:
// values are copied before the lock and freed after it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

class KvStore {
 public:
  enum class PutResult { Created, Updated, Full };

  // The store called `name`, created empty on first use.
  //
  // Why a registry and not a member of the handler: the server creates a new handler for
  // every route each time it loads routes.yaml (a reload, SIGHUP or an edit of the file)
  // and destroys the old ones, but it keeps a library whose file did not change loaded
  // across the reload (see PluginLoader). A store owned by a handler would be emptied by
  // every reload; one owned by the library survives it, and two routes naming the same
  // `store` share the data. The registry keeps each store until the library is unloaded
  // (its file changed, or the server stopped): kv is a cache, not a database.
  static std::shared_ptr<KvStore> named(const std::string& name);

  // Copies the value of `key` into contentType and bytes; false if there is none.
  bool get(std::string_view key, std::string& contentType, std::string& bytes) const;
  // Stores a value. A new key when the store already holds maxKeys keys is refused (Full);
  // replacing the value of an existing key always succeeds.
  PutResult put(std::string_view key, std::string_view contentType, std::string_view bytes, std::size_t maxKeys);
  // Removes a key; false if there was none.
  bool erase(std::string_view key);
  // Every key, sorted (byte order).
  std::vector<std::string> keys() const;
  std::size_t size() const;

 private:
  struct Value {
    std::string contentType;
    std::string bytes;
  };

  mutable std::shared_mutex mutex_;
  std::map<std::string, Value, std::less<>> entries_;  // less<>: find by string_view, no copy
};

}  // namespace kv
