// HaproxyProcess: see HaproxyProcess.h.
#include "HaproxyProcess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "Command.h"
#include "TestClient.h"

namespace e2e {

namespace {
using Clock = std::chrono::steady_clock;

bool accepts(int port) {
  try {
    Connection probe(port, std::chrono::milliseconds(500));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace

HaproxyProcess::HaproxyProcess(const TempDir& dir, const std::string& config, const std::vector<int>& ports,
                               std::chrono::milliseconds timeout) {
  const std::string file = dir.write("haproxy.cfg", config);
  CommandResult check = runCommand({"haproxy", "-c", "-q", "-f", file}, std::chrono::seconds(10));
  if (check.exitCode != 0)
    throw std::runtime_error("haproxy -c refused the test's configuration:\n" + check.out + check.err + "\n" + config);
  logFile_ = dir.path() + "/haproxy.log";
  int log = ::open(logFile_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot create " + logFile_ + ": " + std::strerror(errno));
  try {
    pid_ = spawnInOwnGroup("haproxy", {"haproxy", "-db", "-f", file}, nullptr, log, log);
  } catch (...) {
    ::close(log);
    throw;
  }
  ::close(log);
  const auto deadline = Clock::now() + timeout;
  for (int port : ports) {
    while (!accepts(port)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("haproxy exited at start-up:\n" + this->log());
      }
      if (Clock::now() >= deadline) {
        stop();
        throw std::runtime_error("haproxy did not open port " + std::to_string(port) + " in time:\n" + this->log());
      }
      ::poll(nullptr, 0, 10);  // it binds within milliseconds; look again shortly
    }
  }
}

HaproxyProcess::~HaproxyProcess() { stop(); }

void HaproxyProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      ::kill(-pid_, SIGKILL);  // its own process group: nothing it started survives
      ::waitpid(pid_, &status, 0);
      break;
    }
    ::poll(nullptr, 0, 5);
  }
  pid_ = -1;
}

std::string HaproxyProcess::log() const {
  std::ifstream in(logFile_);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace e2e
