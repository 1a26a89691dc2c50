// delay: answers after a delay, from a timer: the smallest example of an answer given
// later. While it waits it holds no thread: 10,000 waiting requests are 10,000 timers.
//
//   routes:
//     - { path: '^/delay/(?P<ms>[0-9]+)$', methods: [GET], handler: delay, config: { max_ms: 60000 } }
//
//   curl -s http://127.0.0.1:8080/delay/250    -> after 250 ms: 200 {"delayed_ms":250}
//   curl -s http://127.0.0.1:8080/delay/99999  -> 400 {"error":"ms is larger than max_ms","max_ms":60000}
//
// A client that leaves before its answer cancels the timer (Responder::onCancel). The
// route's `timeout` (default limits.handler_timeout, 30 s) still bounds the wait: a
// delay longer than that is answered 504 by the server, as any late answer is.
//
// Config: max_ms (0 to 3600000, default 60000).
#include <microserver/Plugin.h>

#include <chrono>
#include <memory>
#include <string>

namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";

class DelayHandler : public microserver::Handler {
 public:
  explicit DelayHandler(const microserver::PluginContext& context) {
    context.config.allowKeys({"max_ms"});
    maxMs_ = context.config.getInt("max_ms", 60000, 0, 3600000);
  }

  void handle(const microserver::Request& request, microserver::Response& response) override {
    std::string_view digits = request.capture("ms");
    long long ms = 0;
    for (char c : digits) {
      if (c < '0' || c > '9' || ms > maxMs_) break;
      ms = ms * 10 + (c - '0');
    }
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
      response.setStatus(400);
      response.setContentType(kJson);
      return response.setBody(R"({"error":"the delay must be a whole number of milliseconds"})" "\n");
    }
    if (ms > maxMs_) {
      response.setStatus(400);
      response.setContentType(kJson);
      return response.setBody(R"({"error":"ms is larger than max_ms","max_ms":)" + std::to_string(maxMs_) + "}\n");
    }
    // The answer comes from the timer; the timer's handle lets a client that leaves
    // cancel it. Both callbacks run on this request's reactor thread, one after the other.
    microserver::Responder later = response.defer();
    later.setContentType(kJson);
    auto timer = std::make_shared<microserver::Timer>();
    *timer = microserver::Timer::start(std::chrono::milliseconds(ms), [later, ms]() mutable {
      later.finish(R"({"delayed_ms":)" + std::to_string(ms) + "}\n");
    });
    later.onCancel([timer](microserver::CancelReason) { timer->cancel(); });
  }

 private:
  long long maxMs_;
};

}  // namespace

MICROSERVER_PLUGIN("delay", "1.0.0", "Answers GET /delay/<ms> after <ms> milliseconds, from a timer", DelayHandler)
