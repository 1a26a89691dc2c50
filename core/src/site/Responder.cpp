// Responder: see Responder.h.
#include "site/Responder.h"

#include <utility>

#include "plugin/PluginLoader.h"

namespace microserver::core {

namespace {
// The name of a responder made without a plugin (the core's own tests).
constexpr std::string_view kNoPlugin = "(no plugin)";
}  // namespace

Responder::Responder(std::shared_ptr<LoadedPlugin> plugin, std::shared_ptr<ReactorMailbox> mailbox, Response initial)
    : plugin_(std::move(plugin)),
      weakPlugin_(plugin_),
      pluginName_(plugin_ ? plugin_->name() : std::string(kNoPlugin)),
      mailbox_(std::move(mailbox)),
      head_(std::move(initial)) {}

Responder::~Responder() {
  // Every callback the plugin registered hears its end before its code may go.
  if (body_ && !bodyEnded_) body_->on_end(bodyUser_, MS_BODY_ABORTED);
  if (callbacks_ && callbacks_->release) callbacks_->release(user_);
}

// ---- the plugin's side

int Responder::refusal() const {
  if (fate_ == Fate::Cancelled) return MS_EGONE;
  // Completed while a stream was open: the answer needed no body (HEAD) or the session
  // finished it; the plugin's writes go nowhere, like a client that left.
  return phase_ == Phase::Streaming ? MS_EGONE : MS_ESTATE;
}

bool Responder::changedLocked() {
  if (readyMarked_ || !attached_ || fate_ != Fate::Live) return false;
  readyMarked_ = true;
  return true;
}

void Responder::markReady() { mailbox_->markReady(shared_from_this()); }

int Responder::setStatus(int status) {
  if (status < 200 || status > 599) return MS_EINVAL;
  std::lock_guard<std::mutex> lock(mutex_);
  if (fate_ != Fate::Live) return refusal();
  if (phase_ != Phase::Open) return MS_ESTATE;
  head_.setStatus(status);
  return MS_OK;
}

int Responder::setContentType(std::string_view type) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fate_ != Fate::Live) return refusal();
  if (phase_ != Phase::Open) return MS_ESTATE;
  try {
    head_.setContentType(type);
  } catch (const std::exception&) {
    return MS_EINVAL;
  }
  return MS_OK;
}

int Responder::addHeader(std::string_view name, std::string_view value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fate_ != Fate::Live) return refusal();
  if (phase_ != Phase::Open) return MS_ESTATE;
  try {
    head_.addHeader(name, value);
  } catch (const std::exception&) {
    return MS_EINVAL;
  }
  return MS_OK;
}

int Responder::sendInterim(int status, const ms_str* names, const ms_str* values, std::size_t count) {
  if (status < 100 || status > 199 || status == 101) return MS_EINVAL;
  Response interim;
  try {
    interim.setStatus(status);
    for (std::size_t i = 0; i < count; ++i)
      interim.addHeader(std::string_view(names[i].data, names[i].size), std::string_view(values[i].data, values[i].size));
  } catch (const std::exception&) {
    return MS_EINVAL;
  }
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fate_ != Fate::Live) return refusal();
    if (phase_ != Phase::Open || headTaken_) return MS_ESTATE;
    interims_.push_back(std::move(interim));
    mark = changedLocked();
  }
  if (mark) markReady();
  return MS_OK;
}

int Responder::append(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fate_ != Fate::Live) return refusal();
  if (phase_ != Phase::Open) return MS_ESTATE;
  head_.body().append(bytes.data(), bytes.size());
  return MS_OK;
}

int Responder::finish() {
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fate_ != Fate::Live) return refusal();
    if (phase_ != Phase::Open) return MS_ESTATE;
    phase_ = Phase::Finished;
    mark = changedLocked();
  }
  if (mark) markReady();
  return MS_OK;
}

int Responder::startStream() {
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fate_ != Fate::Live) return refusal();
    if (phase_ != Phase::Open) return MS_ESTATE;
    phase_ = Phase::Streaming;
    // What was appended before starting is the stream's first piece.
    pending_ = std::move(head_.body());
    head_.setStreamed(true);
    mark = changedLocked();
  }
  if (mark) markReady();
  return MS_OK;
}

int Responder::write(std::string_view bytes) {
  bool mark = false;
  int result = MS_WRITE_OK;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fate_ != Fate::Live) return refusal() == MS_ESTATE ? static_cast<int>(MS_ESTATE) : static_cast<int>(MS_WRITE_GONE);
    if (phase_ != Phase::Streaming) return MS_ESTATE;
    if (bytes.empty()) return paused_ ? MS_WRITE_PAUSE : MS_WRITE_OK;
    pending_.append(bytes.data(), bytes.size());
    if (pending_.size() + queued_ > kHighWater) paused_ = true;
    if (paused_) result = MS_WRITE_PAUSE;
    mark = changedLocked();
  }
  if (mark) markReady();
  return result;
}

int Responder::end() {
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fate_ != Fate::Live) return refusal();
    if (phase_ != Phase::Streaming) return MS_ESTATE;
    phase_ = Phase::Ended;
    mark = changedLocked();
  }
  if (mark) markReady();
  return MS_OK;
}

bool Responder::cancelled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fate_ == Fate::Cancelled;
}

int Responder::setCallbacks(const ms_responder_callbacks* callbacks, void* user) {
  bool late = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (callbacks_ || !callbacks) return MS_ESTATE;
    // Callbacks are the plugin's code: they pin its library again (see releasePinIfIdle).
    if (!plugin_ && pluginName_ != kNoPlugin && !(plugin_ = weakPlugin_.lock())) return MS_EGONE;
    callbacks_ = callbacks;
    user_ = user;
    // Registered after the answer was given up: it still hears so, though not inside this call.
    late = fate_ == Fate::Cancelled && !cancelHeard_ && callbacks_->on_cancel;
    if (late) cancelHeard_ = true;
  }
  if (late) {
    std::shared_ptr<Responder> self = shared_from_this();
    int why = cancelReason_;
    mailbox_->post([self, why] { self->callbacks_->on_cancel(self->user_, why); });
  }
  return MS_OK;
}

void* Responder::user() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return user_;
}

int Responder::readBody(const ms_body_callbacks* callbacks, void* user) {
  if (!callbacks || !callbacks->on_data || !callbacks->on_end) return MS_EINVAL;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!handlerRunning_ || body_) return MS_ESTATE;
  body_ = callbacks;
  bodyUser_ = user;
  return MS_OK;
}

void Responder::resumeBody() {
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!body_ || bodyEnded_ || resumeRequested_) return;
    resumeRequested_ = true;
    mark = changedLocked();
  }
  if (mark) markReady();
}

bool Responder::finishWith(Response response) {
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fate_ != Fate::Live || phase_ != Phase::Open) return false;
    head_ = std::move(response);
    phase_ = Phase::Finished;
    mark = changedLocked();
  }
  if (mark) markReady();
  return true;
}

void Responder::pluginLetGo() {
  bool mark = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fate_ != Fate::Live || phase_ == Phase::Finished || phase_ == Phase::Ended) return;
    abandoned_ = true;
    mark = changedLocked();
  }
  if (mark) markReady();
}

// ---- the session's side

void Responder::attach(Sink* sink) {
  sink_ = sink;
  std::lock_guard<std::mutex> lock(mutex_);
  attached_ = true;
}

void Responder::setHandlerRunning(bool running) {
  std::lock_guard<std::mutex> lock(mutex_);
  handlerRunning_ = running;
}

Responder::Taken Responder::take() {
  Taken t;
  std::lock_guard<std::mutex> lock(mutex_);
  readyMarked_ = false;
  if (!headTaken_) {
    t.interims.swap(interims_);
    if (phase_ != Phase::Open) {
      t.head = true;
      headTaken_ = true;
      t.response = std::move(head_);
      t.finished = phase_ == Phase::Finished;
    }
  }
  if (headTaken_ && (phase_ == Phase::Streaming || phase_ == Phase::Ended)) {
    t.body.swap(pending_);
    t.ended = phase_ == Phase::Ended;
  }
  t.abandoned = std::exchange(abandoned_, false);
  t.resumeBody = std::exchange(resumeRequested_, false);
  return t;
}

void Responder::completed() {
  sink_ = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    attached_ = false;
    if (fate_ == Fate::Live) fate_ = Fate::Completed;
    pending_.clear();
    paused_ = false;
  }
  releasePinIfIdle();
}

void Responder::releasePinIfIdle() {
  std::shared_ptr<LoadedPlugin> pin;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (callbacks_ || (body_ && !bodyEnded_)) return;
    pin = std::move(plugin_);
  }
  // `pin` goes here, on the session's thread, which is not in the plugin's code.
}

void Responder::detach(int why) {
  sink_ = nullptr;
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    attached_ = false;
    if (fate_ == Fate::Live) {
      fate_ = Fate::Cancelled;
      cancelReason_ = why;
      notify = callbacks_ && callbacks_->on_cancel && !cancelHeard_;
      if (notify) cancelHeard_ = true;
    }
    pending_.clear();
    paused_ = false;
  }
  if (notify) callbacks_->on_cancel(user_, why);
  endBody(MS_BODY_ABORTED);
  releasePinIfIdle();
}

void Responder::setQueued(std::size_t bytes) {
  bool fire = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_ = bytes;
    if (paused_ && fate_ == Fate::Live && pending_.size() + queued_ <= kLowWater) {
      paused_ = false;
      fire = callbacks_ && callbacks_->on_writable;
    }
  }
  if (fire) callbacks_->on_writable(user_);
}

bool Responder::readsBody() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return body_ && !bodyEnded_;
}

int Responder::deliverBody(std::string_view piece) {
  const ms_body_callbacks* body;
  void* user;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!body_ || bodyEnded_) return MS_BODY_CONTINUE;
    body = body_;
    user = bodyUser_;
  }
  return body->on_data(user, piece.data(), piece.size()) == MS_BODY_PAUSE ? MS_BODY_PAUSE : MS_BODY_CONTINUE;
}

void Responder::endBody(int how) {
  const ms_body_callbacks* body;
  void* user;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!body_ || bodyEnded_) return;
    bodyEnded_ = true;
    body = body_;
    user = bodyUser_;
  }
  body->on_end(user, how);
}

void Responder::onReady() {
  if (sink_) sink_->onResponderReady(*this);
}

}  // namespace microserver::core
