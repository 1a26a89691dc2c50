// InheritedSockets: see InheritedSockets.h.
#include "app/InheritedSockets.h"

#include <Poco/Net/ServerSocketImpl.h>
#include <Poco/Net/SocketAddress.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace microserver::core {

namespace {

constexpr int kFirstInheritedFd = 3;  // SD_LISTEN_FDS_START

// Poco 1.11 makes a ServerSocket only by binding one; these adopt a descriptor instead.
class AdoptedSocketImpl : public Poco::Net::ServerSocketImpl {
 public:
  explicit AdoptedSocketImpl(int fd) { reset(fd); }
};
class AdoptedServerSocket : public Poco::Net::ServerSocket {
 public:
  explicit AdoptedServerSocket(int fd) : ServerSocket(new AdoptedSocketImpl(fd), true) {}
};

std::string takeVariable(const char* name) {
  const char* value = std::getenv(name);
  std::string out = value ? value : "";
  ::unsetenv(name);
  return out;
}

bool parseCount(const std::string& text, long& out) {
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stol(text);
  return true;
}

bool isListeningStreamSocket(int fd) {
  int type = 0, listening = 0;
  socklen_t length = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) return false;
  length = sizeof listening;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 && listening == 1;
}

}  // namespace

std::string InheritedSockets::Inherited::description() const {
  std::string where;
  try {
    where = socket.address().toString();
  } catch (const std::exception&) {
    where = "an address that is not IPv4 or IPv6";
  }
  return "fd " + std::to_string(fd) + " (" + where + (name.empty() ? "" : ", named " + name) + ")";
}

InheritedSockets InheritedSockets::fromEnvironment() {
  const std::string pid = takeVariable("LISTEN_PID");
  const std::string fds = takeVariable("LISTEN_FDS");
  const std::string names = takeVariable("LISTEN_FDNAMES");
  const std::string upgradeFrom = takeVariable("MICROSERVER_UPGRADE_FROM");
  const std::string upgradeFds = takeVariable("MICROSERVER_UPGRADE_FDS");
  InheritedSockets out;
  long forPid = 0, count = 0;
  // Meant for another process (a parent that passed its environment on): not ours to use.
  if (parseCount(upgradeFrom, forPid) && forPid == static_cast<long>(::getppid()) && parseCount(upgradeFds, count)) {
    out.fromUpgrade_ = true;
  } else if (!parseCount(pid, forPid) || forPid != static_cast<long>(::getpid()) || !parseCount(fds, count)) {
    return out;
  }
  const std::string source = out.fromUpgrade_ ? "upgrade" : "socket activation";
  const std::string check = out.fromUpgrade_ ? "the old process handed over something else" : "check the .socket unit";
  std::vector<std::string> nameList;
  for (std::size_t start = 0; start <= names.size() && !names.empty();) {
    const std::size_t colon = names.find(':', start);
    nameList.push_back(names.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  for (long i = 0; i < count; ++i) {
    const int fd = kFirstInheritedFd + static_cast<int>(i);
    const std::string name = static_cast<std::size_t>(i) < nameList.size() ? nameList[static_cast<std::size_t>(i)] : "";
    if (!isListeningStreamSocket(fd))
      throw std::runtime_error(source + ": fd " + std::to_string(fd) + (name.empty() ? "" : " (named " + name + ")") +
                               " is not a listening TCP socket (microserver takes ListenStream= sockets only; " +
                               check + ")");
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // plugins' children must not hold our listeners
    out.sockets_.push_back({fd, name, AdoptedServerSocket(fd)});
  }
  return out;
}

std::optional<Poco::Net::ServerSocket> InheritedSockets::take(const std::string& host, std::uint16_t port,
                                                              std::string& how) {
  if (sockets_.empty()) return std::nullopt;
  const Poco::Net::SocketAddress wanted(host, port);
  // Port 0 ("any free port") means, after an upgrade, the port the old process got.
  const bool anyPort = port == 0 && fromUpgrade_;
  for (auto it = sockets_.begin(); it != sockets_.end(); ++it) {
    bool same = false;
    try {
      const Poco::Net::SocketAddress bound = it->socket.address();
      same = anyPort ? bound.host() == wanted.host() : bound == wanted;
    } catch (const std::exception&) {  // a family Poco cannot show (AF_UNIX): matches nothing
    }
    if (!same) continue;
    how = it->description();
    Poco::Net::ServerSocket socket = it->socket;
    sockets_.erase(it);
    return socket;
  }
  return std::nullopt;
}

std::vector<std::string> InheritedSockets::unused() const {
  std::vector<std::string> out;
  for (const Inherited& inherited : sockets_) out.push_back(inherited.description());
  return out;
}

}  // namespace microserver::core
