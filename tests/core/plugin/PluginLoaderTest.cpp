// PluginLoader: each kind of bad plugin is refused with a message naming its file; good
// ones load, unchanged libraries are reused across scans and replaced ones re-read.
#include "plugin/PluginLoader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/Metrics.h"
#include "plugin/ElfSymbols.h"
#include "site/Exchange.h"
#include "site/Site.h"

namespace microserver::core {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = MICROSERVER_FIXTURE_DIR;

std::string fixture(const std::string& folder, const std::string& name) {
  return kFixtures + "/" + folder + "/lib" + name + ".so";
}

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << part << "\" not in:\n" << text;
}

// Libraries dropped by a test are unloaded on the unloader thread: each test waits for
// them at its end, so no dlclose is still running into the next test or into exit().
class WaitForUnloadsAfterEachTest : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo&) override { waitForUnloads(); }
};
const bool kListening = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new WaitForUnloadsAfterEachTest);
  return true;
}();

// A scratch plugin folder the test fills with copies of fixtures.
class PluginFolder {
 public:
  PluginFolder() {
    char pattern[] = "/tmp/microserver-loader-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~PluginFolder() { fs::remove_all(path_); }
  std::string put(const std::string& source, const std::string& asName) {
    std::string target = path_ + "/" + asName;
    fs::copy_file(source, target, fs::copy_options::overwrite_existing);
    return target;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(PluginLoaderTest, LoadsAGoodPluginAndItsDescriptor) {
  PluginLoader loader;
  std::string error;
  auto plugin = loader.load(fixture("good", "thrower"), error);
  ASSERT_TRUE(plugin) << error;
  EXPECT_EQ(plugin->name(), "thrower");
  EXPECT_STREQ(plugin->descriptor().version, "1.0");
  EXPECT_EQ(plugin->file(), fixture("good", "thrower"));
}

TEST(PluginLoaderTest, RefusesALibraryWithoutTheEntryPoint) {
  PluginLoader loader;
  std::string error;
  EXPECT_FALSE(loader.load(fixture("not_a_plugin", "not_a_plugin"), error));
  EXPECT_EQ(error, fixture("not_a_plugin", "not_a_plugin") +
                       ": not a microserver plugin (it exports no microserver_plugin_v2(); declare one with "
                       "MICROSERVER_PLUGIN(...), or write it in C: see microserver/microserver.h)");
}

TEST(PluginLoaderTest, RefusesAnotherAbiShowingBothSides) {
  PluginLoader loader;
  std::string error;
  EXPECT_FALSE(loader.load(fixture("abi_mismatch", "abi_mismatch"), error));
  EXPECT_EQ(error, fixture("abi_mismatch", "abi_mismatch") +
                       ": refused: built against another plugin ABI (SDK 0.0.1, ABI 000000000000; this server: SDK " +
                       MS_SDK_VERSION + ", ABI " + std::string(MS_ABI_DIGEST).substr(0, 12) +
                       "): rebuild the plugin against this server's SDK");
}

TEST(PluginLoaderTest, RefusesAPluginBuiltAgainstAReorderedHeaderThoughNothingWasBumped) {
  // tests/fixtures/CMakeLists.txt swaps two members of ms_host_api in a copy of the
  // header and lets the build compute that copy's digest.
  PluginLoader loader;
  std::string error;
  EXPECT_FALSE(loader.load(fixture("reordered_abi", "reordered_abi"), error));
  EXPECT_TRUE(Contains(error, fixture("reordered_abi", "reordered_abi") + ": refused: built against another plugin ABI (SDK " +
                                  MS_SDK_VERSION + ", ABI "));
}

TEST(PluginLoaderTest, RefusesAMissingSymbolWithDlerrorNamingTheFile) {
  PluginLoader loader;
  std::string error;
  EXPECT_FALSE(loader.load(fixture("missing_symbol", "missing_symbol"), error));
  EXPECT_TRUE(Contains(error, fixture("missing_symbol", "missing_symbol") + ": cannot load: "));
  EXPECT_TRUE(Contains(error, "undefined symbol: microserver_fixture_function_that_does_not_exist"));
  EXPECT_FALSE(Contains(error, "microserver-plugins-")) << "the private copy's name must not leak into messages";
}

TEST(PluginLoaderTest, RefusesAFileThatIsNotALibrary) {
  PluginFolder folder;
  std::string file = folder.path() + "/libjunk.so";
  std::ofstream(file) << "this is not an ELF file\n";
  PluginLoader loader;
  std::string error;
  EXPECT_FALSE(loader.load(file, error));
  EXPECT_TRUE(Contains(error, file + ": cannot load: "));
}

TEST(PluginLoaderTest, ScanRefusesTwoFilesWithOnePluginName) {
  PluginLoader loader;
  PluginScan scan = loader.scan(kFixtures + "/duplicate", {}, true);
  ASSERT_EQ(scan.errors.size(), 1u);
  EXPECT_EQ(scan.errors[0], kFixtures + "/duplicate/libdup_b.so: refused: plugin name 'dup' is already used by " +
                                kFixtures + "/duplicate/libdup_a.so (rename one of them)");
  EXPECT_EQ(scan.plugins.size(), 1u);
}

TEST(PluginLoaderTest, ScanFindsOnlyLibSoFiles) {
  PluginFolder folder;
  folder.put(fixture("good", "thrower"), "libthrower.so");
  folder.put(fixture("good", "thrower"), "thrower.so.bak");
  folder.put(fixture("good", "thrower"), "notes.txt");
  PluginLoader loader;
  PluginScan scan = loader.scan(folder.path(), {}, true);
  EXPECT_TRUE(scan.errors.empty());
  ASSERT_EQ(scan.plugins.size(), 1u);
  EXPECT_TRUE(scan.plugins.count("thrower"));
}

TEST(PluginLoaderTest, MissingFolderIsAnErrorOnlyWhenRequired) {
  PluginLoader loader;
  EXPECT_TRUE(loader.scan("/nonexistent/plugins", {}, false).errors.empty());
  PluginScan required = loader.scan("/nonexistent/plugins", {}, true);
  ASSERT_EQ(required.errors.size(), 1u);
  EXPECT_TRUE(Contains(required.errors[0], "/nonexistent/plugins: cannot read the plugin folder: No such file"));
}

TEST(PluginLoaderTest, UnchangedLibrariesAreReusedAndReplacedOnesReread) {
  PluginFolder folder;
  std::string file = folder.put(fixture("versioned_v1", "versioned"), "libversioned.so");
  PluginLoader loader;
  PluginScan first = loader.scan(folder.path(), {}, true);
  ASSERT_TRUE(first.errors.empty());
  PluginScan again = loader.scan(folder.path(), first.plugins, true);
  EXPECT_EQ(again.plugins.at("versioned"), first.plugins.at("versioned")) << "an unchanged file must be reused";
  EXPECT_STREQ(first.plugins.at("versioned")->descriptor().version, "v1");

  // Replace the file in place (as `cp` does), with another build of the same plugin.
  folder.put(fixture("versioned_v2", "versioned"), "libversioned.so");
  PluginScan replaced = loader.scan(folder.path(), again.plugins, true);
  ASSERT_TRUE(replaced.errors.empty());
  EXPECT_NE(replaced.plugins.at("versioned"), first.plugins.at("versioned"));
  EXPECT_STREQ(replaced.plugins.at("versioned")->descriptor().version, "v2")
      << "the replaced library must really be re-read, not the cached old one";
  // The old generation is still usable while someone holds it.
  EXPECT_STREQ(first.plugins.at("versioned")->descriptor().version, "v1");
}

TEST(PluginLoaderTest, HandlersRunAndTheirExceptionsStayInThePlugin) {
  PluginLoader loader;
  std::string error;
  auto plugin = loader.load(fixture("good", "thrower"), error);
  ASSERT_TRUE(plugin) << error;
  Config config = loadConfigText("routes:\n  - { path: '^/', handler: thrower }\n", "routes.yaml", "/");
  BoundHandler handler(plugin, config.routes[0], config.server.limits, "routes[0]", "routes.yaml", "");
  for (const char* path : {"/throw", "/throw-int", "/ok"}) {
    Request::Parts parts;
    parts.path = path;
    Request request(parts);
    Response response;
    Exchange exchange;
    exchange.request = &request;
    exchange.response = &response;
    handler.run(exchange);  // an exception must not cross: it becomes a 500 here
    if (std::string(path) == "/ok") {
      EXPECT_EQ(response.status(), 200);
      EXPECT_EQ(response.body(), "fine\n");
    } else {
      EXPECT_EQ(response.status(), 500) << path;
    }
  }
}

TEST(PluginLoaderTest, ALibraryIsUnmappedOnceItsLastReferenceIsGone) {
  PluginLoader loader;
  std::string error;
  auto plugin = loader.load(fixture("good", "thrower"), error);
  ASSERT_TRUE(plugin) << error;
  std::string copy = plugin->copyName();
  auto mapped = [&] {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
      if (line.find("/" + copy) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(mapped());
  plugin.reset();
  waitForUnloads();
  EXPECT_FALSE(mapped()) << copy << " is still mapped: was it built with STB_GNU_UNIQUE symbols?";
}

TEST(PluginLoaderTest, PluginsBuiltByTheProjectHaveNoGnuUniqueSymbols) {
  // microserver_add_plugin builds with -fno-gnu-unique, so glibc can unload them.
  for (const char* name : {"hello", "echo", "kv", "slow", "chat"}) {
    std::string file = std::string(MICROSERVER_PLUGIN_DIR) + "/lib" + name + ".so";
    std::vector<std::string> unique = gnuUniqueSymbols(file);
    EXPECT_TRUE(unique.empty()) << file << " defines " << (unique.empty() ? "" : unique[0]);
  }
}

TEST(CheckDescriptorTest, AcceptsThisBuildsOwnDescription) {
  ms_plugin d{};
  d.struct_size = sizeof(ms_plugin);
  d.abi = MS_ABI_DIGEST;
  d.name = "ok";
  d.handler_create = [](ms_context*) -> void* { return nullptr; };
  d.handler_destroy = [](void*) {};
  d.handler_handle = [](void*, ms_exchange*) {};
  EXPECT_EQ(checkDescriptor(d), "");
}

TEST(CheckDescriptorTest, RefusesEachKindOfMistake) {
  auto base = [] {
    ms_plugin d{};
    d.struct_size = sizeof(ms_plugin);
    d.abi = MS_ABI_DIGEST;
    d.name = "ok";
    d.handler_create = [](ms_context*) -> void* { return nullptr; };
    d.handler_destroy = [](void*) {};
    d.handler_handle = [](void*, ms_exchange*) {};
    return d;
  };
  ms_plugin d = base();
  d.struct_size = 16;
  EXPECT_TRUE(Contains(checkDescriptor(d), "its description is 16 bytes"));
  d = base();
  d.abi = nullptr;
  EXPECT_TRUE(Contains(checkDescriptor(d), "built against another plugin ABI (SDK unknown, ABI (none)"));
  d = base();
  d.name = "bad name";
  EXPECT_TRUE(Contains(checkDescriptor(d), "its name 'bad name' must be letters"));
  d = base();
  d.name = "";
  EXPECT_TRUE(Contains(checkDescriptor(d), "its name '' must be"));
  d = base();
  d.handler_destroy = nullptr;
  EXPECT_TRUE(Contains(checkDescriptor(d), "only some of handler_create"));
  d = base();
  d.service_create = [](ms_context*) -> void* { return nullptr; };
  EXPECT_TRUE(Contains(checkDescriptor(d), "only some of service_create"));
  d = base();
  d.handler_create = nullptr;
  d.handler_destroy = nullptr;
  d.handler_handle = nullptr;
  EXPECT_TRUE(Contains(checkDescriptor(d), "neither an HTTP handler nor a TCP service"));
}

}  // namespace
}  // namespace microserver::core
