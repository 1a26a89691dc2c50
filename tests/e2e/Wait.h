// Wait: the tests' one way to wait for something that happens elsewhere (another process,
// another thread): poll a condition until it holds or a bound passes, never a fixed sleep.
//
//   ASSERT_TRUE(e2e::waitUntil([&] { return members() == 3; }, 5s));
#pragma once

#include <poll.h>

#include <chrono>
#include <functional>

namespace e2e {

// Polls `condition` every 20 ms until it holds or `timeout` passes (then one last look).
inline bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    ::poll(nullptr, 0, 20);
  }
  return condition();
}

}  // namespace e2e
