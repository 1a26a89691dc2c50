// Certificates: TLS material for end-to-end tests, made per test with the openssl command
// (self-signed, P-256) in the test's own folder, so nothing depends on files in the tree;
// and the HTTPS port a server announced.
#pragma once

#include <string>

#include "ServerProcess.h"

namespace e2e {

struct Certificate {
  std::string certificate, key;  // PEM files
};

// A self-signed certificate for `commonName` with the given subjectAltName (e.g.
// "DNS:localhost,IP:127.0.0.1"), written to dir/name.crt and dir/name.key. Throws
// std::runtime_error with openssl's output if it fails.
Certificate makeCertificate(const TempDir& dir, const std::string& name, const std::string& commonName,
                            const std::string& altNames);

// The port of the first "microserver also listening on https://127.0.0.1:PORT" line.
int tlsPort(const ServerProcess& server);

}  // namespace e2e
