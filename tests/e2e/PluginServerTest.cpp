// End-to-end tests of plugin routes and reloads: the real binary, the real plugin folder.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kPlugins = MICROSERVER_PLUGIN_DIR;
const std::string kFixtures = MICROSERVER_FIXTURE_DIR;

std::string helloRoutes(const std::string& greeting, const std::string& www) {
  return "server: { www: " + www + " }\nroutes:\n"
         "  - { path: '^/hello/(?P<name>[A-Za-z]+)$', methods: [GET], handler: hello, config: { greeting: " +
         greeting + " } }\n  - { path: '^/', static: " + www + " }\n";
}

// A temp folder with a site, a routes.yaml the test rewrites, and a plugin folder.
struct PluginSetup {
  TempDir dir;
  std::string www, config, plugins;
  PluginSetup() {
    www = dir.path() + "/www";
    dir.write("www/index.html", "index\n");
    plugins = dir.path() + "/plugins";
    fs::create_directories(plugins);
    config = dir.path() + "/routes.yaml";
  }
  void writeConfig(const std::string& text) const {
    // Write a new file and rename it over the old one, as editors do: the server must
    // never read a half-written file.
    std::string tmp = config + ".tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, config);
  }
  void addPlugin(const std::string& builtFile, const std::string& asName) const {
    fs::copy_file(builtFile, plugins + "/" + asName, fs::copy_options::overwrite_existing);
  }
  std::unique_ptr<ServerProcess> start(const std::string& pluginFolder) const {
    ServerOptions options;
    options.configFile = config;
    options.plugins = pluginFolder;
    return ServerProcess::start(options);
  }
};

// Sends SIGHUP (or not) and waits for the server to report the reload's outcome.
bool reloaded(ServerProcess& server, std::size_t mark) {
  auto line = server.waitForLine([](const std::string& l) {
    return l.find("reloaded ") != std::string::npos || l.find("reload failed") != std::string::npos;
  }, 10s, mark);
  return line && line->find("reloaded ") != std::string::npos;
}

TEST(PluginServerTest, HelloRouteGreetsAndRefusesOtherMethodsWithAllow) {
  PluginSetup setup;
  setup.writeConfig(helloRoutes("Hello", setup.www));
  auto server = setup.start(kPlugins);
  HttpResponse r = httpGet(server->port(), "/hello/Ada");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, Ada!\n");
  HttpResponse d = httpRequest(server->port(), "DELETE", "/hello/Ada");
  EXPECT_EQ(d.status, 405);
  EXPECT_EQ(d.header("Allow"), "GET, HEAD");
  EXPECT_EQ(httpGet(server->port(), "/hello/Ada1").status, 404) << "digits do not match [A-Za-z]+";
}

TEST(PluginServerTest, AHandlerNamingAMissingPluginIsAConfigErrorListingWhatWasFound) {
  PluginSetup setup;
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/x$', handler: helo }\n");
  ServerOptions options;
  options.configFile = setup.config;
  options.plugins = kPlugins;
  try {
    ServerProcess::start(options);
    FAIL() << "the server started with a route to a missing plugin";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("exited with status 2"), std::string::npos) << what;
    EXPECT_NE(what.find("routes.yaml:3:30: routes[0].handler: no plugin 'helo' in " + kPlugins + " (found: "),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("hello"), std::string::npos) << what;
  }
}

TEST(PluginServerTest, ABadPluginInTheFolderIsRefusedNamingItsFile) {
  PluginSetup setup;
  setup.addPlugin(kFixtures + "/abi_mismatch/libabi_mismatch.so", "libabi_mismatch.so");
  setup.writeConfig(helloRoutes("Hi", setup.www));
  ServerOptions options;
  options.configFile = setup.config;
  options.plugins = setup.plugins;
  try {
    ServerProcess::start(options);
    FAIL() << "started with a plugin of another ABI";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(setup.plugins + "/libabi_mismatch.so: refused: built against another plugin ABI (SDK 0.0.1"),
              std::string::npos)
        << what;
  }
}

TEST(PluginServerTest, SighupReloadsRoutesAndABadFileKeepsTheRunningConfig) {
  PluginSetup setup;
  setup.writeConfig(helloRoutes("Hello", setup.www));
  auto server = setup.start(kPlugins);
  EXPECT_EQ(httpGet(server->port(), "/hello/Ada").body, "Hello, Ada!\n");

  std::size_t mark = server->lineCount();
  setup.writeConfig(helloRoutes("Bonjour", setup.www));
  server->sendSignal(SIGHUP);
  ASSERT_TRUE(reloaded(*server, mark));
  EXPECT_EQ(httpGet(server->port(), "/hello/Ada").body, "Bonjour, Ada!\n");

  mark = server->lineCount();
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/', methods: [GTE], static: " +
                    setup.www + " }\n");
  server->sendSignal(SIGHUP);
  EXPECT_FALSE(reloaded(*server, mark));
  auto error = server->waitForLine("routes[0].methods[0]: unknown method 'GTE'", 5s, mark);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("routes.yaml:3:29:"), std::string::npos) << *error;
  EXPECT_EQ(httpGet(server->port(), "/hello/Ada").body, "Bonjour, Ada!\n") << "the old config must keep serving";
}

TEST(PluginServerTest, EditingTheFileReloadsWithoutASignal) {
  PluginSetup setup;
  setup.writeConfig(helloRoutes("Hello", setup.www));
  auto server = setup.start(kPlugins);
  std::size_t mark = server->lineCount();
  setup.writeConfig(helloRoutes("Hej", setup.www));
  ASSERT_TRUE(reloaded(*server, mark));
  EXPECT_EQ(httpGet(server->port(), "/hello/Ada").body, "Hej, Ada!\n");
}

TEST(PluginServerTest, AReplacedLibraryIsReallyReloaded) {
  PluginSetup setup;
  setup.addPlugin(kFixtures + "/versioned_v1/libversioned.so", "libversioned.so");
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/version$', handler: versioned }\n");
  auto server = setup.start(setup.plugins);
  EXPECT_EQ(httpGet(server->port(), "/version").body, "v1\n");
  std::size_t mark = server->lineCount();
  setup.addPlugin(kFixtures + "/versioned_v2/libversioned.so", "libversioned.so");  // cp over it
  ASSERT_TRUE(reloaded(*server, mark));
  EXPECT_EQ(httpGet(server->port(), "/version").body, "v2\n");
}

TEST(PluginServerTest, APluginDroppedIntoTheFolderCanBeRoutedWithoutARestart) {
  PluginSetup setup;
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/', static: " + setup.www + " }\n");
  auto server = setup.start(setup.plugins);
  EXPECT_EQ(httpGet(server->port(), "/version").status, 404);
  std::size_t mark = server->lineCount();
  setup.addPlugin(kFixtures + "/versioned_v1/libversioned.so", "libversioned.so");
  ASSERT_TRUE(reloaded(*server, mark));
  mark = server->lineCount();
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/version$', handler: versioned }\n"
                    "  - { path: '^/', static: " + setup.www + " }\n");
  ASSERT_TRUE(reloaded(*server, mark));
  EXPECT_EQ(httpGet(server->port(), "/version").body, "v1\n");
}

TEST(PluginServerTest, TwentyReloadsUnderSteadyLoadFailNoRequest) {
  PluginSetup setup;
  setup.writeConfig(helloRoutes("G0", setup.www));
  auto server = setup.start(kPlugins);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::string> failures;
  std::mutex failuresMutex;
  auto client = [&](bool keepAlive) {
    try {
      std::unique_ptr<Connection> c;
      while (!stop) {
        if (!c || !keepAlive) c = std::make_unique<Connection>(server->port());
        c->sendAll("GET /hello/Ada HTTP/1.1\r\nHost: t\r\n\r\n");
        HttpResponse r = c->readResponse();
        bool good = r.status == 200 && r.body.size() > 6 && r.body[0] == 'G' && r.body.find(", Ada!\n") != std::string::npos;
        (good ? ok : failed)++;
        if (!good) {
          std::lock_guard<std::mutex> lock(failuresMutex);
          failures.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    } catch (const std::exception& e) {
      failed++;
      std::lock_guard<std::mutex> lock(failuresMutex);
      failures.push_back(e.what());
    }
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) clients.emplace_back(client, i % 2 == 0);
  for (int i = 1; i <= 20; ++i) {
    // Requests between every two reloads, however slow the machine: the load is steady.
    const int before = ok.load();
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (ok.load() < before + 5 && failed.load() == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    std::size_t mark = server->lineCount();
    setup.writeConfig(helloRoutes("G" + std::to_string(i), setup.www));
    server->sendSignal(SIGHUP);
    ASSERT_TRUE(reloaded(*server, mark)) << "reload " << i;
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << (failures.empty() ? "" : failures.front());
  EXPECT_GT(ok.load(), 100);
  EXPECT_EQ(httpGet(server->port(), "/hello/Ada").body, "G20, Ada!\n");
}

TEST(PluginServerTest, AThrowingHandlerGets500AndALogLineAndTheServerGoesOn) {
  PluginSetup setup;
  setup.addPlugin(kFixtures + "/good/libthrower.so", "libthrower.so");
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/', handler: thrower }\n");
  auto server = setup.start(setup.plugins);
  Connection c(server->port());
  c.sendAll("GET /throw HTTP/1.1\r\nHost: t\r\n\r\nGET /throw-int HTTP/1.1\r\nHost: t\r\n\r\nGET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.readResponse().status, 500);
  EXPECT_EQ(c.readResponse().status, 500);
  EXPECT_EQ(c.readResponse().body, "fine\n") << "the same connection goes on";
  auto line = server->waitForLine("plugin thrower failed on GET /throw", 5s);
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("thrown on purpose"), std::string::npos) << *line;
  EXPECT_TRUE(server->waitForLine("plugin thrower failed on GET /throw-int (routes[0] '^/'): a non-standard exception; answered 500", 5s));
}

std::unique_ptr<ServerProcess> startGenerator(const PluginSetup& setup) {
  setup.addPlugin(kFixtures + "/good/libgenerator.so", "libgenerator.so");
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/', handler: generator }\n");
  return setup.start(setup.plugins);
}

TEST(PluginServerTest, AStreamedBodyIsChunkedForHttp11AndKeepsTheConnection) {
  PluginSetup setup;
  auto server = startGenerator(setup);
  Connection c(server->port());
  c.sendAll("GET /stream/1000 HTTP/1.1\r\nHost: t\r\n\r\nGET /stream/2 HTTP/1.1\r\nHost: t\r\n\r\n");
  HttpResponse r = c.readResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(r.hasHeader("Content-Length"));
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += "piece " + std::to_string(i) + "\n";
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(c.readResponse().body, "piece 0\npiece 1\n") << "the next pipelined response follows the stream";
}

TEST(PluginServerTest, AStreamedBodyToAnHttp10ClientEndsWithTheConnection) {
  PluginSetup setup;
  auto server = startGenerator(setup);
  Connection c(server->port());
  c.sendAll("GET /stream/3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ClosedRead all = c.readUntilClosed(10s);
  EXPECT_EQ(all.how, CloseKind::Eof);
  EXPECT_NE(all.data.find("Connection: close\r\n"), std::string::npos) << all.data;
  EXPECT_EQ(all.data.find("chunked"), std::string::npos) << all.data;
  EXPECT_EQ(all.data.substr(all.data.find("\r\n\r\n") + 4), "piece 0\npiece 1\npiece 2\n");
}

TEST(PluginServerTest, HeadOfAStreamedResponseSendsNoBody) {
  PluginSetup setup;
  auto server = startGenerator(setup);
  Connection c(server->port());
  c.sendAll("HEAD /stream/5 HTTP/1.1\r\nHost: t\r\n\r\nGET /stream/1 HTTP/1.1\r\nHost: t\r\n\r\n");
  HttpResponse head = c.readResponse("HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(c.readResponse().body, "piece 0\n");
}

TEST(PluginServerTest, AFiftyMebibyteBodyArrivesWhole) {
  PluginSetup setup;
  auto server = startGenerator(setup);
  Connection c(server->port(), 60s);
  c.sendAll("GET /big/50 HTTP/1.1\r\nHost: t\r\n\r\n");
  HttpResponse r = c.readResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 50u << 20);
  EXPECT_EQ(r.body.find_first_not_of('x'), std::string::npos);
  EXPECT_EQ(httpGet(server->port(), "/stream/1").status, 200) << "the server is unharmed";
}

TEST(PluginServerTest, ExpectContinueGetsAnInterimResponseBeforeTheBody) {
  PluginSetup setup;
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n  - { path: '^/echo$', methods: [PUT], handler: echo }\n");
  auto server = setup.start(kPlugins);
  Connection c(server->port());
  c.sendAll("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(c.readResponse().status, 100);
  c.sendAll("hello");
  HttpResponse r = c.readResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
}

TEST(PluginServerTest, A405ListsTheMethodsOfEveryRouteForThePath) {
  PluginSetup setup;
  setup.writeConfig("server: { www: " + setup.www + " }\nroutes:\n"
                    "  - { path: '^/api/kv/(?P<key>[^/]+)$', methods: [GET, PUT, DELETE], handler: kv }\n"
                    "  - { path: '^/', static: " + setup.www + " }\n");
  auto server = setup.start(kPlugins);
  HttpResponse r = httpRequest(server->port(), "POST", "/api/kv/x", {}, "v");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, PUT, DELETE") << "the static catch-all must not hide the kv route";
}

}  // namespace
}  // namespace e2e
