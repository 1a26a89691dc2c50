// Tests for mimeTypeFor: the Content-Type every static file is sent with.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "site/MimeTypes.h"

using microserver::core::mimeTypeFor;

TEST(MimeTypesTest, EveryRequiredExtensionHasItsType) {
  struct Case {
    const char* file;
    const char* type;
  };
  const Case cases[] = {
      {"a.html", "text/html; charset=utf-8"},
      {"a.htm", "text/html; charset=utf-8"},
      {"a.css", "text/css; charset=utf-8"},
      {"a.js", "text/javascript; charset=utf-8"},
      {"a.mjs", "text/javascript; charset=utf-8"},
      {"a.json", "application/json; charset=utf-8"},
      {"a.js.map", "application/json; charset=utf-8"},
      {"a.svg", "image/svg+xml; charset=utf-8"},
      {"a.png", "image/png"},
      {"a.jpg", "image/jpeg"},
      {"a.jpeg", "image/jpeg"},
      {"a.gif", "image/gif"},
      {"a.webp", "image/webp"},
      {"a.avif", "image/avif"},
      {"a.ico", "image/x-icon"},
      {"a.wasm", "application/wasm"},
      {"a.txt", "text/plain; charset=utf-8"},
      {"a.md", "text/markdown; charset=utf-8"},
      {"a.xml", "application/xml; charset=utf-8"},
      {"a.pdf", "application/pdf"},
      {"a.woff", "font/woff"},
      {"a.woff2", "font/woff2"},
      {"a.ttf", "font/ttf"},
      {"a.otf", "font/otf"},
      {"a.mp4", "video/mp4"},
      {"a.webm", "video/webm"},
      {"a.mp3", "audio/mpeg"},
      {"a.ogg", "audio/ogg"},
      {"a.wav", "audio/wav"},
      {"a.csv", "text/csv; charset=utf-8"},
      {"a.yaml", "application/yaml; charset=utf-8"},
      {"a.yml", "application/yaml; charset=utf-8"},
      {"a.zip", "application/zip"},
      {"a.gz", "application/gzip"},
  };
  for (const Case& c : cases) EXPECT_EQ(mimeTypeFor(c.file), c.type) << c.file;
}

TEST(MimeTypesTest, ExtensionMatchIgnoresCase) {
  EXPECT_EQ(mimeTypeFor("PHOTO.JPG"), "image/jpeg");
  EXPECT_EQ(mimeTypeFor("Index.HtMl"), "text/html; charset=utf-8");
  EXPECT_EQ(mimeTypeFor("font.WOFF2"), "font/woff2");
}

TEST(MimeTypesTest, OnlyTheLastExtensionCounts) {
  EXPECT_EQ(mimeTypeFor("backup.tar.gz"), "application/gzip");
  EXPECT_EQ(mimeTypeFor("page.html.txt"), "text/plain; charset=utf-8");
}

TEST(MimeTypesTest, DotsInFolderNamesAreNotExtensions) {
  EXPECT_EQ(mimeTypeFor("v1.html/LICENSE"), "application/octet-stream");
  EXPECT_EQ(mimeTypeFor("css/site.css"), "text/css; charset=utf-8");
}

TEST(MimeTypesTest, UnknownOrMissingExtensionIsOctetStream) {
  EXPECT_EQ(mimeTypeFor("program.exe"), "application/octet-stream");
  EXPECT_EQ(mimeTypeFor("Makefile"), "application/octet-stream");
  EXPECT_EQ(mimeTypeFor("trailing."), "application/octet-stream");
  EXPECT_EQ(mimeTypeFor(""), "application/octet-stream");
  EXPECT_EQ(mimeTypeFor("a.htmlx"), "application/octet-stream");
  EXPECT_EQ(mimeTypeFor("a.htm l"), "application/octet-stream");
}

TEST(MimeTypesTest, OverlongExtensionDoesNotOverflowTheLowerCaseBuffer) {
  std::string name = "file." + std::string(4096, 'A');
  EXPECT_EQ(mimeTypeFor(name), "application/octet-stream");
}

TEST(MimeTypesTest, EveryTextualTypeDeclaresUtf8) {
  for (const char* file : {"a.html", "a.css", "a.js", "a.json", "a.txt", "a.md", "a.csv", "a.xml", "a.svg"}) {
    std::string_view type = mimeTypeFor(file);
    EXPECT_NE(type.find("; charset=utf-8"), std::string_view::npos) << file;
  }
  EXPECT_EQ(mimeTypeFor("a.png").find("charset"), std::string_view::npos);
}
