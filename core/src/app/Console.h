// Console: the operator's prompt, like the classic teaching server's `>>`. When standard
// input is a terminal, the server reads commands from it:
//   status   listeners, reactors, connections, routes, plugins, and each service's line
//   reload   reload routes.yaml and the plugins (the same as SIGHUP)
//   quit     stop gracefully (the same as SIGTERM)
//   help
// Without a terminal it reads nothing (a service manager's /dev/null, a pipe). Commands
// that act raise the same signal a person would send, so every path into a reload or a
// stop is the main thread's.
#pragma once

#include <functional>
#include <string>
#include <thread>

namespace microserver::core {

class Console {
 public:
  // `status` builds the text of the status command (called on the console's thread).
  explicit Console(std::function<std::string()> status);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  bool active() const { return thread_.joinable(); }
  // The answer to one command line (public for tests); empty for an empty line.
  std::string execute(const std::string& line);

 private:
  void run();
  void prompt();

  std::function<std::string()> status_;
  int stopFd_ = -1;
  std::thread thread_;
};

}  // namespace microserver::core
