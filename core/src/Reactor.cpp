// Reactor: see Reactor.h.
#include "Reactor.h"

#include <Poco/Net/SocketAddress.h>
#include <Poco/Observer.h>
#include <sys/socket.h>

#include <ctime>

#include "Log.h"

namespace microserver::core {

namespace {
constexpr std::int64_t kSweepIntervalMs = 100;
// Quiet passes wake this often; short enough for timely deadline sweeps, long enough
// that an idle server costs ~nothing.
const Poco::Timespan kPollTimeout(0, 250 * 1000);
}  // namespace

std::int64_t Reactor::monotonicMs() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

Reactor::Reactor() : Poco::Net::SocketReactor(kPollTimeout) {
  // A UDP socket connected to itself: one send() makes it readable, waking epoll_wait.
  wakeSocket_.bind(Poco::Net::SocketAddress("127.0.0.1", 0));
  wakeSocket_.connect(wakeSocket_.address());
  wakeSocket_.setBlocking(false);
  nowMs_ = monotonicMs();
  nextSweepMs_ = nowMs_ + kSweepIntervalMs;
  addEventHandler(wakeSocket_, Poco::Observer<Reactor, Poco::Net::ReadableNotification>(*this, &Reactor::onWake));
}

Reactor::~Reactor() {
  removeEventHandler(wakeSocket_,
                     Poco::Observer<Reactor, Poco::Net::ReadableNotification>(*this, &Reactor::onWake));
}

void Reactor::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(taskMutex_);
    tasks_.push_back(std::move(task));
  }
  // One datagram per batch of tasks is enough: the loop drains the whole queue.
  if (!wakePending_.exchange(true)) {
    char byte = 1;
    ::send(wakeSocket_.impl()->sockfd(), &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

void Reactor::stopNow() {
  stop();
  post([] {});
}

void Reactor::onWake(Poco::Net::ReadableNotification* notification) {
  notification->release();
  char buf[64];
  while (::recv(wakeSocket_.impl()->sockfd(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  wakePending_.store(false);
  runTasks();
}

void Reactor::runTasks() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(taskMutex_);
    batch.swap(tasks_);
  }
  for (auto& task : batch) {
    try {
      task();
    } catch (const std::exception& e) {
      log::error(std::string("a reactor task failed: ") + e.what());
    }
  }
}

namespace {
thread_local Reactor* tCurrentReactor = nullptr;
}

Reactor* Reactor::current() { return tCurrentReactor; }

void Reactor::run() {
  tCurrentReactor = this;
  SocketReactor::run();
  tCurrentReactor = nullptr;
}

void Reactor::attach(ReactorClient* client) {
  clientCount_.fetch_add(1, std::memory_order_relaxed);
  if (tCurrentReactor == this) return link(client);
  // Another thread (the acceptor) built this client: hand it over; the loop links it
  // before its next sweep, and before any detach, so no list is touched by two threads.
  std::lock_guard<std::mutex> lock(incomingMutex_);
  incoming_.push_back(client);
  hasIncoming_.store(true, std::memory_order_release);
}

void Reactor::link(ReactorClient* client) {
  client->prev_ = nullptr;
  client->next_ = clients_;
  if (clients_) clients_->prev_ = client;
  clients_ = client;
}

void Reactor::adoptIncoming() {
  if (!hasIncoming_.load(std::memory_order_acquire)) return;
  std::vector<ReactorClient*> batch;
  {
    std::lock_guard<std::mutex> lock(incomingMutex_);
    batch.swap(incoming_);
    hasIncoming_.store(false, std::memory_order_relaxed);
  }
  for (ReactorClient* c : batch) link(c);
}

void Reactor::detach(ReactorClient* client) {
  adoptIncoming();
  if (client->prev_) client->prev_->next_ = client->next_;
  else if (clients_ == client) clients_ = client->next_;
  if (client->next_) client->next_->prev_ = client->prev_;
  client->prev_ = client->next_ = nullptr;
  clientCount_.fetch_sub(1, std::memory_order_relaxed);
}

void Reactor::drainAll() {
  adoptIncoming();
  for (ReactorClient* c = clients_; c;) {
    ReactorClient* next = c->next_;  // c may delete itself
    c->beginDrain();
    c = next;
  }
}

void Reactor::maybeSweep() {
  nowMs_ = monotonicMs();
  if (nowMs_ < nextSweepMs_) return;
  nextSweepMs_ = nowMs_ + kSweepIntervalMs;
  adoptIncoming();
  flushAccessLog();
  for (ReactorClient* c = clients_; c;) {
    ReactorClient* next = c->next_;
    c->checkDeadline(nowMs_);
    c = next;
  }
  for (std::size_t i = 0; i < timers_.size();) {
    if (timers_[i].first > nowMs_) {
      ++i;
      continue;
    }
    auto task = std::move(timers_[i].second);
    timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(i));
    task();
  }
}

void Reactor::onBusy() { maybeSweep(); }

void Reactor::onTimeout() {
  // Deliberately not SocketReactor::onTimeout(): see the header.
  maybeSweep();
}

void Reactor::flushAccessLog() {
  ServerContext* context = context_.load(std::memory_order_acquire);
  if (context && context->accessLog()) context->accessLog()->flushThisThread();
}

void Reactor::onShutdown() {
  SocketReactor::onShutdown();
  adoptIncoming();
  for (ReactorClient* c = clients_; c;) {
    ReactorClient* next = c->next_;
    c->abandon();
    c = next;
  }
  timers_.clear();
  flushAccessLog();
  std::lock_guard<std::mutex> lock(stoppedMutex_);
  stopped_ = true;
  stoppedCondition_.notify_all();
}

void Reactor::waitUntilStopped() {
  std::unique_lock<std::mutex> lock(stoppedMutex_);
  stoppedCondition_.wait(lock, [this] { return stopped_; });
}

void Reactor::runAt(std::int64_t atMs, std::function<void()> task) { timers_.emplace_back(atMs, std::move(task)); }

void Reactor::onIdle() {
  // Never reached while the wake socket is registered; kept quiet for the same reason.
  maybeSweep();
}

}  // namespace microserver::core
