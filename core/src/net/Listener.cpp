// Listener: see Listener.h.
#include "net/Listener.h"

#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Observer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include "base/Log.h"
#include "base/AddressText.h"

namespace microserver::core {

namespace {
using AcceptObserver = Poco::Observer<Listener, Poco::Net::ReadableNotification>;
constexpr std::int64_t kPauseOnShortageMs = 100;
constexpr int kAcceptsPerEvent = 32;  // bounded, so one busy listener cannot starve connections
}  // namespace

Listener::Listener(Poco::Net::ServerSocket socket, std::vector<Reactor*> reactors, ServerContext& context,
                   std::size_t maxConnections, std::string refusal, Starter starter)
    : socket_(std::move(socket)),
      reactors_(std::move(reactors)),
      acceptReactor_(reactors_.at(0)),
      context_(context),
      maxConnections_(maxConnections),
      refusal_(std::move(refusal)),
      starter_(std::move(starter)) {
  socket_.setBlocking(false);
}

Listener::~Listener() {
  if (accepting_) acceptReactor_->removeEventHandler(socket_, AcceptObserver(*this, &Listener::onAcceptable));
}

void Listener::startAccepting() {
  accepting_ = true;
  acceptReactor_->addEventHandler(socket_, AcceptObserver(*this, &Listener::onAcceptable));
}

void Listener::stopAccepting() {
  // Registration only ever changes on the accepting thread, so a pause timer resuming at
  // the same moment cannot re-register the observer after this.
  std::promise<void> done;
  acceptReactor_->post([this, &done] {
    accepting_ = false;
    acceptReactor_->removeEventHandler(socket_, AcceptObserver(*this, &Listener::onAcceptable));
    done.set_value();
  });
  done.get_future().wait();
}

void Listener::onAcceptable(Poco::Net::ReadableNotification* notification) {
  notification->release();
  int listenFd = socket_.impl()->sockfd();
  for (int i = 0; i < kAcceptsPerEvent && accepting_; ++i) {
    // The peer's address comes with the accept: no getpeername(2) per connection.
    struct sockaddr_storage address {};
    socklen_t length = sizeof address;
    int fd = ::accept4(listenFd, reinterpret_cast<struct sockaddr*>(&address), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      acceptOne(fd, formatAddress(address));
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
      log::error(std::string("accept() failed: ") + std::strerror(errno));
    return pause(Reactor::monotonicMs());
  }
}

void Listener::acceptOne(int fd, std::string remote) {
  if (context_.openConnections.load(std::memory_order_relaxed) >= maxConnections_) {
    // Tell the client why instead of letting it hang; the send never blocks (new socket,
    // empty buffer) and the close frees the descriptor at once.
    if (!refusal_.empty()) ::send(fd, refusal_.data(), refusal_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    std::int64_t now = Reactor::monotonicMs();
    if (now - lastShortageLogMs_ > 10'000) {
      lastShortageLogMs_ = now;
      log::warning("refusing connections: " + std::to_string(maxConnections_) +
                   " are open (server.limits.max_connections); raise it if the machine can take more");
    }
    return;
  }
  Reactor& target = *reactors_[next_];
  next_ = (next_ + 1) % reactors_.size();
  // Only the descriptor crosses threads: the Socket object (reference-counted inside
  // Poco) is made on the thread that owns it from then on.
  auto start = [this, &target, fd, remote = std::move(remote)] {
    try {
      Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(fd));
      starter_(socket, target, remote);
    } catch (const std::exception& e) {
      // The peer vanished between accept and setup (e.g. getpeername: ENOTCONN).
      log::debug(std::string("dropped a connection during setup: ") + e.what());
    }
  };
  if (&target == Reactor::current()) return start();
  target.post(start);
}

void Listener::pause(std::int64_t nowMs) {
  int error = errno;  // before anything below can change it
  // Out of descriptors: the listening socket stays readable, so stop watching it for a
  // moment instead of spinning; connections closing meanwhile free descriptors.
  acceptReactor_->removeEventHandler(socket_, AcceptObserver(*this, &Listener::onAcceptable));
  acceptReactor_->runAt(nowMs + kPauseOnShortageMs, [this] { resume(); });
  if (nowMs - lastShortageLogMs_ > 10'000) {
    lastShortageLogMs_ = nowMs;
    log::warning(std::string("cannot accept connections: ") + std::strerror(error) +
                 " (raise the open-file limit with `ulimit -n`, or lower server.limits.max_connections); "
                 "pausing accepts briefly");
  }
}

void Listener::resume() {
  if (accepting_) acceptReactor_->addEventHandler(socket_, AcceptObserver(*this, &Listener::onAcceptable));
}

}  // namespace microserver::core
