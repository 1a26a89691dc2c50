// ForwardedClient: see ForwardedClient.h.
#include "site/ForwardedClient.h"

#include <sys/socket.h>

#include <cstdint>

#include "base/AddressText.h"
#include "base/RequestId.h"
#include "microserver/Text.h"

namespace microserver::core {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// One hop: its address, and its port when the header gives one.
struct Hop {
  IpAddress ip;
  std::uint16_t port = 0;  // 0: not given
  std::string_view proto;
};

// "192.0.2.1", "2001:db8::1", "192.0.2.1:4711", "[2001:db8::1]", "[2001:db8::1]:4711".
bool parseNode(std::string_view text, Hop& hop) {
  std::string_view host = text;
  hop.port = 0;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !parsePort(rest.substr(1), hop.port)) return false;
    }
    return IpAddress::parse(host, hop.ip) && hop.ip.family == AF_INET6;
  }
  const std::size_t colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    if (!parsePort(text.substr(colon + 1), hop.port)) return false;
    host = text.substr(0, colon);
  }
  return IpAddress::parse(host, hop.ip);
}

// Every value of every header line named `name`, comma-separated, in order.
template <class Visit>
void forEachListItem(Span<Header> headers, std::string_view name, Visit visit) {
  for (const Header& header : headers) {
    if (!equalsIgnoreCase(header.name, name)) continue;
    std::string_view rest = header.value;
    while (true) {
      // (Forwarded's quoted strings never hold a comma in the for= and proto= forms we read.)
      const std::size_t comma = rest.find(',');
      visit(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
}

bool hasHeader(Span<Header> headers, std::string_view name) {
  for (const Header& header : headers)
    if (equalsIgnoreCase(header.name, name)) return true;
  return false;
}

std::string_view unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') return value.substr(1, value.size() - 2);
  return value;
}

// One Forwarded element: "for=192.0.2.60;proto=http;by=203.0.113.43". False when its
// for= is missing or not an address (unknown, an obfuscated _name).
bool parseForwardedElement(std::string_view element, Hop& hop) {
  bool haveFor = false, valid = true;
  hop.proto = {};
  std::string_view rest = element;
  while (!rest.empty()) {
    const std::size_t semicolon = rest.find(';');
    std::string_view pair = trim(rest.substr(0, semicolon));
    rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    std::string_view key = trim(pair.substr(0, equals));
    std::string_view value = unquote(trim(pair.substr(equals + 1)));
    if (equalsIgnoreCase(key, "for")) {
      haveFor = true;
      valid = parseNode(value, hop);
    } else if (equalsIgnoreCase(key, "proto")) {
      hop.proto = value;
    }
  }
  return haveFor && valid;
}

std::string_view knownScheme(std::string_view proto) {
  if (equalsIgnoreCase(proto, "https")) return "https";
  if (equalsIgnoreCase(proto, "http")) return "http";
  return {};
}

// Walks `hops` (left to right as sent; `valid[i]` false for an entry that is not an
// address) from the right past trusted proxies; returns the index of the client, or -1.
long pickClient(const std::vector<Hop>& hops, const std::vector<bool>& valid, const std::vector<IpRange>& trusted) {
  long chosen = -1;
  for (long i = static_cast<long>(hops.size()) - 1; i >= 0; --i) {
    // An entry that is not an address ends the walk: the hop to its right is the
    // furthest we can vouch for.
    if (!valid[static_cast<std::size_t>(i)]) break;
    chosen = i;
    if (!anyContains(trusted, hops[static_cast<std::size_t>(i)].ip)) break;
  }
  return chosen;
}

}  // namespace

ForwardedClient forwardedClient(Span<Header> headers, const std::vector<IpRange>& trusted) {
  ForwardedClient out;
  std::string_view proto;  // the nearest proxy's word: the last value
  forEachListItem(headers, "X-Forwarded-Proto", [&](std::string_view item) { proto = item; });
  out.scheme = knownScheme(proto);
  std::vector<Hop> hops;
  std::vector<bool> valid;
  if (hasHeader(headers, "X-Forwarded-For")) {
    forEachListItem(headers, "X-Forwarded-For", [&](std::string_view item) {
      Hop hop;
      valid.push_back(parseNode(item, hop));
      hops.push_back(hop);
    });
  } else {
    forEachListItem(headers, "Forwarded", [&](std::string_view element) {
      Hop hop;
      valid.push_back(parseForwardedElement(element, hop));
      hops.push_back(hop);
    });
  }
  const long client = pickClient(hops, valid, trusted);
  if (client < 0) return out;
  const Hop& hop = hops[static_cast<std::size_t>(client)];
  out.address = formatAddress(hop.ip, hop.port);
  if (out.scheme.empty()) out.scheme = knownScheme(hop.proto);
  return out;
}

ForwardedClient clientBehindTrustedProxy(std::string_view peer, Span<Header> headers,
                                         const std::vector<IpRange>& trusted) {
  if (trusted.empty()) return {};
  IpAddress address;
  if (!IpAddress::parseHostOf(peer, address) || !anyContains(trusted, address)) return {};
  ForwardedClient client = forwardedClient(headers, trusted);
  client.fromTrustedPeer = true;
  return client;
}

void resolveRequestId(const std::string& header, bool fromTrustedPeer, Span<Header> headers, std::string& out) {
  if (header.empty()) return out.clear();
  std::string_view forwarded;
  if (fromTrustedPeer)
    for (const Header& h : headers)
      if (equalsIgnoreCase(h.name, header)) forwarded = h.value;
  assignRequestId(forwarded, out);
}

}  // namespace microserver::core
