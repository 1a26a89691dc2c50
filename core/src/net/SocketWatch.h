// SocketWatch: which readiness one socket waits for on its reactor (readable, writable,
// both or neither), changed with one call. It owns the socket's Poco observers and the
// one work-around every connection needs for Poco 1.11.0 (poco issue 2966): the reactor
// recomputes a socket's epoll mask only when an observer is added, so removing the
// writable observer while the readable one stays leaves EPOLLOUT armed and the reactor
// spins a whole core. Every change here therefore ends with an add.
#pragma once

#include <Poco/Net/Socket.h>
#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>
#include <Poco/Observer.h>

namespace microserver::core {

template <class Owner>
class SocketWatch {
 public:
  using ReadableObserver = Poco::Observer<Owner, Poco::Net::ReadableNotification>;
  using WritableObserver = Poco::Observer<Owner, Poco::Net::WritableNotification>;
  using OnReadable = void (Owner::*)(Poco::Net::ReadableNotification*);
  using OnWritable = void (Owner::*)(Poco::Net::WritableNotification*);

  SocketWatch(Poco::Net::SocketReactor& reactor, const Poco::Net::Socket& socket, Owner& owner, OnReadable onReadable,
              OnWritable onWritable)
      : reactor_(reactor), socket_(socket), owner_(owner), onReadable_(onReadable), onWritable_(onWritable) {}
  SocketWatch(const SocketWatch&) = delete;
  SocketWatch& operator=(const SocketWatch&) = delete;

  bool readable() const { return readable_; }
  bool writable() const { return writable_; }

  // Waits for exactly these kinds of readiness from now on (no system call if unchanged).
  void want(bool readable, bool writable) {
    if (readable == readable_ && writable == writable_) return;
    ReadableObserver r(owner_, onReadable_);
    WritableObserver w(owner_, onWritable_);
    if (readable && writable) {
      if (!readable_) reactor_.addEventHandler(socket_, r);
      if (!writable_) reactor_.addEventHandler(socket_, w);
    } else if (readable) {
      // Add first, remove, add again: the last add leaves EPOLLIN alone in the mask.
      reactor_.addEventHandler(socket_, r);
      if (writable_) {
        reactor_.removeEventHandler(socket_, w);
        reactor_.addEventHandler(socket_, r);
      }
    } else if (writable) {
      reactor_.addEventHandler(socket_, w);
      if (readable_) {
        reactor_.removeEventHandler(socket_, r);
        reactor_.addEventHandler(socket_, w);
      }
    } else {
      // Neither: removing the last observer takes the socket out of the poll set.
      if (readable_) reactor_.removeEventHandler(socket_, r);
      if (writable_) reactor_.removeEventHandler(socket_, w);
    }
    readable_ = readable;
    writable_ = writable;
  }
  void stop() { want(false, false); }

 private:
  Poco::Net::SocketReactor& reactor_;
  Poco::Net::Socket socket_;
  Owner& owner_;
  OnReadable onReadable_;
  OnWritable onWritable_;
  bool readable_ = false;
  bool writable_ = false;
};

}  // namespace microserver::core
