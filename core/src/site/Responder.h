// Responder: an answer given later (a plugin's ms_responder), and the request body read
// piece by piece on its way there.
//
// Two threads meet here. The plugin, on any thread, sets the status and headers, then
// finishes the answer at once or streams its body; the connection's session, on its
// reactor thread, takes what is ready (take()) and moves it to the client. Nothing is
// polled: every change marks the responder ready on the session's reactor, once per
// batch, and the session takes everything that accumulated.
//
// Flow control both ways: write() says Pause once more than kHighWater bytes of the
// stream wait (in here or in the session's output queue), and on_writable fires when the
// session brought that down to kLowWater; a body callback that says Pause stops the
// session reading the socket until resumeBody().
//
// Lifetime: the session holds it while the exchange is in flight; the plugin holds it
// through its C handle (CountedHandle). It pins the plugin's library (its callbacks are
// the plugin's code) until it is destroyed, which runs the plugin's release callback.
// If the plugin lets go of its last handle without finishing, the answer is abandoned:
// the session answers 500 (or cuts an unfinished stream) instead of waiting for the
// route's timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/CountedHandle.h"
#include "microserver/microserver.h"
#include "net/Mailbox.h"
#include "site/Response.h"

namespace microserver::core {

class LoadedPlugin;

class Responder final : public ReadyTarget, public CountedHandle<Responder> {
 public:
  static constexpr std::size_t kHighWater = 256 * 1024;
  static constexpr std::size_t kLowWater = 64 * 1024;

  // The protocol session it answers through. Reactor thread.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void onResponderReady(Responder& responder) = 0;
  };

  // What the session takes in one go.
  struct Taken {
    std::vector<Response> interims;  // 1xx answers to send before the head
    bool head = false;               // `response` holds the head (and, if finished, the body)
    Response response;
    bool finished = false;           // the whole answer is in `response`
    std::string body;                // the next bytes of a stream
    bool ended = false;              // the stream is complete after `body`
    bool abandoned = false;          // the plugin let go without finishing
    bool resumeBody = false;         // the plugin asked for more of the request body
  };

  // `initial`: what the handler set before deferring. `mailbox`: the session's reactor.
  Responder(std::shared_ptr<LoadedPlugin> plugin, std::shared_ptr<ReactorMailbox> mailbox, Response initial);
  ~Responder() override;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // The plugin that answers, for messages.
  const std::string& pluginName() const { return pluginName_; }

  // ---- The plugin's side (any thread): the ms_responder functions. MS_* results.
  int setStatus(int status);
  int setContentType(std::string_view type);
  int addHeader(std::string_view name, std::string_view value);
  int sendInterim(int status, const ms_str* names, const ms_str* values, std::size_t count);
  int append(std::string_view bytes);
  int finish();
  int startStream();
  int write(std::string_view bytes);  // MS_WRITE_*
  int end();
  bool cancelled() const;
  int setCallbacks(const ms_responder_callbacks* callbacks, void* user);
  void* user() const;
  // Only while the handler that deferred it runs (see setHandlerRunning).
  int readBody(const ms_body_callbacks* callbacks, void* user);
  void resumeBody();
  // The plugin let go of its last handle.
  void pluginLetGo();
  // The whole answer at once, made by the server itself (a static file read off the event
  // loop): any status, a file body. Any thread; false if it is no longer wanted.
  bool finishWith(Response response);

  // ---- The session's side (its reactor thread).
  void attach(Sink* sink);
  void setHandlerRunning(bool running);
  Taken take();
  // The answer is out: nothing more is wanted, nothing is said to the plugin.
  void completed();
  // The answer is given up (MS_CANCEL_*): the plugin hears on_cancel, and a body it was
  // reading ends as aborted.
  void detach(int why);
  // Bytes of this stream the session still holds unsent; may fire on_writable.
  void setQueued(std::size_t bytes);
  bool readsBody() const;
  // One piece of the request body: MS_BODY_CONTINUE or MS_BODY_PAUSE.
  int deliverBody(std::string_view piece);
  // The request body ended (MS_BODY_COMPLETE / MS_BODY_ABORTED); once.
  void endBody(int how);

  void onReady() override;

 private:
  enum class Phase { Open, Finished, Streaming, Ended };
  enum class Fate { Live, Cancelled, Completed };
  // With mutex_ held: whether the caller must mark the session ready once unlocked.
  bool changedLocked();
  void markReady();
  int refusal() const;  // with mutex_ held: MS_EGONE, or MS_ESTATE once completed

  // Once given up or done, with no callback of the plugin's left to call, the library need
  // not stay loaded for this answer: a handle kept in a plugin's static (released when
  // the library unloads) must not keep it loaded forever.
  void releasePinIfIdle();

  std::shared_ptr<LoadedPlugin> plugin_;  // first: destroyed last
  std::weak_ptr<LoadedPlugin> weakPlugin_;  // to pin it again for callbacks set later
  const std::string pluginName_;
  const std::shared_ptr<ReactorMailbox> mailbox_;
  Sink* sink_ = nullptr;  // reactor thread

  mutable std::mutex mutex_;
  Phase phase_ = Phase::Open;
  Fate fate_ = Fate::Live;
  int cancelReason_ = MS_CANCEL_CLIENT_GONE;
  Response head_;
  bool headTaken_ = false;
  std::vector<Response> interims_;
  std::string pending_;     // stream bytes written, not yet taken
  std::size_t queued_ = 0;  // stream bytes the session holds
  bool paused_ = false;     // write() said Pause; on_writable is owed
  bool abandoned_ = false;
  bool attached_ = false;
  bool readyMarked_ = false;
  bool resumeRequested_ = false;
  bool handlerRunning_ = false;
  const ms_responder_callbacks* callbacks_ = nullptr;
  void* user_ = nullptr;
  const ms_body_callbacks* body_ = nullptr;
  void* bodyUser_ = nullptr;
  bool bodyEnded_ = false;
  bool cancelHeard_ = false;
};

}  // namespace microserver::core
