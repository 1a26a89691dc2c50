// BrowserProcess: a headless Chromium for end-to-end tests of the web pages, driven over
// the Chrome DevTools Protocol (CDP) with the tests' own WebSocket client. No npm, no
// Python, no WebDriver: one browser process and one WebSocket.
//
//   if (!e2e::BrowserProcess::installed()) GTEST_SKIP() << e2e::BrowserProcess::notInstalledReason();
//   auto browser = e2e::BrowserProcess::start();
//   browser->navigate("http://127.0.0.1:" + std::to_string(port) + "/chat.html");
//   browser->evaluate("window.chatReady");                         // awaits the Promise
//   EXPECT_TRUE(browser->waitFor("document.querySelectorAll('.message').length > 2", 5s));
//
// How: Chromium is started with posix_spawn in its own process group with
// --remote-debugging-port=0 and a fresh --user-data-dir; it prints
// `DevTools listening on ws://127.0.0.1:PORT/devtools/browser/...` on stderr. GET
// /json/list on that port names the page target's WebSocket; commands go out as
// {"id":N,"method":...,"params":...} text frames and the frame with the same id is the
// answer (events and other ids are skipped). Chromium's DevTools server refuses any Host
// header that is not an IP address or "localhost", so the handshake here names
// 127.0.0.1:PORT (wsHandshake() sends "Host: t"); frames then go through wsSend()/wsRead().
//
// Every wait is bounded. The destructor kills the whole process group (the browser and its
// renderer, GPU and zygote processes), reaps the browser, joins the stderr reader and
// removes the profile folder.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "TestClient.h"

namespace e2e {

using namespace std::chrono_literals;

// A parsed JSON value: enough JSON for CDP messages and the server's JSON answers.
class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  // Throws std::runtime_error naming the offset and what was expected.
  static Json parse(std::string_view text);

  Type type() const { return type_; }
  bool isNull() const { return type_ == Type::Null; }
  bool isString() const { return type_ == Type::String; }
  bool isArray() const { return type_ == Type::Array; }
  bool isObject() const { return type_ == Type::Object; }
  bool asBool() const { return type_ == Type::Bool && bool_; }
  double asNumber() const { return type_ == Type::Number ? number_ : 0.0; }
  // The string's value ("" for anything that is not a string).
  const std::string& str() const { return string_; }
  const std::vector<Json>& items() const { return items_; }  // arrays
  const std::vector<std::pair<std::string, Json>>& members() const { return members_; }  // objects
  std::size_t size() const { return type_ == Type::Object ? members_.size() : items_.size(); }
  // An object's member, or nullptr.
  const Json* find(std::string_view key) const;
  // An object's member, or a null value when absent (so chains like r["a"]["b"] are safe).
  const Json& operator[](std::string_view key) const;
  const Json& operator[](std::size_t index) const;
  // Compact JSON text again (for messages).
  std::string dump() const;

 private:
  friend class JsonParser;
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

// `text` as a JSON string literal, quotes included.
std::string jsonQuote(std::string_view text);

// A CDP command answered with an error, or JavaScript that threw (or a rejected Promise).
// waitFor() takes these as "not yet" (say, while a page is being replaced); anything else
// (the browser gone, a timeout) is a std::runtime_error that ends the wait.
struct CdpError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BrowserProcess {
 public:
  static constexpr const char* kBinary = "/usr/bin/chromium";

  struct Options {
    std::string binary = kBinary;
    std::chrono::milliseconds startTimeout = 30s;  // until DevTools listens and a page exists
    std::vector<std::string> extraArgs;            // before the URL
  };

  static bool installed(const std::string& binary = kBinary);
  static std::string notInstalledReason(const std::string& binary = kBinary);

  // Starts the browser on about:blank and connects to its page. Throws std::runtime_error
  // with the command line and what the browser printed if it cannot.
  static std::unique_ptr<BrowserProcess> start(const Options& options);
  static std::unique_ptr<BrowserProcess> start() { return start(Options{}); }

  ~BrowserProcess();
  BrowserProcess(const BrowserProcess&) = delete;
  BrowserProcess& operator=(const BrowserProcess&) = delete;

  pid_t pid() const { return pid_; }
  int devtoolsPort() const { return devtoolsPort_; }
  const std::string& profileDir() const { return profileDir_; }
  const std::string& commandLine() const { return commandLine_; }
  // What the browser printed on stderr (its last `maxBytes`), for failure messages.
  std::string output(std::size_t maxBytes = 8192) const;

  // Sends one CDP command to the page and returns its "result". Throws CdpError if the
  // browser answers with an error, std::runtime_error if no answer comes within `timeout`.
  Json call(const std::string& method, const std::string& paramsJson = "{}",
            std::chrono::milliseconds timeout = 10s);

  // Page.navigate, then waits (bounded) until that URL's document has loaded.
  void navigate(const std::string& url, std::chrono::milliseconds timeout = 15s);
  // Runtime.evaluate with awaitPromise and returnByValue: the value (null for undefined).
  // Throws CdpError with the exception's text if the expression throws or rejects.
  Json evaluate(const std::string& expression, std::chrono::milliseconds timeout = 10s);
  // Evaluates `condition` every ~100 ms until it is truthy; false after `timeout`.
  bool waitFor(const std::string& condition, std::chrono::milliseconds timeout);

  // The viewport (CSS pixels), and the colour scheme the page sees ("light" or "dark").
  void setViewport(int width, int height);
  void setColorScheme(const std::string& scheme);
  // A PNG of the viewport (the decoded bytes).
  std::string screenshotPng();

 private:
  BrowserProcess() = default;
  void launch(const Options& options);
  void readerLoop();
  int waitForDevToolsPort(std::chrono::milliseconds timeout);
  void connectToPage(std::chrono::steady_clock::time_point deadline);
  std::string readMessage(std::chrono::steady_clock::time_point deadline);
  void stop();

  pid_t pid_ = -1;
  bool reaped_ = false;
  int devtoolsPort_ = 0;
  std::string profileDir_;
  std::string commandLine_;
  std::unique_ptr<Connection> cdp_;
  int nextId_ = 0;

  int errFd_ = -1;      // the browser's stderr (read end), owned by the reader thread
  int wakeFds_[2] = {-1, -1};  // the destructor wakes the reader through this pipe
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string output_;  // guarded by mu_
  bool eof_ = false;    // guarded by mu_: stderr closed (every browser process is gone)
};

// A file in the test's output: for screenshots and other things a person looks at.
void writeBinaryFile(const std::string& path, std::string_view bytes);

}  // namespace e2e
