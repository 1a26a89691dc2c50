// End-to-end fault tests: the server under conditions it does not control (too few file
// descriptors, files changing under a response, a stop in the middle of load) keeps its
// promises: no spin, no crash, no response cut in the middle.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

struct Site {
  TempDir dir;
  std::string www;
  Site() {
    www = dir.path() + "/www";
    dir.write("www/index.html", "home\n");
    dir.write("www/small.txt", std::string(1000, 's'));
  }
  std::string config(const std::string& extra = "") const {
    return "server: { www: " + www + ", reactors: 2" + extra + " }\nroutes:\n  - { path: '^/', static: " + www + " }\n";
  }
};

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"; }

TEST(FaultTest, RunningOutOfDescriptorsNeitherSpinsNorDiesAndRecovers) {
  Site site;
  ServerOptions options;
  options.configText = site.config();
  options.maxOpenFiles = 64;  // the server needs ~20 for itself; the rest are for clients
  auto server = ServerProcess::start(options);
  // One request before the descriptors run out. Not needed by the server, but UBSan's vptr
  // check validates each (object, type) pair once with pipe(2) and calls it invalid when
  // that fails with EMFILE; after one answered request every pair used below is known.
  ASSERT_EQ(httpGet(server->port(), "/small.txt").status, 200);
  // Likewise a cache entry dropped: out of descriptors, a re-check that cannot open a file
  // drops its entry (the first shared_ptr of that type to reach zero). A file deleted
  // under the cache does the same now, within the cache's one-second bound.
  const std::string gone = site.dir.write("www/gone.txt", "soon gone\n");
  ASSERT_EQ(httpGet(server->port(), "/gone.txt").status, 200);
  ASSERT_EQ(::unlink(gone.c_str()), 0);
  const auto dropBy = Clock::now() + 5s;
  while (httpGet(server->port(), "/gone.txt").status != 404 && Clock::now() < dropBy)
    std::this_thread::sleep_for(50ms);  // a poll interval: the entry is re-checked after 1 s

  // More clients than the server can take: it accepts until EMFILE, the rest wait.
  std::vector<Connection> clients;
  for (int i = 0; i < 120; ++i) clients.emplace_back(server->port(), 10s);
  for (auto& c : clients) c.sendAll(get("/small.txt"));
  ASSERT_TRUE(server->waitForLine("cannot accept connections: Too many open files", 10s)) << server->output();

  // While descriptors are short the acceptor must be paused, not spinning on EMFILE.
  double before = server->cpuTimeSeconds();
  auto start = Clock::now();
  while (Clock::now() - start < 1s) std::this_thread::sleep_for(50ms);
  double used = server->cpuTimeSeconds() - before;
  EXPECT_LT(used, 0.3) << "the server spun while out of descriptors";

  // Freeing descriptors lets it go on: every client gets its answer in the end.
  int answered = 0;
  for (auto& c : clients) {
    HttpResponse r = c.readResponse();
    EXPECT_TRUE(r.status == 200 || r.status == 503) << r.status;  // 503: no descriptor for the file
    ++answered;
    c.close();
  }
  EXPECT_EQ(answered, 120);
  EXPECT_EQ(httpGet(server->port(), "/small.txt").status, 200);
}

TEST(FaultTest, AFileTruncatedWhileBeingSentEndsThatConnectionOnly) {
  Site site;
  std::string big = site.dir.write("www/big.bin", std::string(32 << 20, 'b'));
  ServerOptions options;
  options.configText = site.config();
  auto server = ServerProcess::start(options);
  Connection c(server->port(), 20s, 8192);
  c.sendAll(get("/big.bin"));
  EXPECT_EQ(c.readExactly(12), "HTTP/1.1 200");  // the response has begun...
  std::filesystem::resize_file(big, 1 << 20);     // ...and the file shrinks under it
  ClosedRead rest = c.readUntilClosed(20s);
  EXPECT_NE(rest.how, CloseKind::Timeout) << "the connection hung on a short file";
  EXPECT_LT(rest.data.size(), std::size_t(32 << 20)) << "more bytes than the file now has";
  EXPECT_TRUE(server->waitForLine("a file got shorter while it was being sent", 10s));
  EXPECT_EQ(httpGet(server->port(), "/small.txt").status, 200) << "the server goes on";
}

TEST(FaultTest, AFileDeletedWhileBeingSentIsSentWhole) {
  Site site;
  std::string big = site.dir.write("www/big.bin", std::string(8 << 20, 'd'));
  ServerOptions options;
  options.configText = site.config();
  auto server = ServerProcess::start(options);
  Connection c(server->port(), 20s, 8192);
  c.sendAll(get("/big.bin"));
  EXPECT_EQ(c.readExactly(12), "HTTP/1.1 200");
  std::filesystem::remove(big);  // the open descriptor keeps the data alive
  // Read the rest of the head, then exactly the announced body.
  std::size_t length = 0;
  for (std::string line = c.readLine(); !line.empty(); line = c.readLine())
    if (line.rfind("Content-Length: ", 0) == 0) length = std::stoul(line.substr(16));
  EXPECT_EQ(length, std::size_t(8 << 20));
  std::string body = c.readExactly(length);
  EXPECT_EQ(body.find_first_not_of('d'), std::string::npos);
}

TEST(FaultTest, SigtermUnderLoadCutsNoResponseInTheMiddle) {
  Site site;
  site.dir.write("www/mid.bin", std::string(256 << 10, 'm'));
  ServerOptions options;
  options.configText = site.config();
  auto server = ServerProcess::start(options);
  std::atomic<bool> stop{false};
  std::atomic<int> complete{0}, cleanCloses{0}, cut{0};
  std::mutex errorsMutex;
  std::vector<std::string> errors;
  auto client = [&](int id) {
    while (!stop) {
      try {
        Connection c(server->port());
        for (int i = 0; i < 50 && !stop; ++i) {
          c.sendAll(get(id % 2 ? "/mid.bin" : "/small.txt"));
          HttpResponse r = c.readResponse();
          if (r.status == 200) ++complete;
          if (r.header("Connection") == "close") break;
        }
      } catch (const std::exception& e) {
        std::string what = e.what();
        // Refused or closed between two responses is clean; anything in a response is not.
        if (what.find("cannot connect") != std::string::npos || what.find("waiting for the status line") != std::string::npos) {
          ++cleanCloses;
          if (what.find("cannot connect") != std::string::npos) return;
        } else {
          ++cut;
          std::lock_guard<std::mutex> lock(errorsMutex);
          errors.push_back(what.substr(0, 200));
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back(client, i);
  for (auto until = Clock::now() + 5s; complete < 200 && Clock::now() < until;) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(server->sendSignal(SIGTERM));
  EXPECT_EQ(server->waitExit(15s), std::optional<int>(0));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GT(complete.load(), 200);
  EXPECT_EQ(cut.load(), 0) << (errors.empty() ? "" : errors.front());
}

}  // namespace
}  // namespace e2e
