// BrowserProcess: see BrowserProcess.h.
#include "BrowserProcess.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "Command.h"
#include "WebSocketClient.h"

extern char** environ;

namespace e2e {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throwErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left < 1ms ? 1ms : left;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// JSON

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : s_(text) {}

  Json document() {
    Json v = value(0);
    skipSpace();
    if (i_ != s_.size()) fail("the end of the document");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* expected) const {
    std::string near(s_.substr(i_, 40));
    throw std::runtime_error("invalid JSON at offset " + std::to_string(i_) + ": expected " + expected +
                             ", found \"" + escapeBytes(near, 60) + "\"");
  }
  void skipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool take(char c) {
    skipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!take(c)) fail(what);
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  Json value(int depth) {
    if (depth > 200) fail("less nesting");
    skipSpace();
    if (i_ >= s_.size()) fail("a value");
    Json v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.type_ = Json::Type::Object;
      if (take('}')) return v;
      do {
        skipSpace();
        if (i_ >= s_.size() || s_[i_] != '"') fail("a member name");
        std::string key = string();
        expect(':', "':'");
        v.members_.emplace_back(std::move(key), value(depth + 1));
      } while (take(','));
      expect('}', "',' or '}'");
    } else if (c == '[') {
      ++i_;
      v.type_ = Json::Type::Array;
      if (take(']')) return v;
      do v.items_.push_back(value(depth + 1));
      while (take(','));
      expect(']', "',' or ']'");
    } else if (c == '"') {
      v.type_ = Json::Type::String;
      v.string_ = string();
    } else if (literal("true")) {
      v.type_ = Json::Type::Bool;
      v.bool_ = true;
    } else if (literal("false")) {
      v.type_ = Json::Type::Bool;
    } else if (literal("null")) {
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t start = i_;
      while (i_ < s_.size() && std::strchr("+-0123456789.eE", s_[i_])) ++i_;
      std::string number(s_.substr(start, i_ - start));
      char* end = nullptr;
      v.type_ = Json::Type::Number;
      v.number_ = std::strtod(number.c_str(), &end);
      if (end != number.c_str() + number.size()) {
        i_ = start;
        fail("a number");
      }
    } else {
      fail("a value");
    }
    return v;
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size()) fail("four hex digits");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      u <<= 4;
      if (h >= '0' && h <= '9') u |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') u |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') u |= static_cast<unsigned>(h - 'A' + 10);
      else fail("a hex digit");
    }
    return u;
  }

  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("the closing quote");
      char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("an escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(i_, 2) == "\\u") {
            std::size_t save = i_;
            i_ += 2;
            unsigned low = hex4();
            if (low >= 0xDC00 && low < 0xE000)
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            else
              i_ = save;  // a lone high surrogate: keep it as it is, read the next escape alone
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          --i_;
          fail("a valid escape");
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

Json Json::parse(std::string_view text) { return JsonParser(text).document(); }

const Json* Json::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& [name, value] : members_)
    if (name == key) return &value;
  return nullptr;
}

const Json& Json::operator[](std::string_view key) const {
  static const Json null;
  const Json* v = find(key);
  return v ? *v : null;
}

const Json& Json::operator[](std::size_t index) const {
  static const Json null;
  return type_ == Type::Array && index < items_.size() ? items_[index] : null;
}

std::string Json::dump() const {
  switch (type_) {
    case Type::Null: return "null";
    case Type::Bool: return bool_ ? "true" : "false";
    case Type::Number: {
      std::ostringstream out;
      out << number_;
      return out.str();
    }
    case Type::String: return jsonQuote(string_);
    case Type::Array: {
      std::string out = "[";
      for (std::size_t k = 0; k < items_.size(); ++k) out += (k ? "," : "") + items_[k].dump();
      return out + "]";
    }
    case Type::Object: {
      std::string out = "{";
      for (std::size_t k = 0; k < members_.size(); ++k)
        out += (k ? "," : "") + jsonQuote(members_[k].first) + ":" + members_[k].second.dump();
      return out + "}";
    }
  }
  return "null";
}

std::string jsonQuote(std::string_view text) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (u < 0x20) out += std::string("\\u00") + hex[u >> 4] + hex[u & 15];
    else out += c;
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------------------
// Starting and stopping

bool BrowserProcess::installed(const std::string& binary) { return access(binary.c_str(), X_OK) == 0; }

std::string BrowserProcess::notInstalledReason(const std::string& binary) {
  return "chromium not installed (" + binary + " is missing): apt-get install chromium";
}

std::unique_ptr<BrowserProcess> BrowserProcess::start(const Options& options) {
  // Constructed first, so that a failure below still kills, reaps and cleans up.
  std::unique_ptr<BrowserProcess> browser(new BrowserProcess);
  const auto deadline = Clock::now() + options.startTimeout;
  try {
    browser->launch(options);
    browser->devtoolsPort_ = browser->waitForDevToolsPort(options.startTimeout);
    browser->connectToPage(deadline);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("cannot start the browser: ") + e.what() +
                             "\n  command: " + browser->commandLine_ + "\n  it printed:\n" + browser->output());
  }
  return browser;
}

void BrowserProcess::launch(const Options& options) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/microserver-chromium-XXXXXX";
  if (!mkdtemp(templ.data())) throwErrno("mkdtemp(" + templ + ")");
  profileDir_ = templ;

  std::vector<std::string> args = {options.binary,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--remote-debugging-port=0",
                                   "--user-data-dir=" + profileDir_};
  args.insert(args.end(), options.extraArgs.begin(), options.extraArgs.end());
  args.push_back("about:blank");
  for (const auto& a : args) commandLine_ += (commandLine_.empty() ? "" : " ") + a;

  // Our environment, but the browser's caches, settings and temporary files go into its
  // profile folder, not into the home folder of whoever runs the tests, nor /tmp: a killed
  // Chromium leaves its singleton-socket folder behind in $TMPDIR, so that is ours too.
  const std::string tmpDir = profileDir_ + "/tmp";
  if (mkdir(tmpDir.c_str(), 0700) != 0) throwErrno("mkdir(" + tmpDir + ")");
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("XDG_CONFIG_HOME=", 0) == 0 || entry.rfind("XDG_CACHE_HOME=", 0) == 0 ||
        entry.rfind("TMPDIR=", 0) == 0)
      continue;
    env.emplace_back(entry);
  }
  env.push_back("XDG_CONFIG_HOME=" + profileDir_ + "/config");
  env.push_back("XDG_CACHE_HOME=" + profileDir_ + "/cache");
  env.push_back("TMPDIR=" + tmpDir);

  int errPipe[2];
  if (pipe2(errPipe, O_CLOEXEC) != 0) throwErrno("pipe2");
  errFd_ = errPipe[0];
  if (pipe2(wakeFds_, O_CLOEXEC) != 0) {
    close(errPipe[1]);
    throwErrno("pipe2");
  }

  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  try {
    pid = spawnInOwnGroup(options.binary, args, envp.data(), -1, errPipe[1]);
  } catch (const std::exception&) {
    close(errPipe[1]);
    throw;
  }
  close(errPipe[1]);
  pid_ = pid;
  reader_ = std::thread([this] { readerLoop(); });
}

// Reads the browser's stderr until every browser process has closed it, or stop() wakes it.
// Draining all along matters: Chromium goes on logging (D-Bus complaints and so on), and a
// full pipe would block it.
void BrowserProcess::readerLoop() {
  char buf[8192];
  for (;;) {
    pollfd fds[2] = {{errFd_, POLLIN, 0}, {wakeFds_[0], POLLIN, 0}};
    int rc = poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    if (!fds[0].revents) continue;
    ssize_t n = read(errFd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    output_.append(buf, static_cast<std::size_t>(n));
    constexpr std::size_t kKeep = 1 << 20;  // bounded: a chatty browser never grows us forever
    if (output_.size() > 2 * kKeep) output_.erase(0, output_.size() - kKeep);
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

int BrowserProcess::waitForDevToolsPort(std::chrono::milliseconds timeout) {
  static const std::regex line(R"(DevTools listening on ws://127\.0\.0\.1:([0-9]{1,5})/)");
  std::unique_lock<std::mutex> lock(mu_);
  std::smatch m;
  bool found = cv_.wait_for(lock, timeout, [&] { return std::regex_search(output_, m, line) || eof_; });
  if (found && !m.empty()) return std::stoi(m[1].str());
  throw std::runtime_error(eof_ ? "the browser exited (or closed stderr) before DevTools listened"
                                : "no \"DevTools listening on ws://127.0.0.1:PORT/...\" line within " +
                                      std::to_string(timeout.count()) + " ms");
}

void BrowserProcess::connectToPage(Clock::time_point deadline) {
  // The first page target may be listed a moment after DevTools listens: ask again until it is.
  std::string path, lastList;
  while (path.empty()) {
    HttpResponse list = httpGet(devtoolsPort_, "/json/list");  // Host: 127.0.0.1:PORT, as DevTools requires
    lastList = std::to_string(list.status) + " " + list.body;
    if (list.status == 200) {
      Json targets = Json::parse(list.body);
      for (const Json& t : targets.items()) {
        const std::string& ws = t["webSocketDebuggerUrl"].str();
        std::size_t slash = ws.find('/', std::string_view("ws://").size());
        if (t["type"].str() == "page" && ws.rfind("ws://", 0) == 0 && slash != std::string::npos) {
          path = ws.substr(slash);
          break;
        }
      }
    }
    if (!path.empty()) break;
    if (Clock::now() >= deadline)
      throw std::runtime_error("no page target in /json/list; the last answer: " + escapeBytes(lastList));
    std::this_thread::sleep_for(100ms);  // a poll interval on a bounded wait, not a delay
  }

  cdp_ = std::make_unique<Connection>(devtoolsPort_, remaining(deadline));
  const std::string host = "127.0.0.1:" + std::to_string(devtoolsPort_);
  cdp_->sendAll("GET " + path + " HTTP/1.1\r\nHost: " + host +
                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  HttpResponse answer = cdp_->readResponse();
  if (answer.status != 101)
    throw std::runtime_error("the DevTools WebSocket handshake for " + path + " was answered " +
                             escapeBytes(answer.raw));
}

void BrowserProcess::stop() {
  cdp_.reset();
  if (pid_ > 0 && !reaped_) {
    // Nothing reaps the browser but us, so until the waitpid below its pid (and so its
    // process group id) cannot be reused: the group we kill is still ours.
    kill(-pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (reader_.joinable()) {
    // Normally stderr is at EOF now (every process of the group is dead); wake the reader
    // anyway, so a process that left the group with our pipe cannot hang the test.
    char one = 1;
    ssize_t ignored = write(wakeFds_[1], &one, 1);
    (void)ignored;
    reader_.join();
  }
  for (int* fd : {&errFd_, &wakeFds_[0], &wakeFds_[1]})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
  if (!profileDir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(profileDir_, ec);
    profileDir_.clear();
  }
}

BrowserProcess::~BrowserProcess() { stop(); }

std::string BrowserProcess::output(std::size_t maxBytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (output_.size() <= maxBytes) return output_;
  return "[...]" + output_.substr(output_.size() - maxBytes);
}

// ---------------------------------------------------------------------------------------
// CDP

// One whole WebSocket message (continuation frames joined); pings answered.
std::string BrowserProcess::readMessage(Clock::time_point deadline) {
  std::string message;
  for (;;) {
    cdp_->setTimeout(remaining(deadline));
    WsFrame frame = wsRead(*cdp_);
    if (frame.opcode == 9) {
      wsSend(*cdp_, 10, frame.payload);
      continue;
    }
    if (frame.opcode == 10) continue;
    if (frame.opcode == 8) throw std::runtime_error("the browser closed the DevTools connection");
    message += frame.payload;
    if (frame.fin) return message;
  }
}

Json BrowserProcess::call(const std::string& method, const std::string& paramsJson,
                          std::chrono::milliseconds timeout) {
  if (!cdp_) throw std::runtime_error("the browser is not connected");
  const int id = ++nextId_;
  const auto deadline = Clock::now() + timeout;
  cdp_->setTimeout(timeout);
  wsSend(*cdp_, 1, "{\"id\":" + std::to_string(id) + ",\"method\":" + jsonQuote(method) + ",\"params\":" +
                       paramsJson + "}");
  for (;;) {
    std::string text;
    try {
      text = readMessage(deadline);
    } catch (const std::exception& e) {
      throw std::runtime_error(method + ": no answer within " + std::to_string(timeout.count()) + " ms (" +
                               e.what() + ")");
    }
    Json reply = Json::parse(text);
    const Json* replyId = reply.find("id");
    if (!replyId || replyId->asNumber() != id) continue;  // an event, or the answer to an abandoned call
    if (const Json* error = reply.find("error"))
      throw CdpError(method + " failed: " + (*error)["message"].str() + " " + (*error)["data"].str());
    return reply["result"];
  }
}

Json BrowserProcess::evaluate(const std::string& expression, std::chrono::milliseconds timeout) {
  Json r = call("Runtime.evaluate",
                "{\"expression\":" + jsonQuote(expression) + ",\"awaitPromise\":true,\"returnByValue\":true}",
                timeout);
  if (const Json* ex = r.find("exceptionDetails")) {
    std::string what = (*ex)["exception"]["description"].str();
    if (what.empty()) what = (*ex)["text"].str();
    throw CdpError("JavaScript threw: " + what + "\n  in: " + expression);
  }
  return r["result"]["value"];
}

bool BrowserProcess::waitFor(const std::string& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string expression = "!!(" + condition + ")";
  for (;;) {
    try {
      if (evaluate(expression, remaining(deadline) + 2s).asBool()) return true;
    } catch (const CdpError&) {
      // The page is being replaced (no context yet) or the condition cannot be computed yet.
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(100ms, remaining(deadline)));
  }
}

void BrowserProcess::navigate(const std::string& url, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Json r = call("Page.navigate", "{\"url\":" + jsonQuote(url) + "}", timeout);
  if (!r["errorText"].str().empty()) throw std::runtime_error("cannot open " + url + ": " + r["errorText"].str());
  if (!waitFor("location.href === " + jsonQuote(url) + " && document.readyState === 'complete'", remaining(deadline)))
    throw std::runtime_error(url + " did not finish loading within " + std::to_string(timeout.count()) + " ms");
}

void BrowserProcess::setViewport(int width, int height) {
  call("Emulation.setDeviceMetricsOverride", "{\"width\":" + std::to_string(width) + ",\"height\":" +
                                                 std::to_string(height) + ",\"deviceScaleFactor\":1,\"mobile\":false}");
}

void BrowserProcess::setColorScheme(const std::string& scheme) {
  call("Emulation.setEmulatedMedia",
       "{\"features\":[{\"name\":\"prefers-color-scheme\",\"value\":" + jsonQuote(scheme) + "}]}");
}

std::string BrowserProcess::screenshotPng() {
  const Json shot = call("Page.captureScreenshot", "{\"format\":\"png\"}", 20s);
  const std::string& b64 = shot["data"].str();
  std::string out;
  out.reserve(b64.size() * 3 / 4);
  unsigned bits = 0;
  int count = 0;
  for (char c : b64) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else continue;  // '=' padding
    bits = (bits << 6) | static_cast<unsigned>(v);
    if ((count += 6) >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

void writeBinaryFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace e2e
