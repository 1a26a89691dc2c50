// Plugin: the C++ SDK's front door. Include this, write a Handler (and, for a TCP
// service, a Service), and declare the plugin once:
//
//   MICROSERVER_PLUGIN("hello", "1.0.0", "Greets by name", HelloHandler)
//   MICROSERVER_PLUGIN_WITH_SERVICE("chat", "1.0.0", "A chat room", ChatHandler, ChatService)
//
// Either macro writes the library's one exported function (microserver_plugin_v2, see
// microserver.h) and the C glue between the server and your classes: every call from the
// server is caught here, so no exception ever crosses into the server (a handler's becomes
// a 500, a constructor's a configuration error with its place).
//
// Lifecycle of what a plugin creates (Caddy's provisioning, nginx's module versioning):
//   Handler(context)   once per route that names the plugin, when a configuration is
//                      loaded (start-up and every reload), on the main thread. Read and
//                      check context.config here; throw ConfigError (ConfigNode's getters
//                      do) for a bad value.
//   handle(...)        per request: see Handler.h for the threading rules.
//   ~Handler()         when the configuration it belongs to is retired (after a reload,
//                      once no request uses it any more), on any thread.
// Build with microserver_add_plugin() (CMake): it sets what makes the library unloadable.
#pragma once

#include <cstring>
#include <memory>
#include <string_view>
#include <type_traits>

#include "microserver/ConfigNode.h"
#include "microserver/Handler.h"
#include "microserver/Host.h"
#include "microserver/Logger.h"
#include "microserver/Request.h"
#include "microserver/Responder.h"
#include "microserver/Response.h"
#include "microserver/Service.h"
#include "microserver/Status.h"
#include "microserver/Timer.h"

namespace microserver {

// What a plugin's constructors receive. `config` is valid during the constructor only
// (copy what you need); `logger` and `status` live as long as the plugin's library.
struct PluginContext {
  std::string_view pluginName;  // as in routes.yaml
  ConfigNode config;            // the route's or service's `config:` node (Null when absent)
  const Logger& logger;         // lines are prefixed with the plugin's name
  StatusRegistry& status;       // metrics, readiness and console lines (see Status.h)
};

namespace detail {

inline PluginContext makeContext(ms_context* c) {
  return PluginContext{view(host().context_plugin_name(c)), ConfigNode(host().context_config(c)), hostLogger(),
                       hostStatusRegistry()};
}

template <typename F>
void failContext(ms_context* c, F&& describe) {
  try {
    std::string message = describe();
    host().context_fail(c, message.data(), message.size());
  } catch (...) {
    host().context_fail(c, "out of memory", 13);
  }
}

template <class H>
struct HandlerGlue {
  static void* create(ms_context* c) noexcept {
    try {
      return new H(makeContext(c));
    } catch (const std::exception& e) {
      failContext(c, [&] { return std::string(e.what()); });
    } catch (...) {
      failContext(c, [] { return std::string("the handler's constructor threw a non-standard exception"); });
    }
    return nullptr;
  }
  static void destroy(void* h) noexcept { delete static_cast<H*>(h); }
  static void handle(void* h, ms_exchange* x) noexcept {
    try {
      Request request(x);
      Response response(x);
      static_cast<H*>(h)->handle(request, response);
    } catch (const std::exception& e) {
      host().response_fail(x, e.what(), std::strlen(e.what()));
    } catch (...) {
      host().response_fail(x, "a non-standard exception", 24);
    }
  }
};

// A service as the server holds it: shared, so WebSocket routes can hand it on too.
struct ServiceBox {
  std::shared_ptr<Service> service;
};

template <class S>
struct ServiceGlue {
  static void* create(ms_context* c) noexcept {
    try {
      return new ServiceBox{std::make_shared<S>(makeContext(c))};
    } catch (const std::exception& e) {
      failContext(c, [&] { return std::string(e.what()); });
    } catch (...) {
      failContext(c, [] { return std::string("the service's constructor threw a non-standard exception"); });
    }
    return nullptr;
  }
  static void destroy(void* s) noexcept { delete static_cast<ServiceBox*>(s); }
  static int start(void* s) noexcept {
    try {
      static_cast<ServiceBox*>(s)->service->start();
      return 0;
    } catch (const std::exception& e) {
      logError(std::string("the service failed to start: ") + e.what());
    } catch (...) {
      logError("the service failed to start: a non-standard exception");
    }
    return -1;
  }
  static void stop(void* s) noexcept {
    try {
      static_cast<ServiceBox*>(s)->service->stop();
    } catch (const std::exception& e) {
      logError(std::string("the service failed to stop cleanly: ") + e.what());
    } catch (...) {
    }
  }
  static int accept(void* s, ms_conn* conn, const ms_session_callbacks** callbacks, void** session) noexcept {
    try {
      auto box = std::make_unique<SessionBox>();
      box->connection = std::make_shared<HostConnection>(conn);
      box->session = static_cast<ServiceBox*>(s)->service->accept(box->connection);
      if (!box->session) return 0;
      *callbacks = SessionBox::callbacks();
      *session = box.release();
      return 1;
    } catch (const std::exception& e) {
      logError(std::string("refused a client: accept failed: ") + e.what());
    } catch (...) {
    }
    return 0;
  }
};

#ifdef __VERSION__
#define MICROSERVER_COMPILER __VERSION__
#else
#define MICROSERVER_COMPILER "unknown compiler"
#endif

template <class H, class S>
const ms_plugin* describe(const ms_host_api* api, ms_library* lib, const char* name, const char* version,
                          const char* description) {
  hostBinding.api = api;
  hostBinding.library = lib;
  static ms_plugin plugin = [&] {
    ms_plugin p{};
    p.struct_size = sizeof(ms_plugin);
    p.abi = MS_ABI_DIGEST;
    p.sdk_version = MS_SDK_VERSION;
    p.compiler = MICROSERVER_COMPILER;
    p.name = name;
    p.version = version;
    p.description = description;
    if constexpr (!std::is_void_v<H>) {
      p.handler_create = &HandlerGlue<H>::create;
      p.handler_destroy = &HandlerGlue<H>::destroy;
      p.handler_handle = &HandlerGlue<H>::handle;
    }
    if constexpr (!std::is_void_v<S>) {
      p.service_create = &ServiceGlue<S>::create;
      p.service_destroy = &ServiceGlue<S>::destroy;
      p.service_start = &ServiceGlue<S>::start;
      p.service_stop = &ServiceGlue<S>::stop;
      p.service_accept = &ServiceGlue<S>::accept;
    }
    return p;
  }();
  return &plugin;
}

}  // namespace detail
}  // namespace microserver

#define MICROSERVER_PLUGIN_DEFINE(NAME, VERSION, DESCRIPTION, HANDLER_CLASS, SERVICE_CLASS)                        \
  extern "C" MS_EXPORT const ms_plugin* MS_PLUGIN_ENTRY(const ms_host_api* host, ms_library* library) {          \
    return ::microserver::detail::describe<HANDLER_CLASS, SERVICE_CLASS>(host, library, NAME, VERSION, DESCRIPTION); \
  }

// Declares the plugin: its name, version, a one-line description, and the Handler class
// (constructed from a `const microserver::PluginContext&`) that answers its routes.
#define MICROSERVER_PLUGIN(NAME, VERSION, DESCRIPTION, HANDLER_CLASS) \
  MICROSERVER_PLUGIN_DEFINE(NAME, VERSION, DESCRIPTION, HANDLER_CLASS, void)

// Declares a plugin with both an HTTP handler and a TCP service (each constructed from a
// `const microserver::PluginContext&`); HANDLER_CLASS may be void for a service only.
#define MICROSERVER_PLUGIN_WITH_SERVICE(NAME, VERSION, DESCRIPTION, HANDLER_CLASS, SERVICE_CLASS) \
  MICROSERVER_PLUGIN_DEFINE(NAME, VERSION, DESCRIPTION, HANDLER_CLASS, SERVICE_CLASS)
