// InheritedSockets: listening sockets handed over by the service manager (systemd's socket
// activation, sd_listen_fds(3)'s protocol, written here rather than linking libsystemd:
// LISTEN_PID is our pid, LISTEN_FDS sockets start at descriptor 3, LISTEN_FDNAMES may name
// them). The server takes the one whose bound address (getsockname) is a listener's
// address instead of binding that address itself, so a restart loses no connection and
// ports below 1024 need no privileges; it opens the others itself.
//
// An upgrade in place (SIGUSR2, see Upgrade.h) hands sockets over the same way, with
// MICROSERVER_UPGRADE_FDS for the count and MICROSERVER_UPGRADE_FROM naming the old
// process (our parent: the new pid cannot be known before it is started). There a
// listener on port 0 (--listen 127.0.0.1:0) takes the next socket with its host, in the
// order the old process listed its listeners, which is the order they are matched in.
#pragma once

#include <Poco/Net/ServerSocket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace microserver::core {

class InheritedSockets {
 public:
  InheritedSockets() = default;

  // Reads the variables and always removes them from the environment (LISTEN_PID,
  // LISTEN_FDS, LISTEN_FDNAMES, MICROSERVER_UPGRADE_FROM, MICROSERVER_UPGRADE_FDS), so
  // nothing a plugin starts inherits them. None, or for another process: an empty set. Throws std::runtime_error naming the descriptor when
  // one is not a listening TCP socket.
  static InheritedSockets fromEnvironment();

  bool empty() const { return sockets_.empty(); }
  // Handed over by an old process upgrading in place, not by the service manager.
  bool fromUpgrade() const { return fromUpgrade_; }
  // The inherited socket bound to host:port (as a listener is written in routes.yaml),
  // taken out of the set; nullopt if none is. `how` says which descriptor it was.
  std::optional<Poco::Net::ServerSocket> take(const std::string& host, std::uint16_t port, std::string& how);
  // "fd 4 (127.0.0.1:9000, named web)" for each socket nobody took.
  std::vector<std::string> unused() const;

 private:
  struct Inherited {
    int fd;
    std::string name;  // from LISTEN_FDNAMES, may be empty
    Poco::Net::ServerSocket socket;
    std::string description() const;
  };
  std::vector<Inherited> sockets_;
  bool fromUpgrade_ = false;
};

}  // namespace microserver::core
