// PluginLoader: each kind of bad plugin is refused with a message naming its file; good
// ones load, unchanged libraries are reused across scans and replaced ones re-read.
#include "plugin/PluginLoader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/Metrics.h"
#include "plugin/PluginLogger.h"

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
                       ": not a microserver plugin (it exports no microserver_plugin_descriptor(); declare one with "
                       "MICROSERVER_PLUGIN(...))");
}

TEST(PluginLoaderTest, RefusesAnAbiMismatchShowingBothVersions) {
  PluginLoader loader;
  std::string error;
  EXPECT_FALSE(loader.load(fixture("abi_mismatch", "abi_mismatch"), error));
  EXPECT_EQ(error, fixture("abi_mismatch", "abi_mismatch") +
                       ": refused: built for plugin ABI version 999, this server has version " +
                       std::to_string(MICROSERVER_ABI_VERSION) + " (rebuild the plugin against this server's SDK)");
}

TEST(PluginLoaderTest, RefusesALayoutMismatchShowingBothLayouts) {
  PluginLoader loader;
  std::string error;
  EXPECT_FALSE(loader.load(fixture("layout_mismatch", "layout_mismatch"), error));
  EXPECT_TRUE(Contains(error, fixture("layout_mismatch", "layout_mismatch") +
                                  ": refused: built against different SDK headers (Request " +
                                  std::to_string(sizeof(Request) + 8)));
  EXPECT_TRUE(Contains(error, "; this server: Request " + std::to_string(sizeof(Request))));
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

TEST(PluginLoaderTest, CreatedHandlersRunAndThrowAcrossTheBoundary) {
  PluginLoader loader;
  std::string error;
  auto plugin = loader.load(fixture("good", "thrower"), error);
  ASSERT_TRUE(plugin) << error;
  ConfigNode config;
  PluginLogger logger("thrower");
  Handler* handler = plugin->descriptor().createHandler({"thrower", config, logger, Metrics::instance()});
  Request::Parts parts;
  parts.path = "/throw";
  Response response;
  EXPECT_THROW(handler->handle(Request(parts), response), std::runtime_error);
  parts.path = "/ok";
  handler->handle(Request(parts), response);
  EXPECT_EQ(response.body(), "fine\n");
  plugin->descriptor().destroyHandler(handler);
}

TEST(CheckDescriptorTest, AcceptsThisBuildsOwnDescriptor) {
  PluginDescriptor d{sizeof(PluginDescriptor), MICROSERVER_ABI_VERSION, MICROSERVER_BUILD_SIGNATURE,
                     MICROSERVER_SDK_LAYOUT, MICROSERVER_COMPILER, "ok", "1", "", nullptr, nullptr, nullptr,
                     nullptr, {}};
  EXPECT_EQ(checkDescriptor(d), "");
}

TEST(CheckDescriptorTest, RefusesEachKindOfMismatch) {
  auto base = [] {
    return PluginDescriptor{sizeof(PluginDescriptor), MICROSERVER_ABI_VERSION, MICROSERVER_BUILD_SIGNATURE,
                            MICROSERVER_SDK_LAYOUT, MICROSERVER_COMPILER, "ok", "1", "", nullptr, nullptr, nullptr,
                            nullptr, {}};
  };
  PluginDescriptor d = base();
  d.structSize = 16;
  EXPECT_TRUE(Contains(checkDescriptor(d), "its descriptor is 16 bytes"));
  d = base();
  d.buildSignature = "libc++ 1";
  EXPECT_TRUE(Contains(checkDescriptor(d), "built with libc++ 1"));
  d = base();
  d.name = "bad name";
  EXPECT_TRUE(Contains(checkDescriptor(d), "its name 'bad name' may only hold"));
  d = base();
  d.name = "";
  EXPECT_EQ(checkDescriptor(d), "its descriptor has no name");
}

}  // namespace
}  // namespace microserver::core
