// Tests of the end-to-end harness itself, without the real server:
//  - ServerProcess against fake servers: small /bin/sh scripts that print what the real
//    binary would (or misbehave on purpose);
//  - the TestClient parser against a canned server thread that writes fixed bytes.
// Every wait is bounded; nothing sleeps a fixed time (the one polling loop, for CPU time,
// is bounded by a deadline and explained there).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

::testing::AssertionResult Contains(const std::string& haystack, const std::string& needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected \"" << needle << "\" in:\n" << haystack;
}

std::chrono::milliseconds elapsedSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

// =======================================================================================
// ServerProcess against fake servers

constexpr const char* kPrintReady = "echo 'microserver listening on http://127.0.0.1:12345 (3 reactors)'";

// A fake `microserver`: a shell script in its own temp folder, and options that run it.
struct FakeServer {
  TempDir dir;
  ServerOptions opts;

  explicit FakeServer(const std::string& body) {
    std::string path = dir.write("fake-microserver.sh", "#!/bin/sh\n" + body + "\n");
    if (chmod(path.c_str(), 0755) != 0) throw std::runtime_error("chmod " + path);
    opts.binary = path;
    opts.configText = "server: {}\n";
  }
};

std::string startError(const ServerOptions& opts) {
  try {
    ServerProcess::start(opts);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "start() did not throw";
  return {};
}

// "prefix:123" among the lines -> 123
pid_t pidFromLine(const ServerProcess& p, const std::string& prefix) {
  for (const auto& l : p.lines())
    if (l.rfind(prefix, 0) == 0) return static_cast<pid_t>(std::stol(l.substr(prefix.size())));
  return -1;
}

TEST(ServerProcessTest, ParsesReadyLineAndCapturesBothStreams) {
  FakeServer fake(std::string("echo 'booting' >&2\n") + kPrintReady + "\nexec sleep 1000");
  auto server = ServerProcess::start(fake.opts);

  EXPECT_EQ(server->port(), 12345);
  EXPECT_EQ(server->host(), "127.0.0.1");
  EXPECT_EQ(server->reactors(), 3);
  EXPECT_GT(server->pid(), 0);
  EXPECT_TRUE(server->running());
  ASSERT_TRUE(server->waitForLine("booting", 5s));
  bool sawStderr = false;
  for (const auto& l : server->outputLines()) sawStderr = sawStderr || (l.fromStderr && l.text == "booting");
  EXPECT_TRUE(sawStderr) << server->output();

  EXPECT_EQ(server->stop(), 128 + SIGTERM);
  EXPECT_EQ(server->exitStatus(), 128 + SIGTERM);
  EXPECT_EQ(server->stop(), 128 + SIGTERM) << "stop() is idempotent";
  EXPECT_FALSE(server->sendSignal(SIGTERM)) << "a reaped child is never signalled";
}

TEST(ServerProcessTest, PassesArgumentsConfigAndEnvironment) {
  FakeServer fake(std::string("printf 'arg:%s\\n' \"$@\"\n"
                              "echo \"env:$E2E_TEST_VAR\"\n"
                              "echo \"config:$(cat \"$2\")\"\n") +
                  kPrintReady + "\nexec sleep 1000");
  fake.opts.configText = "server: { reactors: 1 }";
  fake.opts.www = "/srv/www";
  fake.opts.plugins = "/srv/plugins";
  fake.opts.extraArgs = {"--log-level", "debug"};
  fake.opts.env = {{"E2E_TEST_VAR", "hello world"}};
  auto server = ServerProcess::start(fake.opts);

  const std::string tempDir = server->tempDir();
  ASSERT_FALSE(tempDir.empty());
  EXPECT_EQ(server->configPath(), tempDir + "/routes.yaml");
  // Everything was printed before the ready line on the same stream, so it is all here.
  std::vector<std::string> expected = {
      "arg:--config", "arg:" + server->configPath(), "arg:--listen", "arg:127.0.0.1:0",
      "arg:--www", "arg:/srv/www", "arg:--plugins", "arg:/srv/plugins",
      "arg:--log-level", "arg:debug", "env:hello world", "config:server: { reactors: 1 }"};
  auto lines = server->lines();
  ASSERT_GE(lines.size(), expected.size()) << server->output();
  EXPECT_EQ(std::vector<std::string>(lines.begin(), lines.begin() + static_cast<long>(expected.size())), expected);
  EXPECT_TRUE(Contains(server->commandLine(), "--listen 127.0.0.1:0 --www /srv/www"));

  server.reset();
  EXPECT_FALSE(std::filesystem::exists(tempDir)) << "the temp config folder is removed";
}

TEST(ServerProcessTest, UsesAGivenConfigFileAsIs) {
  FakeServer fake(std::string("echo \"config:$2\"\n") + kPrintReady + "\nexec sleep 1000");
  fake.opts.configFile = fake.dir.write("my-routes.yaml", "routes: []\n");
  auto server = ServerProcess::start(fake.opts);
  EXPECT_TRUE(server->tempDir().empty());
  EXPECT_EQ(server->configPath(), fake.opts.configFile);
  EXPECT_TRUE(server->waitForLine("config:" + fake.opts.configFile, 0ms));
}

TEST(ServerProcessTest, EarlyExitThrowsWithEverythingItPrinted) {
  FakeServer fake(
      "echo 'loading routes.yaml'\n"
      "echo \"routes.yaml:3:5: routes[0].pth: unknown key\" >&2\n"
      "exit 1");
  const auto t0 = Clock::now();
  std::string message = startError(fake.opts);
  EXPECT_LT(elapsedSince(t0), 5s) << "an early exit is reported at once, not after the ready timeout";
  EXPECT_TRUE(Contains(message, "exited with status 1 before printing the ready line"));
  EXPECT_TRUE(Contains(message, "stdout| loading routes.yaml"));
  EXPECT_TRUE(Contains(message, "stderr| routes.yaml:3:5: routes[0].pth: unknown key"));
  EXPECT_TRUE(Contains(message, "--config "));
  EXPECT_TRUE(Contains(message, "microserver listening on http://HOST:PORT (N reactors)"));
}

TEST(ServerProcessTest, ReadyLineOnStderrDoesNotCount) {
  FakeServer fake(std::string(kPrintReady) + " >&2\nexit 0");
  EXPECT_TRUE(Contains(startError(fake.opts), "the ready line appeared on stderr; it must be on stdout"));
}

TEST(ServerProcessTest, NotReadyInTimeThrowsAfterKillingIt) {
  FakeServer fake("echo \"pid:$$\"\necho 'still starting'\nexec sleep 1000");
  fake.opts.readyTimeout = 300ms;
  const auto t0 = Clock::now();
  std::string message = startError(fake.opts);
  EXPECT_LT(elapsedSince(t0), 5s);
  EXPECT_TRUE(Contains(message, "no ready line within 300 ms; killed it"));
  EXPECT_TRUE(Contains(message, "stdout| still starting"));
  // The pid is in the message's output; it must be gone (reaped), not left running.
  auto at = message.find("pid:");
  ASSERT_NE(at, std::string::npos);
  pid_t pid = static_cast<pid_t>(std::stol(message.substr(at + 4)));
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ServerProcessTest, MissingBinaryThrowsClearly) {
  ServerOptions opts;
  opts.binary = "/nonexistent/microserver";
  std::string message = startError(opts);
  EXPECT_TRUE(Contains(message, "cannot execute /nonexistent/microserver: No such file or directory"));
}

TEST(ServerProcessTest, StopEscalatesToSigkillWhenTermIsIgnored) {
  // `exec` keeps it one process; an ignored signal stays ignored across exec.
  FakeServer fake(std::string("trap '' TERM\n") + kPrintReady + "\nexec sleep 1000");
  fake.opts.stopTimeout = 200ms;
  auto server = ServerProcess::start(fake.opts);
  const auto t0 = Clock::now();
  EXPECT_EQ(server->stop(), 128 + SIGKILL);
  EXPECT_GE(elapsedSince(t0), 200ms) << "SIGTERM got its grace period first";
  EXPECT_LT(elapsedSince(t0), 5s);
}

TEST(ServerProcessTest, LeavesNoOrphans) {
#ifndef SYS_pidfd_open
  GTEST_SKIP() << "no pidfd_open";
#else
  // The fake server spawns a child of its own and then exits on SIGTERM; that child must
  // not survive it.
  FakeServer fake(std::string("sleep 1000 &\necho \"child:$!\"\n") + kPrintReady + "\nexec sleep 1000");
  auto server = ServerProcess::start(fake.opts);
  pid_t child = pidFromLine(*server, "child:");
  ASSERT_GT(child, 0) << server->output();
  // A pidfd works for any process, not just our children: it polls readable when it dies.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  if (pidfd < 0) GTEST_SKIP() << "pidfd_open: " << std::strerror(errno);
  server.reset();
  pollfd p{pidfd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 5000), 1) << "the server's own child is still running";
  close(pidfd);
#endif
}

TEST(ServerProcessTest, OutlivesTheThreadThatStartedIt) {
  // PR_SET_PDEATHSIG follows the forking thread; the harness forks on its own reader thread.
  FakeServer fake(std::string(kPrintReady) + "\nexec sleep 1000");
  std::unique_ptr<ServerProcess> server;
  std::string error;
  std::thread([&] {
    try {
      server = ServerProcess::start(fake.opts);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }).join();
  ASSERT_TRUE(server) << error;
  EXPECT_EQ(server->waitExit(100ms), std::nullopt) << "killed when the starting thread ended";
  EXPECT_EQ(server->stop(), 128 + SIGTERM);
}

TEST(ServerProcessTest, DestructorReapsTheChild) {
  FakeServer fake(std::string(kPrintReady) + "\nexec sleep 1000");
  auto server = ServerProcess::start(fake.opts);
  pid_t pid = server->pid();
  server.reset();
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), -1) << "already reaped: no zombie left";
  EXPECT_EQ(errno, ECHILD);
}

TEST(ServerProcessTest, WaitExitReportsTheExitCodeWithAllOutput) {
  FakeServer fake(std::string(kPrintReady) + "\necho bye >&2\nprintf 'no newline'\nexit 3");
  auto server = ServerProcess::start(fake.opts);
  EXPECT_EQ(server->waitExit(5s), 3);
  // waitExit() returns only after the pipes are drained: the last lines are all there.
  auto lines = server->lines();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "bye"), lines.end()) << server->output();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "no newline"), lines.end()) << server->output();
  EXPECT_FALSE(server->sendSignal(SIGTERM));
  EXPECT_EQ(server->stop(), 3);
  EXPECT_THROW(server->cpuTimeSeconds(), std::runtime_error);
}

TEST(ServerProcessTest, WaitExitTimesOutWhileRunningThenSeesTheSignal) {
  FakeServer fake(std::string(kPrintReady) + "\nexec sleep 1000");
  auto server = ServerProcess::start(fake.opts);
  EXPECT_EQ(server->waitExit(50ms), std::nullopt);
  EXPECT_TRUE(server->running());
  EXPECT_TRUE(server->sendSignal(SIGTERM));
  EXPECT_EQ(server->waitExit(5s), 128 + SIGTERM);
}

TEST(ServerProcessTest, WaitForLineFromAMark) {
  // `wait` returns as soon as a trapped signal arrives (POSIX), so the trap prints at once.
  FakeServer fake(std::string("sleep 1000 &\ntrap 'echo got-usr1' USR1\n") + kPrintReady +
                  "\nwhile :; do wait; done");
  auto server = ServerProcess::start(fake.opts);

  auto mark = server->lineCount();
  EXPECT_EQ(server->waitForLine("got-usr1", 50ms, mark), std::nullopt) << "times out when nothing comes";
  ASSERT_TRUE(server->sendSignal(SIGUSR1));
  EXPECT_EQ(server->waitForLine("got-usr1", 5s, mark), "got-usr1");

  auto mark2 = server->lineCount();
  EXPECT_EQ(server->waitForLine("got-usr1", 50ms, mark2), std::nullopt) << "lines before the mark are skipped";
  EXPECT_TRUE(server->waitForLine([](const std::string& l) { return l.rfind("microserver listening", 0) == 0; }, 0ms))
      << "from 0, earlier lines count";

  server->stop();
  const auto t0 = Clock::now();
  EXPECT_EQ(server->waitForLine("never printed", 10s), std::nullopt);
  EXPECT_LT(elapsedSince(t0), 1s) << "no waiting once the process is gone";
}

TEST(ServerProcessTest, InheritsOnlyStdio) {
  TempDir tmp;
  std::string canary = tmp.write("leak-canary.txt", "x");
  int leaky = open(canary.c_str(), O_RDONLY);  // deliberately not close-on-exec
  ASSERT_GE(leaky, 0);
  FakeServer fake(std::string("ls -l /proc/$$/fd\n") + kPrintReady + "\nexec sleep 1000");
  auto server = ServerProcess::start(fake.opts);
  close(leaky);
  std::string out = server->output();
  EXPECT_EQ(out.find("leak-canary"), std::string::npos) << out;
  EXPECT_TRUE(Contains(out, "0 -> /dev/null"));
}

TEST(ServerProcessTest, CpuTime) {
  FakeServer idle(std::string(kPrintReady) + "\nexec sleep 1000");
  auto server = ServerProcess::start(idle.opts);
  double idleCpu = server->cpuTimeSeconds();
  EXPECT_GE(idleCpu, 0.0);
  EXPECT_LT(idleCpu, 0.5);

  FakeServer busy(std::string(kPrintReady) + "\nwhile :; do :; done");
  auto spinner = ServerProcess::start(busy.opts);
  // CPU time only grows by running, so this has to be sampled; the loop ends as soon as
  // it has grown, and the deadline bounds it.
  const auto deadline = Clock::now() + 10s;
  double cpu = spinner->cpuTimeSeconds();
  while (cpu < 0.05 && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    cpu = spinner->cpuTimeSeconds();
  }
  EXPECT_GE(cpu, 0.05);
}

// =======================================================================================
// TestClient against a canned server

// A one-connection server on 127.0.0.1:0 that writes fixed bytes. Its thread waits with
// poll() on the socket and a stop pipe, so the destructor never waits for a deadline.
class CannedServer {
 public:
  enum class Read { Nothing, Headers, UntilEof };
  enum class End { Close, Reset, WaitForClientClose };
  struct Plan {
    Read read = Read::Headers;
    std::vector<std::string> writes;  // each written with one send() (or byte by byte)
    bool byteByByte = false;
    End end = End::WaitForClientClose;
  };
  struct Result {
    std::string received;
    bool clientEof = false;
    bool clientReset = false;
    std::string error;
  };

  explicit CannedServer(Plan plan) : plan_(std::move(plan)) {
    listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listenFd_ < 0 || bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listenFd_, 4) != 0 || getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        pipe2(stopPipe_, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("CannedServer: ") + std::strerror(errno));
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~CannedServer() {
    if (thread_.joinable()) {
      char c = 'x';
      ssize_t ignored = write(stopPipe_[1], &c, 1);
      (void)ignored;
      thread_.join();
    }
    for (int fd : {listenFd_, stopPipe_[0], stopPipe_[1]}) close(fd);
  }

  int port() const { return port_; }

  // Waits (bounded) for the server thread to complete its plan and returns what it saw.
  Result finish() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  // Waits for `fd` to be readable; false if stopped or after 10 s.
  bool waitReadable(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stopPipe_[0], POLLIN, 0}};
    int rc;
    do rc = poll(p, 2, 10000);
    while (rc < 0 && errno == EINTR);
    if (rc <= 0) result_.error = "CannedServer: timed out";
    return rc > 0 && !p[1].revents;
  }

  void run() {
    if (!waitReadable(listenFd_)) return;
    int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      result_.error = std::string("accept: ") + std::strerror(errno);
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    serve(fd);
    if (plan_.end == End::Reset) {
      linger lg{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
  }

  // One recv(); false at EOF, reset or error (recorded).
  bool readSome(int fd) {
    if (!waitReadable(fd)) return false;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      result_.received.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) result_.clientEof = true;
    else if (errno == ECONNRESET) result_.clientReset = true;
    else result_.error = std::string("recv: ") + std::strerror(errno);
    return false;
  }

  void serve(int fd) {
    if (plan_.read == Read::Headers)
      while (result_.received.find("\r\n\r\n") == std::string::npos)
        if (!readSome(fd)) return;
    if (plan_.read == Read::UntilEof)
      while (readSome(fd)) {
      }
    for (const auto& w : plan_.writes) {
      std::size_t step = plan_.byteByByte ? 1 : w.size();
      for (std::size_t at = 0; at < w.size(); at += step)
        if (send(fd, w.data() + at, std::min(step, w.size() - at), MSG_NOSIGNAL) < 0) {
          result_.error = std::string("send: ") + std::strerror(errno);
          return;
        }
    }
    if (plan_.end == End::WaitForClientClose)
      while (readSome(fd)) {
      }
  }

  Plan plan_;
  int listenFd_ = -1;
  int stopPipe_[2] = {-1, -1};
  int port_ = 0;
  Result result_;  // written by the thread only; read after join
  std::thread thread_;
};

using Read = CannedServer::Read;
using End = CannedServer::End;

const std::string kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

std::string readError(Connection& c, std::string_view method = "GET") {
  try {
    c.readResponse(method);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "readResponse() did not throw";
  return {};
}

TEST(TestClientTest, ContentLengthResponse) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Foo:  bar \r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\nhello";
  CannedServer server({Read::Headers, {wire}});
  Connection c(server.port());
  c.sendAll(kGet);
  HttpResponse r = c.readResponse();
  EXPECT_EQ(r.version, "HTTP/1.1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.header("x-foo"), "bar") << "case-insensitive, whitespace trimmed";
  EXPECT_TRUE(r.hasHeader("CONTENT-LENGTH"));
  EXPECT_FALSE(r.hasHeader("Content-Type"));
  EXPECT_EQ(r.header("Content-Type"), "");
  EXPECT_EQ(r.headerValues("Set-Cookie"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(r.raw, wire);
  c.close();
  auto result = server.finish();
  EXPECT_EQ(result.received, kGet);
  EXPECT_EQ(result.error, "");
}

TEST(TestClientTest, ChunkedBodyArrivingByteByByte) {
  CannedServer server({Read::Headers,
                       {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;name=value\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Checksum: 42\r\n\r\n"},
                       /*byteByByte=*/true});
  Connection c(server.port());
  c.sendAll(kGet);
  HttpResponse r = c.readResponse();
  EXPECT_EQ(r.body, "hello, world!!!");
  ASSERT_EQ(r.trailers.size(), 1u);
  EXPECT_EQ(r.trailers[0], (std::pair<std::string, std::string>{"X-Checksum", "42"}));
}

TEST(TestClientTest, PipelinedResponsesInOneWrite) {
  CannedServer server({Read::Headers,
                       {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
                        "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"}});
  Connection c(server.port());
  c.sendAll(kGet + kGet);
  HttpResponse first = c.readResponse();
  HttpResponse second = c.readResponse();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "one");
  EXPECT_EQ(second.status, 404);
  EXPECT_EQ(second.reason, "Not Found");
  EXPECT_EQ(second.body, "two");
  EXPECT_EQ(c.takeBuffered(), "");
}

TEST(TestClientTest, InterimContinueThenFinal) {
  CannedServer server({Read::Headers,
                       {"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"}});
  Connection c(server.port());
  c.sendAll("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  HttpResponse interim = c.readResponse();
  EXPECT_EQ(interim.status, 100);
  EXPECT_TRUE(interim.isInterim());
  EXPECT_EQ(interim.body, "");
  c.sendAll("hi");
  HttpResponse final = c.readResponse();
  EXPECT_EQ(final.status, 201);
  EXPECT_EQ(final.body, "ok");
}

TEST(TestClientTest, CloseDelimitedBody) {
  CannedServer server({Read::Headers, {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "until ", "the end"}, false, End::Close});
  Connection c(server.port());
  c.sendAll(kGet);
  EXPECT_EQ(c.readResponse().body, "until the end");
}

TEST(TestClientTest, ResponsesWithoutBody) {
  CannedServer server({Read::Headers,
                       {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                        "HTTP/1.1 204 No Content\r\n\r\n"
                        "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"}});
  Connection c(server.port());
  c.sendAll(kGet);
  HttpResponse head = c.readResponse("HEAD");
  EXPECT_EQ(head.header("Content-Length"), "100");
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(c.readResponse().status, 204);
  HttpResponse notModified = c.readResponse();
  EXPECT_EQ(notModified.status, 304);
  EXPECT_EQ(notModified.body, "");
}

TEST(TestClientTest, MalformedResponsesThrowClearly) {
  struct Case {
    std::string wire;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 2OO OK\r\n\r\n", "expected a status line like \"HTTP/1.1 200 OK\", got \"HTTP/1.1 2OO OK\""},
      {"HTTP/1.1 200\r\n\r\n", "got \"HTTP/1.1 200\""},
      {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "not terminated by CRLF"},
      {"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "expected \"Name: value\", got \"No colon here\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "both Transfer-Encoding and Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting Content-Length"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "expected a hex chunk size, got \"zz\""},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "not followed by CRLF"},
      {"HTTP/1.1 200 OK\r\n\r\nbody", "no Content-Length, not chunked, and no \"Connection: close\""},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(escapeBytes(tc.wire));
    CannedServer server({Read::Headers, {tc.wire}});
    Connection c(server.port());
    c.sendAll(kGet);
    EXPECT_TRUE(Contains(readError(c), tc.expected));
  }
}

TEST(TestClientTest, TruncatedBodyThrowsWithWhatArrived) {
  CannedServer server({Read::Headers, {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}, false, End::Close});
  Connection c(server.port());
  c.sendAll(kGet);
  std::string message = readError(c);
  EXPECT_TRUE(Contains(message, "connection closed by peer while waiting for the body (Content-Length)"));
  EXPECT_TRUE(Contains(message, "Content-Length: 10\\r\\n\\r\\nabc"));
}

TEST(TestClientTest, TimeoutThrowsWithinTheBound) {
  CannedServer server({Read::Headers, {"HTTP/1.1 200 OK\r\nContent-Le"}});
  Connection c(server.port(), 200ms);
  c.sendAll(kGet);
  const auto t0 = Clock::now();
  std::string message = readError(c);
  EXPECT_LT(elapsedSince(t0), 5s);
  EXPECT_GE(elapsedSince(t0), 200ms);
  EXPECT_TRUE(Contains(message, "timed out after 200 ms waiting for a header line"));
  EXPECT_TRUE(Contains(message, "received: \"HTTP/1.1 200 OK\\r\\nContent-Le\""));
}

TEST(TestClientTest, ReadUntilClosedTellsEofResetAndTimeout) {
  {
    CannedServer server({Read::Nothing, {"bye\n"}, false, End::Close});
    Connection c(server.port());
    ClosedRead r = c.readUntilClosed(5s);
    EXPECT_EQ(r.how, CloseKind::Eof);
    EXPECT_EQ(r.data, "bye\n");
  }
  {
    CannedServer server({Read::Nothing, {}, false, End::Reset});
    Connection c(server.port());
    ClosedRead r = c.readUntilClosed(5s);
    EXPECT_EQ(r.how, CloseKind::Reset) << toString(r.how);
  }
  {
    CannedServer server({Read::Nothing, {"partial"}, false, End::WaitForClientClose});
    Connection c(server.port());
    ClosedRead r = c.readUntilClosed(100ms);
    EXPECT_EQ(r.how, CloseKind::Timeout);
    EXPECT_EQ(r.data, "partial");
  }
}

TEST(TestClientTest, IsClosedByPeerKeepsDataThatArrivedFirst) {
  {
    CannedServer server({Read::Nothing,
                         {"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"},
                         false, End::Close});
    Connection c(server.port());
    EXPECT_TRUE(c.isClosedByPeer(5s));
    EXPECT_EQ(c.readResponse().status, 408);
  }
  {
    CannedServer server({Read::Nothing, {}, false, End::WaitForClientClose});
    Connection c(server.port());
    EXPECT_FALSE(c.isClosedByPeer(100ms));
  }
}

TEST(TestClientTest, ResetAbruptlySendsRst) {
  CannedServer server({Read::Nothing, {"hello\n"}, false, End::WaitForClientClose});
  Connection c(server.port());
  EXPECT_EQ(c.readLine(), "hello");  // the server has accepted and is now waiting for us
  c.resetAbruptly();
  auto result = server.finish();
  EXPECT_TRUE(result.clientReset);
  EXPECT_FALSE(result.clientEof);
}

TEST(TestClientTest, ShutdownWriteLetsTheServerSeeEof) {
  CannedServer server({Read::UntilEof, {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"}, false, End::Close});
  Connection c(server.port());
  c.sendAll("all of the request");
  c.shutdownWrite();
  EXPECT_EQ(c.readResponse().body, "done");
  auto result = server.finish();
  EXPECT_TRUE(result.clientEof);
  EXPECT_EQ(result.received, "all of the request");
}

TEST(TestClientTest, SendSlowlyDeliversEverything) {
  CannedServer server({Read::Headers, {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}});
  const std::string request = "GET /slow HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(100, 'p') + "\r\n\r\n";
  Connection c(server.port());
  c.sendSlowly(request, 3);
  EXPECT_EQ(c.readResponse().status, 200);
  c.close();
  EXPECT_EQ(server.finish().received, request);
}

TEST(TestClientTest, ReadLineAndReadExactly) {
  CannedServer server({Read::Nothing, {"line one\r\nline two\nabcdef"}});
  Connection c(server.port());
  EXPECT_EQ(c.readLine(), "line one");
  EXPECT_EQ(c.readLine(), "line two");
  EXPECT_EQ(c.readExactly(3), "abc");
  EXPECT_EQ(c.readExactly(3), "def");
}

TEST(TestClientTest, HttpGetSendsHostConnectionCloseAndExtraHeaders) {
  CannedServer server({Read::Headers,
                       {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"},
                       false, End::Close});
  HttpResponse r = httpGet(server.port(), "/path?q=1", {{"X-Test", "yes"}});
  EXPECT_EQ(r.status, 200) << "the interim 100 is skipped";
  EXPECT_EQ(r.body, "hi");
  std::string request = server.finish().received;
  EXPECT_EQ(request.rfind("GET /path?q=1 HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_TRUE(Contains(request, "\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"));
  EXPECT_TRUE(Contains(request, "\r\nConnection: close\r\n"));
  EXPECT_TRUE(Contains(request, "\r\nX-Test: yes\r\n\r\n"));
}

TEST(TestClientTest, ConnectionRefusedThrows) {
  int port;
  {
    CannedServer server({Read::Nothing, {}});
    port = server.port();
    Connection c(port);  // let it finish its plan so the port is closed after
  }
  try {
    Connection c(port);
    ADD_FAILURE() << "connected to a closed port";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(Contains(e.what(), "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused"));
  }
}

}  // namespace
}  // namespace e2e
