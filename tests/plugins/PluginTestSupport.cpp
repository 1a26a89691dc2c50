// PluginTestSupport: see PluginTestSupport.h.
#include "PluginTestSupport.h"

#include "base/Metrics.h"

#include <stdexcept>

namespace plugintest {

namespace {
std::string routesYaml(const std::string& configYaml) {
  std::string yaml = "routes:\n  - path: '^/'\n    handler: plugin\n";
  if (!configYaml.empty()) yaml += "    config: " + configYaml + "\n";
  return yaml;
}
}  // namespace

microserver::ConfigNode configNode(const std::string& configYaml) {
  return microserver::core::loadConfigText(routesYaml(configYaml), "routes.yaml", "/").routes.at(0).config;
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
  logger_ = std::make_unique<microserver::core::PluginLogger>(plugin_->name());
  microserver::PluginContext context{plugin_->name(), config_.routes.at(0).config, *logger_, microserver::core::Metrics::instance()};
  try {
    handler_ = plugin_->descriptor().createHandler(context);
  } catch (const microserver::ConfigError& e) {
    // The exception object lives in the plugin's code, which is unloaded as this
    // constructor unwinds: rethrow a copy made here (the server copies the text too).
    throw microserver::ConfigError(e.what());
  }
}

LoadedHandler::~LoadedHandler() {
  if (handler_) plugin_->descriptor().destroyHandler(handler_);
}

microserver::Response LoadedHandler::call(const TestRequest& r) {
  std::vector<microserver::Header> headers;
  for (const auto& [name, value] : r.headers) headers.push_back({name, value});
  std::vector<microserver::Capture> captures;
  for (const auto& [name, value] : r.captures) captures.push_back({name, value});
  microserver::Request::Parts parts;
  parts.method = r.method;
  parts.target = r.target;
  parts.path = r.path;
  parts.query = r.query;
  parts.body = r.body;
  parts.remoteAddress = "127.0.0.1:40000";
  parts.headers = microserver::Span<microserver::Header>(headers.data(), headers.size());
  parts.captures = microserver::Span<microserver::Capture>(captures.data(), captures.size());
  microserver::Response response;
  handler_->handle(microserver::Request(parts), response);
  return response;
}

}  // namespace plugintest
