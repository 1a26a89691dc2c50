// echo: answers a request with its own body, or with a JSON description of the whole
// request. For trying out clients, proxies and the server's body handling.
//
//   routes:
//     - { path: '^/api/echo$', methods: [POST, PUT], handler: echo }
//     - { path: '^/api/inspect$', handler: echo, config: { headers: true, max_body: 65536 } }
//
//   curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8080/api/echo > same.jpg
//       -> 200, the body as sent, Content-Type copied from the request
//          (application/octet-stream when the request has none)
//   curl -s -H 'Transfer-Encoding: chunked' --data-binary @big.bin http://127.0.0.1:8080/api/echo
//       -> the same; the server decodes a chunked body before the handler sees it
//   curl -s -d 'hi' 'http://127.0.0.1:8080/api/echo?headers=1'
//       -> 200 application/json; charset=utf-8
//          {"method":"POST","path":"/api/echo","query":"headers=1","remote":"127.0.0.1:53122",
//           "request_id":"4c1f0b6e9a8d7c2b5e3f1a0d9c8b7a6e",
//           "headers":[["Host","127.0.0.1:8080"],["User-Agent","curl/7.88.1"],...],"body":"hi"}
//   curl -s -d @big.json http://127.0.0.1:8080/api/inspect      (over max_body)
//       -> 413 {"error":"body too large","size":70000,"max_body":65536}
//
// Config (see EchoConfig.h): `headers` (bool, default false) makes the JSON form the
// default; a request picks with ?headers=1 (also `true` or a bare `?headers`) or
// ?headers=0 (`false`); anything else is a 400. `max_body` (bytes, optional) answers
// larger bodies with 413.
//
// JSON strings (see microserver/Text.h): quotes and backslashes escaped, control characters as
// \u00XX, well-formed UTF-8 kept, and bytes that are not UTF-8 replaced by U+FFFD, so the
// answer is valid JSON for any body. The JSON form is for reading; for the exact bytes,
// ask without ?headers=1.
//
// Threads: no shared state; the configuration is read once and never changes.
#include <microserver/Plugin.h>

#include <string>
#include <string_view>

#include "EchoConfig.h"
#include <microserver/Text.h>

namespace echo {
namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";

void answerError(microserver::Response& response, int status, std::string_view body) {
  response.setStatus(status);
  response.setContentType(kJson);
  response.setBody(body);
  response.append("\n");
}

class EchoHandler : public microserver::Handler {
 public:
  explicit EchoHandler(const microserver::PluginContext& context) : config_(parseEchoConfig(context.config)) {}

  void handle(const microserver::Request& request, microserver::Response& response) override {
    bool describe = config_.headers;
    std::string choice;
    if (request.queryParam("headers", choice)) {
      if (choice.empty() || choice == "1" || choice == "true") {
        describe = true;
      } else if (choice == "0" || choice == "false") {
        describe = false;
      } else {
        std::string body = R"({"error":"headers must be 1 or 0","headers":)";
        microserver::appendJsonString(body, choice);
        body.push_back('}');
        return answerError(response, 400, body);
      }
    }

    std::string_view body = request.body();
    if (config_.maxBody >= 0 && body.size() > static_cast<std::uint64_t>(config_.maxBody)) {
      return answerError(response, 413,
                         R"({"error":"body too large","size":)" + std::to_string(body.size()) + R"(,"max_body":)" +
                             std::to_string(config_.maxBody) + "}");
    }

    if (describe) return describeRequest(request, response);
    std::string_view type = request.header("Content-Type");
    response.setContentType(type.empty() ? "application/octet-stream" : type);
    response.setBody(body);
  }

 private:
  static void describeRequest(const microserver::Request& request, microserver::Response& response) {
    std::string out;
    out.reserve(request.body().size() + request.target().size() + 256);
    out.append(R"({"method":)");
    microserver::appendJsonString(out, request.method());
    out.append(R"(,"path":)");
    microserver::appendJsonString(out, request.path());
    out.append(R"(,"query":)");
    microserver::appendJsonString(out, request.query());
    // Who the server says sent it: behind a balancer, the real client (PROXY protocol,
    // trusted_proxies), which is what a proxy set-up is checked with.
    out.append(R"(,"remote":)");
    microserver::appendJsonString(out, request.remoteAddress());
    out.append(R"(,"request_id":)");
    microserver::appendJsonString(out, request.id());
    out.append(R"(,"headers":[)");
    bool first = true;
    for (const microserver::Header& header : request.headers()) {
      out.append(first ? "[" : ",[");
      first = false;
      microserver::appendJsonString(out, header.name);
      out.push_back(',');
      microserver::appendJsonString(out, header.value);
      out.push_back(']');
    }
    out.append(R"(],"body":)");
    microserver::appendJsonString(out, request.body());
    out.append("}\n");
    response.setContentType(kJson);
    response.setBody(out);
  }

  const EchoConfig config_;
};

}  // namespace
}  // namespace echo

MICROSERVER_PLUGIN("echo", "1.0.0", "Answers with the request body, or ?headers=1 with the request as JSON",
                   echo::EchoHandler)
