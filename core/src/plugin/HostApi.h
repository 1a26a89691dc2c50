// HostApi: the server's side of the plugin ABI (microserver/microserver.h): the table of
// functions every plugin's entry point receives, each a thin C shim over a core object:
//   ms_exchange -> Exchange (site/)        ms_responder -> Responder (site/)
//   ms_conn     -> PeerHandle (ws/)        ms_bytes     -> SharedBuffer (base/)
//   ms_config   -> ConfigTree (base/)      ms_timer     -> a timer on a Reactor (net/)
//   ms_library  -> LoadedPlugin (plugin/)  ms_status    -> a provider in Metrics (base/)
// No C++ exception leaves a shim: a refusal is an MS_* result.
#pragma once

#include <string>

#include "base/ConfigTree.h"
#include "microserver/microserver.h"

namespace microserver::core {

class LoadedPlugin;

const ms_host_api& hostApi();

// Calls a plugin's handler_create or service_create with `config`. Returns the object, or
// throws ConfigError: the plugin's message when it names its place in `configFile`, else
// `place` + "plugin 'x' refused to start: " + its message. (`destroy` frees an object
// made despite a refusal.)
void* createPluginObject(LoadedPlugin& plugin, void* (*create)(ms_context*), void (*destroy)(void*),
                         const ConfigTree& config, const std::string& configFile, const std::string& place);

}  // namespace microserver::core
