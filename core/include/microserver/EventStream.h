// EventStream: Server-Sent Events (the browser's EventSource) over a Responder.
//
//   microserver::EventStream events(response.defer());     // 200 text/event-stream, started
//   events.send("{\"time\":\"12:00:01\"}", "tick");         // event: tick / data: {...}
//
// Each send() is one event; data with several lines becomes several `data:` lines. The
// stream stays open until end() or until the client leaves (Responder::onCancel).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "microserver/Responder.h"

namespace microserver {

class EventStream {
 public:
  explicit EventStream(Responder responder) : responder_(std::move(responder)) {
    responder_.setContentType("text/event-stream; charset=utf-8");
    responder_.addHeader("Cache-Control", "no-cache");
    // Tells proxies such as nginx not to buffer the events.
    responder_.addHeader("X-Accel-Buffering", "no");
    responder_.startStream();
  }

  // One event. `event` and `id` are optional; CR and LF in them are refused.
  WriteResult send(std::string_view data, std::string_view event = {}, std::string_view id = {}) {
    std::string out;
    field(out, "event", event, false);
    field(out, "id", id, false);
    std::size_t start = 0;
    while (true) {
      std::size_t eol = data.find('\n', start);
      std::string_view line = data.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      out.append("data: ").append(line).push_back('\n');
      if (eol == std::string_view::npos) break;
      start = eol + 1;
    }
    out.push_back('\n');
    return responder_.write(out);
  }
  // A comment line: keeps an idle connection open through proxies.
  WriteResult comment(std::string_view text) {
    std::string out;
    field(out, "", text, true);
    out.push_back('\n');
    return responder_.write(out);
  }
  // How long the browser waits before reconnecting, in milliseconds.
  WriteResult retry(unsigned ms) { return responder_.write("retry: " + std::to_string(ms) + "\n\n"); }
  bool end() { return responder_.end(); }
  Responder& responder() { return responder_; }

 private:
  static void field(std::string& out, std::string_view name, std::string_view value, bool always) {
    if (value.empty() && !always) return;
    if (value.find_first_of("\r\n") != std::string_view::npos)
      throw std::invalid_argument("an event's name, id or comment holds no line break");
    out.append(name).append(": ").append(value).push_back('\n');
  }

  Responder responder_;
};

}  // namespace microserver
