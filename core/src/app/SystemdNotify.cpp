// SystemdNotify: see SystemdNotify.h.
#include "app/SystemdNotify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace microserver::core::systemd {

bool notify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::size_t length = std::strlen(path);
  if (length >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path, length);
  if (path[0] == '@') address.sun_path[0] = '\0';  // the abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  socklen_t size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address), size);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

namespace {
std::string statusLine(std::string_view status) {
  std::string line = "STATUS=";
  for (char c : status) line += c == '\n' ? ' ' : c;  // one line: a newline would start a new key
  return line + "\n";
}
}  // namespace

void notifyReady(std::string_view status) {
  notify("READY=1\n" + statusLine(status) + "MAINPID=" + std::to_string(::getpid()) + "\n");
}

void notifyReloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  long long usec = static_cast<long long>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
  notify("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" + std::to_string(usec) + "\n");
}

void notifyStopping() { notify("STOPPING=1\nSTATUS=stopping: requests in flight may finish\n"); }

void notifyStatus(std::string_view status) { notify(statusLine(status)); }

}  // namespace microserver::core::systemd
