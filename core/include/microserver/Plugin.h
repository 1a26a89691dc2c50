// Plugin: the one symbol a plugin library exports, and the descriptor it returns.
//
// The server scans its plugin folder for lib*.so, dlopen()s each one and calls
// `microserver_plugin_descriptor()`. The descriptor says which SDK the plugin was built
// against (ABI version, C++ library ABI, the layout of the SDK types); any mismatch is
// refused with a message naming the file and both sides, never loaded and crashed.
//
// Lifecycle of what a plugin creates (nginx's module versioning, Caddy's provisioning):
//   createHandler(context)  once per route that names the plugin, when a configuration
//                           is loaded (start-up and every reload), on the main thread.
//                           Read and check context.config here; throw ConfigError (use
//                           ConfigNode's getters, which already do) for a bad value.
//   handler->handle(...)    per request: see Handler.h for the threading rules.
//   destroyHandler(h)       when the configuration it belongs to is retired (after a
//                           reload, once no request uses it any more), on any thread.
// Most plugins need none of this by hand: write a Handler class whose constructor takes
// a `const microserver::PluginContext&`, and say MICROSERVER_PLUGIN(...) once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "microserver/ConfigNode.h"
#include "microserver/Handler.h"
#include "microserver/Logger.h"
#include "microserver/Request.h"
#include "microserver/Response.h"
#include "microserver/Status.h"

// Bumped whenever a change to the SDK breaks plugins built against the previous one.
#define MICROSERVER_ABI_VERSION 1

namespace microserver {

class Service;  // TCP services (see Service.h); plugins without one leave its hooks null

// What the server hands to a plugin's factories. `config` is valid during the factory
// call only (copy what you need); `logger` lives as long as the plugin's library, so
// anything the plugin creates may keep it.
struct PluginContext {
  std::string_view pluginName;  // as in routes.yaml
  const ConfigNode& config;     // the route's or service's `config:` node (Null when absent)
  const Logger& logger;         // lines are prefixed with the plugin's name
  StatusRegistry& status;       // metrics, readiness and console lines (see Status.h)
};

// The sizes of the SDK's types as the plugin saw them: if any differs from the server's,
// the two were built from different headers or with a different C++ library.
struct SdkLayout {
  std::uint32_t request, response, configNode, pluginContext, string, vector;
};

#define MICROSERVER_SDK_LAYOUT                                                                          \
  ::microserver::SdkLayout {                                                                            \
    sizeof(::microserver::Request), sizeof(::microserver::Response), sizeof(::microserver::ConfigNode), \
        sizeof(::microserver::PluginContext), sizeof(std::string), sizeof(std::vector<int>)             \
  }

#define MICROSERVER_STRINGIFY2(x) #x
#define MICROSERVER_STRINGIFY(x) MICROSERVER_STRINGIFY2(x)
#if defined(_GLIBCXX_USE_CXX11_ABI)
#define MICROSERVER_STDLIB_ABI "libstdc++ cxx11-abi=" MICROSERVER_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)
#elif defined(_LIBCPP_VERSION)
#define MICROSERVER_STDLIB_ABI "libc++ " MICROSERVER_STRINGIFY(_LIBCPP_ABI_VERSION)
#else
#define MICROSERVER_STDLIB_ABI "unknown C++ library"
#endif
// Compared as a whole: the C++ library and its ABI must match exactly; the compiler is
// shown in messages to help, but gcc and clang on one system interoperate.
#define MICROSERVER_BUILD_SIGNATURE MICROSERVER_STDLIB_ABI

struct PluginDescriptor {
  std::uint32_t structSize;    // sizeof(PluginDescriptor) when built: lets the struct grow
  std::uint32_t abiVersion;    // MICROSERVER_ABI_VERSION
  const char* buildSignature;  // MICROSERVER_BUILD_SIGNATURE
  SdkLayout layout;            // MICROSERVER_SDK_LAYOUT
  const char* compiler;        // for messages only
  const char* name;            // what routes.yaml calls it: `handler: <name>`
  const char* version;
  const char* description;
  Handler* (*createHandler)(const PluginContext& context);  // null: no HTTP routes
  void (*destroyHandler)(Handler* handler);
  Service* (*createService)(const PluginContext& context);  // null: no TCP service
  void (*destroyService)(Service* service);
  void* reserved[8];           // zero; room for future hooks without an ABI break
};

namespace detail {
template <class H>
Handler* createHandler(const PluginContext& context) {
  return new H(context);
}
template <class H>
void destroyHandler(Handler* handler) {
  delete static_cast<H*>(handler);
}
}  // namespace detail

}  // namespace microserver

#define MICROSERVER_PLUGIN_ENTRY_POINT microserver_plugin_descriptor
#define MICROSERVER_PLUGIN_ENTRY_NAME MICROSERVER_STRINGIFY(MICROSERVER_PLUGIN_ENTRY_POINT)

#ifdef __VERSION__
#define MICROSERVER_COMPILER __VERSION__
#else
#define MICROSERVER_COMPILER "unknown compiler"
#endif

// The entry point and its descriptor; MICROSERVER_PLUGIN and MICROSERVER_PLUGIN_WITH_SERVICE
// (Service.h) fill it in.
#define MICROSERVER_PLUGIN_DESCRIPTOR(NAME, VERSION, DESCRIPTION, CREATE_HANDLER, DESTROY_HANDLER, CREATE_SERVICE, \
                                      DESTROY_SERVICE)                                                          \
  extern "C" __attribute__((visibility("default"))) const ::microserver::PluginDescriptor*                      \
  MICROSERVER_PLUGIN_ENTRY_POINT() {                                                                            \
    static const ::microserver::PluginDescriptor descriptor = {                                                 \
        sizeof(::microserver::PluginDescriptor),                                                                \
        MICROSERVER_ABI_VERSION,                                                                                \
        MICROSERVER_BUILD_SIGNATURE,                                                                            \
        MICROSERVER_SDK_LAYOUT,                                                                                 \
        MICROSERVER_COMPILER,                                                                                   \
        NAME,                                                                                                   \
        VERSION,                                                                                                \
        DESCRIPTION,                                                                                            \
        CREATE_HANDLER,                                                                                         \
        DESTROY_HANDLER,                                                                                        \
        CREATE_SERVICE,                                                                                         \
        DESTROY_SERVICE,                                                                                        \
        {}};                                                                                                    \
    return &descriptor;                                                                                         \
  }

// Declares the plugin: its name, version, a one-line description, and the Handler class
// (constructed from a `const microserver::PluginContext&`) that answers its routes.
#define MICROSERVER_PLUGIN(NAME, VERSION, DESCRIPTION, HANDLER_CLASS)                                         \
  MICROSERVER_PLUGIN_DESCRIPTOR(NAME, VERSION, DESCRIPTION, &::microserver::detail::createHandler<HANDLER_CLASS>, \
                                &::microserver::detail::destroyHandler<HANDLER_CLASS>, nullptr, nullptr)
