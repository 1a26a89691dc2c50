// A third party's plugin: built in its own folder against the installed SDK
// (find_package(microserver) + microserver_add_plugin), dropped into a running server's
// plugin folder and routed by editing routes.yaml, with no restart and no failed request.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

namespace fs = std::filesystem;

// Runs a shell command with a time bound; returns its exit status, output in `log`.
int run(const std::string& command, const std::string& logFile, std::string& log) {
  int status = std::system(("timeout 300 " + command + " > " + logFile + " 2>&1").c_str());
  std::ifstream in(logFile);
  std::stringstream text;
  text << in.rdbuf();
  log = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void writeFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

const char* kPluginSource = R"(// An out-of-tree plugin: nothing but the installed SDK.
#include <microserver/Plugin.h>

#include <string>

class Greeter : public microserver::Handler {
 public:
  explicit Greeter(const microserver::PluginContext& context) {
    context.config.allowKeys({"who"});
    who_ = context.config.getString("who", "nobody");
  }
  void handle(const microserver::Request& request, microserver::Response& response) override {
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("greetings from " + who_ + " to " + std::string(request.capture("name")) + "\n");
  }

 private:
  std::string who_;
};

MICROSERVER_PLUGIN("greeter", "0.1", "an out-of-tree example", Greeter)
)";

const char* kPluginCmake = R"(cmake_minimum_required(VERSION 3.25)
project(greeter LANGUAGES CXX)
find_package(microserver 0.2 REQUIRED)
microserver_add_plugin(greeter SOURCES greeter.cpp OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/out)
)";

TEST(OutOfTreePluginTest, BuiltAgainstTheInstalledSdkAndDroppedIntoARunningServer) {
  TempDir dir;
  std::string log;
  // 1. Install the SDK (and server) into a private prefix.
  std::string prefix = dir.path() + "/prefix";
  ASSERT_EQ(run(std::string(MICROSERVER_INSTALL_CMAKE) + " --install " + MICROSERVER_BUILD_DIR + " --prefix " + prefix,
                dir.path() + "/install.log", log),
            0)
      << log;
  ASSERT_TRUE(fs::exists(prefix + "/include/microserver/Plugin.h"));
  ASSERT_TRUE(fs::exists(prefix + "/lib/cmake/microserver/microserverConfig.cmake"));

  // 2. Build a plugin in a folder of its own, knowing only the prefix.
  dir.write("greeter/greeter.cpp", kPluginSource);
  dir.write("greeter/CMakeLists.txt", kPluginCmake);
  std::string cmake = MICROSERVER_INSTALL_CMAKE;
  ASSERT_EQ(run(cmake + " -S " + dir.path() + "/greeter -B " + dir.path() + "/greeter-build -DCMAKE_PREFIX_PATH=" +
                    prefix + " -DCMAKE_BUILD_TYPE=Release",
                dir.path() + "/configure.log", log),
            0)
      << log;
  ASSERT_EQ(run(cmake + " --build " + dir.path() + "/greeter-build", dir.path() + "/build.log", log), 0) << log;
  std::string built = dir.path() + "/greeter-build/out/libgreeter.so";
  ASSERT_TRUE(fs::exists(built)) << log;

  // 3. A running server, under steady load, gets the plugin and then a route to it.
  std::string plugins = dir.path() + "/plugins";
  fs::create_directories(plugins);
  dir.write("www/index.html", "home\n");
  std::string config = dir.path() + "/routes.yaml";
  std::string base = "server: { www: " + dir.path() + "/www }\nroutes:\n";
  std::string site = "  - { path: '^/', static: " + dir.path() + "/www }\n";
  writeFile(config, base + site);
  ServerOptions options;
  options.configFile = config;
  options.plugins = plugins;
  auto server = ServerProcess::start(options);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  struct Joiner {  // an ASSERT below returns early: stop and join the load first
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Joiner() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  };
  std::thread load;
  Joiner joiner{stop, load};
  load = std::thread([&] {
    try {
      Connection c(server->port());
      while (!stop) {
        c.sendAll("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        (c.readResponse().status == 200 ? ok : failed)++;
      }
    } catch (const std::exception&) {
      failed++;
    }
  });

  std::size_t mark = server->lineCount();
  fs::copy_file(built, plugins + "/libgreeter.so");
  ASSERT_TRUE(server->waitForLine("reloaded ", 10s, mark)) << server->output();
  mark = server->lineCount();
  writeFile(config, base + "  - { path: '^/greet/(?<name>[a-z]+)$', handler: greeter, config: { who: outside } }\n" +
                        site);
  ASSERT_TRUE(server->waitForLine("reloaded ", 10s, mark)) << server->output();
  HttpResponse r = httpGet(server->port(), "/greet/ada");
  stop = true;
  load.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "greetings from outside to ada\n");
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 0);
}

}  // namespace
}  // namespace e2e
