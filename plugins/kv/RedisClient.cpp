// RedisClient: see RedisClient.h.
#include "RedisClient.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

namespace kv {

namespace {

using Clock = std::chrono::steady_clock;

std::string errnoText(int error) { return std::strerror(error); }

std::string seconds(Clock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 10000) return std::to_string(ms / 1000) + "." + std::to_string(ms / 100 % 10) + " s";
  return std::to_string(ms / 1000) + " s";
}

int pollTimeout(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left + 1, 60000));
}

}  // namespace

RedisClient::RedisClient(Options options, const microserver::Logger& logger)
    : options_(std::move(options)), logger_(logger), since_(Clock::now()) {
  wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) throw std::runtime_error("eventfd: " + errnoText(errno));
  std::random_device seed;
  random_.seed(seed());
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    ::close(wakeFd_);
    throw;
  }
}

RedisClient::~RedisClient() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  const std::uint64_t one = 1;
  (void)!::write(wakeFd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(wakeFd_);
}

RedisClient::Submit RedisClient::submit(std::string command, Callback callback) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || !connected_.load(std::memory_order_relaxed)) return Submit::Down;
    const std::size_t unsent = unsent_.load(std::memory_order_relaxed);
    if (pending_.load(std::memory_order_relaxed) >= options_.maxPending ||
        (unsent > 0 && unsent + command.size() > options_.maxUnsentBytes))
      return Submit::Busy;
    pending_.fetch_add(1, std::memory_order_relaxed);
    unsent_.fetch_add(command.size(), std::memory_order_relaxed);
    wake = queue_.empty();  // else the push that made it non-empty has woken the thread
    queue_.push_back({std::move(command), std::move(callback)});
  }
  if (wake) {
    const std::uint64_t one = 1;
    (void)!::write(wakeFd_, &one, sizeof one);
  }
  return Submit::Queued;
}

bool RedisClient::waitFirstAttempt(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return firstAttempt_.wait_for(lock, timeout, [this] { return firstAttemptDone_; });
}

RedisClient::Status RedisClient::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Status s;
  s.connected = connected_.load(std::memory_order_relaxed);
  s.everConnected = everConnected_;
  s.lastError = lastError_;
  s.inState = Clock::now() - since_;
  return s;
}

bool RedisClient::stopping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void RedisClient::drainWake() {
  std::uint64_t count = 0;
  while (::read(wakeFd_, &count, sizeof count) > 0) {
  }
}

std::chrono::milliseconds RedisClient::nextBackoff(std::chrono::milliseconds& current) {
  current = current.count() == 0 ? options_.backoffMin : std::min(current * 2, options_.backoffMax);
  std::uniform_int_distribution<long long> jitter(current.count() * 8 / 10, current.count() * 12 / 10);
  return std::chrono::milliseconds(jitter(random_));
}

// ---------------------------------------------------------------------------------------
// The thread

void RedisClient::run() {
  std::chrono::milliseconds backoff{0};
  for (;;) {
    std::string why;
    const int fd = connectOnce(why);
    if (fd >= 0) {
      why = serve(fd);
      ::close(fd);
      if (connected()) backoff = std::chrono::milliseconds(0);  // it worked: retry soon
    }
    const bool stop = stopping();
    markDown(stop ? "the store is stopping" : why, stop);
    if (stop) return;
    // Wait out the backoff; only a stop ends it early (submissions are refused meanwhile).
    const Clock::time_point until = Clock::now() + nextBackoff(backoff);
    while (Clock::now() < until) {
      pollfd wake{wakeFd_, POLLIN, 0};
      ::poll(&wake, 1, pollTimeout(until));
      drainWake();
      if (stopping()) break;
    }
  }
}

bool RedisClient::waitWake(int fd, short events, Clock::time_point deadline, std::string& why) {
  for (;;) {
    pollfd fds[2] = {{fd, events, 0}, {wakeFd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, pollTimeout(deadline));
    if (n < 0 && errno != EINTR) {
      why = "poll: " + errnoText(errno);
      return false;
    }
    if (fds[1].revents) {
      drainWake();
      if (stopping()) {
        why = "stopping";
        return false;
      }
    }
    if (fds[0].revents) return true;
    if (Clock::now() >= deadline) {
      why = "no answer within " + seconds(options_.connectTimeout);
      return false;
    }
  }
}

int RedisClient::connectOnce(std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.address.port);
  const int rc = ::getaddrinfo(options_.address.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    why = "cannot resolve '" + options_.address.host + "': " + ::gai_strerror(rc);
    return -1;
  }
  const Clock::time_point deadline = Clock::now() + options_.connectTimeout;
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = "socket: " + errnoText(errno);
      continue;
    }
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      int error = errno;
      if (error == EINPROGRESS) {
        if (!waitWake(fd, POLLOUT, deadline, why)) {
          ::close(fd);
          fd = -1;
          if (why == "stopping") break;
          continue;
        }
        socklen_t length = sizeof error;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      }
      if (error != 0) {
        why = errnoText(error);
        ::close(fd);
        fd = -1;
        continue;
      }
    }
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  ::freeaddrinfo(found);
  return fd;
}

std::string RedisClient::serve(int fd) {
  parser_.reset();
  out_.clear();
  outOffset_ = 0;
  handshakeError_.clear();
  // The connection's own commands first: whatever a request sends runs after them.
  std::vector<std::vector<std::string_view>> hello;
  const RedisAddress& a = options_.address;
  if (!a.password.empty())
    hello.push_back(a.user.empty() ? std::vector<std::string_view>{"AUTH", a.password}
                                   : std::vector<std::string_view>{"AUTH", a.user, a.password});
  const std::string db = std::to_string(a.db);
  if (a.db != 0) hello.push_back({"SELECT", db});
  hello.push_back({"PING"});
  for (std::size_t i = 0; i < hello.size(); ++i) {
    std::size_t before = out_.size();
    appendCommand(out_, hello[i]);
    unsent_.fetch_add(out_.size() - before, std::memory_order_relaxed);
    const bool last = i + 1 == hello.size();
    const std::string what(hello[i][0]);
    inFlight_.push_back({[this, last, what](const RespValue* reply, const std::string&) {
                           if (!reply || !handshakeError_.empty()) return;
                           if (reply->isError()) {
                             handshakeError_ = what + " refused: " + reply->text;
                             return;
                           }
                           if (last) markUp();
                         },
                         false});
  }
  Clock::time_point lastProgress = Clock::now();
  std::vector<RespValue> replies;
  char buffer[65536];
  for (;;) {
    // New commands (the eventfd first, then the queue: no wake-up is lost between them).
    drainWake();
    {
      std::deque<Queued> taken;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return "stopping";
        taken.swap(queue_);
      }
      if (!taken.empty() && inFlight_.empty()) lastProgress = Clock::now();
      for (Queued& q : taken) {
        out_.append(q.command);
        inFlight_.push_back({std::move(q.callback), true});
      }
    }
    // Write what we can.
    while (outOffset_ < out_.size()) {
      const ssize_t n = ::send(fd, out_.data() + outOffset_, out_.size() - outOffset_, MSG_NOSIGNAL);
      if (n > 0) {
        outOffset_ += static_cast<std::size_t>(n);
        unsent_.fetch_sub(static_cast<std::size_t>(n), std::memory_order_relaxed);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return "writing to Redis: " + errnoText(errno);
    }
    if (outOffset_ == out_.size()) {
      out_.clear();
      outOffset_ = 0;
    } else if (outOffset_ > 1024 * 1024) {
      out_.erase(0, outOffset_);
      outOffset_ = 0;
    }

    // Waiting for replies: Redis must say something within replyTimeout. Idle: a PING
    // every pingInterval, so a Redis gone silent is noticed without requests too.
    const Clock::time_point deadline =
        lastProgress + (inFlight_.empty() ? options_.pingInterval : options_.replyTimeout);
    pollfd fds[2] = {{fd, static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)), 0}, {wakeFd_, POLLIN, 0}};
    if (::poll(fds, 2, pollTimeout(deadline)) < 0 && errno != EINTR) return "poll: " + errnoText(errno);

    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      for (int reads = 0; reads < 64; ++reads) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n == 0) return "Redis closed the connection";
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          return "reading from Redis: " + errnoText(errno);
        }
        lastProgress = Clock::now();
        replies.clear();
        if (!parser_.feed(std::string_view(buffer, static_cast<std::size_t>(n)), replies))
          return "Redis sent " + parser_.error();
        for (const RespValue& reply : replies) {
          if (inFlight_.empty()) return "Redis sent a reply to no command";
          InFlight done = std::move(inFlight_.front());
          inFlight_.pop_front();
          try {
            done.callback(&reply, std::string());
          } catch (const std::exception& e) {
            logger_.error(options_.name + ": answering a request failed: " + e.what());
          }
          if (done.counted) pending_.fetch_sub(1, std::memory_order_relaxed);
        }
        if (!handshakeError_.empty()) return handshakeError_;
        if (static_cast<std::size_t>(n) < sizeof buffer) break;
      }
    }
    const Clock::time_point now = Clock::now();
    if (!inFlight_.empty() && now >= lastProgress + options_.replyTimeout)
      return "Redis did not answer within " + seconds(options_.replyTimeout);
    if (inFlight_.empty() && now >= lastProgress + options_.pingInterval) {
      const std::size_t before = out_.size();
      appendCommand(out_, {"PING"});
      unsent_.fetch_add(out_.size() - before, std::memory_order_relaxed);
      inFlight_.push_back({[](const RespValue*, const std::string&) {}, false});
      lastProgress = now;
    }
  }
}

void RedisClient::markUp() {
  bool first = false;
  Clock::duration down{};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    first = !everConnected_;
    down = Clock::now() - since_;
    everConnected_ = true;
    downLogged_ = false;
    firstAttemptDone_ = true;
    since_ = Clock::now();
    connected_.store(true, std::memory_order_release);
  }
  firstAttempt_.notify_all();
  if (first)
    logger_.info(options_.name + ": connected to Redis at " + options_.address.display());
  else
    logger_.info(options_.name + ": reconnected to Redis at " + options_.address.display() + " after " +
                 seconds(down) + " unreachable; serving requests again");
}

void RedisClient::markDown(const std::string& why, bool stoppingNow) {
  bool wasUp = false, say = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wasUp = connected_.load(std::memory_order_relaxed);
    connected_.store(false, std::memory_order_release);
    if (!stoppingNow) {
      lastError_ = why;
      say = wasUp || !downLogged_;
      downLogged_ = true;
      if (wasUp) since_ = Clock::now();
    }
    firstAttemptDone_ = true;
  }
  firstAttempt_.notify_all();
  const std::string retry = "requests answer 503 until it is back; retrying every " +
                            std::to_string(options_.backoffMin.count()) + " ms to " +
                            std::to_string(options_.backoffMax.count() / 1000) + " s";
  if (say && wasUp)
    logger_.warning(options_.name + ": lost the connection to Redis at " + options_.address.display() + " (" + why +
                    "): " + retry);
  else if (say)
    logger_.warning(options_.name + ": Redis at " + options_.address.display() + " is unreachable (" + why + "): " +
                    retry + " (check that Redis runs there, and the route's redis: URL)");
  // What the requests' answers say (the log above has the details).
  failAll(stoppingNow ? "the store is stopping" : wasUp ? "the connection to Redis was lost" : "Redis is unreachable");
}

void RedisClient::failAll(const std::string& why) {
  std::deque<Queued> queued;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued.swap(queue_);
  }
  std::deque<InFlight> inFlight;
  inFlight.swap(inFlight_);
  unsent_.fetch_sub(out_.size() - outOffset_, std::memory_order_relaxed);
  out_.clear();
  outOffset_ = 0;
  parser_.reset();
  auto fail = [&](Callback& callback, bool counted) {
    try {
      callback(nullptr, why);
    } catch (const std::exception& e) {
      logger_.error(options_.name + ": answering a request failed: " + e.what());
    }
    if (counted) pending_.fetch_sub(1, std::memory_order_relaxed);
  };
  for (InFlight& f : inFlight) fail(f.callback, f.counted);
  for (Queued& q : queued) {
    unsent_.fetch_sub(q.command.size(), std::memory_order_relaxed);
    fail(q.callback, true);
  }
}

}  // namespace kv
