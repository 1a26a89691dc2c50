// OutOfTreePlugin: a third party's plugin, built in a folder of its own against an
// installed SDK (find_package(microserver) + microserver_add_plugin), as the README's
// "Out of tree" section tells plugin authors to.
//
//   std::string so = e2e::buildGreeterPlugin(dir, prefix);   // prefix/lib/cmake/microserver/...
//   // route:  { path: '^/greet/(?<name>[a-z]+)$', handler: greeter, config: { who: outside } }
//   // answer: "greetings from outside to <name>\n"
#pragma once

#include <string>

#include "ServerProcess.h"

namespace e2e {

// Writes the greeter plugin's source and CMakeLists.txt to dir/greeter, configures it with
// CMAKE_PREFIX_PATH=`prefix` and builds it (bounded in time); returns the path of the built
// libgreeter.so. Throws std::runtime_error with the step's output if a step fails.
std::string buildGreeterPlugin(const TempDir& dir, const std::string& prefix);

}  // namespace e2e
