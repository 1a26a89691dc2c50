// HttpListenerOptions: what one HTTP listener (routes.yaml server.listen[i]) does to every
// request it carries, beyond routing: HSTS on a TLS listener, a redirect to HTTPS on a
// plain one. The server fills one per listener before it starts accepting (ServerContext);
// a connection keeps only its listener's index, so an idle connection stays small.
#pragma once

#include <cstdint>
#include <string>

namespace microserver::core {

struct HttpListenerOptions {
  // A TLS listener with `hsts`: "max-age=N", the Strict-Transport-Security value.
  std::string hsts;
  // A plain listener with `redirect_to_https`: every request but the built-in endpoints
  // is answered 301 to https://HOST:redirectPort/target, or to redirectUrl + target.
  std::uint16_t redirectPort = 0;
  std::string redirectUrl;
  bool redirects() const { return redirectPort != 0 || !redirectUrl.empty(); }
  bool plain() const { return hsts.empty() && !redirects(); }
};

}  // namespace microserver::core
