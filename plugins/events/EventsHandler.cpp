// events: Server-Sent Events: a clock that ticks once a second, for the browser's
// EventSource (the home page shows it live) and for anything that streams.
//
//   routes:
//     - { path: '^/events$', methods: [GET], handler: events, config: { interval_ms: 1000 } }
//
//   curl -sN http://127.0.0.1:8080/events
//       retry: 3000
//
//       event: tick
//       id: 1
//       data: {"n":1,"time":"2026-12-02T10:15:30.123Z"}
//       ... one event every interval_ms, until the client leaves
//   curl -sN 'http://127.0.0.1:8080/events?count=3'   -> three events, then the stream ends
//
// Between two events a stream costs nothing: no thread, no polling, a timer on the
// reactor. The server tells the stream when the client has gone (it then stops its
// timer) and when the client reads slower than events come (write() says Pause: this
// plugin then skips ticks until onWritable() says the client caught up).
//
// Config: interval_ms (10 to 3600000, default 1000).
#include <microserver/EventStream.h>
#include <microserver/Plugin.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>

namespace {

std::string utcNow() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm {};
  ::gmtime_r(&ts.tv_sec, &tm);
  char text[40];
  std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return text;
}

// One client's stream: its events, the timer for the next one. All of it runs on the
// stream's reactor thread (the handler, the timer, the callbacks), so it needs no lock.
class Clock : public std::enable_shared_from_this<Clock> {
 public:
  Clock(microserver::Responder responder, std::chrono::milliseconds interval, long long count)
      : events_(std::move(responder)), interval_(interval), left_(count) {}

  void start() {
    std::weak_ptr<Clock> weak = weak_from_this();
    events_.responder().onCancel([weak](microserver::CancelReason) {
      if (auto self = weak.lock()) self->timer_.cancel();
    });
    events_.responder().onWritable([weak] {
      if (auto self = weak.lock()) self->behind_ = false;
    });
    events_.retry(3000);
    schedule();
  }

 private:
  void schedule() {
    // The timer holds the clock; the clock holds the timer's handle only to cancel it.
    std::shared_ptr<Clock> self = shared_from_this();
    timer_ = microserver::Timer::start(interval_, [self] { self->tick(); });
  }
  void tick() {
    ++n_;
    if (!behind_) {
      // A client behind by more than the server buffers misses ticks: a clock's old
      // time is worth nothing.
      microserver::WriteResult r =
          events_.send(R"({"n":)" + std::to_string(n_) + R"(,"time":")" + utcNow() + "\"}", "tick", std::to_string(n_));
      if (r == microserver::WriteResult::Gone) return;  // the client left: no next tick
      behind_ = r == microserver::WriteResult::Pause;
    }
    if (left_ > 0 && --left_ == 0) {
      events_.end();
      return;
    }
    schedule();
  }

  microserver::EventStream events_;
  std::chrono::milliseconds interval_;
  long long left_;  // events still to send; 0: forever
  long long n_ = 0;
  bool behind_ = false;
  microserver::Timer timer_;
};

class EventsHandler : public microserver::Handler {
 public:
  explicit EventsHandler(const microserver::PluginContext& context) {
    context.config.allowKeys({"interval_ms"});
    interval_ = std::chrono::milliseconds(context.config.getInt("interval_ms", 1000, 10, 3600000));
  }

  void handle(const microserver::Request& request, microserver::Response& response) override {
    long long count = 0;
    std::string text;
    if (request.queryParam("count", text)) {
      bool digits = !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || (count = std::stoll(text)) == 0) {
        response.setStatus(400);
        response.setContentType("application/json; charset=utf-8");
        return response.setBody(R"({"error":"count must be a whole number from 1 to 999999999"})" "\n");
      }
    }
    auto clock = std::make_shared<Clock>(response.defer(), interval_, count);
    clock->start();
  }

 private:
  std::chrono::milliseconds interval_;
};

}  // namespace

MICROSERVER_PLUGIN("events", "1.0.0", "Server-Sent Events: GET /events ticks once a second", EventsHandler)
