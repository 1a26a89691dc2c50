// HostApi: see HostApi.h. One shim per ABI function, in the header's order.
#include "plugin/HostApi.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "base/Log.h"
#include "base/Metrics.h"
#include "base/SharedBuffer.h"
#include "net/Reactor.h"
#include "plugin/PluginLoader.h"
#include "site/Exchange.h"
#include "site/Site.h"
#include "ws/ServicePeer.h"

namespace microserver::core {

namespace {

// Never a NULL pointer, even for an empty string (microserver.h promises it).
ms_str str(std::string_view s) { return ms_str{s.data() ? s.data() : "", s.size()}; }
std::string_view view(const char* data, std::size_t size) { return size ? std::string_view(data, size) : std::string_view(); }

// ---- log

void hostLog(ms_library* library, int level, const char* text, std::size_t size) {
  if (library) return LoadedPlugin::fromLibrary(library)->log(level, view(text, size));
  std::string line = "plugin: " + std::string(view(text, size));
  if (level == MS_LOG_ERROR) log::error(line);
  else if (level == MS_LOG_WARNING) log::warning(line);
  else if (level == MS_LOG_INFO) log::info(line);
  else if (log::enabled(log::Level::Debug)) log::debug(line);
}

// ---- ms_context

struct CreateContext {
  std::string_view pluginName;
  const ConfigTree* config;
  std::string failure;
  bool failed = false;
};

ms_str contextPluginName(const ms_context* c) { return str(reinterpret_cast<const CreateContext*>(c)->pluginName); }
const ms_config* contextConfig(const ms_context* c) {
  return reinterpret_cast<const ms_config*>(reinterpret_cast<const CreateContext*>(c)->config);
}
void contextFail(ms_context* c, const char* message, std::size_t size) {
  auto* context = reinterpret_cast<CreateContext*>(c);
  context->failed = true;
  context->failure.assign(message, size);
}

// ---- ms_config

const ConfigTree& node(const ms_config* c) { return *reinterpret_cast<const ConfigTree*>(c); }
const ms_config* handle(const ConfigTree& t) { return reinterpret_cast<const ms_config*>(&t); }

int configKind(const ms_config* c) {
  switch (node(c).kind()) {
    case ConfigTree::Kind::Null: return MS_CONFIG_NULL;
    case ConfigTree::Kind::Scalar: return MS_CONFIG_SCALAR;
    case ConfigTree::Kind::List: return MS_CONFIG_LIST;
    case ConfigTree::Kind::Map: return MS_CONFIG_MAP;
  }
  return MS_CONFIG_NULL;
}
ms_str configScalar(const ms_config* c) { return str(node(c).scalar()); }
std::size_t configSize(const ms_config* c) {
  const ConfigTree& t = node(c);
  return t.isList() ? t.items().size() : t.isMap() ? t.entries().size() : 0;
}
const ms_config* configItem(const ms_config* c, std::size_t i) {
  const ConfigTree& t = node(c);
  if (t.isList() && i < t.items().size()) return handle(t.items()[i]);
  if (t.isMap() && i < t.entries().size()) return handle(t.entries()[i].second);
  return nullptr;
}
ms_str configKey(const ms_config* c, std::size_t i) {
  const ConfigTree& t = node(c);
  if (t.isMap() && i < t.entries().size()) return str(t.entries()[i].first);
  return str({});
}
const ms_config* configFind(const ms_config* c, const char* key, std::size_t size) {
  const ConfigTree* found = node(c).find(view(key, size));
  return found ? handle(*found) : nullptr;
}
void configPlace(const ms_config* c, ms_place* out) {
  const ConfigTree& t = node(c);
  *out = ms_place{str(t.file()), t.line(), t.column(), t.keyLine(), t.keyColumn(), str(t.path())};
}

// ---- ms_exchange: the request

const Request& request(const ms_exchange* x) { return *Exchange::from(x)->request; }
ms_str requestMethod(const ms_exchange* x) { return str(request(x).method()); }
ms_str requestTarget(const ms_exchange* x) { return str(request(x).target()); }
ms_str requestPath(const ms_exchange* x) { return str(request(x).path()); }
ms_str requestQuery(const ms_exchange* x) { return str(request(x).query()); }
ms_str requestRemoteAddress(const ms_exchange* x) { return str(request(x).remoteAddress()); }
ms_str requestAuthority(const ms_exchange* x) { return str(request(x).authority()); }
ms_str requestId(const ms_exchange* x) { return str(request(x).id()); }
int requestVersion(const ms_exchange* x) { return Exchange::from(x)->version; }
std::size_t requestHeaderCount(const ms_exchange* x) { return request(x).headers().size(); }
void requestHeaderAt(const ms_exchange* x, std::size_t i, ms_str* name, ms_str* value) {
  auto headers = request(x).headers();
  if (i >= headers.size()) {
    *name = *value = str({});
    return;
  }
  *name = str(headers[i].name);
  *value = str(headers[i].value);
}
int requestHeader(const ms_exchange* x, const char* name, std::size_t size, ms_str* value) {
  for (const Header& h : request(x).headers())
    if (equalsIgnoreCase(h.name, view(name, size))) {
      *value = str(h.value);
      return 1;
    }
  *value = str({});
  return 0;
}
std::size_t requestCaptureCount(const ms_exchange* x) { return request(x).captures().size(); }
void requestCaptureAt(const ms_exchange* x, std::size_t i, ms_str* name, ms_str* value) {
  auto captures = request(x).captures();
  if (i >= captures.size()) {
    *name = *value = str({});
    return;
  }
  *name = str(captures[i].name);
  *value = str(captures[i].value);
}
int requestCapture(const ms_exchange* x, const char* name, std::size_t size, ms_str* value) {
  for (const Capture& c : request(x).captures())
    if (c.name == view(name, size)) {
      *value = str(c.value);
      return 1;
    }
  *value = str({});
  return 0;
}
ms_str requestBody(const ms_exchange* x) { return str(request(x).body()); }
int requestBodyStreamed(const ms_exchange* x) { return Exchange::from(x)->bodyStreamed ? 1 : 0; }

// ---- ms_exchange: the answer given now

// The exchange's response while it is still the handler's to fill; null once deferred.
Response* answerNow(ms_exchange* x) {
  Exchange* e = Exchange::from(x);
  return e->deferred ? nullptr : e->response;
}

template <typename F>
int guarded(F f) {
  try {
    f();
    return MS_OK;
  } catch (const std::invalid_argument&) {
    return MS_EINVAL;
  } catch (const std::exception& e) {
    log::error(std::string("plugin call failed: ") + e.what());
    return MS_EINVAL;
  }
}

int responseSetStatus(ms_exchange* x, int status) {
  if (status < 200 || status > 599) return MS_EINVAL;
  Response* r = answerNow(x);
  if (!r) return MS_ESTATE;
  r->setStatus(status);
  return MS_OK;
}
int responseSetContentType(ms_exchange* x, const char* type, std::size_t size) {
  Response* r = answerNow(x);
  return r ? guarded([&] { r->setContentType(view(type, size)); }) : MS_ESTATE;
}
int responseAddHeader(ms_exchange* x, const char* name, std::size_t nameSize, const char* value, std::size_t valueSize) {
  Response* r = answerNow(x);
  return r ? guarded([&] { r->addHeader(view(name, nameSize), view(value, valueSize)); }) : MS_ESTATE;
}
int responseAppend(ms_exchange* x, const char* data, std::size_t size) {
  Response* r = answerNow(x);
  return r ? guarded([&] { r->body().append(data, size); }) : MS_ESTATE;
}
int responseSetBody(ms_exchange* x, const char* data, std::size_t size) {
  Response* r = answerNow(x);
  return r ? guarded([&] { r->body().assign(data, size); }) : MS_ESTATE;
}
int responseSendFile(ms_exchange* x, int fd, std::uint64_t offset, std::uint64_t length) {
  Response* r = answerNow(x);
  struct stat st {};
  if (!r || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return r ? MS_EINVAL : MS_ESTATE;
  }
  std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  if (offset > size) offset = size;
  if (length > size - offset) length = size - offset;
  r->setFile(fd, offset, length);
  return MS_OK;
}
int responseSetKeepAlive(ms_exchange* x, int keep) {
  Exchange* e = Exchange::from(x);
  e->response->setKeepAlive(keep != 0);  // applies whoever answers
  return MS_OK;
}

// An interim response, checked: 1xx but not 101, valid header lines.
int interimOf(int status, const ms_str* names, const ms_str* values, std::size_t count, Response& out) {
  if (status < 100 || status > 199 || status == 101) return MS_EINVAL;
  out.setStatus(status);
  return guarded([&] {
    for (std::size_t i = 0; i < count; ++i)
      out.addHeader(view(names[i].data, names[i].size), view(values[i].data, values[i].size));
  });
}
int responseSendInterim(ms_exchange* x, int status, const ms_str* names, const ms_str* values, std::size_t count) {
  Exchange* e = Exchange::from(x);
  if (e->deferred) return e->deferred->sendInterim(status, names, values, count);
  Response interim;
  if (int r = interimOf(status, names, values, count, interim); r != MS_OK) return r;
  e->interims.push_back(std::move(interim));
  return MS_OK;
}
void responseFail(ms_exchange* x, const char* message, std::size_t size) {
  Exchange* e = Exchange::from(x);
  if (e->deferred) {
    // It failed after deferring: answer now; the responder it holds is done.
    e->deferred->completed();
    e->deferred.reset();
  }
  e->webSocket = nullptr;  // the session would never hear on_close: the plugin is failing
  e->handler->fail(*e->request, *e->response, view(message, size));
}
int responseAcceptWebSocket(ms_exchange* x, const ms_session_callbacks* callbacks, void* session) {
  Exchange* e = Exchange::from(x);
  if (!callbacks || !callbacks->on_close || !callbacks->on_open) return MS_EINVAL;
  if (!e->webSocketAllowed || e->webSocket || e->deferred) return MS_ESTATE;
  e->webSocket = callbacks;
  e->webSocketSession = session;
  return MS_OK;
}
ms_responder* responseDefer(ms_exchange* x) {
  Exchange* e = Exchange::from(x);
  if (e->deferred || e->webSocket || !e->mailbox) return nullptr;
  try {
    auto responder = std::make_shared<Responder>(e->handler->plugin(), *e->mailbox, std::move(*e->response));
    e->response->reset();
    responder->setHandlerRunning(true);
    responder->retainHandle();  // the plugin's reference
    e->deferred = responder;
    return reinterpret_cast<ms_responder*>(responder.get());
  } catch (const std::exception& ex) {
    log::error(std::string("cannot defer an answer: ") + ex.what());
    return nullptr;
  }
}

// ---- ms_responder

Responder& responder(ms_responder* r) { return *reinterpret_cast<Responder*>(r); }
const Responder& responder(const ms_responder* r) { return *reinterpret_cast<const Responder*>(r); }

void responderRetain(ms_responder* r) { responder(r).retainHandle(); }
void responderRelease(ms_responder* r) {
  if (std::shared_ptr<Responder> last = responder(r).releaseHandle()) last->pluginLetGo();
}
int responderSetCallbacks(ms_responder* r, const ms_responder_callbacks* callbacks, void* user) {
  return responder(r).setCallbacks(callbacks, user);
}
void* responderUser(const ms_responder* r) { return responder(r).user(); }
int responderSetStatus(ms_responder* r, int status) { return responder(r).setStatus(status); }
int responderSetContentType(ms_responder* r, const char* type, std::size_t size) {
  return responder(r).setContentType(view(type, size));
}
int responderAddHeader(ms_responder* r, const char* name, std::size_t nameSize, const char* value,
                       std::size_t valueSize) {
  return responder(r).addHeader(view(name, nameSize), view(value, valueSize));
}
int responderSendInterim(ms_responder* r, int status, const ms_str* names, const ms_str* values, std::size_t count) {
  return responder(r).sendInterim(status, names, values, count);
}
int responderAppend(ms_responder* r, const char* data, std::size_t size) { return responder(r).append(view(data, size)); }
int responderFinish(ms_responder* r) { return responder(r).finish(); }
int responderStartStream(ms_responder* r) { return responder(r).startStream(); }
int responderWrite(ms_responder* r, const char* data, std::size_t size) { return responder(r).write(view(data, size)); }
int responderEnd(ms_responder* r) { return responder(r).end(); }
int responderCancelled(const ms_responder* r) { return responder(r).cancelled() ? 1 : 0; }
int responderReadBody(ms_responder* r, const ms_body_callbacks* callbacks, void* user) {
  return responder(r).readBody(callbacks, user);
}
void responderResumeBody(ms_responder* r) { responder(r).resumeBody(); }

// ---- ms_timer

// A plugin's timer: scheduled on a reactor (which holds it through its task) and handed
// to the plugin (one handle count). Its user is released exactly once: after it fired, or
// when it is cancelled, or when the reactor drops it unfired (stopping).
class HostTimer : public CountedHandle<HostTimer> {
 public:
  HostTimer(std::shared_ptr<LoadedPlugin> plugin, void (*fire)(void*), void* user, void (*release)(void*))
      : plugin_(std::move(plugin)), fire_(fire), release_(release), user_(user) {}
  ~HostTimer() { releaseUser(); }
  void run() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (done_) return;
      done_ = true;
    }
    if (fire_) fire_(user_);
    releaseUser();
  }
  void cancel() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (done_) return;
      done_ = true;
    }
    releaseUser();
  }

 private:
  void releaseUser() {
    void* user = nullptr;
    std::shared_ptr<LoadedPlugin> plugin;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (released_) return;
      released_ = true;
      user = user_;
      plugin = std::move(plugin_);
    }
    if (release_) release_(user);
    // `plugin` goes last: the release ran the plugin's code.
  }

  std::mutex mutex_;
  std::shared_ptr<LoadedPlugin> plugin_;  // pins the code of fire_ and release_
  void (*fire_)(void*);
  void (*release_)(void*);
  void* user_;
  bool done_ = false;
  bool released_ = false;
};

ms_timer* timerStart(ms_library* library, std::uint64_t delayMs, void (*fire)(void*), void* user, void (*release)(void*)) {
  std::shared_ptr<LoadedPlugin> pin;
  if (library) {
    try {
      pin = LoadedPlugin::fromLibrary(library)->shared_from_this();
    } catch (const std::bad_weak_ptr&) {
      if (release) release(user);  // the library is being unloaded
      return nullptr;
    }
  }
  std::shared_ptr<HostTimer> timer;
  try {
    timer = std::make_shared<HostTimer>(std::move(pin), fire, user, release);
  } catch (...) {
    if (release) release(user);
    return nullptr;
  }
  const std::int64_t delay = delayMs > static_cast<std::uint64_t>(INT32_MAX) ? INT32_MAX : static_cast<std::int64_t>(delayMs);
  const std::int64_t at = Reactor::monotonicMs() + delay;
  if (Reactor* reactor = Reactor::current()) {
    reactor->runAt(at, [timer] { timer->run(); });
  } else {
    std::shared_ptr<ReactorMailbox> mailbox = Reactor::anyMailbox();
    // A reactor that stops first destroys the task unrun: the timer then releases its user.
    if (!mailbox || !mailbox->post([timer, at] { Reactor::current()->runAt(at, [timer] { timer->run(); }); }))
      return nullptr;  // `timer` goes here, releasing the user
  }
  timer->retainHandle();
  return reinterpret_cast<ms_timer*>(timer.get());
}
void timerCancel(ms_timer* t) {
  auto* timer = reinterpret_cast<HostTimer*>(t);
  timer->cancel();
  std::shared_ptr<HostTimer> last = timer->releaseHandle();
}
void timerRelease(ms_timer* t) { std::shared_ptr<HostTimer> last = reinterpret_cast<HostTimer*>(t)->releaseHandle(); }

// ---- ms_bytes

ms_bytes* bytesCreate(const char* data, std::size_t size) {
  try {
    return reinterpret_cast<ms_bytes*>(SharedBuffer::create(data, size));
  } catch (...) {
    return nullptr;
  }
}
void bytesRetain(ms_bytes* b) { reinterpret_cast<SharedBuffer*>(b)->retain(); }
void bytesRelease(ms_bytes* b) { reinterpret_cast<SharedBuffer*>(b)->release(); }
ms_str bytesView(const ms_bytes* b) { return str(reinterpret_cast<const SharedBuffer*>(b)->view()); }

// ---- ms_conn

PeerHandle& conn(ms_conn* c) { return *reinterpret_cast<PeerHandle*>(c); }
const PeerHandle& conn(const ms_conn* c) { return *reinterpret_cast<const PeerHandle*>(c); }
void connRetain(ms_conn* c) { conn(c).retainHandle(); }
void connRelease(ms_conn* c) { std::shared_ptr<PeerHandle> last = conn(c).releaseHandle(); }
int connSend(ms_conn* c, ms_bytes* bytes) {
  if (!bytes) return 0;
  return conn(c).send(BufferRef::share(reinterpret_cast<SharedBuffer*>(bytes))) ? 1 : 0;
}
void connClose(ms_conn* c) { conn(c).close(); }
void connSetSendLimit(ms_conn* c, std::uint64_t bytes) { conn(c).setSendLimit(static_cast<std::size_t>(bytes)); }
std::uint64_t connQueuedBytes(const ms_conn* c) { return conn(c).queuedBytes(); }
int connTransport(const ms_conn* c) { return conn(c).transport(); }
ms_str connRemoteAddress(const ms_conn* c) { return str(conn(c).remoteAddress()); }
std::uint64_t connId(const ms_conn* c) { return conn(c).id(); }

// ---- status

ms_status* statusAdd(ms_library* library, const ms_status_callbacks* callbacks, void* user) {
  if (!callbacks) return nullptr;
  const void* owner = library ? static_cast<const void*>(LoadedPlugin::fromLibrary(library)) : nullptr;
  return Metrics::instance().addProvider(owner, callbacks, user);
}
void statusRemove(ms_status* status) { Metrics::instance().removeProvider(status); }
void bufferAppend(ms_buffer* buffer, const char* data, std::size_t size) {
  reinterpret_cast<std::string*>(buffer)->append(data, size);
}

const ms_host_api kHostApi = {
    sizeof(ms_host_api),
    &hostLog,
    &contextPluginName,
    &contextConfig,
    &contextFail,
    &configKind,
    &configScalar,
    &configSize,
    &configItem,
    &configKey,
    &configFind,
    &configPlace,
    &requestMethod,
    &requestTarget,
    &requestPath,
    &requestQuery,
    &requestRemoteAddress,
    &requestAuthority,
    &requestId,
    &requestVersion,
    &requestHeaderCount,
    &requestHeaderAt,
    &requestHeader,
    &requestCaptureCount,
    &requestCaptureAt,
    &requestCapture,
    &requestBody,
    &requestBodyStreamed,
    &responseSetStatus,
    &responseSetContentType,
    &responseAddHeader,
    &responseAppend,
    &responseSetBody,
    &responseSendFile,
    &responseSetKeepAlive,
    &responseSendInterim,
    &responseFail,
    &responseAcceptWebSocket,
    &responseDefer,
    &responderRetain,
    &responderRelease,
    &responderSetCallbacks,
    &responderUser,
    &responderSetStatus,
    &responderSetContentType,
    &responderAddHeader,
    &responderSendInterim,
    &responderAppend,
    &responderFinish,
    &responderStartStream,
    &responderWrite,
    &responderEnd,
    &responderCancelled,
    &responderReadBody,
    &responderResumeBody,
    &timerStart,
    &timerCancel,
    &timerRelease,
    &bytesCreate,
    &bytesRetain,
    &bytesRelease,
    &bytesView,
    &connRetain,
    &connRelease,
    &connSend,
    &connClose,
    &connSetSendLimit,
    &connQueuedBytes,
    &connTransport,
    &connRemoteAddress,
    &connId,
    &statusAdd,
    &statusRemove,
    &bufferAppend,
};

}  // namespace

const ms_host_api& hostApi() { return kHostApi; }

void* createPluginObject(LoadedPlugin& plugin, void* (*create)(ms_context*), void (*destroy)(void*),
                         const ConfigTree& config, const std::string& configFile, const std::string& place) {
  CreateContext context{plugin.name(), &config, {}, false};
  void* object = create(reinterpret_cast<ms_context*>(&context));
  if (object && !context.failed) return object;
  if (object) destroy(object);
  // A plugin's own message names its place (ConfigNode's errors do); else give it one.
  if (!configFile.empty() && context.failure.rfind(configFile + ":", 0) == 0) throw ConfigError(context.failure);
  throw ConfigError(place + "plugin '" + plugin.name() + "' refused to start: " +
                    (context.failure.empty() ? "it created nothing and did not say why" : context.failure));
}

}  // namespace microserver::core
