// Tests for normalizeConfinedPath: the string-level fence in front of every static file.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "site/PathConfinement.h"

using microserver::core::normalizeConfinedPath;

namespace {

// The normalised path, or "<refused>".
std::string normalized(std::string_view path) {
  std::string out = "garbage from a previous call";
  return normalizeConfinedPath(path, out) ? out : std::string("<refused>");
}

}  // namespace

TEST(PathConfinementTest, PlainPathsLoseTheirLeadingSlash) {
  EXPECT_EQ(normalized("/index.html"), "index.html");
  EXPECT_EQ(normalized("/css/site.css"), "css/site.css");
  EXPECT_EQ(normalized("css/site.css"), "css/site.css");
}

TEST(PathConfinementTest, RootFormsNormaliseToTheEmptyPath) {
  EXPECT_EQ(normalized(""), "");
  EXPECT_EQ(normalized("/"), "");
  EXPECT_EQ(normalized("//"), "");
  EXPECT_EQ(normalized("/./"), "");
  EXPECT_EQ(normalized("/a/.."), "");
}

TEST(PathConfinementTest, RepeatedSlashesAndDotSegmentsCollapse) {
  EXPECT_EQ(normalized("//etc/passwd"), "etc/passwd");  // stays inside the root
  EXPECT_EQ(normalized("/a//b///c"), "a/b/c");
  EXPECT_EQ(normalized("/a/./b/."), "a/b");
  EXPECT_EQ(normalized("/sub/"), "sub");
}

TEST(PathConfinementTest, DotDotInsideTheRootResolves) {
  EXPECT_EQ(normalized("/a/b/../c"), "a/c");
  EXPECT_EQ(normalized("/a/b/../../c"), "c");
  EXPECT_EQ(normalized("/a/./../b"), "b");
}

TEST(PathConfinementTest, DotDotAboveTheRootIsRefused) {
  EXPECT_EQ(normalized("/../etc/passwd"), "<refused>");
  EXPECT_EQ(normalized("/a/../../x"), "<refused>");
  EXPECT_EQ(normalized("/.."), "<refused>");
  EXPECT_EQ(normalized(".."), "<refused>");
  EXPECT_EQ(normalized("/./../x"), "<refused>");
  EXPECT_EQ(normalized("/a/b/../../../x"), "<refused>");
  EXPECT_EQ(normalized("/../a/.."), "<refused>");  // no climbing out and back in
}

TEST(PathConfinementTest, PercentEscapesAreNotDecodedAgain) {
  EXPECT_EQ(normalized("/%2e%2e/etc/passwd"), "%2e%2e/etc/passwd");
  EXPECT_EQ(normalized("/%2E%2E"), "%2E%2E");
  EXPECT_EQ(normalized("/a%2f..%2fb"), "a%2f..%2fb");
}

TEST(PathConfinementTest, BackslashIsRefusedAnywhere) {
  EXPECT_EQ(normalized("/..\\x"), "<refused>");
  EXPECT_EQ(normalized("/a\\b"), "<refused>");
  EXPECT_EQ(normalized("\\"), "<refused>");
}

TEST(PathConfinementTest, NulIsRefusedAnywhere) {
  EXPECT_EQ(normalized(std::string_view("/a.txt\0.html", 12)), "<refused>");
  EXPECT_EQ(normalized(std::string_view("\0", 1)), "<refused>");
}

TEST(PathConfinementTest, DotsThatAreNotDotSegmentsAreFileNames) {
  EXPECT_EQ(normalized("/..."), "...");
  EXPECT_EQ(normalized("/.hidden"), ".hidden");
  EXPECT_EQ(normalized("/a..b/..c"), "a..b/..c");
}
