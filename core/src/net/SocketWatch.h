// SocketWatch: which readiness one connection's socket waits for on its reactor
// (readable, writable, both or neither), changed with one call; the reactor then calls
// the owner's onReadable() or onWritable(). It is the connection's entry in the reactor's
// own epoll set (see Reactor.h), so a change is at most one epoll_ctl(2), and none when
// nothing changed.
//
// One readiness callback per epoll event, then nothing more: the owner may delete itself
// (and this watch with it) inside the callback. A reset or hang-up is reported as
// readable when reading is wanted (the read then says why), else as writable.
#pragma once

#include <sys/epoll.h>

#include <cstdint>

#include "net/Reactor.h"

namespace microserver::core {

// (The callbacks are template arguments, not members: every connection keeps one, and
// member function pointers are 16 bytes each.)
template <class Owner, void (Owner::*OnReadable)(), void (Owner::*OnWritable)()>
class SocketWatch final : public IoHandler {
 public:
  SocketWatch(Reactor& reactor, int fd, Owner& owner) : reactor_(reactor), owner_(owner), fd_(fd) {}
  SocketWatch(const SocketWatch&) = delete;
  SocketWatch& operator=(const SocketWatch&) = delete;

  bool readable() const { return events_ & EPOLLIN; }
  bool writable() const { return events_ & EPOLLOUT; }

  // Waits for exactly these kinds of readiness from now on.
  void want(bool readable, bool writable) {
    std::uint32_t events = (readable ? EPOLLIN | EPOLLRDHUP : 0u) | (writable ? EPOLLOUT : 0u);
    if (events == events_) return;
    reactor_.watchFd(fd_, this, events, events_ != 0);
    events_ = events;
  }
  void stop() { want(false, false); }

  void onIo(std::uint32_t events) override {
    const std::uint32_t trouble = EPOLLERR | EPOLLHUP | EPOLLRDHUP;
    if ((events_ & EPOLLIN) && (events & (EPOLLIN | trouble))) return (owner_.*OnReadable)();
    if ((events_ & EPOLLOUT) && (events & (EPOLLOUT | trouble))) return (owner_.*OnWritable)();
  }

 private:
  Reactor& reactor_;
  Owner& owner_;
  int fd_;
  std::uint32_t events_ = 0;
};

}  // namespace microserver::core
