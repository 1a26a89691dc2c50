// slow: sleeps, then answers. It shows what `blocking: true` is for, and lets you watch
// the worker pool, handler_timeout (504) and worker_queue (503) at work.
//
//   !!! Route it with `blocking: true`. !!!
//   Without it the handler runs on a reactor thread, and while it sleeps every other
//   connection on that reactor (hundreds, maybe) gets no answer at all. The plugin cannot
//   tell which thread it runs on, so nothing stops you: it is up to routes.yaml.
//
//   routes:
//     - { path: '^/slow$', methods: [GET], handler: slow, blocking: true, config: { default_ms: 500, max_ms: 10000 } }
//
//   curl -s 'http://127.0.0.1:8080/slow?ms=250'   -> after 250 ms: 200 {"slept_ms":250,"thread":"41872"}
//   curl -s  http://127.0.0.1:8080/slow           -> after default_ms: 200 {"slept_ms":500,...}
//   curl -s 'http://127.0.0.1:8080/slow?ms=abc'
//       -> 400 {"error":"ms must be a whole number of milliseconds from 0 to 10000"}
//   curl -s 'http://127.0.0.1:8080/slow?ms=99999'
//       -> 400 {"error":"ms is larger than max_ms","ms":99999,"max_ms":10000}
//   for i in 1 2 3 4; do curl -s 'http://127.0.0.1:8080/slow?ms=1000' & done; wait
//       -> four answers after about one second, each from its own worker ("thread")
//
// `thread` is the kernel's id of the thread that slept (what `ps -L` and `top -H` show),
// so concurrent requests show which worker ran them.
//
// Config: see SlowConfig.h. Every answer is application/json; charset=utf-8.
#include <microserver/Plugin.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "SlowConfig.h"

namespace slow {
namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";

void answerJson(microserver::Response& response, int status, const std::string& body) {
  response.setStatus(status);
  response.setContentType(kJson);
  response.setBody(body);
}

class SlowHandler : public microserver::Handler {
 public:
  explicit SlowHandler(const microserver::PluginContext& context) : config_(parseSlowConfig(context.config)) {}

  void handle(const microserver::Request& request, microserver::Response& response) override {
    std::int64_t ms = config_.defaultMs;
    std::string text;
    if (request.queryParam("ms", text)) {
      // Digits only: no sign, no spaces, no 1e3; stop adding once past max_ms, so a
      // string of digits of any length cannot overflow.
      bool digits = !text.empty();
      ms = 0;
      for (char c : text) {
        if (c < '0' || c > '9') digits = false;
        if (digits && ms <= config_.maxMs) ms = ms * 10 + (c - '0');
      }
      if (!digits)
        return answerJson(response, 400,
                          R"({"error":"ms must be a whole number of milliseconds from 0 to )" +
                              std::to_string(config_.maxMs) + "\"}\n");
      if (ms > config_.maxMs) {
        // Digits only, so the client's number is safe to repeat; without its leading
        // zeros, which JSON does not allow (ms > max_ms >= 0: a non-zero digit is there).
        return answerJson(response, 400,
                          R"({"error":"ms is larger than max_ms","ms":)" + text.substr(text.find_first_not_of('0')) +
                              R"(,"max_ms":)" + std::to_string(config_.maxMs) + "}\n");
      }
    }

    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    answerJson(response, 200,
               R"({"slept_ms":)" + std::to_string(ms) + R"(,"thread":")" + std::to_string(::gettid()) + "\"}\n");
  }

 private:
  const SlowConfig config_;
};

}  // namespace
}  // namespace slow

MICROSERVER_PLUGIN("slow", "1.0.0", "Sleeps ?ms=N then answers; route it with blocking: true", slow::SlowHandler)
