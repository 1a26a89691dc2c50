// Reactor: see Reactor.h.
#include "net/Reactor.h"

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Observer.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <algorithm>
#include <ctime>

#include "base/Log.h"

namespace microserver::core {

namespace {
constexpr std::int64_t kSweepIntervalMs = 100;
// Quiet passes wake this often; short enough for timely deadline sweeps, long enough
// that an idle server costs ~nothing.
constexpr std::int64_t kPollTimeoutMs = 250;
thread_local Reactor* tCurrentReactor = nullptr;

// The running reactors, for anyMailbox().
std::mutex gRunningMutex;
std::vector<Reactor*> gRunning;
std::size_t gNextRunning = 0;
using WakeObserver = Poco::Observer<Reactor, Poco::Net::ReadableNotification>;
// Ready connections taken per epoll_wait(); more wait for the next pass (level-triggered).
constexpr int kMaxReady = 256;

int makeEpoll() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
  return fd;
}
}  // namespace

bool ReactorMailbox::post(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!reactor_) return false;
  reactor_->post(std::move(task));
  return true;
}

bool ReactorMailbox::markReady(std::shared_ptr<ReadyTarget> target) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!reactor_) return false;
  reactor_->markReady(std::move(target));
  return true;
}

void ReactorMailbox::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  reactor_ = nullptr;
}

std::int64_t Reactor::monotonicMs() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::uint64_t Reactor::monotonicNs() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

Reactor* Reactor::current() { return tCurrentReactor; }

Reactor::Reactor()
    : Poco::Net::SocketReactor(Poco::Timespan(kPollTimeoutMs * 1000)),
      connections_(new Poco::Net::StreamSocketImpl(makeEpoll())),
      mailbox_(std::make_shared<ReactorMailbox>(this)) {
  // A UDP socket connected to itself: one send() makes it readable, waking epoll_wait.
  wakeSocket_.bind(Poco::Net::SocketAddress("127.0.0.1", 0));
  wakeSocket_.connect(wakeSocket_.address());
  wakeSocket_.setBlocking(false);
  nowMs_ = monotonicMs();
  nextSweepMs_ = nowMs_ + kSweepIntervalMs;
  pollTimeoutMs_ = kPollTimeoutMs;
  addEventHandler(wakeSocket_, WakeObserver(*this, &Reactor::onWake));
  addEventHandler(connections_, WakeObserver(*this, &Reactor::onConnectionsReady));
  Metrics::instance().attach(&metrics_);
}

Reactor::~Reactor() {
  Metrics::instance().detach(&metrics_);
  mailbox_->close();
  removeEventHandler(wakeSocket_, WakeObserver(*this, &Reactor::onWake));
  removeEventHandler(connections_, WakeObserver(*this, &Reactor::onConnectionsReady));
}

void Reactor::run() {
  tCurrentReactor = this;
  {
    std::lock_guard<std::mutex> lock(gRunningMutex);
    gRunning.push_back(this);
  }
  SocketReactor::run();
  tCurrentReactor = nullptr;
}

std::shared_ptr<ReactorMailbox> Reactor::anyMailbox() {
  std::lock_guard<std::mutex> lock(gRunningMutex);
  if (gRunning.empty()) return nullptr;
  return gRunning[gNextRunning++ % gRunning.size()]->mailbox();
}

void Reactor::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(taskMutex_);
    tasks_.push_back(std::move(task));
  }
  wake();
}

void Reactor::markReady(std::shared_ptr<ReadyTarget> target) {
  if (tCurrentReactor == this) {
    // Run at the start of the next pass, and make that pass come at once: a zero poll
    // timeout, not a wake-up datagram (two system calls saved per batch).
    localReady_.push_back(std::move(target));
    if (localReady_.size() == 1) updatePollTimeout();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(taskMutex_);
    ready_.push_back(std::move(target));
  }
  wake();
}

void Reactor::runLocalReady() {
  flushedThisPass_ = !localReady_.empty();
  if (localReady_.empty()) return;
  std::vector<std::shared_ptr<ReadyTarget>> batch;
  batch.swap(localReady_);
  for (auto& target : batch) {
    try {
      target->onReady();
    } catch (const std::exception& e) {
      log::error(std::string("a reactor client failed: ") + e.what());
    }
  }
}

void Reactor::wake() {
  // One datagram per batch is enough: the loop drains everything queued.
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

void Reactor::watchFd(int fd, IoHandler* handler, std::uint32_t events, bool added) {
  struct epoll_event event {};
  event.events = events;
  event.data.ptr = handler;
  int op = events == 0 ? EPOLL_CTL_DEL : added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(connections_.impl()->sockfd(), op, fd, &event) != 0 && op != EPOLL_CTL_DEL)
    throw std::runtime_error(std::string("epoll_ctl failed: ") + std::strerror(errno));
}

void Reactor::onConnectionsReady(Poco::Net::ReadableNotification* notification) {
  notification->release();
  struct epoll_event events[kMaxReady];
  int n = ::epoll_wait(connections_.impl()->sockfd(), events, kMaxReady, 0);
  // Each handler is called once per wait and may delete itself; it never deletes another
  // (cross-connection work goes through markReady or post), so the rest stay valid.
  for (int i = 0; i < n; ++i) static_cast<IoHandler*>(events[i].data.ptr)->onIo(events[i].events);
}

void Reactor::runTasks() {
  std::vector<std::function<void()>> batch;
  std::vector<std::shared_ptr<ReadyTarget>> ready;
  {
    std::lock_guard<std::mutex> lock(taskMutex_);
    batch.swap(tasks_);
    ready.swap(ready_);
  }
  for (auto& target : ready) {
    try {
      target->onReady();
    } catch (const std::exception& e) {
      log::error(std::string("a reactor client failed: ") + e.what());
    }
  }
  for (auto& task : batch) {
    try {
      task();
    } catch (const std::exception& e) {
      log::error(std::string("a reactor task failed: ") + e.what());
    } catch (...) {
      log::error("a reactor task failed with a non-standard exception");
    }
  }
}

void Reactor::runAt(std::int64_t atMs, std::function<void()> task) {
  timers_.push_back(TimerEntry{atMs, ++timerSequence_, std::move(task)});
  std::push_heap(timers_.begin(), timers_.end(), LaterFirst());
  // Set during an event, after this pass computed its timeout: the next poll must not
  // sleep past it.
  if (timers_.front().sequence == timerSequence_) updatePollTimeout();
}

void Reactor::runDueTimers() {
  while (!timers_.empty() && timers_.front().atMs <= nowMs_) {
    std::pop_heap(timers_.begin(), timers_.end(), LaterFirst());
    std::function<void()> task = std::move(timers_.back().task);
    timers_.pop_back();
    try {
      task();
    } catch (const std::exception& e) {
      log::error(std::string("a reactor timer failed: ") + e.what());
    } catch (...) {
      log::error("a reactor timer failed with a non-standard exception");
    }
  }
}

void Reactor::updatePollTimeout() {
  // The common case, a pass with no timer and no local work, costs a comparison.
  if (timers_.empty() && localReady_.empty() && pollTimeoutMs_ == kPollTimeoutMs) return;
  std::int64_t timeout = kPollTimeoutMs;
  if (!localReady_.empty()) {
    timeout = 0;
  } else if (!timers_.empty()) {
    std::int64_t until = timers_.front().atMs - monotonicMs();
    timeout = std::max<std::int64_t>(0, std::min(timeout, until));
  }
  if (timeout == pollTimeoutMs_) return;
  pollTimeoutMs_ = timeout;
  setTimeout(Poco::Timespan(timeout * 1000));
}

void Reactor::attach(ReactorClient* client) {
  client->prev_ = nullptr;
  client->next_ = clients_;
  if (clients_) clients_->prev_ = client;
  clients_ = client;
  clientCount_.fetch_add(1, std::memory_order_relaxed);
}

void Reactor::detach(ReactorClient* client) {
  if (client->prev_) client->prev_->next_ = client->next_;
  else if (clients_ == client) clients_ = client->next_;
  if (client->next_) client->next_->prev_ = client->prev_;
  client->prev_ = client->next_ = nullptr;
  clientCount_.fetch_sub(1, std::memory_order_relaxed);
}

void Reactor::drainAll() {
  for (ReactorClient* c = clients_; c;) {
    ReactorClient* next = c->next_;  // c may delete itself
    c->beginDrain();
    c = next;
  }
}

void Reactor::retireAll(const void* owner) {
  for (ReactorClient* c = clients_; c;) {
    ReactorClient* next = c->next_;  // c may delete itself
    c->retire(owner);
    c = next;
  }
}

void Reactor::refreshSite() {
  ServerContext* context = context_.load(std::memory_order_acquire);
  if (!context) return;
  std::uint64_t generation = context->siteGeneration();
  if (generation == siteGeneration_ && site_) return;
  site_ = context->site();
  siteGeneration_ = generation;
}

void Reactor::flushAccessLog() {
  ServerContext* context = context_.load(std::memory_order_acquire);
  if (context && context->accessLog()) context->accessLog()->flushThisThread();
}

void Reactor::startPass() {
  // The only place the snapshot changes: nothing of this thread is using it now.
  refreshSite();
  ++pass_;
  runLocalReady();
  nowMs_ = monotonicMs();
  runTimers();
  if (nowMs_ >= nextSweepMs_) {
    nextSweepMs_ = nowMs_ + kSweepIntervalMs;
    flushAccessLog();
    for (ReactorClient* c = clients_; c;) {
      ReactorClient* next = c->next_;
      c->checkDeadline(nowMs_);
      c = next;
    }
  }
  updatePollTimeout();
}

void Reactor::onBusy() { startPass(); }

void Reactor::onTimeout() {
  // Deliberately not SocketReactor::onTimeout(): see the header.
  startPass();
}

void Reactor::onIdle() {
  // Never reached while the wake socket is registered; kept quiet for the same reason.
  startPass();
}

void Reactor::onShutdown() {
  {
    std::lock_guard<std::mutex> lock(gRunningMutex);
    gRunning.erase(std::remove(gRunning.begin(), gRunning.end(), this), gRunning.end());
  }
  mailbox_->close();
  localReady_.clear();
  SocketReactor::onShutdown();
  for (ReactorClient* c = clients_; c;) {
    ReactorClient* next = c->next_;
    c->abandon();
    c = next;
  }
  timers_.clear();
  flushAccessLog();
  site_.reset();
  std::lock_guard<std::mutex> lock(stoppedMutex_);
  stopped_ = true;
  stoppedCondition_.notify_all();
}

void Reactor::waitUntilStopped() {
  std::unique_lock<std::mutex> lock(stoppedMutex_);
  stoppedCondition_.wait(lock, [this] { return stopped_; });
}

}  // namespace microserver::core
