// The Debian package (cmake/Packaging.cmake, `./microserver.sh package`): made by cpack from
// the build under test, inspected with dpkg-deb, installed by dpkg into a throwaway root,
// and served from there: the site, a plugin, /readyz, and a plugin built against the SDK
// the package installed.
//
// The root is a real dpkg installation (`dpkg --root` on an empty database), not a
// `dpkg-deb -x`: that is what checks the package as dpkg treats it (its Depends enforced,
// its conffiles kept across a reinstall, a purge removing everything). The package needs
// no maintainer script, so nothing has to run inside the root. Its Depends name the host's
// libraries, which the empty root does not have: dpkg refuses at first, naming them, then
// installs with --force-depends, and the installed binary runs on the host's libraries.
//
// Only in builds without sanitizers: a package is a release artefact, and the packaged
// files are the same in every build, so packaging again under ASan and TSan would only
// repeat this test at their (slower) cost.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "Command.h"
#include "OutOfTreePlugin.h"
#include "ServerProcess.h"
#include "TestClient.h"

#ifndef MICROSERVER_CPACK
#define MICROSERVER_CPACK "cpack"
#endif

namespace e2e {
namespace {

namespace fs = std::filesystem;

const std::string kSourceDir = MICROSERVER_SOURCE_DIR;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Replaces `from`, which must be in `text` exactly once: the test adapts the installed
// configuration to itself, and must fail (naming the line) when that file changes shape.
void replaceOnce(std::string& text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos)
    throw std::runtime_error("the installed routes.yaml does not have `" + from + "` exactly once:\n" + text);
  text.replace(at, from.size(), to);
}

// What a short command prints, without the trailing newline.
std::string outputOf(const std::vector<std::string>& argv) {
  CommandResult r = runCommand(argv, 30s);
  EXPECT_EQ(r.exitCode, 0) << argv[0] << ": " << r.err;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

// The control fields of the package, by name (a multi-line value keeps its lines).
std::map<std::string, std::string> controlFields(const std::string& deb) {
  std::map<std::string, std::string> fields;
  std::istringstream lines(outputOf({"dpkg-deb", "--field", deb}));
  std::string name;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] == ' ' && !name.empty()) {
      fields[name] += "\n" + line;
    } else if (std::size_t colon = line.find(": "); colon != std::string::npos) {
      name = line.substr(0, colon);
      fields[name] = line.substr(colon + 2);
    }
  }
  return fields;
}

// One line of `dpkg-deb -c`: "-rw-r--r-- root/root 1234 2026-01-01 00:00 ./usr/bin/microserver".
struct PackagedFile {
  std::string mode, owner, path;
};
std::vector<PackagedFile> packagedFiles(const std::string& deb) {
  CommandResult r = runCommand({"dpkg-deb", "-c", deb}, 30s);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  std::vector<PackagedFile> files;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    PackagedFile file;
    std::string size, date, time;
    fields >> file.mode >> file.owner >> size >> date >> time >> file.path;
    files.push_back(file);
  }
  return files;
}

// The .deb cpack made in `folder` (exactly one).
std::string theDeb(const std::string& folder) {
  std::vector<std::string> debs;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().extension() == ".deb") debs.push_back(entry.path());
  if (debs.size() != 1) throw std::runtime_error("cpack made " + std::to_string(debs.size()) + " .deb files in " + folder);
  return debs.front();
}

// A throwaway root with an empty dpkg database, and dpkg run on it.
class DpkgRoot {
 public:
  explicit DpkgRoot(std::string path) : path_(std::move(path)) {
    for (const char* dir : {"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log"})
      fs::create_directories(path_ + "/" + dir);
    std::ofstream(path_ + "/var/lib/dpkg/status");
    std::ofstream(path_ + "/var/lib/dpkg/available");
  }
  const std::string& path() const { return path_; }

  // dpkg --root=<root> ARGS; its log stays in the root too.
  CommandResult dpkg(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"dpkg", "--root=" + path_, "--force-not-root", "--log=" + path_ + "/var/log/dpkg.log"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, 2min);
  }

 private:
  std::string path_;
};

TEST(PackageTest, TheDebInstallsIntoARootAndServesFromIt) {
#ifdef MICROSERVER_SANITIZED
  GTEST_SKIP() << "the package is tested in the build without sanitizers (the ci preset): the packaged files "
                  "are the same in every build, and packaging a sanitizer build makes no release artefact";
#endif
  for (const char* program : {"dpkg", "dpkg-deb", "dpkg-shlibdeps"})
    ASSERT_TRUE(haveProgram(program)) << program << " is missing (Debian packages dpkg and dpkg-dev)";
  TempDir dir;

  // 1. The package, from this build's install rules, as `cpack` in the build folder makes it.
  const auto packing = std::chrono::steady_clock::now();
  CommandResult cpack = runCommand(
      {MICROSERVER_CPACK, "--config", std::string(MICROSERVER_BUILD_DIR) + "/CPackConfig.cmake", "-B", dir.path() + "/out"},
      3min);
  ASSERT_EQ(cpack.exitCode, 0) << cpack.out << cpack.err;
  const std::string deb = theDeb(dir.path() + "/out");
  std::cout << "cpack made " << fs::path(deb).filename().string() << " ("
            << fs::file_size(deb) / 1024 << " KiB) in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - packing).count()
            << " ms\n";

  // 2. Its control fields: named, versioned, its Depends computed by dpkg-shlibdeps.
  std::map<std::string, std::string> control = controlFields(deb);
  EXPECT_EQ(control["Package"], "microserver");
  const std::string version = control["Version"];
  EXPECT_EQ(control["Architecture"], outputOf({"dpkg", "--print-architecture"}));
  EXPECT_NE(control["Maintainer"].find('@'), std::string::npos);
  EXPECT_EQ(control["Section"], "httpd");
  EXPECT_EQ(control["Description"].substr(0, 25), "plugin-based HTTP server\n");
  const std::string depends = control["Depends"];
  for (const char* library : {"libc6 ", "libstdc++6 ", "libpocofoundation", "libpoconet", "libyaml-cpp", "libre2-",
                              "libssl3 ", "libnghttp2-", "libbrotli"})
    EXPECT_NE(depends.find(library), std::string::npos) << "Depends lacks " << library << ": " << depends;

  // 3. Its files: the binary, every plugin built here, the site, the SDK, the configuration,
  // the units and the logrotate snippet, all root's, and nothing elsewhere.
  std::set<std::string> paths;
  for (const PackagedFile& file : packagedFiles(deb)) {
    paths.insert(file.path);
    EXPECT_EQ(file.owner, "root/root") << file.path;
    if (file.mode[0] != '-') continue;
    bool inAPlaceOfOurs = false;
    for (const char* place : {"./usr/bin/microserver", "./usr/lib/microserver/plugins/", "./usr/share/microserver/www/",
                              "./usr/include/microserver/", "./usr/lib/cmake/microserver/", "./usr/share/doc/microserver/",
                              "./etc/microserver/", "./etc/logrotate.d/microserver", "./lib/systemd/system/microserver."})
      inAPlaceOfOurs = inAPlaceOfOurs || file.path.rfind(place, 0) == 0;
    EXPECT_TRUE(inAPlaceOfOurs) << "packaged in an unexpected place: " << file.path;
  }
  std::vector<std::string> expected{"./usr/bin/microserver",
                                    "./usr/include/microserver/Plugin.h",
                                    "./usr/include/microserver/microserver.h",
                                    "./usr/include/microserver/abi_digest.h",
                                    "./usr/lib/cmake/microserver/microserverConfig.cmake",
                                    "./usr/lib/cmake/microserver/microserverConfigVersion.cmake",
                                    "./usr/lib/cmake/microserver/microserverTargets.cmake",
                                    "./usr/lib/cmake/microserver/MicroserverPlugin.cmake",
                                    "./usr/share/doc/microserver/README.md",
                                    "./etc/microserver/routes.yaml",
                                    "./etc/logrotate.d/microserver",
                                    "./lib/systemd/system/microserver.service",
                                    "./lib/systemd/system/microserver.socket"};
  for (const auto& plugin : fs::directory_iterator(MICROSERVER_PLUGIN_DIR))
    expected.push_back("./usr/lib/microserver/plugins/" + plugin.path().filename().string());
  for (const auto& page : fs::directory_iterator(kSourceDir + "/www"))
    expected.push_back("./usr/share/microserver/www/" + page.path().filename().string());
  for (const std::string& path : expected) EXPECT_EQ(paths.count(path), 1u) << "not packaged: " << path;

  // What the administrator edits survives upgrades: the configuration and the snippet.
  CommandResult conffiles = runCommand({"dpkg-deb", "--info", deb, "conffiles"}, 30s);
  EXPECT_EQ(conffiles.out, "/etc/microserver/routes.yaml\n/etc/logrotate.d/microserver\n") << conffiles.err;

  // 4. dpkg installs it into a throwaway root. It enforces the Depends first.
  DpkgRoot root(dir.path() + "/root");
  CommandResult refused = root.dpkg({"--install", deb});
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_NE(refused.err.find("microserver depends on libpocofoundation"), std::string::npos) << refused.err;
  CommandResult installed = root.dpkg({"--force-depends", "--install", deb});
  ASSERT_EQ(installed.exitCode, 0) << installed.out << installed.err;
  CommandResult status = root.dpkg({"--status", "microserver"});
  EXPECT_NE(status.out.find("Status: install ok installed"), std::string::npos) << status.out;
  const std::string usr = root.path() + "/usr";
  const std::string binary = usr + "/bin/microserver";
  ASSERT_TRUE(fs::exists(binary));
  // The units and the snippet as shipped (OperationsTest runs them through
  // systemd-analyze verify and logrotate: in this root, verify would lack systemd's own units).
  for (const auto& [installed, shipped] : {std::pair{"/lib/systemd/system/microserver.service", "/dist/systemd/microserver.service"},
                                           std::pair{"/lib/systemd/system/microserver.socket", "/dist/systemd/microserver.socket"},
                                           std::pair{"/etc/logrotate.d/microserver", "/dist/logrotate/microserver"}})
    EXPECT_EQ(readFile(root.path() + installed), readFile(kSourceDir + shipped)) << installed;

  // Its version is the project's, as the binary reports it.
  CommandResult reported = runCommand({binary, "--version"}, 30s);
  EXPECT_EQ(reported.out.rfind("microserver " + version.substr(0, version.find('-')) + " ", 0), 0u)
      << "package " << version << ", binary: " << reported.out;

  // 5. The installed configuration is valid as shipped, with the root's folders in place of
  // /usr's (the command-line flags).
  const std::string config = root.path() + "/etc/microserver/routes.yaml";
  const std::string www = usr + "/share/microserver/www";
  const std::string plugins = usr + "/lib/microserver/plugins";
  CommandResult check = runCommand({binary, "--check", "--config", config, "--www", www, "--plugins", plugins}, 30s);
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;

  // 6. A plugin built against the installed SDK alone, dropped where the package's plugins are.
  const std::string greeter = buildGreeterPlugin(dir, usr);
  EXPECT_NE(readFile(dir.path() + "/greeter-build/CMakeCache.txt").find("microserver_DIR:PATH=" + usr + "/lib/cmake/microserver"),
            std::string::npos)
      << "the plugin found an SDK other than the installed one";
  fs::copy_file(greeter, plugins + "/libgreeter.so");

  // 7. The installed server, on the installed configuration adapted to a test: ephemeral
  // ports (the chat's 9999 may be taken), the access log inside the root (under systemd,
  // LogsDirectory= makes /var/log/microserver), and a route to the new plugin.
  std::string adapted = readFile(config);
  replaceOnce(adapted, "listen: 127.0.0.1:9999", "listen: 127.0.0.1:0");
  const std::string accessLog = root.path() + "/var/log/microserver/access.log";
  fs::create_directories(fs::path(accessLog).parent_path());
  replaceOnce(adapted, "access_log: /var/log/microserver/access.log", "access_log: " + accessLog);
  replaceOnce(adapted, "  - { path: '^/', static:",
              "  - { path: '^/greet/(?<name>[a-z]+)$', handler: greeter, config: { who: outside } }\n"
              "  - { path: '^/', static:");
  ServerOptions options;
  options.binary = binary;
  options.configFile = dir.write("routes.yaml", adapted);
  options.www = www;
  options.plugins = plugins;
  auto server = ServerProcess::start(options);

  HttpResponse home = httpGet(server->port(), "/");
  EXPECT_EQ(home.status, 200);
  EXPECT_EQ(home.body, readFile(www + "/index.html"));
  EXPECT_EQ(home.body, readFile(kSourceDir + "/www/index.html"));
  HttpResponse hello = httpGet(server->port(), "/hello/ada");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, "Hello, ada!\n");
  EXPECT_EQ(httpGet(server->port(), "/readyz").status, 200);
  HttpResponse greeted = httpGet(server->port(), "/greet/ada");
  EXPECT_EQ(greeted.status, 200);
  EXPECT_EQ(greeted.body, "greetings from outside to ada\n");
  EXPECT_EQ(server->stop(), 0) << server->output();
  EXPECT_NE(readFile(accessLog).find("GET /hello/ada HTTP/1.1"), std::string::npos) << readFile(accessLog);

  // 8. The administrator's edit of a conffile survives a reinstall; a purge removes all.
  fs::remove(plugins + "/libgreeter.so");
  std::ofstream(config, std::ios::app) << "# edited by the administrator\n";
  ASSERT_EQ(root.dpkg({"--force-depends", "--install", deb}).exitCode, 0);
  EXPECT_NE(readFile(config).find("# edited by the administrator"), std::string::npos)
      << "a reinstall overwrote the administrator's routes.yaml: it is not a conffile";
  CommandResult purged = root.dpkg({"--purge", "microserver"});
  EXPECT_EQ(purged.exitCode, 0) << purged.err;
  EXPECT_FALSE(fs::exists(binary));
  EXPECT_FALSE(fs::exists(config));
  EXPECT_FALSE(fs::exists(root.path() + "/lib/systemd/system/microserver.service"));
}

}  // namespace
}  // namespace e2e
