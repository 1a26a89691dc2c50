// End-to-end tests of the command line: options, exit codes, configuration errors.
#include <gtest/gtest.h>

#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

// Runs the binary with arguments to completion; returns its exit status and output.
ExitedRun runToExit(const std::vector<std::string>& args, const std::string& configText = "routes: []\n",
                    const std::string& listen = "127.0.0.1:0") {
  ServerOptions options;
  options.configText = configText;
  options.extraArgs = args;
  options.listen = listen;
  return e2e::runToExit(options);
}

TEST(CommandLineTest, VersionPrintsAndExitsZero) {
  ExitedRun r = runToExit({"--version"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("microserver 0."), std::string::npos) << r.output;
}

TEST(CommandLineTest, HelpListsTheOptions) {
  ExitedRun r = runToExit({"--help"});
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* option : {"--config", "--listen", "--www", "--plugins", "--check"})
    EXPECT_NE(r.output.find(option), std::string::npos) << option << " missing from:\n" << r.output;
}

TEST(CommandLineTest, BadConfigExitsTwoWithFileLineAndColumn) {
  ExitedRun r = runToExit({}, "server:\n  listen: 127.0.0.1:8080\n  reactor: 2\n");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("routes.yaml:3:3: server.reactor: unknown key 'reactor'"), std::string::npos) << r.output;
}

TEST(CommandLineTest, CheckValidatesWithoutServing) {
  TempDir dir;
  dir.write("www/index.html", "hi");
  ExitedRun ok = runToExit({"--check"}, "server: { www: " + dir.path() + "/www }\nroutes:\n  - { path: '^/', static: " +
                                      dir.path() + "/www }\n");
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_NE(ok.output.find("OK (1 routes, "), std::string::npos) << ok.output;
  ExitedRun bad = runToExit({"--check"}, "routes:\n  - { path: '^/(', static: www }\n");
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("routes.yaml:2:"), std::string::npos) << bad.output;
}

TEST(CommandLineTest, MissingStaticFolderIsAConfigError) {
  ExitedRun r = runToExit({}, "routes:\n  - { path: '^/', static: /nonexistent/folder }\n");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/folder"), std::string::npos) << r.output;
}

TEST(CommandLineTest, PortInUseExitsOneWithAHint) {
  TempDir dir;
  dir.write("www/index.html", "hi");
  ServerOptions first;
  first.configText = "server: { www: " + dir.path() + "/www }\nroutes: []\n";
  auto server = ServerProcess::start(first);
  ExitedRun second = runToExit({}, first.configText, "127.0.0.1:" + std::to_string(server->port()));
  EXPECT_EQ(second.status, 1) << second.output;
  EXPECT_NE(second.output.find("cannot listen on 127.0.0.1:" + std::to_string(server->port())), std::string::npos)
      << second.output;
}

TEST(CommandLineTest, WwwOptionOverridesTheConfiguredSite) {
  TempDir dir;
  dir.write("a/index.html", "site A\n");
  dir.write("b/index.html", "site B\n");
  ServerOptions options;
  options.configText = "server: { www: " + dir.path() + "/a }\nroutes:\n  - { path: '^/', static: " + dir.path() +
                       "/a }\n";
  options.www = dir.path() + "/b";
  auto server = ServerProcess::start(options);
  // Static routes that served the configured site folder follow the override.
  EXPECT_EQ(httpGet(server->port(), "/").body, "site B\n");
}

TEST(CommandLineTest, CheckWarnsAboutARouteThatCanNeverMatch) {
  TempDir dir;
  dir.write("www/index.html", "hi");
  std::string www = dir.path() + "/www";
  ExitedRun r = runToExit({"--check"}, "server: { www: " + www + " }\nroutes:\n  - { path: '^/', static: " + www +
                                           " }\n  - { path: '^/about$', static: " + www + " }\n");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("warning: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("routes.yaml:4:13: routes[1]: can never match: routes[0] ('^/', line 3)"), std::string::npos)
      << r.output;
}

TEST(CommandLineTest, CheckAlsoChecksEachServicesConfig) {
  TempDir dir;
  dir.write("www/index.html", "hi");
  ServerOptions options;
  options.configText = "server: { www: " + dir.path() + "/www }\nroutes: []\nservices:\n"
                       "  - { plugin: broadcast, listen: '127.0.0.1:0', config: { sendlimit: 5 } }\n";
  options.plugins = std::string(MICROSERVER_FIXTURE_DIR) + "/good";
  options.extraArgs = {"--check"};
  try {
    ServerProcess::start(options);
    FAIL() << "--check accepted a service config with an unknown key";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("exited with status 2"), std::string::npos) << what;
    EXPECT_NE(what.find("services[0].config.sendlimit: unknown key 'sendlimit'"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace e2e
