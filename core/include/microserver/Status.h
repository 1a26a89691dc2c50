// Status: how a plugin shows its state to operators: Prometheus metrics (GET /metrics),
// readiness (GET /readyz), and a line in the console's `status` command.
//
// A plugin registers a StatusProvider through PluginContext::status (usually from a
// Service's start()) and removes it in stop(). The server calls it from any thread, while
// requests run, so a provider reads its numbers from atomics or under its own small lock.
#pragma once

#include <memory>
#include <string>

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
  // The registry keeps a weak reference: a provider that is destroyed simply disappears.
  virtual void add(std::weak_ptr<const StatusProvider> provider) = 0;
};

}  // namespace microserver
