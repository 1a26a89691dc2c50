#include "OutOfTreePlugin.h"

#include <filesystem>
#include <stdexcept>
#include <vector>

#include "Command.h"

#ifndef MICROSERVER_INSTALL_CMAKE
#define MICROSERVER_INSTALL_CMAKE "cmake"
#endif

namespace e2e {
namespace {

const char* kPluginSource = R"(// An out-of-tree plugin: nothing but the installed SDK.
#include <microserver/Plugin.h>

#include <string>

class Greeter : public microserver::Handler {
 public:
  explicit Greeter(const microserver::PluginContext& context) {
    context.config.allowKeys({"who"});
    who_ = context.config.getString("who", "nobody");
  }
  void handle(const microserver::Request& request, microserver::Response& response) override {
    response.setContentType("text/plain; charset=utf-8");
    response.setBody("greetings from " + who_ + " to " + std::string(request.capture("name")) + "\n");
  }

 private:
  std::string who_;
};

MICROSERVER_PLUGIN("greeter", "0.1", "an out-of-tree example", Greeter)
)";

const char* kPluginCmake = R"(cmake_minimum_required(VERSION 3.25)
project(greeter LANGUAGES CXX)
find_package(microserver 0.2 REQUIRED)
microserver_add_plugin(greeter SOURCES greeter.cpp OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/out)
)";

void runStep(const std::string& what, const std::vector<std::string>& argv) {
  CommandResult r = runCommand(argv, std::chrono::minutes(5));
  if (r.exitCode != 0)
    throw std::runtime_error("building the out-of-tree plugin: " + what + " failed (exit " +
                             std::to_string(r.exitCode) + (r.timedOut ? ", timed out" : "") + "):\n" + r.out + r.err);
}

}  // namespace

std::string buildGreeterPlugin(const TempDir& dir, const std::string& prefix) {
  dir.write("greeter/greeter.cpp", kPluginSource);
  dir.write("greeter/CMakeLists.txt", kPluginCmake);
  const std::string cmake = MICROSERVER_INSTALL_CMAKE;
  const std::string build = dir.path() + "/greeter-build";
  runStep("configuring", {cmake, "-S", dir.path() + "/greeter", "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix,
                          "-DCMAKE_BUILD_TYPE=Release"});
  runStep("building", {cmake, "--build", build});
  const std::string built = build + "/out/libgreeter.so";
  if (!std::filesystem::exists(built)) throw std::runtime_error("building the out-of-tree plugin made no " + built);
  return built;
}

}  // namespace e2e
