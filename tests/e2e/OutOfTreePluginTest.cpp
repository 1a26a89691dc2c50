// A third party's plugin: built in its own folder against the installed SDK
// (find_package(microserver) + microserver_add_plugin), dropped into a running server's
// plugin folder and routed by editing routes.yaml, with no restart and no failed request.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "Command.h"
#include "OutOfTreePlugin.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

namespace fs = std::filesystem;

void writeFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

TEST(OutOfTreePluginTest, BuiltAgainstTheInstalledSdkAndDroppedIntoARunningServer) {
  TempDir dir;
  // 1. Install the SDK (and server) into a private prefix.
  std::string prefix = dir.path() + "/prefix";
  CommandResult install =
      runCommand({MICROSERVER_INSTALL_CMAKE, "--install", MICROSERVER_BUILD_DIR, "--prefix", prefix}, 5min);
  ASSERT_EQ(install.exitCode, 0) << install.out << install.err;
  ASSERT_TRUE(fs::exists(prefix + "/include/microserver/Plugin.h"));
  ASSERT_TRUE(fs::exists(prefix + "/lib/cmake/microserver/microserverConfig.cmake"));
  // Only the Debian package writes outside its prefix (/etc, /lib/systemd): a plain install
  // must not touch this machine's.
  std::istringstream installed(install.out);
  for (std::string line; std::getline(installed, line);) {
    if (line.rfind("-- Installing: ", 0) == 0 || line.rfind("-- Up-to-date: ", 0) == 0) {
      EXPECT_EQ(line.find(": " + prefix + "/"), line.find(": ")) << "installed outside the prefix: " << line;
    }
  }

  // The installed server finds the installed plugins without being told where they are.
  dir.write("www/index.html", "home\n");
  std::string check = dir.write("check.yaml", "server: { www: " + dir.path() + "/www }\nroutes:\n"
                                "  - { path: '^/hello/(?P<name>[a-z]+)$', handler: hello }\n");
  CommandResult checked = runCommand({prefix + "/bin/microserver", "--check", "--config", check}, 30s);
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;

  // 2. Build a plugin in a folder of its own, knowing only the prefix.
  std::string built = buildGreeterPlugin(dir, prefix);

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
