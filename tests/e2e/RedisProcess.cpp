// RedisProcess: see RedisProcess.h.
#include "RedisProcess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

std::string findRedis() {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream in(path);
    for (std::string dir; std::getline(in, dir, ':');)
      if (!dir.empty()) dirs.push_back(dir);
  }
  for (const char* d : {"/usr/bin", "/usr/sbin", "/usr/local/bin"}) dirs.emplace_back(d);
  for (const std::string& dir : dirs) {
    std::string candidate = dir + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// A connected socket to 127.0.0.1:port with send/receive timeouts, or -1.
int connectTo(int port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` and reads until `enough` says the answer is complete (or time is up).
std::string exchange(int port, const std::string& request, bool (*enough)(const std::string&),
                     std::chrono::milliseconds timeout) {
  int fd = connectTo(port, timeout);
  if (fd < 0) return {};
  std::string answer;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    const auto deadline = Clock::now() + timeout;
    char buf[4096];
    while (!enough(answer) && Clock::now() < deadline) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

bool hasLine(const std::string& s) { return s.find("\r\n") != std::string::npos; }

}  // namespace

int freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0: " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool RedisProcess::available() { return !findRedis().empty(); }

std::string RedisProcess::missingReason() {
  return "redis-server is not installed (Debian: apt-get install redis-server; scripts/packages-test.txt lists it): "
         "the cross-instance chat tests need a real Redis";
}

RedisProcess::RedisProcess(int port, bool startNow) {
  char pattern[] = "/tmp/microserver-redis-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  dir_ = pattern;
  if (port != 0) {
    port_ = port;
    if (startNow) start();
    return;
  }
  // The port was free a moment ago; another process may take it before Redis binds it.
  for (int attempt = 0;; ++attempt) {
    port_ = freeLoopbackPort();
    if (!startNow) return;
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 2) throw;
    }
  }
}

RedisProcess::~RedisProcess() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void RedisProcess::start(std::chrono::milliseconds timeout) {
  if (running()) return;
  const std::string binary = findRedis();
  if (binary.empty()) throw std::runtime_error(missingReason());
  const std::string logFile = dir_ + "/redis.log";
  std::vector<std::string> args = {
      binary,         "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
      "--appendonly", "no",     "--daemonize",         "no",     "--dir",     dir_,     "--logfile",
      logFile};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  int devNull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the test binary dies: so does its Redis
    if (::getppid() != parent) ::_exit(127);
    if (devNull >= 0) {
      ::dup2(devNull, 0);
      ::dup2(devNull, 1);
      ::dup2(devNull, 2);
    }
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (devNull >= 0) ::close(devNull);
  pid_ = pid;
  // Ready when it answers PING (bounded; it may also exit first, e.g. the port was taken).
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (exchange(port_, "PING\r\n", hasLine, std::chrono::milliseconds(500)).rfind("+PONG", 0) == 0) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server on port " + std::to_string(port_) + " exited at start-up:\n" + log());
    }
    // Poll again shortly: whatever it needs (bind, load) takes a few milliseconds.
    struct pollfd none {};
    ::poll(&none, 0, 10);
  }
  kill();
  throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not answer PING within " +
                           std::to_string(timeout.count()) + " ms:\n" + log());
}

bool RedisProcess::waitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return true;
    }
    if (Clock::now() >= deadline) return false;
    struct pollfd none {};
    ::poll(&none, 0, 5);
  }
}

void RedisProcess::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void RedisProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (!waitExit(grace)) kill();
}

std::string RedisProcess::command(const std::vector<std::string>& args) const {
  std::string request = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) request += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  std::string answer = exchange(
      port_, request,
      [](const std::string& s) {
        std::size_t end = s.find("\r\n");
        if (end == std::string::npos) return false;
        if (s[0] != '$') return true;
        long n = std::strtol(s.c_str() + 1, nullptr, 10);
        return n < 0 || s.size() >= end + 2 + static_cast<std::size_t>(n) + 2;
      },
      std::chrono::seconds(5));
  std::size_t end = answer.find("\r\n");
  if (end == std::string::npos) throw std::runtime_error("Redis on port " + std::to_string(port_) + " did not answer");
  if (answer[0] != '$') return answer.substr(0, end);
  long n = std::strtol(answer.c_str() + 1, nullptr, 10);
  return n < 0 ? "$" : "$" + answer.substr(end + 2, static_cast<std::size_t>(n));
}

std::string RedisProcess::log() const {
  std::ifstream in(dir_ + "/redis.log");
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace e2e
