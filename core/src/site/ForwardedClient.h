// ForwardedClient: who a request is really from, and over which scheme, when it came
// through proxies we trust (server.trusted_proxies): read from X-Forwarded-For and
// X-Forwarded-Proto, or else from RFC 7239 Forwarded (for=, proto=).
//
// Only for a peer that is itself trusted (the caller checks): anybody else's headers are
// ignored, since a client can write any header it likes. The address list is walked from
// the right (the hop nearest to us) past every trusted address, as nginx's
// real_ip_recursive does: the first address that is not a trusted proxy is the client.
// A proxy appends to the list, so what a client forged stays to the left of its real
// address and is never reached. X-Forwarded-For wins when both are present, because
// nearly every proxy (HAProxy's `option forwardfor`, nginx, AWS, Envoy) appends to it,
// while one that only writes Forwarded passes a client's forged X-Forwarded-For on:
// such a proxy must be told to drop X-Forwarded-For.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/IpRange.h"
#include "site/Request.h"

namespace microserver::core {

struct ForwardedClient {
  // "ip:port" ("[v6]:port"), port 0 when the headers do not say; empty: keep the peer's.
  std::string address;
  // "http" or "https" as the proxy says the client spoke; empty: not said.
  std::string_view scheme;
  // The peer is a trusted proxy (what it says about the request may be believed).
  bool fromTrustedPeer = false;
};

ForwardedClient forwardedClient(Span<Header> headers, const std::vector<IpRange>& trusted);

// The same for a request from `peer` ("ip:port", the connection's, after any PROXY
// header): empty unless the peer is itself trusted. What every protocol session asks.
ForwardedClient clientBehindTrustedProxy(std::string_view peer, Span<Header> headers,
                                         const std::vector<IpRange>& trusted);

// The request's id (base/RequestId.h) into `out`: the `header` a trusted peer sent, if
// acceptable, else a new one; cleared when `header` is empty (ids off).
void resolveRequestId(const std::string& header, bool fromTrustedPeer, Span<Header> headers, std::string& out);

}  // namespace microserver::core
