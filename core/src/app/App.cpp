// App: see App.h.
#include "app/App.h"

#include <Poco/ErrorHandler.h>
#include <Poco/Path.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionCallback.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Version.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>
#include <iostream>

#include "base/AccessLog.h"
#include "plugin/ChangeWatcher.h"
#include "app/Console.h"
#include "base/Config.h"
#include "base/Log.h"
#include "base/Metrics.h"
#include "app/Server.h"
#include "plugin/PluginLoader.h"
#include "app/SystemdNotify.h"
#include "app/Upgrade.h"
#include "site/Site.h"

namespace microserver::core {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitBadConfig = 2;

// Poco reports exceptions that escape a reactor callback here; say so in our log
// instead of letting them vanish.
class LoggingErrorHandler : public Poco::ErrorHandler {
 public:
  void exception(const Poco::Exception& e) override { log::error("event loop: " + e.displayText()); }
  void exception(const std::exception& e) override { log::error(std::string("event loop: ") + e.what()); }
  void exception() override { log::error("event loop: unknown exception"); }
};

std::string absolute(const std::string& path) {
  return Poco::Path(path).makeAbsolute().toString();
}

// The folder holding the running binary, for the default plugin folder.
std::string binaryFolder() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return absolute(".");
  buf[n] = '\0';
  return Poco::Path(buf).parent().toString();
}

// server.plugins left out: plugins/ beside the binary (a build tree), else where an install
// puts them (cmake --install, the Debian package: <prefix>/lib/microserver/plugins).
std::string defaultPluginFolder() {
  const std::string beside = binaryFolder() + "plugins";
  const std::string installed = binaryFolder() + "../lib/microserver/plugins";
  struct stat info {};
  if (::stat(beside.c_str(), &info) != 0 && ::stat(installed.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
    return std::filesystem::path(installed).lexically_normal().string();
  return beside;
}

// Every connection and every file being sent costs a descriptor. Debian's default soft
// limit (1024) is far below max_connections' default, and the hard limit is usually
// high: take it, as nginx's worker_rlimit_nofile would.
// Switches from root to `user` (its uid, primary group and supplementary groups), for every
// thread: glibc applies setuid/setgid to all threads of the process. Called once the
// listeners are bound, so ports below 1024 work; what is opened later (plugins on reload,
// a reopened log) is opened as that user. Throws std::runtime_error saying what to do.
void dropPrivileges(const std::string& user) {
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr)
    throw std::runtime_error("server.user: no user '" + user + "' on this machine");
  if (::geteuid() == found->pw_uid) return;  // already that user: nothing to drop
  if (::geteuid() != 0)
    throw std::runtime_error("server.user: switching to '" + user + "' needs root, and the server runs as uid " +
                             std::to_string(::geteuid()) + " (start it as root, or leave server.user out)");
  if (::initgroups(found->pw_name, found->pw_gid) != 0 || ::setgid(found->pw_gid) != 0 ||
      ::setuid(found->pw_uid) != 0)
    throw std::runtime_error("server.user: cannot switch to '" + user + "': " + std::strerror(errno));
  // Root must be gone for good: were setuid(0) to work again, a plugin could take it back.
  if (::setuid(0) == 0) throw std::runtime_error("server.user: root could be regained after switching to " + user);
  ::prctl(PR_SET_DUMPABLE, 1);  // core dumps and /proc stay available to the new user
}

void raiseDescriptorLimit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

void warnIfDescriptorsAreShort(std::size_t maxConnections) {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  // One descriptor per connection, and room for the rest (files being sent, plugins).
  std::size_t needed = maxConnections + 256;
  if (limit.rlim_cur < needed)
    log::warning("the open-file limit is " + std::to_string(limit.rlim_cur) + ", below the " +
                 std::to_string(needed) + " that server.limits.max_connections (" + std::to_string(maxConnections) +
                 ") may need; raise it (ulimit -n) or lower max_connections");
}

// The shutdown delay: waits `delay`, or less if SIGTERM, SIGINT or SIGQUIT comes again (an
// operator who does not want to wait). SIGHUP and SIGUSR1 meanwhile are taken and ignored:
// the server is on its way out (an access log moved away is written on until the exit, so
// no line is lost).
void waitOrStopSignal(const sigset_t& signals, std::chrono::milliseconds delay) {
  const auto deadline = std::chrono::steady_clock::now() + delay;
  for (auto left = delay; left.count() > 0; left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 deadline - std::chrono::steady_clock::now())) {
    timespec wait{static_cast<time_t>(left.count() / 1000), static_cast<long>(left.count() % 1000) * 1'000'000};
    int received = ::sigtimedwait(&signals, nullptr, &wait);
    if (received == SIGTERM || received == SIGINT || received == SIGQUIT) {
      log::info("stopping now (a second stop signal ends the shutdown delay)");
      return;
    }
  }
}

// Settings that shape sockets and threads take effect at the next start only.
void warnAboutRestartOnlySettings(const Config& running, const Config& next) {
  const ServerConfig& a = running.server;
  const ServerConfig& b = next.server;
  auto differs = [&](bool changed, const char* key) {
    if (changed) log::warning(std::string("server.") + key + " changed: it takes effect when the server restarts");
  };
  bool listenChanged = a.listen.size() != b.listen.size();
  for (std::size_t i = 0; !listenChanged && i < a.listen.size(); ++i)
    listenChanged = a.listen[i].address() != b.listen[i].address() || a.listen[i].secure() != b.listen[i].secure() ||
                    a.listen[i].redirectPort != b.listen[i].redirectPort ||
                    a.listen[i].redirectUrl != b.listen[i].redirectUrl || a.listen[i].hsts != b.listen[i].hsts ||
                    a.listen[i].proxyProtocol != b.listen[i].proxyProtocol;
  differs(listenChanged,
          "listen (addresses, tls on or off, redirect_to_https, hsts, proxy_protocol; certificates reload)");
  differs(a.reactors != b.reactors, "reactors");
  differs(a.workers != b.workers, "workers");
  differs(a.accessLog != b.accessLog, "access_log");
  differs(a.accessLogFormat != b.accessLogFormat, "access_log_format");
  differs(a.plugins != b.plugins, "plugins");
  differs(a.user != b.user, "user");
  differs(a.limits.maxConnections != b.limits.maxConnections, "limits.max_connections");
  differs(a.limits.workerQueue != b.limits.workerQueue, "limits.worker_queue");
}

// The certificate and key files of every TLS listener, for the file watch.
std::vector<std::string> certificateFiles(const Config& config) {
  std::vector<std::string> files;
  auto add = [&files](const ListenConfig& listener) {
    if (!listener.tls) return;
    for (const TlsCertificateConfig& certificate : listener.tls->certificates) {
      files.push_back(certificate.certificate);
      files.push_back(certificate.key);
    }
  };
  for (const ListenConfig& listener : config.server.listen) add(listener);
  for (const ServiceConfig& service : config.services) add(service.listen);
  return files;
}

void printErrors(const std::vector<std::string>& errors) {
  for (const std::string& e : errors) std::cerr << e << '\n';
  std::cerr << "microserver: " << errors.size() << (errors.size() == 1 ? " error" : " errors")
            << "; fix the file and run again (check a file with: microserver --check --config FILE)" << std::endl;
}

}  // namespace

App::App() { setUnixOptions(true); }

Config App::loadConfig() {
  Config config = loadConfigFile(configFile_);
  // Command-line paths are relative to where the user stands, unlike the file's own.
  if (listen_) {
    std::string why;
    // It replaces the first listener's address; its tls (if any) and the others stay.
    ListenConfig& first = config.server.listen.front();
    if (!parseListenAddress(*listen_, first.host, first.port, why))
      throw ConfigLoadError({"--listen " + *listen_ + ": " + why});
  }
  if (www_) {
    // --www moves the site: static routes that served the configured site folder follow.
    std::string site = absolute(*www_);
    for (RouteConfig& route : config.routes)
      if (route.staticDir == config.server.www) route.staticDir = site;
    config.server.www = site;
  }
  if (plugins_) config.server.plugins = absolute(*plugins_);
  if (config.server.plugins.empty()) config.server.plugins = defaultPluginFolder();
  return config;
}

std::string App::statusText() const {
  std::string out;
  auto site = server_->context().site();
  const Config& config = site->config();
  for (const std::string& url : server_->urls()) out += "listening   " + url + "\n";
  for (const std::string& service : server_->serviceDescriptions()) out += "service     " + service + "\n";
  out += "reactors    " + std::to_string(server_->reactorCount()) + ", workers " +
         std::to_string(config.server.workers) + "\n";
  out += "connections " + std::to_string(server_->context().openConnections.load()) + " open\n";
  out += "config      " + config.file + ": " + std::to_string(config.routes.size()) + " routes\n";
  for (const RouteConfig& route : config.routes)
    out += "  " + route.path + " -> " + (route.handler.empty() ? "static " + route.staticDir : route.handler) +
           (route.blocking ? " (blocking)" : "") + "\n";
  out += "plugins     " + std::to_string(site->plugins().size()) + " in " + config.server.plugins + "\n";
  for (const auto& [name, plugin] : site->plugins())
    out += "  " + name + " " + plugin->descriptor().version + " (" + plugin->file() + ")\n";
  for (const std::string& line : Metrics::instance().statusLines()) out += line + "\n";
  return out;
}

std::shared_ptr<const Site> App::loadSite(const Site* previous, TlsContexts& tls) {
  Config config = loadConfig();
  tls = TlsContexts::load(config);  // certificates are read (and checked) at every load
  log::Level level = log::Level::Info;
  log::parseLevel(config.server.logLevel, level);
  log::setLevel(level);
  // The folder must exist only when something needs a plugin.
  bool needed = !config.services.empty();
  for (const RouteConfig& route : config.routes) needed = needed || !route.handler.empty();
  PluginScan scan = loader_->scan(config.server.plugins, previous ? previous->plugins() : PluginSet{}, needed);
  if (!scan.errors.empty()) throw ConfigLoadError(scan.errors);
  for (const std::string& w : scan.warnings) log::warning(w);
  return Site::build(config, scan.plugins);
}

void App::defineOptions(Poco::Util::OptionSet& options) {
  ServerApplication::defineOptions(options);
  using Poco::Util::Option;
  using Poco::Util::OptionCallback;
  options.addOption(Option("help", "h", "show this help and exit").callback(OptionCallback<App>(this, &App::handleHelp)));
  options.addOption(Option("version", "v", "print the version and exit")
                        .callback(OptionCallback<App>(this, &App::handleVersion)));
  options.addOption(Option("config", "c", "the configuration file (default: routes.yaml in the current folder)")
                        .argument("FILE")
                        .callback(OptionCallback<App>(this, &App::handleConfig)));
  options.addOption(Option("listen", "l", "listen on HOST:PORT instead of server.listen (port 0 picks a free port)")
                        .argument("HOST:PORT")
                        .callback(OptionCallback<App>(this, &App::handleListen)));
  options.addOption(Option("www", "w", "serve this folder as the site instead of server.www")
                        .argument("DIR")
                        .callback(OptionCallback<App>(this, &App::handleWww)));
  options.addOption(Option("plugins", "p", "load plugins from this folder instead of server.plugins")
                        .argument("DIR")
                        .callback(OptionCallback<App>(this, &App::handlePlugins)));
  options.addOption(Option("check", "t", "check the configuration and exit: 0 if it is valid, 2 if not")
                        .callback(OptionCallback<App>(this, &App::handleCheck)));
}

void App::handleHelp(const std::string&, const std::string&) {
  Poco::Util::HelpFormatter help(options());
  help.setCommand("microserver");
  help.setUsage("[--config FILE] [--listen HOST:PORT] [--www DIR] [--plugins DIR] [--check]");
  help.setHeader("A plugin-based HTTP/1.1 server: a static site, regex routes to plugins, a chat room.");
  help.setFooter("Signals: SIGINT/SIGTERM stop gracefully; SIGHUP reloads the configuration; "
                 "SIGUSR1 reopens the access log (after logrotate); SIGUSR2 upgrades in place (starts "
                 "the binary again with the listening sockets, then finishes and exits).");
  help.format(std::cout);
  exitEarly_ = true;
  stopOptionsProcessing();
}

void App::handleVersion(const std::string&, const std::string&) {
  std::cout << "microserver " << MICROSERVER_VERSION << " (Poco " << (POCO_VERSION >> 24) << '.'
            << ((POCO_VERSION >> 16) & 0xff) << '.' << ((POCO_VERSION >> 8) & 0xff) << ")" << std::endl;
  exitEarly_ = true;
  stopOptionsProcessing();
}

void App::handleConfig(const std::string&, const std::string& value) { configFile_ = value; }
void App::handleListen(const std::string&, const std::string& value) { listen_ = value; }
void App::handleWww(const std::string&, const std::string& value) { www_ = value; }
void App::handlePlugins(const std::string&, const std::string& value) { plugins_ = value; }
void App::handleCheck(const std::string&, const std::string&) { checkOnly_ = true; }

int App::main(const std::vector<std::string>&) {
  if (exitEarly_) return kExitOk;
  // How we were started, before anything changes: SIGUSR2 starts the same command again.
  const LaunchCommand launch = rememberLaunch(argv());
  // First, before a plugin can start a child that would inherit them (the ready pipe
  // first: InheritedSockets takes the variable naming the old process).
  const int upgradeReadyPipe = Upgrade::takeReadyPipe();
  InheritedSockets inherited;
  try {
    inherited = InheritedSockets::fromEnvironment();
  } catch (const std::exception& e) {
    std::cerr << "microserver: " << e.what() << std::endl;
    return kExitFailed;
  }

  // Block the signals we wait for before any thread exists, so every thread inherits the
  // mask and only the main loop below ever sees them, through a descriptor: it can then
  // also wait for a new process that SIGUSR2 started (its ready pipe, its deadline).
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const int signalFd = ::signalfd(-1, &signals, SFD_CLOEXEC);
  if (signalFd < 0) {
    std::cerr << "microserver: signalfd: " << std::strerror(errno) << std::endl;
    return kExitFailed;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a client that vanishes must not kill the server
  raiseDescriptorLimit();
  static LoggingErrorHandler errorHandler;
  Poco::ErrorHandler::set(&errorHandler);

  std::shared_ptr<const Site> site;
  TlsContexts tls;
  try {
    loader_ = std::make_unique<PluginLoader>();
    site = loadSite(nullptr, tls);
  } catch (const ConfigLoadError& e) {
    printErrors(e.errors());
    return kExitBadConfig;
  } catch (const std::exception& e) {
    std::cerr << "microserver: " << e.what() << std::endl;
    return kExitFailed;
  }
  if (checkOnly_) {
    std::vector<std::string> serviceErrors = checkServices(*site);
    if (!serviceErrors.empty()) {
      printErrors(serviceErrors);
      return kExitBadConfig;
    }
    for (const std::string& w : site->warnings()) std::cout << "warning: " << w << '\n';
    std::cout << configFile_ << ": OK (" << site->config().routes.size() << " routes, "
              << site->config().services.size() << " services, " << site->plugins().size() << " plugins)"
              << std::endl;
    return kExitOk;
  }
  for (const std::string& w : site->warnings()) log::warning(w);

  warnIfDescriptorsAreShort(site->config().server.limits.maxConnections);
  // Watching starts before the server is announced ready: a change made by someone who
  // waited for the ready line must not be missed.
  ChangeWatcher watcher(absolute(configFile_), site->config().server.plugins);
  watcher.watchFiles(certificateFiles(site->config()));  // a renewed certificate reloads too
  try {
    server_ = std::make_unique<Server>(site, AccessLog::open(site->config().server.accessLog, site->config().server.accessLogFormat));
    server_->start(std::move(tls), std::move(inherited));
  } catch (const ConfigLoadError& e) {
    server_.reset();
    printErrors(e.errors());
    return kExitBadConfig;
  } catch (const std::exception& e) {
    server_.reset();
    std::cerr << "microserver: " << e.what() << std::endl;
    return kExitFailed;
  }
  if (const std::string& user = site->config().server.user; !user.empty()) {
    try {
      dropPrivileges(user);
      log::info("running as user " + user);
    } catch (const std::exception& e) {
      server_->stop(std::chrono::milliseconds(0));
      server_.reset();
      std::cerr << "microserver: " << e.what() << std::endl;
      return kExitFailed;
    }
  }
  Server* server = server_.get();
  // From here the server holds the snapshot: a reload must be able to retire it (and, with
  // it, the plugin libraries it alone uses).
  site.reset();
  for (const std::string& service : server->serviceDescriptions()) std::cout << "service " << service << std::endl;
  // Every listener but the first, before the ready line (which names the first).
  std::vector<std::string> urls = server->urls();
  for (std::size_t i = 1; i < urls.size(); ++i) std::cout << "microserver also listening on " << urls[i] << std::endl;
  const std::string serving = "serving " + server->url() + " (" + std::to_string(server->reactorCount()) +
                              (server->reactorCount() == 1 ? " reactor)" : " reactors)");
  std::cout << "microserver listening on " << server->url() << " (" << server->reactorCount()
            << (server->reactorCount() == 1 ? " reactor)" : " reactors)") << std::endl;
  if (upgradeReadyPipe >= 0) {
    // An upgrade: the old process tells systemd that we are the main process now (ours
    // would be refused under NotifyAccess=main until then), and finishes.
    log::info("upgrade: pid " + std::to_string(::getpid()) + " is serving; telling the old process (pid " +
              std::to_string(::getppid()) + ") to finish");
    Upgrade::tellReady(upgradeReadyPipe);
  } else {
    systemd::notifyReady(serving);
  }
  // After the ready line, never before: the console thread prints its prompt at once, and a
  // prompt in front of the ready line would hide it from whoever waits for that line.
  auto console = std::make_unique<Console>([this] { return statusText(); });

  std::unique_ptr<Upgrade> upgrade;  // a new process starting, not ready yet
  pid_t handedOverTo = 0;            // the new process that took over: we finish and exit
  while (true) {
    // A signal, or news of the new process an upgrade started (poll ignores fd -1).
    pollfd watched[2] = {{signalFd, POLLIN, 0}, {upgrade ? upgrade->readyFd() : -1, POLLIN, 0}};
    if (::poll(watched, 2, upgrade ? upgrade->msUntilDeadline() : -1) < 0) continue;  // EINTR
    if (upgrade && (watched[1].revents != 0 || upgrade->msUntilDeadline() == 0)) {
      std::string why;
      Upgrade::State state = upgrade->check(why);
      if (state == Upgrade::State::Ready) {
        handedOverTo = upgrade->pid();
        log::info("upgrade: pid " + std::to_string(handedOverTo) +
                  " is ready; finishing the requests in flight and exiting");
        systemd::notify("MAINPID=" + std::to_string(handedOverTo) + "\nSTATUS=upgraded: pid " +
                        std::to_string(handedOverTo) + " serves; the old one finishes its requests\n");
        break;
      }
      if (state == Upgrade::State::Failed) {
        log::error("upgrade failed: " + why + "; still serving with this process");
        upgrade.reset();
      }
    }
    if ((watched[0].revents & POLLIN) == 0) continue;
    signalfd_siginfo info{};
    if (::read(signalFd, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
    const int received = static_cast<int>(info.ssi_signo);
    if (received == SIGUSR2) {
      if (upgrade) {
        log::warning("SIGUSR2: an upgrade is already under way (pid " + std::to_string(upgrade->pid()) +
                     "); ignored");
        continue;
      }
      try {
        upgrade = std::make_unique<Upgrade>(launch, server->listeningDescriptors());
        log::info("upgrade: started " + launch.program + " as pid " + std::to_string(upgrade->pid()) +
                  "; serving until it is ready");
      } catch (const std::exception& e) {
        log::error(std::string("upgrade failed: ") + e.what() + "; still serving with this process");
      }
      continue;
    }
    if (received == SIGUSR1) {
      // logrotate moved the log files away: write to new ones under the configured names.
      try {
        server->reopenLogs();
        log::info("SIGUSR1: reopened the log files");
      } catch (const std::exception& e) {
        log::error(std::string("SIGUSR1: ") + e.what());
      }
      continue;
    }
    if (received == SIGHUP) {
      systemd::notifyReloading();
      try {
        TlsContexts nextTls;
        std::shared_ptr<const Site> next = loadSite(server->context().site().get(), nextTls);
        for (const std::string& w : next->warnings()) log::warning(w);
        warnAboutRestartOnlySettings(server->context().site()->config(), next->config());
        server->reload(next, std::move(nextTls));
        watcher.watchFiles(certificateFiles(next->config()));
        Metrics::instance().countReload(true);
        log::info("reloaded " + configFile_ + " (" + std::to_string(next->config().routes.size()) + " routes, " +
                  std::to_string(next->plugins().size()) + " plugins)");
        systemd::notifyReady(serving + ", reloaded " + configFile_);
      } catch (const ConfigLoadError& e) {
        for (const std::string& line : e.errors()) log::error(line);
        log::error("reload failed: still serving the previous configuration");
        Metrics::instance().countReload(false);
        systemd::notifyReady(serving + "; the last reload failed: " +
                             (e.errors().empty() ? std::string("see the log") : e.errors().front()));
      }
      continue;
    }
    log::info(std::string("received ") + (received == SIGINT ? "SIGINT" : received == SIGTERM ? "SIGTERM" : "SIGQUIT") +
              ": stopping (in-flight requests may finish)");
    if (upgrade) {
      log::info("upgrade: stopping pid " + std::to_string(upgrade->pid()) + " too, which was not ready yet");
      upgrade.reset();
    }
    systemd::notifyStopping();
    break;
  }
  ::close(signalFd);
  console.reset();  // before the server it reports on goes
  const Limits limits = server->context().site()->config().server.limits;  // a copy: site() is a temporary
  if (limits.shutdownDelay.count() > 0 && handedOverTo == 0) {
    // Not ready, but still serving: a balancer checking /readyz takes this instance out
    // before the listeners close, instead of finding them closed (refused connections,
    // idle connections closed under requests it is sending). Not after an upgrade's
    // handover: the new process accepts on the same sockets, nobody must be drained.
    server->stopBeingReady();
    log::info("not ready (/readyz answers 503); serving on for " + std::to_string(limits.shutdownDelay.count()) +
              " ms (server.limits.shutdown_delay), then stopping; SIGTERM or SIGINT again stops at once");
    waitOrStopSignal(signals, limits.shutdownDelay);
  }
  server->stop(limits.shutdownGrace);
  server_.reset();
  // The last configuration's plugins are being unloaded on the unloader thread: let them
  // finish (their static destructors run in dlclose) before exit() tears the process down
  // under them.
  waitForUnloads();
  log::info(handedOverTo ? "stopped; pid " + std::to_string(handedOverTo) + " serves from now on" : "stopped");
  return kExitOk;
}

}  // namespace microserver::core
