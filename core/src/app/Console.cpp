// Console: see Console.h.
#include "app/Console.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace microserver::core {

namespace {
std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

void writeOut(const std::string& text) {
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(STDOUT_FILENO, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}
}  // namespace

Console::Console(std::function<std::string()> status) : status_(std::move(status)) {
  if (::isatty(STDIN_FILENO) != 1) return;  // no terminal: no console
  stopFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) return;
  thread_ = std::thread([this] { run(); });
}

Console::~Console() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stopFd_, &one, sizeof one);
    thread_.join();
  }
  if (stopFd_ >= 0) ::close(stopFd_);
}

std::string Console::execute(const std::string& raw) {
  std::string line = trim(raw);
  if (line.empty()) return {};
  if (line == "status") return status_();
  if (line == "reload") {
    ::kill(::getpid(), SIGHUP);
    return "reloading (the log says how it went)\n";
  }
  if (line == "quit" || line == "exit") {
    ::kill(::getpid(), SIGTERM);
    return "stopping\n";
  }
  if (line == "help")
    return "status   listeners, reactors, connections, routes, plugins, services\n"
           "reload   reload routes.yaml and the plugins (as SIGHUP)\n"
           "quit     stop gracefully (as SIGTERM)\n";
  return "unknown command '" + line + "': try help\n";
}

void Console::prompt() { writeOut(">> "); }

void Console::run() {
  writeOut("console ready: type help\n");
  prompt();
  std::string pending;
  char buf[512];
  while (true) {
    struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the terminal went away (or Ctrl-D): stop reading, keep serving
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string answer = execute(pending.substr(0, nl));
      pending.erase(0, nl + 1);
      writeOut(answer);
      prompt();
    }
    if (pending.size() > 4096) pending.clear();  // no command is that long
  }
}

}  // namespace microserver::core
