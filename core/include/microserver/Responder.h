// Responder: an answer given later, from any thread: Response::defer() hands one out.
//
//   void handle(const Request& request, Response& response) override {
//     microserver::Responder later = response.defer();
//     database_.query(..., [later](Result r) mutable { later.finish(r.json()); });  // any thread
//   }
//
// A Responder is a counted reference: copy it freely, to other threads too; the answer is
// abandoned only by the server (client gone, the route's timeout: 504, stopping), never by
// dropping the last copy without finishing (the route's timeout then answers 504).
//
// Three ways to answer:
//   - finish(): status, headers and the body appended so far, all at once;
//   - startStream(), then write() pieces whenever you have them, then end(): a body of
//     any length that never has to be in memory; write() says Pause when the client
//     reads slower than you write: stop, and go on in the onWritable() callback;
//   - on a `body: stream` route, readBody() first, to get the request body piece by piece.
// Callbacks (onCancel, onWritable, readBody's) run on the connection's reactor thread:
// they must not block, and they never run inside the call that registers them.
#pragma once

#include <functional>
#include <initializer_list>
#include <mutex>
#include <string_view>
#include <utility>

#include "microserver/Host.h"
#include "microserver/Request.h"

namespace microserver {

enum class WriteResult { Ok = MS_WRITE_OK, Pause = MS_WRITE_PAUSE, Gone = MS_WRITE_GONE };
enum class CancelReason { ClientGone = MS_CANCEL_CLIENT_GONE, Timeout = MS_CANCEL_TIMEOUT, Stopping = MS_CANCEL_STOPPING };
enum class BodyAction { Continue = MS_BODY_CONTINUE, Pause = MS_BODY_PAUSE };

namespace detail {
inline void sendInterim(int status, std::initializer_list<Header> headers,
                        int (*send)(void*, int, const ms_str*, const ms_str*, std::size_t), void* target) {
  ms_str names[32], values[32];
  std::size_t n = 0;
  for (const Header& h : headers) {
    if (n == 32) throw std::invalid_argument("at most 32 header lines in an interim response");
    names[n] = str(h.name);
    values[n] = str(h.value);
    ++n;
  }
  check(send(target, status, names, values, n), "an interim response needs a status 100..199 other than 101, "
                                                "sent before the final response, with valid header lines");
}
}  // namespace detail

class Responder {
 public:
  Responder() = default;
  // Takes over one reference (what ms_response_defer returns).
  explicit Responder(ms_responder* adopted) : r_(adopted) {}
  Responder(const Responder& o) : r_(o.r_) {
    if (r_) detail::host().responder_retain(r_);
  }
  Responder(Responder&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  Responder& operator=(Responder o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  ~Responder() {
    if (r_) detail::host().responder_release(r_);
  }
  explicit operator bool() const { return r_ != nullptr; }

  // Before the answer is sent. A status outside 200..599, or CR/LF/NUL in a header,
  // throws std::invalid_argument; a change after the answer started, std::logic_error.
  // Once the client is gone they do nothing.
  void setStatus(int status) { detail::check(api().responder_set_status(r_, status), "status must be 200..599"); }
  void setContentType(std::string_view type) {
    detail::check(api().responder_set_content_type(r_, type.data(), type.size()), "invalid Content-Type");
  }
  void addHeader(std::string_view name, std::string_view value) {
    detail::check(api().responder_add_header(r_, name.data(), name.size(), value.data(), value.size()),
                  "invalid header, or one the server sets itself (Content-Length, Transfer-Encoding, Connection, "
                  "Date), or the answer already started");
  }
  void append(std::string_view body) {
    detail::check(api().responder_append(r_, body.data(), body.size()), "the answer already started");
  }
  // 103 Early Hints and other interim responses, before the final one.
  void sendInterim(int status, std::initializer_list<Header> headers) {
    detail::sendInterim(status, headers, &interim, r_);
  }

  // Sends the answer. False if the client is gone (nothing to do then).
  bool finish() { return result(api().responder_finish(r_), "the answer already started"); }
  bool finish(std::string_view body) {
    append(body);
    return finish();
  }

  // Sends status and headers now; the body follows piece by piece.
  bool startStream() { return result(api().responder_start_stream(r_), "the answer already started"); }
  WriteResult write(std::string_view piece) {
    int r = api().responder_write(r_, piece.data(), piece.size());
    detail::check(r, "write() needs startStream() first, and nothing after end()");
    return static_cast<WriteResult>(r);
  }
  bool end() { return result(api().responder_end(r_), "end() needs startStream() first"); }

  // True once the answer is no longer wanted (the client left, the route's timeout passed,
  // or the server is stopping).
  bool cancelled() const { return api().responder_cancelled(r_) != 0; }

  // Called once, when the answer is no longer wanted (reactor thread).
  void onCancel(std::function<void(CancelReason)> callback) {
    Callbacks& c = callbacks();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.cancel = std::move(callback);
  }
  // Called after write() returned Pause, once the client caught up (reactor thread).
  void onWritable(std::function<void()> callback) {
    Callbacks& c = callbacks();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.writable = std::move(callback);
  }

  // The request body, piece by piece (the whole body as one piece on a buffered route):
  // `onData` returns Continue, or Pause to stop reading from the client until
  // resumeBody(); `onEnd(true)` once it is complete, `onEnd(false)` if it never will be
  // (the client left, or sent too much or too slowly). Call it before handle() returns.
  void readBody(std::function<BodyAction(std::string_view)> onData, std::function<void(bool complete)> onEnd) {
    static const ms_body_callbacks callbacks = {&bodyData, &bodyEnd};
    auto* reader = new BodyReader{std::move(onData), std::move(onEnd)};
    int r = api().responder_read_body(r_, &callbacks, reader);
    if (r != MS_OK) {
      delete reader;
      detail::check(r == MS_EGONE ? MS_ESTATE : r, "readBody() is for handle(), once");
    }
  }
  void resumeBody() { api().responder_resume_body(r_); }

  ms_responder* handle() const { return r_; }

 private:
  struct Callbacks {
    std::mutex mutex;
    std::function<void(CancelReason)> cancel;
    std::function<void()> writable;
  };
  struct BodyReader {
    std::function<BodyAction(std::string_view)> onData;
    std::function<void(bool)> onEnd;
  };

  static const ms_host_api& api() { return detail::host(); }
  static bool result(int r, const char* what) {
    if (r == MS_EGONE) return false;
    detail::check(r, what);
    return true;
  }
  static int interim(void* r, int status, const ms_str* names, const ms_str* values, std::size_t count) {
    return api().responder_send_interim(static_cast<ms_responder*>(r), status, names, values, count);
  }

  // The callbacks are registered with the server once per responder (by whichever copy
  // asks first) and found again through responder_user by every copy.
  Callbacks& callbacks() {
    static const ms_responder_callbacks table = {&writable, &cancel, &release};
    if (void* user = api().responder_user(r_)) return *static_cast<Callbacks*>(user);
    auto* mine = new Callbacks;
    if (api().responder_set_callbacks(r_, &table, mine) == MS_OK) return *mine;
    delete mine;  // another thread registered first
    return *static_cast<Callbacks*>(api().responder_user(r_));
  }
  static void logFailure(const char* what) noexcept {
    try {
      detail::host().log(detail::library(), MS_LOG_ERROR, what, std::char_traits<char>::length(what));
    } catch (...) {
    }
  }
  static void writable(void* user) noexcept {
    auto& c = *static_cast<Callbacks*>(user);
    std::function<void()> f;
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      f = c.writable;
    }
    try {
      if (f) f();
    } catch (const std::exception& e) {
      logFailure(e.what());
    } catch (...) {
      logFailure("onWritable threw a non-standard exception");
    }
  }
  static void cancel(void* user, int why) noexcept {
    auto& c = *static_cast<Callbacks*>(user);
    std::function<void(CancelReason)> f;
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      f = std::move(c.cancel);
    }
    try {
      if (f) f(static_cast<CancelReason>(why));
    } catch (const std::exception& e) {
      logFailure(e.what());
    } catch (...) {
      logFailure("onCancel threw a non-standard exception");
    }
  }
  static void release(void* user) noexcept { delete static_cast<Callbacks*>(user); }
  static int bodyData(void* user, const char* data, std::size_t size) noexcept {
    try {
      return static_cast<int>(static_cast<BodyReader*>(user)->onData(std::string_view(data, size)));
    } catch (const std::exception& e) {
      logFailure(e.what());
    } catch (...) {
      logFailure("a body reader threw a non-standard exception");
    }
    return MS_BODY_CONTINUE;
  }
  static void bodyEnd(void* user, int how) noexcept {
    auto* reader = static_cast<BodyReader*>(user);
    try {
      reader->onEnd(how == MS_BODY_COMPLETE);
    } catch (const std::exception& e) {
      logFailure(e.what());
    } catch (...) {
      logFailure("a body reader's end threw a non-standard exception");
    }
    delete reader;
  }

  ms_responder* r_ = nullptr;
};

}  // namespace microserver
