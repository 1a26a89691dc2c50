// SharedBuffer: immutable bytes shared by many owners with an atomic count: what a plugin's
// ms_bytes is. A chat line is formatted once and queued for every member; each queue holds
// a reference (one atomic increment), never a copy.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace microserver::core {

class SharedBuffer {
 public:
  // A copy of `bytes` with one reference, the caller's.
  static SharedBuffer* create(const char* data, std::size_t size) {
    void* memory = std::malloc(sizeof(SharedBuffer) + size);
    if (!memory) throw std::bad_alloc();
    auto* buffer = new (memory) SharedBuffer(size);
    if (size) std::memcpy(buffer->bytes(), data, size);
    return buffer;
  }
  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~SharedBuffer();
      std::free(this);
    }
  }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {data(), size_}; }

 private:
  explicit SharedBuffer(std::size_t size) : size_(size) {}
  char* bytes() { return reinterpret_cast<char*>(this + 1); }

  std::atomic<std::size_t> refs_{1};
  std::size_t size_;
};

// One counted reference, for containers.
class BufferRef {
 public:
  BufferRef() = default;
  // Takes over a reference the caller holds.
  static BufferRef adopt(SharedBuffer* b) {
    BufferRef r;
    r.b_ = b;
    return r;
  }
  // Adds a reference of its own.
  static BufferRef share(SharedBuffer* b) {
    if (b) b->retain();
    return adopt(b);
  }
  static BufferRef copyOf(std::string_view bytes) { return adopt(SharedBuffer::create(bytes.data(), bytes.size())); }
  BufferRef(const BufferRef& o) : b_(o.b_) {
    if (b_) b_->retain();
  }
  BufferRef(BufferRef&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  BufferRef& operator=(BufferRef o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~BufferRef() {
    if (b_) b_->release();
  }
  explicit operator bool() const { return b_ != nullptr; }
  const SharedBuffer* operator->() const { return b_; }
  std::string_view view() const { return b_ ? b_->view() : std::string_view(); }
  std::size_t size() const { return b_ ? b_->size() : 0; }

 private:
  SharedBuffer* b_ = nullptr;
};

}  // namespace microserver::core
