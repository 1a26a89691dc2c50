// End-to-end tests of the chat page (www/chat.html) in a real browser: headless Chromium,
// driven over the DevTools protocol (BrowserProcess), against the real server with the
// chat plugin, with a raw TCP client (what `nc` is) in the same room.
//
// Set MICROSERVER_SCREENSHOT_DIR=/some/folder to also get screenshots of the page (1200 and
// 400 px wide, light and dark) from the first test, for a person to look at.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>

#include "BrowserProcess.h"
#include "ServerProcess.h"
#include "TestClient.h"

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kTimestamp = R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})";

std::string regexQuote(const std::string& text) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(text, special, R"(\$&)");
}

// The server with the chat plugin: its routes as routes.yaml ships them, the site from the
// source tree, the TCP service on an ephemeral port.
struct ChatServer {
  std::unique_ptr<ServerProcess> server;
  int chatPort = 0;

  explicit ChatServer(const std::string& listen = "127.0.0.1:0") {
    const std::string www = std::string(MICROSERVER_SOURCE_DIR) + "/www";
    ServerOptions options;
    options.listen = listen;
    options.plugins = MICROSERVER_PLUGIN_DIR;
    options.configText = "server: { www: '" + www + "' }\n"
                         "routes:\n"
                         "  - { path: '^/chat/(?P<action>ws|history|messages|members)$', handler: chat }\n"
                         "  - { path: '^/', static: '" + www + "' }\n"
                         "services:\n"
                         "  - { plugin: chat, listen: '127.0.0.1:0' }\n";
    server = ServerProcess::start(options);
    auto line = server->waitForLine("service chat on 127.0.0.1:", 5s);
    if (!line) throw std::runtime_error("no \"service chat on 127.0.0.1:PORT\" line:\n" + server->output());
    chatPort = std::stoi(line->substr(line->rfind(':') + 1));
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(server->port()) + path; }
};

// "127.0.0.1:PORT" of our end of a connection: the address the room knows a client by.
std::string localAddress(const Connection& c) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(c.fd(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw std::runtime_error("getsockname failed");
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(addr.sin_port));
}

// Reads chat lines until one matches `pattern` (whole line); returns its match. Throws with
// every line read meanwhile if none does within `timeout`.
std::smatch readLineMatching(Connection& c, const std::string& pattern, std::chrono::milliseconds timeout,
                             std::string& line) {
  const std::regex re(pattern);
  const auto deadline = Clock::now() + timeout;
  std::string seen;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) break;
    c.setTimeout(left);
    try {
      line = c.readLine();
    } catch (const std::exception& e) {
      seen += "  (" + std::string(e.what()) + ")\n";
      break;
    }
    std::smatch m;
    if (std::regex_match(line, m, re)) return m;
    seen += "  " + line + "\n";
  }
  throw std::runtime_error("no chat line matching /" + pattern + "/ within " + std::to_string(timeout.count()) +
                           " ms; the lines received:\n" + seen);
}

std::string readLineMatching(Connection& c, const std::string& pattern, std::chrono::milliseconds timeout = 10s) {
  std::string line;
  readLineMatching(c, pattern, timeout, line);
  return line;
}

// Types `text` into the focused element and presses Enter, as a person would (trusted
// input events, not synthetic ones).
void typeAndPressEnter(BrowserProcess& browser, const std::string& text) {
  browser.call("Input.insertText", "{\"text\":" + jsonQuote(text) + "}");
  for (const char* type : {"keyDown", "keyUp"})
    browser.call("Input.dispatchKeyEvent", std::string("{\"type\":\"") + type +
                                                "\",\"key\":\"Enter\",\"code\":\"Enter\",\"windowsVirtualKeyCode\":13"
                                                ",\"nativeVirtualKeyCode\":13" +
                                                (std::string(type) == "keyDown" ? ",\"text\":\"\\r\"" : "") + "}");
}

// JavaScript expressions: how many messages in #messages are from `from` with text `text`;
// is there one?
std::string messageCount(const std::string& from, const std::string& text) {
  return "[...document.querySelectorAll('#messages .message')].filter(m => "
         "m.querySelector('.from')?.textContent === " + jsonQuote(from) +
         " && m.querySelector('.text')?.textContent === " + jsonQuote(text) + ").length";
}
std::string messageShown(const std::string& from, const std::string& text) {
  return messageCount(from, text) + " > 0";
}

std::string describePage(BrowserProcess& browser) {
  try {
    return browser
        .evaluate("JSON.stringify({status: document.getElementById('status').dataset.state + ' / ' + "
                  "document.getElementById('status').textContent.trim().replace(/\\s+/g, ' '), "
                  "messages: [...document.querySelectorAll('#messages .message')].map(m => m.textContent), "
                  "members: [...document.querySelectorAll('#members li')].map(m => m.textContent)})")
        .str();
  } catch (const std::exception& e) {
    return std::string("(cannot read the page: ") + e.what() + ")";
  }
}

// From the next page on, uncaught errors, rejected promises and Content-Security-Policy
// violations are collected in window.pageErrors (read it with pageErrors()).
void collectPageErrors(BrowserProcess& browser) {
  browser.call("Page.enable");  // new-document scripts run only with the Page domain on
  browser.call("Page.addScriptToEvaluateOnNewDocument",
               "{\"source\":" + jsonQuote("window.pageErrors = [];"
                                           "addEventListener('error', e => pageErrors.push('error: ' + e.message));"
                                           "addEventListener('unhandledrejection', e => pageErrors.push('rejected: ' + e.reason));"
                                           "addEventListener('securitypolicyviolation', e => "
                                           "pageErrors.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));") +
                   "}");
}
std::string pageErrors(BrowserProcess& browser) {
  return browser.evaluate("JSON.stringify(window.pageErrors)").str();
}

void takeScreenshots(BrowserProcess& browser, const std::string& dir) {
  for (int width : {1200, 400})
    for (const char* scheme : {"light", "dark"}) {
      browser.setViewport(width, width > 640 ? 760 : 780);
      browser.setColorScheme(scheme);
      // Two animation frames: the new layout and colours have been painted.
      browser.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))");
      writeBinaryFile(dir + "/chat-" + std::to_string(width) + "-" + scheme + ".png", browser.screenshotPng());
    }
}

TEST(BrowserChatTest, ThePageAndATcpClientShareTheRoom) {
  if (!BrowserProcess::installed()) GTEST_SKIP() << BrowserProcess::notInstalledReason();
  ChatServer s;

  // A terminal user joins first.
  Connection nc(s.chatPort);
  const std::string ncAddress = localAddress(nc);
  readLineMatching(nc, kTimestamp + R"( \* )" + regexQuote(ncAddress) + " joined");

  auto browser = BrowserProcess::start();
  collectPageErrors(*browser);
  browser->navigate(s.url("/chat.html"));
  ASSERT_TRUE(browser->evaluate("window.chatReady.then(() => true)", 10s).asBool());

  // The terminal sees the page join; the page lists both members.
  std::string joinLine;
  std::smatch join = readLineMatching(nc, kTimestamp + R"( \* (127\.0\.0\.1:[0-9]+) joined)", 10s, joinLine);
  const std::string pageAddress = join[1].str();
  EXPECT_TRUE(browser->waitFor("document.getElementById('status').dataset.state === 'connected'", 5s))
      << describePage(*browser);
  EXPECT_TRUE(browser->waitFor("(t => t.includes(" + jsonQuote(ncAddress) + ") && t.includes(" +
                                   jsonQuote(pageAddress) + "))(document.getElementById('members').textContent)"
                                   " && document.querySelectorAll('#members .member').length === 2",
                               10s))
      << describePage(*browser);

  // Page -> terminal: typed into the input, sent with Enter.
  const std::string fromPage = "hello from the page <i>ünïcode</i> & \"quotes\"";
  browser->evaluate("document.getElementById('input').focus()");
  typeAndPressEnter(*browser, fromPage);
  EXPECT_NO_THROW(readLineMatching(nc, kTimestamp + " " + regexQuote(pageAddress) + " " + regexQuote(fromPage)))
      << describePage(*browser);
  EXPECT_EQ(browser->evaluate("document.getElementById('input').value").str(), "");
  EXPECT_TRUE(browser->waitFor(messageShown(pageAddress, fromPage), 5s)) << describePage(*browser);

  // And with the Send button.
  const std::string clicked = "sent with the button";
  browser->evaluate("document.getElementById('input').value = " + jsonQuote(clicked) +
                    "; document.getElementById('send').click()");
  EXPECT_NO_THROW(readLineMatching(nc, kTimestamp + " " + regexQuote(pageAddress) + " " + regexQuote(clicked)))
      << describePage(*browser);

  // Terminal -> page: shown as text, never as markup.
  const std::string fromNc = "hello from nc <img src=x onerror=\"document.title='pwned'\"><b>not bold</b>";
  nc.sendAll(fromNc + "\n");
  EXPECT_TRUE(browser->waitFor(messageShown(ncAddress, fromNc), 10s)) << describePage(*browser);
  EXPECT_TRUE(browser->evaluate("document.querySelector('#messages img, #messages b, #messages i') === null").asBool());
  EXPECT_NE(browser->evaluate("document.title").str(), "pwned");

  // Membership lines are told apart from messages.
  EXPECT_TRUE(browser->evaluate("[...document.querySelectorAll('#messages .message.join')].some(m => "
                                "m.textContent.includes(" + jsonQuote(ncAddress) + "))")
                  .asBool())
      << describePage(*browser);

  if (const char* dir = std::getenv("MICROSERVER_SCREENSHOT_DIR"); dir && *dir) {
    nc.sendAll("https://example.org/ is a link, and this is a rather long line that has to wrap "
               "in a narrow window: lorem ipsum dolor sit amet, consectetur adipiscing elit.\n"
               "two lines in a row from one sender are grouped\n");
    ASSERT_TRUE(browser->waitFor("document.querySelectorAll('#messages .message').length >= 7", 5s))
        << describePage(*browser);
    takeScreenshots(*browser, dir);
  }

  EXPECT_EQ(pageErrors(*browser), "[]");

  // A new visit gets what was said from the history, each line once (the history and the
  // live lines that arrive while it loads overlap).
  browser->navigate(s.url("/chat.html?again"));
  ASSERT_TRUE(browser->evaluate("window.chatReady.then(() => true)", 10s).asBool());
  std::string newJoin;
  const std::string newAddress =
      readLineMatching(nc, kTimestamp + R"( \* (127\.0\.0\.1:[0-9]+) joined)", 10s, newJoin)[1].str();
  EXPECT_TRUE(browser->waitFor(messageShown(pageAddress, fromPage) + " && " + messageShown(ncAddress, fromNc), 5s))
      << describePage(*browser);
  EXPECT_TRUE(browser->waitFor("document.querySelectorAll('#messages .message.join').length >= 3", 5s))
      << describePage(*browser);
  EXPECT_EQ(browser->evaluate(messageCount(ncAddress, fromNc)).asNumber(), 1) << describePage(*browser);
  EXPECT_EQ(browser->evaluate("[...document.querySelectorAll('#messages .message.join')].filter(m => "
                              "m.textContent.includes(" + jsonQuote(newAddress) + ")).length").asNumber(), 1)
      << describePage(*browser);

  // "quit" from the page leaves the room, and the page does not come back by itself.
  browser->evaluate("document.getElementById('input').value = 'quit'; document.getElementById('send').click()");
  EXPECT_NO_THROW(readLineMatching(nc, kTimestamp + R"( \* )" + regexQuote(newAddress) + " left"));
  EXPECT_TRUE(browser->waitFor("document.getElementById('status').dataset.state === 'left'", 5s))
      << describePage(*browser);
  EXPECT_EQ(pageErrors(*browser), "[]");
}

TEST(BrowserChatTest, ThePageReconnectsWhenTheServerComesBack) {
  if (!BrowserProcess::installed()) GTEST_SKIP() << BrowserProcess::notInstalledReason();
  auto s = std::make_unique<ChatServer>();
  const int port = s->server->port();
  const std::string url = s->url("/chat.html");

  auto browser = BrowserProcess::start();
  collectPageErrors(*browser);
  browser->navigate(url);
  ASSERT_TRUE(browser->evaluate("window.chatReady.then(() => true)", 10s).asBool());

  // The server stops: the page says so, and keeps what it showed.
  s->server->stop();
  EXPECT_TRUE(browser->waitFor("document.getElementById('status').dataset.state === 'disconnected'", 10s))
      << describePage(*browser);
  EXPECT_TRUE(browser->waitFor("document.getElementById('send').disabled", 1s));

  // It comes back on the same port: the page reconnects by itself (backoff from 0.5 s).
  s.reset();
  s = std::make_unique<ChatServer>("127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(browser->waitFor("document.getElementById('status').dataset.state === 'connected'", 15s))
      << describePage(*browser);
  EXPECT_TRUE(browser->waitFor("document.querySelectorAll('#members .member').length === 1", 10s))
      << describePage(*browser);

  // And works: what the page sends reaches a terminal.
  Connection nc(s->chatPort);
  readLineMatching(nc, kTimestamp + R"( \* )" + regexQuote(localAddress(nc)) + " joined");
  browser->evaluate("document.getElementById('input').value = 'back again'; document.getElementById('send').click()");
  EXPECT_NO_THROW(readLineMatching(nc, kTimestamp + R"( 127\.0\.0\.1:[0-9]+ back again)")) << describePage(*browser);
  EXPECT_EQ(pageErrors(*browser), "[]");
}

}  // namespace
}  // namespace e2e
