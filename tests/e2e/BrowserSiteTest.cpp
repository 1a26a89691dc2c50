// End-to-end test of the home page in a real browser (headless Chromium): its example
// commands name the server the page was loaded from, not a fixed 127.0.0.1:8080.
#include <gtest/gtest.h>

#include <string>

#include "BrowserProcess.h"
#include "ServerProcess.h"

namespace e2e {
namespace {

const std::string kSourceDir = MICROSERVER_SOURCE_DIR;

TEST(BrowserSiteTest, HomePageCommandsNameTheServerItCameFrom) {
  if (!BrowserProcess::installed()) GTEST_SKIP() << BrowserProcess::notInstalledReason();
  ServerOptions options;
  options.configText = "routes:\n  - { path: '^/', static: " + kSourceDir + "/www }\n";
  options.www = kSourceDir + "/www";
  auto server = ServerProcess::start(options);
  const std::string origin = "http://127.0.0.1:" + std::to_string(server->port());
  ASSERT_NE(server->port(), 8080);

  auto browser = BrowserProcess::start();
  browser->navigate(origin + "/");
  ASSERT_TRUE(browser->waitFor("document.readyState === 'complete'", 10s));
  const std::string commands =
      browser->evaluate("[...document.querySelectorAll('code.cmd')].map(c => c.textContent).join('\\n')").str();
  EXPECT_NE(commands.find("curl -d 'hi' " + origin + "/api/echo"), std::string::npos) << commands;
  EXPECT_NE(commands.find("curl " + origin + "/delay/750"), std::string::npos) << commands;
  EXPECT_NE(commands.find("nc 127.0.0.1 9999"), std::string::npos) << commands;  // the chat service's own port
  EXPECT_EQ(commands.find(":8080"), std::string::npos) << commands;
}

}  // namespace
}  // namespace e2e
