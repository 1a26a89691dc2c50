// The hello_c plugin (plugins/hello_c/hello.c: hello in C11, against microserver.h alone)
// as built: loaded from the plugin folder and called in-process, like HelloPluginTest.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "PluginTestSupport.h"

namespace {

using plugintest::LoadedHandler;
using plugintest::TestRequest;

std::string refusal(const std::string& configYaml) {
  try {
    LoadedHandler hello("hello_c", configYaml);
  } catch (const microserver::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(HelloCPlugin, GreetsTheCapturedNameWithTheConfiguredGreeting) {
  LoadedHandler hello("hello_c", "{ greeting: Howdy }");
  TestRequest request;
  request.captures = {{"name", "Ada"}};
  plugintest::Answer response = hello.call(request);
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body(), "Howdy, Ada!\n");
  EXPECT_EQ(response.contentType(), "text/plain; charset=utf-8");
}

TEST(HelloCPlugin, DefaultsToHelloAndWorld) {
  LoadedHandler hello("hello_c", "");
  EXPECT_EQ(hello.call({}).body(), "Hello, world!\n");
  LoadedHandler bare("hello_c", "{ greeting: }");  // a key without a value keeps the default
  EXPECT_EQ(bare.call({}).body(), "Hello, world!\n");
}

TEST(HelloCPlugin, FindsTheNameAmongOtherCaptures) {
  LoadedHandler hello("hello_c", "{ greeting: Hi }");
  TestRequest request;
  request.captures = {{"lang", "en"}, {"name", "Grace"}};
  EXPECT_EQ(hello.call(request).body(), "Hi, Grace!\n");
}

TEST(HelloCPlugin, HandlersOfTwoRoutesKeepTheirOwnGreeting) {
  LoadedHandler hello("hello_c", "{ greeting: Hello }");
  LoadedHandler bonjour(hello, "{ greeting: Bonjour }");
  EXPECT_EQ(hello.call({}).body(), "Hello, world!\n");
  EXPECT_EQ(bonjour.call({}).body(), "Bonjour, world!\n");
}

// The same message, to the character, as the C++ SDK's allowKeys() in the hello plugin.
TEST(HelloCPlugin, RefusesAnUnknownConfigKeyWithItsPlace) {
  EXPECT_EQ(refusal("{ greting: Hi }"),
            "routes.yaml:4:15: routes[0].config.greting: unknown key 'greting' (expected one of: greeting)");
}

TEST(HelloCPlugin, RefusesAnEmptyGreetingWithItsPlace) {
  EXPECT_EQ(refusal("{ greeting: '' }"), "routes.yaml:4:25: routes[0].config.greeting: the greeting must not be empty");
}

TEST(HelloCPlugin, RefusesAConfigThatIsNotAMapOrAGreetingThatIsNotAString) {
  EXPECT_EQ(refusal("Hi"), "routes.yaml:4:13: routes[0].config: expected a map");
  EXPECT_EQ(refusal("{ greeting: [a, b] }"), "routes.yaml:4:25: routes[0].config.greeting: expected a string");
}

TEST(HelloCPlugin, DescribesItself) {
  LoadedHandler hello("hello_c", "");
  const ms_plugin& d = hello.descriptor();
  EXPECT_STREQ(d.name, "hello_c");
  EXPECT_STREQ(d.abi, MS_ABI_DIGEST);
  EXPECT_STREQ(d.sdk_version, MS_SDK_VERSION);
  EXPECT_EQ(d.struct_size, sizeof(ms_plugin));
  EXPECT_EQ(std::string(d.compiler).rfind("C ", 0), 0u) << d.compiler;
  EXPECT_EQ(d.service_create, nullptr);
}

// Written in C: it needs no C++ runtime, and exports nothing but its entry point.
TEST(HelloCPlugin, NeedsNoCxxRuntimeAndExportsOnlyItsEntryPoint) {
  const std::string file = std::string(MICROSERVER_PLUGIN_DIR) + "/libhello_c.so";
  auto run = [](const std::string& command) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen((command + " 2>/dev/null").c_str(), "r"), ::pclose);
    std::string out;
    char buffer[4096];
    if (!pipe) return out;
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get())) out.append(buffer, n);
    return out;
  };
  std::string needed = run("readelf -d " + file);
  if (needed.find("NEEDED") == std::string::npos) GTEST_SKIP() << "readelf (binutils) is not available";
  EXPECT_EQ(needed.find("libstdc++"), std::string::npos) << needed;
  EXPECT_EQ(needed.find("libc++"), std::string::npos) << needed;
  std::string exported = run("nm -D --defined-only " + file);
  EXPECT_NE(exported.find(" T microserver_plugin_v2\n"), std::string::npos) << exported;
  std::size_t lines = 0;
  for (char c : exported) lines += c == '\n';
  EXPECT_EQ(lines, 1u) << exported;
}

}  // namespace
