// Certificates: see Certificates.h.
#include "Certificates.h"

#include <chrono>
#include <regex>
#include <stdexcept>

#include "Command.h"

namespace e2e {

Certificate makeCertificate(const TempDir& dir, const std::string& name, const std::string& commonName,
                            const std::string& altNames) {
  Certificate c{dir.path() + "/" + name + ".crt", dir.path() + "/" + name + ".key"};
  CommandResult r = runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                "-nodes", "-days", "2", "-subj", "/CN=" + commonName, "-addext",
                                "subjectAltName=" + altNames, "-keyout", c.key, "-out", c.certificate},
                               std::chrono::seconds(60));
  if (r.exitCode != 0) throw std::runtime_error("openssl req failed: " + r.out + r.err);
  return c;
}

int tlsPort(const ServerProcess& server) {
  static const std::regex re(R"(^microserver also listening on https://127\.0\.0\.1:([0-9]+)$)");
  for (const std::string& line : server.lines()) {
    std::smatch m;
    if (std::regex_match(line, m, re)) return std::stoi(m[1]);
  }
  throw std::runtime_error("no https listener line in:\n" + server.output());
}

}  // namespace e2e
