// Metrics: see Metrics.h.
#include "base/Metrics.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "microserver/Text.h"

namespace microserver::core {

void ReactorMetrics::countRequest(std::uint32_t routeId, int status, std::uint64_t nanos) {
  std::uint64_t key = (static_cast<std::uint64_t>(routeId) << 16) | static_cast<std::uint64_t>(status & 0xffff);
  auto it = requests_.find(key);
  if (it == requests_.end()) {
    std::lock_guard<std::mutex> lock(insertMutex_);
    it = requests_.emplace(key, std::make_unique<RelaxedCounter>()).first;
  }
  it->second->add(1);
  double seconds = static_cast<double>(nanos) / 1e9;
  std::size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;
  latency_[bucket].add(1);
  latencyCount_.add(1);
  latencyNanos_.add(nanos);
}

Metrics& Metrics::instance() {
  static Metrics metrics;
  return metrics;
}

std::uint32_t Metrics::routeId(const std::string& label) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, inserted] = routeIds_.emplace(label, static_cast<std::uint32_t>(routeLabels_.size()));
  if (inserted) routeLabels_.push_back(label);
  return it->second;
}

void Metrics::attach(ReactorMetrics* reactor) {
  std::lock_guard<std::mutex> lock(mutex_);
  reactors_.push_back(reactor);
}

void Metrics::detach(ReactorMetrics* reactor) {
  std::lock_guard<std::mutex> lock(mutex_);
  reactors_.erase(std::remove(reactors_.begin(), reactors_.end(), reactor), reactors_.end());
}

void Metrics::countReload(bool ok) { (ok ? reloadsOk_ : reloadsFailed_).fetch_add(1, std::memory_order_relaxed); }

void Metrics::countPluginError(const std::string& plugin) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++pluginErrors_[plugin];
}

ms_status* Metrics::addProvider(const void* owner, const ms_status_callbacks* callbacks, void* user) {
  auto provider = std::make_shared<Provider>(Provider{owner, callbacks, user});
  std::lock_guard<std::mutex> lock(providerMutex_);
  providers_.push_back(provider);
  return reinterpret_cast<ms_status*>(provider.get());
}

void Metrics::remove(const std::shared_ptr<Provider>& provider) {
  {
    std::unique_lock<std::mutex> lock(providerMutex_);
    if (provider->removed) return;
    provider->removed = true;
    providerIdle_.wait(lock, [&] { return provider->calls == 0; });
    providers_.erase(std::remove(providers_.begin(), providers_.end(), provider), providers_.end());
  }
  if (provider->callbacks->release) provider->callbacks->release(provider->user);
}

void Metrics::removeProvider(ms_status* handle) {
  std::shared_ptr<Provider> found;
  {
    std::lock_guard<std::mutex> lock(providerMutex_);
    for (const auto& p : providers_)
      if (reinterpret_cast<ms_status*>(p.get()) == handle) found = p;
  }
  if (found) remove(found);
}

void Metrics::withdrawProviders(const void* owner) {
  std::vector<std::shared_ptr<Provider>> mine;
  {
    std::lock_guard<std::mutex> lock(providerMutex_);
    for (const auto& p : providers_)
      if (p->owner == owner) mine.push_back(p);
  }
  for (const auto& p : mine) remove(p);
}

template <typename F>
void Metrics::forEachProvider(F f) const {
  std::vector<std::shared_ptr<Provider>> live;
  {
    std::lock_guard<std::mutex> lock(providerMutex_);
    for (const auto& p : providers_)
      if (!p->removed) {
        ++p->calls;
        live.push_back(p);
      }
  }
  for (const auto& p : live) {
    f(*p);
    std::lock_guard<std::mutex> lock(providerMutex_);
    if (--p->calls == 0) providerIdle_.notify_all();
  }
}

namespace {
void appendNumber(std::string& out, std::uint64_t n) { out += std::to_string(n); }
void appendDouble(std::string& out, double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", d);
  out += buf;
}
// A label value: Prometheus escapes backslash, double quote and newline.
void appendLabel(std::string& out, const std::string& value) {
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
}
}  // namespace

std::string Metrics::render(std::uint64_t openConnections) const {
  std::string out;
  std::map<std::pair<std::uint32_t, int>, std::uint64_t> requests;
  std::array<std::uint64_t, kLatencyBuckets.size() + 1> latency{};
  std::uint64_t count = 0, nanos = 0, bytesIn = 0, bytesOut = 0;
  std::uint64_t tlsFull = 0, tlsResumed = 0, tlsFailed = 0, tlsTimedOut = 0;
  std::uint64_t http2Connections = 0, http2Requests = 0;
  std::vector<std::string> labels;
  std::map<std::string, std::uint64_t> pluginErrors;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    labels = routeLabels_;
    pluginErrors = pluginErrors_;
    for (const ReactorMetrics* r : reactors_) {
      {
        std::lock_guard<std::mutex> inserting(r->insertMutex_);
        for (const auto& [key, counter] : r->requests_)
          requests[{static_cast<std::uint32_t>(key >> 16), static_cast<int>(key & 0xffff)}] += counter->get();
      }
      for (std::size_t i = 0; i < latency.size(); ++i) latency[i] += r->latency_[i].get();
      count += r->latencyCount_.get();
      nanos += r->latencyNanos_.get();
      bytesIn += r->bytesIn.get();
      bytesOut += r->bytesOut.get();
      tlsFull += r->tlsHandshakes.get() - r->tlsResumed.get();
      tlsResumed += r->tlsResumed.get();
      tlsFailed += r->tlsFailed.get();
      tlsTimedOut += r->tlsTimedOut.get();
      http2Connections += r->http2Connections.get();
      http2Requests += r->http2Requests.get();
    }
  }
  out += "# HELP microserver_requests_total HTTP requests answered, by route pattern and status.\n";
  out += "# TYPE microserver_requests_total counter\n";
  for (const auto& [key, n] : requests) {
    out += "microserver_requests_total{route=\"";
    appendLabel(out, key.first < labels.size() ? labels[key.first] : "?");
    out += "\",status=\"" + std::to_string(key.second) + "\"} ";
    appendNumber(out, n);
    out += '\n';
  }
  out += "# HELP microserver_protocol_requests_total HTTP requests answered, by protocol.\n";
  out += "# TYPE microserver_protocol_requests_total counter\n";
  out += "microserver_protocol_requests_total{protocol=\"http/1.x\"} " + std::to_string(count - std::min(count, http2Requests)) + "\n";
  out += "microserver_protocol_requests_total{protocol=\"h2\"} " + std::to_string(http2Requests) + "\n";
  out += "# HELP microserver_http2_connections_total HTTP/2 connections opened (ALPN h2 or prior-knowledge h2c).\n";
  out += "# TYPE microserver_http2_connections_total counter\nmicroserver_http2_connections_total ";
  appendNumber(out, http2Connections);
  out += '\n';
  out += "# HELP microserver_request_duration_seconds Time from a complete request to its response.\n";
  out += "# TYPE microserver_request_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency.size(); ++i) {
    cumulative += latency[i];
    out += "microserver_request_duration_seconds_bucket{le=\"";
    if (i < kLatencyBuckets.size()) appendDouble(out, kLatencyBuckets[i]);
    else out += "+Inf";
    out += "\"} ";
    appendNumber(out, cumulative);
    out += '\n';
  }
  out += "microserver_request_duration_seconds_sum ";
  appendDouble(out, static_cast<double>(nanos) / 1e9);
  out += "\nmicroserver_request_duration_seconds_count ";
  appendNumber(out, count);
  out += "\n# HELP microserver_open_connections Client connections open now (HTTP and services).\n";
  out += "# TYPE microserver_open_connections gauge\nmicroserver_open_connections ";
  appendNumber(out, openConnections);
  out += "\n# HELP microserver_received_bytes_total Bytes read from HTTP clients.\n";
  out += "# TYPE microserver_received_bytes_total counter\nmicroserver_received_bytes_total ";
  appendNumber(out, bytesIn);
  out += "\n# HELP microserver_sent_bytes_total Bytes of HTTP responses (head and body).\n";
  out += "# TYPE microserver_sent_bytes_total counter\nmicroserver_sent_bytes_total ";
  appendNumber(out, bytesOut);
  out += "\n# HELP microserver_tls_handshakes_total TLS handshakes, by result (full, resumed, failed, timeout).\n";
  out += "# TYPE microserver_tls_handshakes_total counter\n";
  out += "microserver_tls_handshakes_total{result=\"full\"} " + std::to_string(tlsFull) + "\n";
  out += "microserver_tls_handshakes_total{result=\"resumed\"} " + std::to_string(tlsResumed) + "\n";
  out += "microserver_tls_handshakes_total{result=\"failed\"} " + std::to_string(tlsFailed) + "\n";
  out += "microserver_tls_handshakes_total{result=\"timeout\"} " + std::to_string(tlsTimedOut);
  out += "\n# HELP microserver_reloads_total Configuration reloads, by result.\n";
  out += "# TYPE microserver_reloads_total counter\n";
  out += "microserver_reloads_total{result=\"ok\"} " + std::to_string(reloadsOk_.load()) + "\n";
  out += "microserver_reloads_total{result=\"failed\"} " + std::to_string(reloadsFailed_.load()) + "\n";
  out += "# HELP microserver_plugin_errors_total Requests a plugin failed (answered 500).\n";
  out += "# TYPE microserver_plugin_errors_total counter\n";
  for (const auto& [plugin, n] : pluginErrors) {
    out += "microserver_plugin_errors_total{plugin=\"";
    appendLabel(out, plugin);
    out += "\"} " + std::to_string(n) + "\n";
  }
  forEachProvider([&](const Provider& p) {
    if (p.callbacks->append_metrics) p.callbacks->append_metrics(p.user, reinterpret_cast<ms_buffer*>(&out));
  });
  return out;
}

bool Metrics::pluginsReady(std::string& reason) const {
  bool ready = true;
  forEachProvider([&](const Provider& p) {
    if (!ready || !p.callbacks->ready) return;
    std::string why;
    if (!p.callbacks->ready(p.user, reinterpret_cast<ms_buffer*>(&why))) {
      ready = false;
      reason = why.empty() ? "a plugin is not ready" : why;
    }
  });
  return ready;
}

std::vector<std::string> Metrics::statusLines() const {
  std::vector<std::string> lines;
  forEachProvider([&](const Provider& p) {
    if (!p.callbacks->status_line) return;
    std::string line;
    p.callbacks->status_line(p.user, reinterpret_cast<ms_buffer*>(&line));
    if (!line.empty()) lines.push_back(std::move(line));
  });
  return lines;
}

}  // namespace microserver::core
