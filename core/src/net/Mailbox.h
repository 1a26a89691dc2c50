// Mailbox: how work reaches a reactor's thread from anywhere, with nothing of the reactor
// but its address: what objects shared with plugins (an answer given later, a service
// client's handle) keep, so that they need not know the reactor, nor outlive it.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

namespace microserver::core {

class Reactor;

// Something that has work to do on its reactor's thread, signalled from any thread
// without allocating a task per signal (a broadcast marks hundreds at once).
class ReadyTarget {
 public:
  virtual ~ReadyTarget() = default;
  virtual void onReady() = 0;
};

// A way to post to a reactor that stays safe after the reactor is gone (then the task is
// dropped). Held by work that may outlive the loop, like a stuck blocking handler.
class ReactorMailbox {
 public:
  explicit ReactorMailbox(Reactor* reactor) : reactor_(reactor) {}
  // False if the reactor has stopped; the task is then destroyed unrun.
  bool post(std::function<void()> task);
  bool markReady(std::shared_ptr<ReadyTarget> target);
  void close();

 private:
  std::mutex mutex_;
  Reactor* reactor_;
};

}  // namespace microserver::core
