// The hello plugin as built: loaded from the plugin folder and called in-process.
#include <gtest/gtest.h>

#include "PluginTestSupport.h"

namespace {

using plugintest::LoadedHandler;
using plugintest::TestRequest;

TEST(HelloPlugin, GreetsTheCapturedNameWithTheConfiguredGreeting) {
  LoadedHandler hello("hello", "{ greeting: Howdy }");
  TestRequest request;
  request.captures = {{"name", "Ada"}};
  plugintest::Answer response = hello.call(request);
  EXPECT_EQ(response.status(), 200);
  EXPECT_EQ(response.body(), "Howdy, Ada!\n");
  EXPECT_EQ(response.contentType(), "text/plain; charset=utf-8");
}

TEST(HelloPlugin, DefaultsToHelloAndWorld) {
  LoadedHandler hello("hello", "");
  EXPECT_EQ(hello.call({}).body(), "Hello, world!\n");
}

TEST(HelloPlugin, RefusesAnUnknownConfigKeyWithItsPlace) {
  try {
    LoadedHandler hello("hello", "{ greting: Hi }");
    FAIL() << "a misspelt key was accepted";
  } catch (const microserver::ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "routes.yaml:4:15: routes[0].config.greting: unknown key 'greting' (expected one of: greeting)");
  }
}

TEST(HelloPlugin, RefusesAnEmptyGreeting) {
  EXPECT_THROW(LoadedHandler("hello", "{ greeting: '' }"), microserver::ConfigError);
}

TEST(HelloPlugin, DescribesItself) {
  LoadedHandler hello("hello", "");
  EXPECT_STREQ(hello.descriptor().name, "hello");
  EXPECT_STREQ(hello.descriptor().abi, MS_ABI_DIGEST);
}

}  // namespace
