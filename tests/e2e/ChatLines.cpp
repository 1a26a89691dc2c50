#include "ChatLines.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <regex>
#include <stdexcept>

namespace e2e {

const std::string kChatTimestamp = R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3})";

std::string localAddress(const Connection& c) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw std::runtime_error("getsockname");
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(addr.sin_port));
}

std::string untimed(const std::string& line) {
  static const std::regex timestamp(kChatTimestamp);  // const: matching from several threads is safe
  if (line.size() < kChatTimestampLength + 1 ||
      !std::regex_match(line.begin(), line.begin() + kChatTimestampLength, timestamp) ||
      line[kChatTimestampLength] != ' ')
    throw std::runtime_error("expected '<timestamp> ...', got: " + escapeBytes(line, 200));
  return line.substr(kChatTimestampLength + 1);
}

std::unique_ptr<ServerProcess> startChatServer(const TempDir& dir, const std::string& serviceConfig,
                                               const std::string& serverKeys, const std::string& routeConfig,
                                               int& servicePort) {
  dir.write("www/index.html", "home\n");
  ServerOptions options;
  options.configText = "server: { www: " + dir.path() + "/www" + serverKeys + " }\n" +
                       "routes:\n"
                       "  - { path: '^/chat/(?P<action>ws|history|messages|members)$', handler: chat, config: " +
                       routeConfig +
                       " }\n"
                       "services:\n"
                       "  - { plugin: chat, listen: '127.0.0.1:0', config: " +
                       serviceConfig + " }\n";
  options.plugins = MICROSERVER_PLUGIN_DIR;
  auto server = ServerProcess::start(options);
  auto line = server->waitForLine("service chat on 127.0.0.1:", 5s);
  if (!line) throw std::runtime_error("no service line: " + server->output());
  servicePort = std::stoi(line->substr(line->rfind(':') + 1));
  return server;
}

}  // namespace e2e
