// Timer: runs a function once, later, on a reactor thread, holding no thread meanwhile:
// what a handler uses to answer after a delay, or to send the next event of a stream.
//
//   microserver::after(std::chrono::milliseconds(250), [later]() mutable { later.finish("done\n"); });
//
// The function runs on the calling thread's reactor when called on one (inside a handler,
// say), else on one of the server's reactors; it must not block. Timer::start returns a
// handle that can cancel it; dropping the handle does not.
#pragma once

#include <chrono>
#include <functional>
#include <utility>

#include "microserver/Host.h"

namespace microserver {

class Timer {
 public:
  Timer() = default;
  Timer(Timer&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  Timer& operator=(Timer&& o) noexcept {
    if (this != &o) {
      reset();
      t_ = std::exchange(o.t_, nullptr);
    }
    return *this;
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() { reset(); }

  static Timer start(std::chrono::milliseconds delay, std::function<void()> fire) {
    auto* user = new std::function<void()>(std::move(fire));
    Timer timer;
    timer.t_ = detail::host().timer_start(detail::library(), static_cast<std::uint64_t>(delay.count() < 0 ? 0 : delay.count()),
                                          &run, user, &release);
    if (!timer.t_) throw std::runtime_error("the server has no reactor to run a timer on");
    return timer;
  }
  // It will not run (if it has not yet).
  void cancel() {
    if (t_) detail::host().timer_cancel(std::exchange(t_, nullptr));
  }
  explicit operator bool() const { return t_ != nullptr; }

 private:
  void reset() {
    if (t_) detail::host().timer_release(std::exchange(t_, nullptr));
  }
  static void run(void* user) noexcept {
    const char* failure = nullptr;
    try {
      (*static_cast<std::function<void()>*>(user))();
    } catch (const std::exception& e) {
      failure = e.what();
      detail::host().log(detail::library(), MS_LOG_ERROR, failure, std::char_traits<char>::length(failure));
    } catch (...) {
      failure = "a timer threw a non-standard exception";
      detail::host().log(detail::library(), MS_LOG_ERROR, failure, std::char_traits<char>::length(failure));
    }
  }
  static void release(void* user) noexcept { delete static_cast<std::function<void()>*>(user); }

  ms_timer* t_ = nullptr;
};

// Runs `fire` once after `delay`; nothing to keep.
inline void after(std::chrono::milliseconds delay, std::function<void()> fire) { Timer::start(delay, std::move(fire)); }

}  // namespace microserver
