// CountedHandle: lets a plugin's C handle (ms_responder, ms_conn) keep alive an object the
// server owns through shared_ptrs. Each retain from the plugin is one count; while any is
// held, the object holds a shared_ptr to itself, so it outlives the server's own
// references (a connection that closed) for as long as the plugin still points at it.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>

namespace microserver::core {

template <class T>
class CountedHandle : public std::enable_shared_from_this<T> {
 public:
  // The object must already be owned by a shared_ptr.
  void retainHandle() {
    std::lock_guard<std::mutex> lock(handleMutex_);
    if (handleRefs_++ == 0) self_ = this->shared_from_this();
  }
  // Returns the object's last self-reference when this was the plugin's last count (the
  // caller drops it once done with the object: it may destroy it), else nullptr.
  [[nodiscard]] std::shared_ptr<T> releaseHandle() {
    std::lock_guard<std::mutex> lock(handleMutex_);
    if (handleRefs_ == 0 || --handleRefs_ > 0) return nullptr;
    return std::move(self_);
  }
  std::size_t handleRefs() const {
    std::lock_guard<std::mutex> lock(handleMutex_);
    return handleRefs_;
  }

 private:
  mutable std::mutex handleMutex_;
  std::size_t handleRefs_ = 0;
  std::shared_ptr<T> self_;
};

}  // namespace microserver::core
