// App: the `microserver` command line: options, start-up checks, signals, exit codes.
//
// Exit codes: 0 after a clean stop (SIGINT/SIGTERM) or a successful --check; 2 when the
// configuration is bad (nothing was bound); 1 when the server could not start for
// another reason (e.g. the port is taken).
#pragma once

#include <Poco/Util/ServerApplication.h>

#include <memory>
#include <optional>
#include <string>

#include "base/Config.h"
#include "plugin/PluginLoader.h"
#include "app/Server.h"
#include "tls/TlsContext.h"
#include "site/Site.h"

namespace microserver::core {

class App : public Poco::Util::ServerApplication {
 public:
  App();

 protected:
  void defineOptions(Poco::Util::OptionSet& options) override;
  int main(const std::vector<std::string>& args) override;

 private:
  void handleHelp(const std::string& name, const std::string& value);
  void handleVersion(const std::string& name, const std::string& value);
  void handleConfig(const std::string& name, const std::string& value);
  void handleListen(const std::string& name, const std::string& value);
  void handleWww(const std::string& name, const std::string& value);
  void handlePlugins(const std::string& name, const std::string& value);
  void handleCheck(const std::string& name, const std::string& value);

  // Reads the configuration (with the command line's overrides) and the plugin folder,
  // and builds a snapshot; `previous` lends unchanged plugin libraries. Throws
  // ConfigLoadError with every problem found.
  // `tls` gets the certificates of the TLS listeners (ConfigLoadError on a bad one).
  std::shared_ptr<const Site> loadSite(const Site* previous, TlsContexts& tls);
  Config loadConfig();
  // The console's `status`.
  std::string statusText() const;

  std::unique_ptr<PluginLoader> loader_;
  std::unique_ptr<Server> server_;
  bool exitEarly_ = false;
  bool checkOnly_ = false;
  std::string configFile_ = "routes.yaml";
  std::optional<std::string> listen_, www_, plugins_;
};

}  // namespace microserver::core
