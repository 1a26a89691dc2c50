// PluginTestSupport: see PluginTestSupport.h.
#include "PluginTestSupport.h"

#include <deque>
#include <mutex>
#include <stdexcept>

#include "plugin/HostApi.h"
#include "site/Exchange.h"

namespace plugintest {

namespace {
std::string routesYaml(const std::string& configYaml) {
  std::string yaml = "routes:\n  - path: '^/'\n    handler: plugin\n";
  if (!configYaml.empty()) yaml += "    config: " + configYaml + "\n";
  return yaml;
}

// Binds before any test runs, so plugin code compiled into the tests (the chat room's)
// can make SharedBytes and the like.
const bool kBound = (bindSdkToServer(), true);
}  // namespace

void bindSdkToServer() { microserver::detail::hostBinding.api = &microserver::core::hostApi(); }

microserver::ConfigNode configNode(const std::string& configYaml) {
  static std::mutex mutex;
  static std::deque<microserver::core::Config> kept;
  std::lock_guard<std::mutex> lock(mutex);
  kept.push_back(microserver::core::loadConfigText(routesYaml(configYaml), "routes.yaml", "/"));
  return microserver::ConfigNode(reinterpret_cast<const ms_config*>(&kept.back().routes.at(0).config));
}

LoadedHandler::LoadedHandler(const std::string& plugin, const std::string& configYaml) {
  std::string error;
  plugin_ = loader_.load(std::string(MICROSERVER_PLUGIN_DIR) + "/lib" + plugin + ".so", error);
  if (!plugin_) throw std::runtime_error(error);
  createHandler(configYaml);
}

LoadedHandler::LoadedHandler(const LoadedHandler& sameLibrary, const std::string& configYaml)
    : plugin_(sameLibrary.plugin_) {
  createHandler(configYaml);
}

void LoadedHandler::createHandler(const std::string& configYaml) {
  config_ = microserver::core::loadConfigText(routesYaml(configYaml), "routes.yaml", "/");
  try {
    handler_ = std::make_unique<microserver::core::BoundHandler>(plugin_, config_.routes.at(0), config_.server.limits,
                                                                 "routes[0] '^/'", "routes.yaml",
                                                                 "routes.yaml:3:14: routes[0].handler: ");
  } catch (const microserver::core::ConfigError& e) {
    releaseAndWaitForUnload();
    throw microserver::ConfigError(e.what());
  }
}

// A library whose last reference goes is unloaded on the unloader thread: wait for it, so
// that each test ends with its copies gone and the program never exits (and destroys its
// statics) while a dlclose is still running.
void LoadedHandler::releaseAndWaitForUnload() {
  handler_.reset();
  plugin_.reset();
  microserver::core::waitForUnloads();
}

LoadedHandler::~LoadedHandler() { releaseAndWaitForUnload(); }

Answer LoadedHandler::call(const TestRequest& r, WebSocket* webSocket) {
  using namespace microserver::core;
  std::vector<Header> headers;
  for (const auto& [name, value] : r.headers) headers.push_back({name, value});
  std::vector<Capture> captures;
  for (const auto& [name, value] : r.captures) captures.push_back({name, value});
  Request::Parts parts;
  parts.method = r.method;
  parts.target = r.target;
  parts.path = r.path;
  parts.query = r.query;
  parts.body = r.body;
  parts.remoteAddress = "127.0.0.1:40000";
  parts.authority = r.authority;
  parts.requestId = r.id;
  parts.headers = Span<Header>(headers.data(), headers.size());
  parts.captures = Span<Capture>(captures.data(), captures.size());
  Request request(parts);
  Answer response;
  Exchange exchange;
  exchange.request = &request;
  exchange.response = &response;
  handler_->run(exchange);
  if (exchange.deferred) {
    // Not a test of answers given later (the e2e tests do those): drop it like a client.
    exchange.deferred->detach(MS_CANCEL_CLIENT_GONE);
    throw std::logic_error("the handler deferred its answer; call() only takes answers given at once");
  }
  if (exchange.webSocket && webSocket) *webSocket = {exchange.webSocket, exchange.webSocketSession};
  else if (exchange.webSocket) exchange.webSocket->on_close(exchange.webSocketSession, MS_CLOSE_REFUSED);
  return response;
}

}  // namespace plugintest
