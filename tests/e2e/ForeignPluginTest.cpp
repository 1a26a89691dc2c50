// Plugins the server's toolchain did not build, in the real server: hello_c (C11 against
// microserver.h alone, plugins/hello_c) and a plugin built by clang++ against LLVM's libc++
// with the C++ SDK (tests/fixtures/LibcxxPlugin.cpp), while the server is g++ and
// libstdc++. Only C crosses dlopen, so both must load and serve; for the libc++ one the
// test also proves from the ELF files and /proc/<pid>/maps that two C++ libraries really
// share the process.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
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
const std::string kLibcxxPlugin = kFixtures + "/libcxx/liblibcxx.so";               // linked to libc++.so.1
const std::string kLibcxxStaticPlugin = kFixtures + "/libcxx_static/liblibcxx.so";  // libc++ linked in, hidden

// The route to `handler` in the shipped routes.yaml, as written there.
std::string shippedRoute(const std::string& handler) {
  std::ifstream in(std::string(MICROSERVER_SOURCE_DIR) + "/routes.yaml");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("  - {", 0) == 0 && line.find("handler: " + handler + ",") != std::string::npos) return line;
  return "";
}

// A server with one plugin file in its own folder.
std::unique_ptr<ServerProcess> startWith(TempDir& dir, const std::string& pluginFile, const std::string& routes) {
  fs::create_directories(dir.path() + "/plugins");
  fs::copy_file(pluginFile, dir.path() + "/plugins/" + fs::path(pluginFile).filename().string());
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.plugins = dir.path() + "/plugins";
  options.configText = "server: { www: " + dir.path() + "/www, access_log: 'off' }\nroutes:\n" + routes +
                       "  - { path: '^/', static: " + dir.path() + "/www }\n";
  return ServerProcess::start(options);
}

// What a command printed on stdout ("" if it could not run).
std::string run(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen((command + " 2>/dev/null").c_str(), "r"), ::pclose);
  std::string out;
  if (!pipe) return out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get())) out.append(buffer, n);
  return out;
}

// The DT_NEEDED entries of an ELF file, one per line ("libc++.so.1\n..."), from readelf.
std::string neededLibraries(const std::string& file) {
  std::istringstream dynamic(run("readelf -d '" + file + "'"));
  std::string needed;
  for (std::string line; std::getline(dynamic, line);) {
    std::size_t open = line.find("(NEEDED)") == std::string::npos ? std::string::npos : line.find('[');
    if (open != std::string::npos) needed += line.substr(open + 1, line.find(']', open) - open - 1) + "\n";
  }
  return needed;
}

// The files mapped into a process, one per line.
std::string mappedFiles(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string files;
  for (std::string line; std::getline(maps, line);) {
    std::size_t slash = line.find('/');
    if (slash != std::string::npos) files += line.substr(slash) + "\n";
  }
  return files;
}

// Whether a library of that soname is mapped: its file is the soname, or the soname
// and more version numbers ("libc++.so.1.0", "libstdc++.so.6.0.30").
bool mapped(const std::string& files, const std::string& soname) {
  std::istringstream lines(files);
  for (std::string file; std::getline(lines, file);) {
    std::string name = fs::path(file).filename().string();
    if (name.rfind(soname, 0) == 0 && (name.size() == soname.size() || name[soname.size()] == '.')) return true;
  }
  return false;
}

// Why the libc++ fixture was not built (configuring wrote it), or "" if it was.
std::string libcxxUnavailable(const std::string& plugin) {
  std::ifstream why(kFixtures + "/libcxx/UNAVAILABLE");
  std::string reason;
  if (why && std::getline(why, reason) && !reason.empty()) return reason;
  if (!fs::exists(plugin)) return plugin + " was not built";
  return "";
}

const std::string kLibcxxRoute =
    "  - { path: '^/libcxx/(?P<action>[a-z]+)(?:/(?P<arg>[^/]*))?$', handler: libcxx, config: { greeting: Howdy } }\n";

// ---- hello_c

TEST(ForeignPluginTest, HelloCAnswersOnItsShippedRoute) {
  std::string route = shippedRoute("hello_c");
  ASSERT_NE(route, "") << "no route to hello_c in routes.yaml";
  TempDir dir;
  auto server = startWith(dir, kPlugins + "/libhello_c.so", route + "\n");
  HttpResponse r = httpGet(server->port(), "/hello-c/Ada");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, Ada!\n");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(httpRequest(server->port(), "DELETE", "/hello-c/Ada").status, 405);
  EXPECT_EQ(httpGet(server->port(), "/hello-c/Ada1").status, 404) << "digits do not match [A-Za-z]+";
}

TEST(ForeignPluginTest, HelloCRefusesAnUnknownKeyAtStartNamingItsPlace) {
  TempDir dir;
  try {
    startWith(dir, kPlugins + "/libhello_c.so",
              "  - { path: '^/hello-c/(?P<name>[A-Za-z]+)$', handler: hello_c, config: { greting: Hi } }\n");
    FAIL() << "the server started with a misspelt key in hello_c's config";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("exited with status 2"), std::string::npos) << what;
    EXPECT_NE(
        what.find("routes.yaml:3:75: routes[0].config.greting: unknown key 'greting' (expected one of: greeting)"),
        std::string::npos)
        << what;
  }
}

// ---- a plugin built by clang++ against libc++

TEST(ForeignPluginTest, ALibcxxPluginIsBuiltAgainstLibcxxAndTheServerAgainstLibstdcxx) {
  if (std::string why = libcxxUnavailable(kLibcxxPlugin); !why.empty()) GTEST_SKIP() << why;
  std::string plugin = neededLibraries(kLibcxxPlugin), server = neededLibraries(MICROSERVER_BINARY);
  if (server.empty()) GTEST_SKIP() << "readelf (binutils) is not available to read DT_NEEDED";
  EXPECT_NE(plugin.find("libc++.so.1\n"), std::string::npos) << plugin;
  EXPECT_EQ(plugin.find("libstdc++"), std::string::npos) << plugin;
  EXPECT_NE(server.find("libstdc++.so.6\n"), std::string::npos) << server;
  EXPECT_EQ(server.find("libc++"), std::string::npos) << server;
}

TEST(ForeignPluginTest, ALibcxxPluginLoadsIntoTheServerAndServes) {
  if (std::string why = libcxxUnavailable(kLibcxxPlugin); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  auto server = startWith(dir, kLibcxxPlugin, kLibcxxRoute);
  const int port = server->port();

  // Both C++ libraries are in the server now. (The plugin's C++ runtime entry points,
  // __cxa_throw and the like, bind to the server's libstdc++, first in the global scope:
  // see LibcxxPlugin.cpp. Throwing and catching below work across that.)
  std::string files = mappedFiles(server->pid());
  EXPECT_TRUE(mapped(files, "libstdc++.so.6")) << files;
  EXPECT_TRUE(mapped(files, "libc++.so.1")) << files;
  EXPECT_TRUE(mapped(files, "libc++abi.so.1")) << files;

  HttpResponse hello = httpGet(port, "/libcxx/hello/Ada");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, "Howdy from libc++, Ada!\n");
  EXPECT_EQ(hello.header("X-Stdlib").rfind("libc++ ", 0), 0u) << hello.header("X-Stdlib");
  EXPECT_EQ(hello.header("Content-Type"), "text/plain; charset=utf-8");

  EXPECT_EQ(httpGet(port, "/libcxx/count?text=b+a+b+c").body, "a 1\nb 2\nc 1\n");
  EXPECT_EQ(httpGet(port, "/libcxx/square/12").body, "144\n");

  // Exceptions thrown and caught inside the plugin: by libc++ (std::stoll), and of the
  // plugin's own type caught by its base class.
  HttpResponse notANumber = httpGet(port, "/libcxx/square/twelve");
  EXPECT_EQ(notANumber.status, 400);
  EXPECT_EQ(notANumber.body, "caught std::invalid_argument: not a number: 'twelve'\n");
  HttpResponse tooLarge = httpGet(port, "/libcxx/square/99999999999999999999");
  EXPECT_EQ(tooLarge.status, 400);
  EXPECT_EQ(tooLarge.body.rfind("caught std::exception: ", 0), 0u) << tooLarge.body;
  HttpResponse negative = httpGet(port, "/libcxx/square/-3");
  EXPECT_EQ(negative.status, 422);
  EXPECT_EQ(negative.body, "caught NegativeNumber: negative: -3\n");

  // One thrown past handle(): the SDK's glue, compiled by clang into the plugin, catches it.
  std::size_t mark = server->lineCount();
  EXPECT_EQ(httpGet(port, "/libcxx/throw").status, 500);
  EXPECT_TRUE(server->waitForLine("thrown past handle() by a libc++ plugin", 5s, mark)) << server->output();

  // Answers given later, from timers on the reactors, several at once.
  auto started = Clock::now();
  std::vector<std::thread> clients;
  std::vector<HttpResponse> later(8);
  for (std::size_t i = 0; i < later.size(); ++i)
    clients.emplace_back([&, i] { later[i] = httpGet(port, "/libcxx/later/100"); });
  for (std::thread& t : clients) t.join();
  EXPECT_GE(Clock::now() - started, 100ms);
  for (const HttpResponse& r : later) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.rfind("later, after ", 0), 0u) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  }

  // And the server is none the worse.
  EXPECT_EQ(httpGet(port, "/libcxx/hello/Grace").body, "Howdy from libc++, Grace!\n");
  EXPECT_EQ(httpGet(port, "/").body, "home\n");
  EXPECT_EQ(server->stop(), 0) << server->output();
}

// With libc++ and libc++abi linked in and hidden, the plugin keeps a whole C++ runtime of
// its own: std::exception_ptr and nested exceptions work too (they do not when it binds
// to the server's libstdc++, see LibcxxPlugin.cpp).
TEST(ForeignPluginTest, ALibcxxPluginWithLibcxxLinkedInKeepsItsOwnRuntime) {
  if (std::string why = libcxxUnavailable(kLibcxxStaticPlugin); !why.empty()) GTEST_SKIP() << why;
  std::string needed = neededLibraries(kLibcxxStaticPlugin);
  EXPECT_EQ(needed.find("libc++"), std::string::npos) << needed;
  EXPECT_EQ(needed.find("libstdc++"), std::string::npos) << needed;
  TempDir dir;
  auto server = startWith(dir, kLibcxxStaticPlugin, kLibcxxRoute);
  const int port = server->port();
  EXPECT_FALSE(mapped(mappedFiles(server->pid()), "libc++.so.1"));

  EXPECT_EQ(httpGet(port, "/libcxx/hello/Ada").body, "Howdy from libc++, Ada!\n");
  for (int i = 0; i < 3; ++i) {
    HttpResponse ptr = httpGet(port, "/libcxx/ptr");
    EXPECT_EQ(ptr.status, 200);
    EXPECT_EQ(ptr.body, "rethrown: negative: -7\nnested: outer <- inner\n");
  }
  EXPECT_EQ(httpGet(port, "/libcxx/square/-3").body, "caught NegativeNumber: negative: -3\n");
  EXPECT_EQ(httpGet(port, "/libcxx/square/twelve").status, 400);
  EXPECT_EQ(httpGet(port, "/libcxx/throw").status, 500);
  EXPECT_EQ(httpGet(port, "/libcxx/later/20").body.rfind("later, after ", 0), 0u);
  // A clean stop: nothing the plugin freed was the server's to free.
  EXPECT_EQ(server->stop(), 0) << server->output();
}

}  // namespace
}  // namespace e2e
