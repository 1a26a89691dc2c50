#include "ServerProcess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace e2e {

namespace {

[[noreturn]] void throwErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string makeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/microserver-e2e-XXXXXX";
  if (!mkdtemp(templ.data())) throwErrno("mkdtemp(" + templ + ")");
  return templ;
}

void writeFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

// For messages only: the command line as one would type it in a shell.
std::string shellQuote(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_not_of(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:=@,+") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

// pidfd_open(2) (Linux 5.3): a descriptor that polls readable when the child exits, so the
// reader thread learns of the exit in the same poll() as the output, without a timer.
int openPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Closes every descriptor >= 3 except `keep`, in the forked child (async-signal-safe only).
void closeOtherFds(int keep, long maxFd) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u) == 0 &&
      syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u) == 0)
    return;
#endif
  for (long fd = 3; fd < maxFd; ++fd)
    if (fd != keep) close(static_cast<int>(fd));
}

// The child's stdin/stdout/stderr: dup2 clears close-on-exec, except when the descriptor
// already has the target number, so clear it explicitly then.
void moveFd(int from, int to) {
  if (from == to)
    fcntl(to, F_SETFD, 0);
  else
    dup2(from, to);
}

const std::regex& readyLinePattern() {
  // "microserver listening on http://127.0.0.1:40123 (4 reactors)" (https:// when the first
  // listener is a TLS one); HOST may be [v6].
  static const std::regex re(
      R"(^microserver listening on https?://(\[[^\]]+\]|[^\s:/]+):([0-9]{1,5}) \(([0-9]+) reactors?\)$)");
  return re;
}

constexpr const char* kReadyLineShape = "microserver listening on http://HOST:PORT (N reactors)";

}  // namespace

// ---------------------------------------------------------------------------------------
// Starting

std::unique_ptr<ServerProcess> ServerProcess::start(const ServerOptions& opts) {
  // Constructed first so that any failure below still runs the destructor: the child is
  // killed and reaped, the reader joined, the temp folder removed.
  std::unique_ptr<ServerProcess> proc(new ServerProcess);
  proc->launch(opts);

  // Only a stdout line counts (the contract); a stderr copy is reported as a hint below.
  auto ready = proc->waitForOutput(
      [](const OutputLine& line) { return !line.fromStderr && std::regex_match(line.text, readyLinePattern()); },
      opts.readyTimeout, 0);
  if (ready) {
    std::smatch m;
    std::regex_match(ready->text, m, readyLinePattern());
    proc->host_ = m[1].str();
    proc->port_ = std::stoi(m[2].str());
    proc->reactors_ = std::stoi(m[3].str());
    if (proc->port_ < 1 || proc->port_ > 65535)
      throw std::runtime_error("microserver printed an invalid port in its ready line: " + ready->text);
    return proc;
  }

  std::ostringstream why;
  auto exited = proc->exitStatus();
  if (!exited) {
    // Not ready in time: kill it so the message below holds everything it ever printed.
    int status = proc->stop();
    why << "no ready line within " << opts.readyTimeout.count() << " ms; killed it (exit status "
        << status << ")";
  } else {
    proc->waitExit(opts.readyTimeout);  // let the reader finish draining the pipes
    why << "it exited with status " << *exited << " before printing the ready line";
  }
  auto lines = proc->outputLines();
  for (const auto& l : lines)
    if (l.fromStderr && std::regex_match(l.text, readyLinePattern())) {
      why << " (the ready line appeared on stderr; it must be on stdout)";
      break;
    }
  std::ostringstream msg;
  msg << "microserver did not become ready: " << why.str() << "\n"
      << "  command:  " << proc->commandLine() << "\n"
      << "  expected on stdout: " << kReadyLineShape << "\n"
      << "  everything it printed (" << lines.size() << " lines):\n"
      << proc->output();
  throw std::runtime_error(msg.str());
}

void ServerProcess::launch(const ServerOptions& opts) {
  stopTimeout_ = opts.stopTimeout;
  handsOver_ = opts.handsOver;
  if (opts.binary.empty())
    throw std::runtime_error("ServerOptions::binary is empty (is MICROSERVER_BINARY defined?)");

  configPath_ = opts.configFile;
  if (configPath_.empty()) {
    tempDir_ = makeTempDir();
    configPath_ = tempDir_ + "/routes.yaml";
    writeFile(configPath_, opts.configText);
  }

  std::vector<std::string> args = opts.launcher;
  args.insert(args.end(), {opts.binary, "--config", configPath_, "--listen", opts.listen});
  if (opts.www) args.insert(args.end(), {"--www", *opts.www});
  if (opts.plugins) args.insert(args.end(), {"--plugins", *opts.plugins});
  args.insert(args.end(), opts.extraArgs.begin(), opts.extraArgs.end());
  commandLine_ = shellQuote(args);

  // Our environment, with opts.env replacing same-named variables.
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& kv : opts.env) overridden = overridden || kv.first == name;
    if (!overridden) env.emplace_back(entry);
  }
  for (const auto& kv : opts.env) env.push_back(kv.first + "=" + kv.second);

  // Everything the child needs is prepared before fork(): between fork() and exec() in a
  // multi-threaded process only async-signal-safe calls are allowed (no malloc).
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  // fork() happens on the reader thread, which lives exactly as long as the child is
  // ours: PR_SET_PDEATHSIG fires when the forking *thread* exits, so forking here, on the
  // test's thread, would kill the server if a test started it from a short-lived thread.
  int terminalSlave = -1;
  if (opts.terminalStdin) {
    terminal_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (terminal_ < 0 || grantpt(terminal_) != 0 || unlockpt(terminal_) != 0) throwErrno("posix_openpt");
    terminalSlave = open(ptsname(terminal_), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (terminalSlave < 0) throwErrno("open pty");
    // Raw-ish: no echo, so what we type does not come back as output to read past.
    struct termios mode {};
    tcgetattr(terminalSlave, &mode);
    mode.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(terminalSlave, TCSANOW, &mode);
  }
  auto spawned = std::make_shared<std::promise<void>>();
  std::future<void> done = spawned->get_future();
  reader_ = std::thread([this, spawned, &argv, &envp, &opts, terminalSlave] {
    try {
      spawn(argv.data(), envp.data(), opts.binary, opts.maxOpenFiles, terminalSlave);
    } catch (...) {
      spawned->set_exception(std::current_exception());
      return;
    }
    spawned->set_value();  // argv, envp and opts are not touched after this
    readerLoop();
  });
  done.get();  // rethrows a spawn failure
}

// Runs on the reader thread: starts the child and waits until it has exec'd.
void ServerProcess::spawn(char* const* argv, char* const* envp, const std::string& binary, int maxOpenFiles,
                          int stdinFd) {
  // All of ours are close-on-exec, so no other child started meanwhile inherits them.
  int outPipe[2], errPipe[2], execPipe[2];
  if (pipe2(outPipe, O_CLOEXEC) != 0) throwErrno("pipe2");
  outFd_ = outPipe[0];
  if (pipe2(errPipe, O_CLOEXEC) != 0) {
    close(outPipe[1]);
    throwErrno("pipe2");
  }
  errFd_ = errPipe[0];
  if (pipe2(execPipe, O_CLOEXEC) != 0) {
    close(outPipe[1]);
    close(errPipe[1]);
    throwErrno("pipe2");
  }
  int devNull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const long maxFd = sysconf(_SC_OPEN_MAX) > 0 ? sysconf(_SC_OPEN_MAX) : 1024;
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid == 0) {
    // Child. Its own process group, so stop() can kill whatever it spawns as well.
    setpgid(0, 0);
    // If the test binary dies (crash, ctest timeout), take the server with it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    if (stdinFd >= 0) moveFd(stdinFd, 0);
    else if (devNull >= 0) moveFd(devNull, 0);
    moveFd(outPipe[1], 1);
    moveFd(errPipe[1], 2);
    closeOtherFds(execPipe[1], maxFd);
    // Ignored signals stay ignored across exec; the server must start with defaults.
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP) continue;
      struct sigaction sa {};
      sa.sa_handler = SIG_DFL;
      sigaction(sig, &sa, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (maxOpenFiles > 0) {
      struct rlimit limit {static_cast<rlim_t>(maxOpenFiles), static_cast<rlim_t>(maxOpenFiles)};
      setrlimit(RLIMIT_NOFILE, &limit);  // async-signal-safe, like everything here
    }
    execve(argv[0], argv, envp);
    int err = errno;
    ssize_t ignored = write(execPipe[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }

  int forkErrno = errno;
  close(outPipe[1]);
  close(errPipe[1]);
  close(execPipe[1]);
  if (devNull >= 0) close(devNull);
  if (stdinFd >= 0) close(stdinFd);
  if (pid < 0) {
    close(execPipe[0]);
    errno = forkErrno;
    throwErrno("fork");
  }
  pid_ = pid;

  // The exec pipe closes on a successful exec (close-on-exec) or carries exec's errno.
  int execErrno = 0;
  ssize_t n;
  do {
    n = read(execPipe[0], &execErrno, sizeof execErrno);
  } while (n < 0 && errno == EINTR);
  close(execPipe[0]);
  if (n > 0) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      exitStatus_ = decodeStatus(status);
      readerDone_ = true;
    }
    throw std::runtime_error("cannot execute " + binary + ": " + std::strerror(execErrno) +
                             "\n  command: " + commandLine_);
  }

  pidFd_ = openPidFd(pid_);  // -1 (ENOSYS, seccomp): the reader falls back to polling waitid
  fcntl(outFd_, F_SETFL, fcntl(outFd_, F_GETFL) | O_NONBLOCK);
  fcntl(errFd_, F_SETFL, fcntl(errFd_, F_GETFL) | O_NONBLOCK);
}

// ---------------------------------------------------------------------------------------
// The reader thread: the only reader of the pipes and the only one that reaps the child.

void ServerProcess::readerLoop() {
  int fds[2] = {outFd_, errFd_};
  bool open[2] = {true, true};
  bool reaped = false;
  char buf[16384];

  // Reads what is available on pipe i; false at EOF (or error).
  auto drain = [&](int i) {
    for (;;) {
      ssize_t n = read(fds[i], buf, sizeof buf);
      if (n > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        appendOutput(i, buf, static_cast<std::size_t>(n));
        cv_.notify_all();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      std::lock_guard<std::mutex> lock(mu_);  // EOF: the last, unterminated line counts too
      flushPartial(i);
      cv_.notify_all();
      return false;
    }
  };

  while (!reaped) {
    pollfd pfds[3];
    nfds_t count = 0;
    int index[3];
    for (int i = 0; i < 2; ++i)
      if (open[i]) {
        index[count] = i;
        pfds[count++] = {fds[i], POLLIN, 0};
      }
    if (pidFd_ >= 0) {
      index[count] = 2;
      pfds[count++] = {pidFd_, POLLIN, 0};
    }
    // Without a pidfd the exit can only be noticed by asking; 20 ms keeps waits snappy.
    int rc = poll(pfds, count, pidFd_ >= 0 ? -1 : 20);
    if (rc < 0 && errno != EINTR) break;  // cannot happen with valid fds; avoid spinning
    bool childEvent = pidFd_ < 0;
    for (nfds_t k = 0; rc > 0 && k < count; ++k) {
      if (!pfds[k].revents) continue;
      if (index[k] == 2)
        childEvent = true;
      else
        open[index[k]] = drain(index[k]);
    }
    if (childEvent) reaped = reapIfExited();
  }

  if (!reaped) {
    // poll() failed, which valid descriptors never make it do: still never leave the child
    // behind. Kill it, wait for the exit without reaping, then reap (and clear its group).
    sendSignal(SIGKILL);
    siginfo_t info{};
    while (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    reapIfExited();
  }

  // The child is gone, so everything it wrote is already in the pipes: take it, but do
  // not wait for EOF, which anything still holding the write ends would postpone.
  for (int i = 0; i < 2; ++i)
    if (open[i]) drain(i);
  // Unless it handed over: then its successor writes on, until it closes them (or the
  // destructor gives up on it).
  while (handsOver_ && (open[0] || open[1]) && !abandonPipes_.load()) {
    pollfd pfds[2];
    int index[2];
    nfds_t count = 0;
    for (int i = 0; i < 2; ++i)
      if (open[i]) {
        index[count] = i;
        pfds[count++] = {fds[i], POLLIN, 0};
      }
    int rc = poll(pfds, count, 100);  // the timeout only bounds noticing abandonPipes_
    if (rc < 0 && errno != EINTR) break;
    for (nfds_t k = 0; rc > 0 && k < count; ++k)
      if (pfds[k].revents) open[index[k]] = drain(index[k]);
  }
  std::lock_guard<std::mutex> lock(mu_);
  flushPartial(0);
  flushPartial(1);
  readerDone_ = true;
  cv_.notify_all();
}

bool ServerProcess::reapIfExited() {
  // Look without reaping first: while the exited child is an unreaped zombie its pid (and
  // so its process-group id) cannot be recycled, so killing the group cannot hit a stranger.
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == EINTR) return false;
    // ECHILD: someone else reaped it (SIGCHLD ignored, or a stray waitpid(-1)).
    std::lock_guard<std::mutex> lock(mu_);
    if (!exitStatus_) exitStatus_ = -1;
    cv_.notify_all();
    return true;
  }
  if (info.si_pid == 0) return false;  // still running

  std::lock_guard<std::mutex> lock(mu_);
  // Anything the server left behind in its group: no orphans (but a successor it handed
  // over to is not left behind: the test stops it).
  if (!handsOver_) kill(-pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exitStatus_ = decodeStatus(status);
  cv_.notify_all();
  return true;
}

int ServerProcess::decodeStatus(int waitStatus) {
  if (WIFEXITED(waitStatus)) return WEXITSTATUS(waitStatus);
  if (WIFSIGNALED(waitStatus)) return 128 + WTERMSIG(waitStatus);
  return -1;
}

void ServerProcess::appendOutput(int stream, const char* data, std::size_t size) {
  std::string& tail = partial_[stream];
  tail.append(data, size);
  std::size_t start = 0;
  for (std::size_t nl; (nl = tail.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = tail.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines_.push_back({stream == 1, std::move(line)});
  }
  tail.erase(0, start);
}

void ServerProcess::flushPartial(int stream) {
  std::string& tail = partial_[stream];
  if (tail.empty()) return;
  if (tail.back() == '\r') tail.pop_back();
  lines_.push_back({stream == 1, std::move(tail)});
  tail.clear();
}

// ---------------------------------------------------------------------------------------
// Control

bool ServerProcess::sendSignal(int sig) {
  // Under the lock the reader cannot reap, so pid_ still names our child (maybe a zombie).
  std::lock_guard<std::mutex> lock(mu_);
  if (exitStatus_ || pid_ <= 0) return false;
  return kill(pid_, sig) == 0;
}

std::optional<int> ServerProcess::waitExit(std::chrono::milliseconds timeout) {
  // Waits for readerDone_, not just the exit status: once this returns a value, lines()
  // holds everything the process printed.
  std::unique_lock<std::mutex> lock(mu_);
  auto done = [this] { return readerDone_ || (handsOver_ && exitStatus_); };
  cv_.wait_for(lock, timeout, done);
  if (!done()) return std::nullopt;
  return exitStatus_;
}

std::optional<int> ServerProcess::exitStatus() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exitStatus_;
}

int ServerProcess::stop() {
  if (pid_ <= 0) return -1;
  if (auto status = waitExit(0ms)) return *status;
  sendSignal(SIGTERM);
  if (auto status = waitExit(stopTimeout_)) return *status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!exitStatus_) {
      kill(-pid_, SIGKILL);  // the group: the server and anything it spawned
      kill(pid_, SIGKILL);   // in case it left its group
    }
  }
  // SIGKILL cannot be caught or ignored, so this wait ends; it is unbounded on purpose:
  // giving up here would leave a zombie or a running server behind.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return readerDone_ || (handsOver_ && exitStatus_); });
  return exitStatus_.value_or(-1);
}

ServerProcess::~ServerProcess() {
  try {
    if (reader_.joinable()) stop();
    if (handsOver_) {
      // What a successor still writes: until it closes the pipes (stopped by then, normally),
      // for a bounded time. A successor the test never got hold of is still in the server's
      // process group (which its membership keeps from being recycled): killed with it.
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, stopTimeout_, [this] { return readerDone_; })) {
        kill(-pid_, SIGKILL);
        cv_.wait_for(lock, stopTimeout_, [this] { return readerDone_; });
      }
      abandonPipes_ = true;
    }
  } catch (const std::exception& e) {
    std::cerr << "ServerProcess: stop failed: " << e.what() << "\n";
  }
  if (reader_.joinable()) reader_.join();
  // A sanitizer report from the server is a failure of whichever test ran it, even when
  // the test's own checks passed (with halt_on_error the server just vanishes otherwise).
  for (const OutputLine& line : lines_) {
    if (line.text.find("ERROR: AddressSanitizer") != std::string::npos ||
        line.text.find("WARNING: ThreadSanitizer") != std::string::npos ||
        line.text.find("ERROR: LeakSanitizer") != std::string::npos ||
        line.text.find(": runtime error: ") != std::string::npos) {
      ADD_FAILURE() << "the server reported a sanitizer error:\n" << output();
      break;
    }
  }
  for (int* fd : {&outFd_, &errFd_, &pidFd_, &terminal_})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
  if (!tempDir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(tempDir_, ec);
  }
}

// ---------------------------------------------------------------------------------------
// Output

std::vector<OutputLine> ServerProcess::outputLines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

std::vector<std::string> ServerProcess::lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(lines_.size());
  for (const auto& l : lines_) out.push_back(l.text);
  return out;
}

std::size_t ServerProcess::lineCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_.size();
}

std::string ServerProcess::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& l : lines_) out += (l.fromStderr ? "  stderr| " : "  stdout| ") + l.text + "\n";
  for (int i = 0; i < 2; ++i)  // a tail not yet terminated by a newline
    if (!partial_[i].empty()) out += (i ? "  stderr| " : "  stdout| ") + partial_[i] + " (no newline yet)\n";
  if (out.empty()) out = "  (nothing)\n";
  return out;
}

std::optional<OutputLine> ServerProcess::waitForOutput(
    const std::function<bool(const OutputLine&)>& match, std::chrono::milliseconds timeout,
    std::size_t from) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  std::size_t next = from;
  auto scan = [&]() -> std::optional<OutputLine> {
    for (; next < lines_.size(); ++next)
      if (match(lines_[next])) return lines_[next];
    return std::nullopt;
  };
  for (;;) {
    if (auto found = scan()) return found;
    if (readerDone_) return std::nullopt;  // exited and drained: no more output can come
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return scan();
  }
}

std::optional<std::string> ServerProcess::waitForLine(
    const std::function<bool(const std::string&)>& match, std::chrono::milliseconds timeout,
    std::size_t from) {
  auto found = waitForOutput([&match](const OutputLine& l) { return match(l.text); }, timeout, from);
  if (!found) return std::nullopt;
  return std::move(found->text);
}

std::optional<std::string> ServerProcess::waitForLine(std::string_view substring,
                                                      std::chrono::milliseconds timeout,
                                                      std::size_t from) {
  std::string needle(substring);
  return waitForLine([&needle](const std::string& line) { return line.find(needle) != std::string::npos; },
                     timeout, from);
}

void ServerProcess::typeOnTerminal(const std::string& text) {
  if (terminal_ < 0) throw std::runtime_error("typeOnTerminal: start the server with terminalStdin");
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(terminal_, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throwErrno("write to the terminal");
    off += static_cast<std::size_t>(n);
  }
}

double ServerProcess::cpuTimeSeconds() const {
  // Held so the reader cannot reap (and the pid be recycled) while /proc is read.
  std::lock_guard<std::mutex> lock(mu_);
  if (exitStatus_ || pid_ <= 0) throw std::runtime_error("cpuTimeSeconds: the server has exited");
  std::string path = "/proc/" + std::to_string(pid_) + "/stat";
  std::ifstream in(path);
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ..." — comm may contain spaces and ')', so parse after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) throw std::runtime_error("cpuTimeSeconds: cannot parse " + path);
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields 3..13 (state .. cmajflt) come first; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 13 && fields >> field; ++i) {
  }
  if (!(fields >> utime >> stime)) throw std::runtime_error("cpuTimeSeconds: cannot parse " + path);
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---------------------------------------------------------------------------------------
// TempDir

TempDir::TempDir() : path_(makeTempDir()) {}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& relative, std::string_view content) const {
  std::filesystem::path full = std::filesystem::path(path_) / relative;
  std::filesystem::create_directories(full.parent_path());
  writeFile(full.string(), content);
  return full.string();
}

ForeignProcess::ForeignProcess(pid_t pid, std::chrono::milliseconds stopTimeout)
    : pid_(pid), pidFd_(openPidFd(pid)), stopTimeout_(stopTimeout) {
  if (pidFd_ < 0) throwErrno("pidfd_open(" + std::to_string(pid) + ")");
  fcntl(pidFd_, F_SETFD, FD_CLOEXEC);
}

ForeignProcess::~ForeignProcess() {
  stop();
  close(pidFd_);
}

bool ForeignProcess::sendSignal(int sig) {
#ifdef SYS_pidfd_send_signal
  return syscall(SYS_pidfd_send_signal, pidFd_, sig, nullptr, 0u) == 0;
#else
  (void)sig;
  return false;
#endif
}

bool ForeignProcess::waitExit(std::chrono::milliseconds timeout) {
  pollfd pfd{pidFd_, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int rc = poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (rc > 0) return true;  // readable: it has exited
    if (rc == 0 || errno != EINTR) return false;
  }
}

bool ForeignProcess::stop() {
  if (waitExit(0ms)) return true;
  sendSignal(SIGTERM);
  if (waitExit(stopTimeout_)) return true;
  sendSignal(SIGKILL);
  waitExit(stopTimeout_);  // SIGKILL cannot be refused: this ends (its parent reaps it)
  return false;
}

ExitedRun runToExit(const ServerOptions& options) {
  // Such runs never print the ready line; catch the "exited before ready" error and keep
  // its exit status and output.
  try {
    auto server = ServerProcess::start(options);
    return {-1, "the server started: " + server->output()};
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    std::size_t at = what.find("exited with status ");
    return {at == std::string::npos ? -1 : std::atoi(what.c_str() + at + 19), what};
  }
}

}  // namespace e2e
