// Status: how a plugin shows its state to operators: Prometheus metrics (GET /metrics),
// readiness (GET /readyz), and a line in the console's `status` command.
//
// A plugin registers a StatusProvider through PluginContext::status (usually from a
// Service's start()). The server calls it from any thread, while requests run, so a
// provider reads its numbers from atomics or under its own small lock. The registry keeps
// a weak reference: a provider that is destroyed simply disappears.
#pragma once

#include <memory>
#include <string>

#include "microserver/Host.h"

namespace microserver {

class StatusProvider {
 public:
  virtual ~StatusProvider() = default;
  // Appends metrics in the Prometheus text format (# HELP / # TYPE lines included). Name
  // them after the plugin: `chat_members`, `chat_messages_in_total`.
  virtual void appendMetrics(std::string& out) const { (void)out; }
  // False (with a reason) while the plugin cannot do its job, e.g. its database is down.
  virtual bool ready(std::string& reason) const {
    (void)reason;
    return true;
  }
  // One short human line for the console's `status`, e.g. "chat: 12 members".
  virtual std::string statusLine() const { return {}; }
};

class StatusRegistry {
 public:
  virtual ~StatusRegistry() = default;
  virtual void add(std::weak_ptr<const StatusProvider> provider) = 0;
};

namespace detail {
// The server's registry. A registration lasts while this copy of the plugin is loaded;
// the provider it names may go earlier (then it reports nothing).
class HostStatusRegistry final : public StatusRegistry {
 public:
  void add(std::weak_ptr<const StatusProvider> provider) override {
    static const ms_status_callbacks callbacks = {&appendMetrics, &ready, &statusLine, &release};
    auto* user = new std::weak_ptr<const StatusProvider>(std::move(provider));
    if (!host().status_add(library(), &callbacks, user)) delete user;
  }

 private:
  using Weak = std::weak_ptr<const StatusProvider>;
  static void append(ms_buffer* out, const std::string& text) { host().buffer_append(out, text.data(), text.size()); }
  static void appendMetrics(void* user, ms_buffer* out) noexcept {
    try {
      if (auto p = static_cast<Weak*>(user)->lock()) {
        std::string text;
        p->appendMetrics(text);
        append(out, text);
      }
    } catch (...) {
      // A provider that cannot report this time reports nothing.
    }
  }
  static int ready(void* user, ms_buffer* reason) noexcept {
    try {
      if (auto p = static_cast<Weak*>(user)->lock()) {
        std::string why;
        if (!p->ready(why)) {
          append(reason, why);
          return 0;
        }
      }
      return 1;
    } catch (...) {
      try {
        append(reason, "its readiness check failed");
      } catch (...) {
      }
      return 0;
    }
  }
  static void statusLine(void* user, ms_buffer* out) noexcept {
    try {
      if (auto p = static_cast<Weak*>(user)->lock()) append(out, p->statusLine());
    } catch (...) {
    }
  }
  static void release(void* user) noexcept { delete static_cast<Weak*>(user); }
};
inline StatusRegistry& hostStatusRegistry() {
  static HostStatusRegistry registry;
  return registry;
}
}  // namespace detail

}  // namespace microserver
