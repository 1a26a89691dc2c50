// ChatHandler: see ChatHandler.h.
#include "ChatHandler.h"

#include <string>
#include <string_view>
#include <vector>

#include <microserver/Text.h>

namespace chat {

namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";
// A POST body may hold this many lines' worth of bytes: enough to paste a page, small
// enough that one request cannot flood the room's queues.
constexpr std::size_t kBodyLines = 64;

void answerJson(microserver::Response& response, int status, std::string body) {
  response.setStatus(status);
  response.setContentType(kJson);
  response.setBody(body);
}

void error(microserver::Response& response, int status, std::string_view what, std::string extra = {}) {
  std::string body = R"({"error":)";
  microserver::appendJsonString(body, what);
  body.append(extra).append("}\n");
  answerJson(response, status, std::move(body));
}

void methodNotAllowed(microserver::Response& response, std::string_view allow) {
  response.addHeader("Allow", allow);
  std::string extra = R"(,"allow":)";
  microserver::appendJsonString(extra, allow);
  error(response, 405, "method not allowed", std::move(extra));
}

// Collects a body's lines first, so that a body with one bad line sends nothing.
struct BodyLines : LineSink {
  std::vector<std::string> lines;
  bool tooLong = false;
  bool onLine(std::string_view line) override {
    lines.emplace_back(line);
    return true;
  }
  void onTooLong() override { tooLong = true; }
};

}  // namespace

ChatHandler::ChatHandler(const microserver::PluginContext& context)
    : config_(parseHandlerConfig(context.config)),
      logger_(context.logger),
      room_(Room::named(config_.room)),
      endpoint_(std::make_shared<RoomEndpoint>(room_)) {
  room_->log().attach(&logger_);
}

ChatHandler::~ChatHandler() { room_->log().detach(&logger_); }

void ChatHandler::handle(const microserver::Request& request, microserver::Response& response) {
  std::string_view action = request.capture("action");
  if (action.empty()) action = request.path().substr(request.path().rfind('/') + 1);
  std::string_view method = request.method();
  const bool read = method == "GET" || method == "HEAD";

  if ((action == "ws" || action == "messages") && !originOk(request, response)) return;
  if (action == "ws") {
    if (method != "GET") return methodNotAllowed(response, "GET");
    return response.acceptWebSocket(endpoint_);  // the server checks the handshake
  }
  if (action == "history") {
    if (!read) return methodNotAllowed(response, "GET, HEAD");
    return answerJson(response, 200, room_->historyJson());
  }
  if (action == "members") {
    if (!read) return methodNotAllowed(response, "GET, HEAD");
    return answerJson(response, 200, room_->membersJson());
  }
  if (action == "messages") {
    if (method != "POST") return methodNotAllowed(response, "POST");
    return post(request, response);
  }
  std::string extra = R"(,"path":)";
  microserver::appendJsonString(extra, request.path());
  error(response, 404, "no such chat endpoint (there are ws, history, messages and members)", std::move(extra));
}

bool ChatHandler::originOk(const microserver::Request& request, microserver::Response& response) const {
  // Only browsers send Origin; without it (nc-like tools, curl, scripts) there is no page
  // of another site to fear.
  if (!request.hasHeader("Origin")) return true;
  const std::string_view origin = request.header("Origin");
  if (originAllowed(origin, request.authority(), config_.allowedOrigins)) return true;
  logger_.debug("room " + room_->name() + ": refused " + std::string(request.method()) + " " +
                std::string(request.path()) + " from " + std::string(request.remoteAddress()) + ": Origin '" +
                std::string(origin) + "' is not this host ('" + std::string(request.authority()) +
                "') nor in allowed_origins");
  std::string extra = R"(,"origin":)";
  microserver::appendJsonString(extra, origin);
  error(response, 403,
        "a page from another origin may not use this chat room (the route's allowed_origins lists the ones that may)",
        std::move(extra));
  return false;
}

void ChatHandler::post(const microserver::Request& request, microserver::Response& response) const {
  std::string_view body = request.body();
  const RoomSettings settings = room_->settings();
  if (body.empty()) return error(response, 400, "empty body: send the message as text, one line per message");
  const std::size_t maxBody = settings.maxLineBytes * kBodyLines;
  if (body.size() > maxBody)
    return error(response, 413, "body too large",
                 R"(,"size":)" + std::to_string(body.size()) + R"(,"max_bytes":)" + std::to_string(maxBody));
  LineFramer framer(settings.maxLineBytes);
  BodyLines collected;
  framer.feed(body, collected);
  framer.finish(collected);
  if (collected.tooLong)
    return error(response, 413, "line too long: nothing was sent",
                 R"(,"max_line_bytes":)" + std::to_string(settings.maxLineBytes));
  if (collected.lines.empty()) return error(response, 400, "no text: every line of the body is empty");
  // Flood control (flood_http): what this address may send now; the rest is dropped and
  // the poster told when to try again.
  std::vector<std::size_t> sizes;
  sizes.reserve(collected.lines.size());
  for (const std::string& line : collected.lines) sizes.push_back(line.size());
  const AddressBuckets::Admitted admitted = room_->admitPost(request.remoteAddress(), sizes);
  // Sent as lines from the poster's address; `quit` is only a command for members.
  std::size_t sent = 0;
  for (std::size_t i = 0; i < admitted.lines; ++i) sent += room_->say(request.remoteAddress(), collected.lines[i]) ? 1 : 0;
  if (admitted.lines < collected.lines.size()) {
    const std::int64_t retry = (admitted.retryUs + 999999) / 1000000;
    response.addHeader("Retry-After", std::to_string(retry));
    return error(response, 429,
                 "too many lines from your address: slow down (this room takes at most " +
                     settings.httpFlood.describe() + " from each address)",
                 R"(,"sent":)" + std::to_string(sent) + R"(,"dropped":)" +
                     std::to_string(collected.lines.size() - sent) + R"(,"retry_after":)" + std::to_string(retry));
  }
  if (sent < collected.lines.size())  // the link to the other instances is behind
    return error(
        response, 503, "the room is busy: some lines were dropped, send them again in a moment",
        R"(,"sent":)" + std::to_string(sent) + R"(,"dropped":)" + std::to_string(collected.lines.size() - sent));
  answerJson(response, 202, R"({"sent":)" + std::to_string(sent) + "}\n");
}

}  // namespace chat
