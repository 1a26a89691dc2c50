// Listener: see Listener.h.
#include "Listener.h"

#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Observer.h>
#include <sys/socket.h>

#include <cerrno>
#include <future>
#include <cstring>

#include "Log.h"
#include "ResponseWriter.h"

namespace microserver::core {

namespace {
using AcceptObserver = Poco::Observer<Listener, Poco::Net::ReadableNotification>;
constexpr std::int64_t kPauseOnShortageMs = 100;
constexpr int kAcceptsPerEvent = 32;  // bounded, so one busy listener cannot starve connections
}  // namespace

Listener::Listener(Poco::Net::ServerSocket& socket, unsigned threads, ServerContext& context,
                   std::size_t maxConnections)
    : ParallelSocketAcceptor(socket, threads), context_(context), maxConnections_(maxConnections) {
  for (auto& r : reactors()) r->setContext(&context);
  socket.setBlocking(false);
  registerAcceptor(reactorAt(0));
}

Listener::~Listener() {
  unregisterAcceptor();
}

void Listener::registerAcceptor(Poco::Net::SocketReactor& reactor) {
  acceptReactor_ = static_cast<Reactor*>(&reactor);
  accepting_ = true;
  acceptReactor_->addEventHandler(socket(), AcceptObserver(*this, &Listener::onAcceptable));
}

void Listener::unregisterAcceptor() {
  if (!acceptReactor_) return;
  acceptReactor_->removeEventHandler(socket(), AcceptObserver(*this, &Listener::onAcceptable));
}

void Listener::stopAccepting() {
  // Registration only ever changes on the accepting thread, so a pause timer resuming at
  // the same moment cannot re-register the observer after this.
  std::promise<void> done;
  acceptReactor_->post([this, &done] {
    accepting_ = false;
    unregisterAcceptor();
    done.set_value();
  });
  done.get_future().wait();
}

void Listener::onAcceptable(Poco::Net::ReadableNotification* notification) {
  notification->release();
  int listenFd = socket().impl()->sockfd();
  for (int i = 0; i < kAcceptsPerEvent && accepting_; ++i) {
    int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      acceptOne(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      pause(Reactor::monotonicMs());
      return;
    }
    log::error(std::string("accept() failed: ") + std::strerror(errno));
    pause(Reactor::monotonicMs());
    return;
  }
}

void Listener::acceptOne(int fd) {
  if (context_.openConnections.load(std::memory_order_relaxed) >= maxConnections_) {
    // Tell the client why instead of letting it hang; the send never blocks (new socket,
    // empty buffer) and the close frees the descriptor at once.
    std::string out;
    writeErrorResponse(503, "too many connections, try again later", false, out);
    ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    std::int64_t now = Reactor::monotonicMs();
    if (now - lastShortageLogMs_ > 10'000) {
      lastShortageLogMs_ = now;
      log::warning("refusing connections: " + std::to_string(maxConnections_) +
                   " are open (server.limits.max_connections); raise it if the machine can take more");
    }
    return;
  }
  Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(fd));
  Reactor& target = reactorAt(next_);
  next_ = (next_ + 1) % reactors().size();
  if (&target == Reactor::current()) return startConnection(socket, target);
  target.post([socket, &target]() mutable { startConnection(socket, target); });
}

void Listener::startConnection(Poco::Net::StreamSocket& socket, Reactor& reactor) {
  try {
    new HttpConnection(socket, reactor);  // owns itself from here; deletes itself on close
  } catch (const std::exception& e) {
    // The peer vanished between accept and setup (e.g. getpeername: ENOTCONN).
    log::debug(std::string("dropped a connection during setup: ") + e.what());
  }
}

void Listener::pause(std::int64_t nowMs) {
  int error = errno;  // before anything below can change it
  // Out of descriptors: the listening socket stays readable, so stop watching it for a
  // moment instead of spinning; connections closing meanwhile free descriptors.
  acceptReactor_->removeEventHandler(socket(), AcceptObserver(*this, &Listener::onAcceptable));
  acceptReactor_->runAt(nowMs + kPauseOnShortageMs, [this] { resume(); });
  if (nowMs - lastShortageLogMs_ > 10'000) {
    lastShortageLogMs_ = nowMs;
    log::warning(std::string("cannot accept connections: ") + std::strerror(error) +
                 " (raise the open-file limit with `ulimit -n`, or lower server.limits.max_connections); "
                 "pausing accepts briefly");
  }
}

void Listener::resume() {
  if (accepting_) acceptReactor_->addEventHandler(socket(), AcceptObserver(*this, &Listener::onAcceptable));
}

}  // namespace microserver::core
