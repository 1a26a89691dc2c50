// Tests for Negotiation: Accept-Encoding, Range and the validators, as RFC 9110 reads them.
#include "site/Negotiation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using microserver::core::ByteRange;
using microserver::core::chooseCoding;
using microserver::core::Coding;
using microserver::core::etagListMatches;
using microserver::core::evaluatePreconditions;
using microserver::core::ifRangeAllows;
using microserver::core::parseRanges;
using microserver::core::Precondition;
using microserver::core::RangeVerdict;
using microserver::core::Validators;

const std::vector<Coding> kBoth{Coding::Brotli, Coding::Gzip};  // brotli smaller: preferred on a tie

Coding choose(std::string_view header, const std::vector<Coding>& available = kBoth) {
  bool refused = false;
  Coding c = chooseCoding(header, available, refused);
  EXPECT_FALSE(refused) << header;
  return c;
}

TEST(ChooseCodingTest, NoHeaderMeansIdentity) { EXPECT_EQ(choose(""), Coding::Identity); }

TEST(ChooseCodingTest, TiesGoToTheOrderGiven) {
  EXPECT_EQ(choose("gzip, br"), Coding::Brotli);
  EXPECT_EQ(choose("gzip, deflate, br, zstd"), Coding::Brotli);
  EXPECT_EQ(choose("gzip, br", {Coding::Gzip, Coding::Brotli}), Coding::Gzip);
}

TEST(ChooseCodingTest, QualitiesDecide) {
  EXPECT_EQ(choose("br;q=0.5, gzip;q=0.8"), Coding::Gzip);
  EXPECT_EQ(choose("br;q=1.0, gzip;q=0.999"), Coding::Brotli);
  EXPECT_EQ(choose("br;q=0, gzip"), Coding::Gzip);
  EXPECT_EQ(choose("br; q=0 , gzip ; Q=0.1"), Coding::Gzip);
}

TEST(ChooseCodingTest, NamesAreCaseInsensitiveAndXGzipIsGzip) {
  EXPECT_EQ(choose("GZIP"), Coding::Gzip);
  EXPECT_EQ(choose("x-gzip"), Coding::Gzip);
  EXPECT_EQ(choose("BR"), Coding::Brotli);
}

TEST(ChooseCodingTest, OnlyWhatIsAvailableIsChosen) {
  EXPECT_EQ(choose("br", {Coding::Gzip}), Coding::Identity);
  EXPECT_EQ(choose("gzip", {}), Coding::Identity);
  EXPECT_EQ(choose("deflate, zstd"), Coding::Identity);
}

TEST(ChooseCodingTest, StarCoversWhatIsNotNamed) {
  EXPECT_EQ(choose("*"), Coding::Brotli);
  EXPECT_EQ(choose("br;q=0, *"), Coding::Gzip);
  EXPECT_EQ(choose("*;q=0, identity"), Coding::Identity);
}

TEST(ChooseCodingTest, MalformedQualitiesIgnoreTheirElement) {
  for (const char* header : {"br;q=2", "br;q=abc", "br;q=0.1234", "br;q=", "br;q=-1", "br;q=1.5"})
    EXPECT_EQ(choose(std::string(header) + ", gzip;q=0.1"), Coding::Gzip) << header;
}

TEST(ChooseCodingTest, IdentityRefusedWithNothingElseIsReported) {
  bool refused = false;
  EXPECT_EQ(chooseCoding("identity;q=0", {}, refused), Coding::Identity);
  EXPECT_TRUE(refused);
  EXPECT_EQ(chooseCoding("*;q=0", {Coding::Gzip}, refused), Coding::Identity);
  EXPECT_TRUE(refused);
  EXPECT_EQ(chooseCoding("identity;q=0, gzip", {Coding::Gzip}, refused), Coding::Gzip);
  EXPECT_FALSE(refused);
}

std::vector<ByteRange> ranges(std::string_view header, std::uint64_t size, RangeVerdict expected) {
  std::vector<ByteRange> out;
  EXPECT_EQ(parseRanges(header, size, 16, out), expected) << header;
  return out;
}

TEST(ParseRangesTest, OneRangeOfEachForm) {
  auto r = ranges("bytes=2-5", 10, RangeVerdict::Satisfiable);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].start, 2u);
  EXPECT_EQ(r[0].length, 4u);
  r = ranges("bytes=7-", 10, RangeVerdict::Satisfiable);
  EXPECT_EQ(r[0].start, 7u);
  EXPECT_EQ(r[0].length, 3u);
  r = ranges("bytes=-3", 10, RangeVerdict::Satisfiable);
  EXPECT_EQ(r[0].start, 7u);
  EXPECT_EQ(r[0].length, 3u);
  r = ranges("bytes=-30", 10, RangeVerdict::Satisfiable);  // more than there is: all of it
  EXPECT_EQ(r[0].start, 0u);
  EXPECT_EQ(r[0].length, 10u);
  r = ranges("bytes=5-99999999999999999999999", 10, RangeVerdict::Satisfiable);  // saturates
  EXPECT_EQ(r[0].length, 5u);
}

TEST(ParseRangesTest, SeveralRangesKeepTheirOrderAndDropUnsatisfiableOnes) {
  auto r = ranges("bytes=6-7, 0-1, 50-60", 10, RangeVerdict::Satisfiable);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].start, 6u);
  EXPECT_EQ(r[1].start, 0u);
}

TEST(ParseRangesTest, UnsatisfiableWhenNoneStartsInside) {
  ranges("bytes=10-", 10, RangeVerdict::Unsatisfiable);
  ranges("bytes=10-20, 30-", 10, RangeVerdict::Unsatisfiable);
  ranges("bytes=-0", 10, RangeVerdict::Unsatisfiable);
  ranges("bytes=0-", 0, RangeVerdict::Unsatisfiable);
}

TEST(ParseRangesTest, MalformedOverlappingOrTooManyAreIgnored) {
  for (const char* h : {"bytes=abc", "bytes=5-2", "items=0-1", "bytes=", "bytes=-", "bytes 0-1", "bytes=1-2-3",
                        "bytes=+1-2", "bytes=0-5,3-7", "bytes=-5,0-6", "bytes=0x1-2", "=0-1", ""})
    EXPECT_TRUE(ranges(h, 10, RangeVerdict::Ignore).empty()) << h;
  std::string many = "bytes=0-0";
  for (int i = 1; i <= 16; ++i) many += "," + std::to_string(i) + "-" + std::to_string(i);
  ranges(many, 100, RangeVerdict::Ignore);  // 17 ranges against a limit of 16
}

TEST(ParseRangesTest, UnitIsCaseInsensitiveAndSpacesAreAllowed) {
  EXPECT_EQ(ranges("Bytes = 0-0 ,  2-3 ", 10, RangeVerdict::Satisfiable).size(), 2u);
}

constexpr const char* kTag = "\"abc-1\"";

TEST(EtagListTest, StrongAndWeakComparison) {
  EXPECT_TRUE(etagListMatches("\"abc-1\"", kTag, true));
  EXPECT_TRUE(etagListMatches("\"x\", \"abc-1\"", kTag, true));
  EXPECT_FALSE(etagListMatches("W/\"abc-1\"", kTag, true));
  EXPECT_TRUE(etagListMatches("W/\"abc-1\"", kTag, false));
  EXPECT_FALSE(etagListMatches("\"abc-1\"", "W/\"abc-1\"", true));
  EXPECT_TRUE(etagListMatches("\"abc-1\"", "W/\"abc-1\"", false));
  EXPECT_TRUE(etagListMatches(" * ", kTag, true));
  EXPECT_FALSE(etagListMatches("\"abc-2\"", kTag, false));
}

TEST(EtagListTest, MalformedMembersAreSkipped) {
  EXPECT_TRUE(etagListMatches("garbage, \"abc-1\"", kTag, false));
  EXPECT_FALSE(etagListMatches("\"abc-1", kTag, false));
  EXPECT_FALSE(etagListMatches(",,,", kTag, false));
}

constexpr std::time_t kModified = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr const char* kModifiedText = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr const char* kEarlier = "Sat, 05 Nov 1994 08:49:37 GMT";

Precondition evaluate(Validators v, bool getOrHead = true) { return evaluatePreconditions(v, getOrHead, kTag, kModified); }

TEST(PreconditionsTest, IfMatchFailsWith412UnlessAStrongMatch) {
  Validators v;
  v.hasIfMatch = true;
  v.ifMatch = "\"other\"";
  EXPECT_EQ(evaluate(v), Precondition::Failed);
  v.ifMatch = kTag;
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
  v.ifMatch = "W/\"abc-1\"";
  EXPECT_EQ(evaluate(v), Precondition::Failed);
  v.ifMatch = "*";
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
}

TEST(PreconditionsTest, IfUnmodifiedSinceFailsWhenChangedAfter) {
  Validators v;
  v.ifUnmodifiedSince = kEarlier;
  EXPECT_EQ(evaluate(v), Precondition::Failed);
  v.ifUnmodifiedSince = kModifiedText;
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
  v.ifUnmodifiedSince = "not a date";
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
  // If-Match present: If-Unmodified-Since is not looked at (RFC 9110 13.2.2 step 2).
  v.hasIfMatch = true;
  v.ifMatch = kTag;
  v.ifUnmodifiedSince = kEarlier;
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
}

TEST(PreconditionsTest, IfNoneMatchIs304ForGetAnd412Otherwise) {
  Validators v;
  v.hasIfNoneMatch = true;
  v.ifNoneMatch = "W/\"abc-1\"";
  EXPECT_EQ(evaluate(v), Precondition::NotModified);
  EXPECT_EQ(evaluate(v, false), Precondition::Failed);
  v.ifNoneMatch = "\"other\"";
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
  // If-None-Match present: If-Modified-Since is ignored.
  v.ifModifiedSince = kModifiedText;
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
}

TEST(PreconditionsTest, IfModifiedSinceOnlyForGetOrHead) {
  Validators v;
  v.ifModifiedSince = kModifiedText;
  EXPECT_EQ(evaluate(v), Precondition::NotModified);
  EXPECT_EQ(evaluate(v, false), Precondition::Proceed);
  v.ifModifiedSince = kEarlier;
  EXPECT_EQ(evaluate(v), Precondition::Proceed);
}

TEST(PreconditionsTest, IfMatchFailureComesBeforeNotModified) {
  Validators v;
  v.hasIfMatch = true;
  v.ifMatch = "\"other\"";
  v.hasIfNoneMatch = true;
  v.ifNoneMatch = kTag;
  EXPECT_EQ(evaluate(v), Precondition::Failed);
}

TEST(IfRangeTest, StrongTagOrExactDate) {
  EXPECT_TRUE(ifRangeAllows("", false, kTag, kModified));
  EXPECT_TRUE(ifRangeAllows(kTag, true, kTag, kModified));
  EXPECT_FALSE(ifRangeAllows("\"other\"", true, kTag, kModified));
  EXPECT_FALSE(ifRangeAllows("W/\"abc-1\"", true, kTag, kModified));
  EXPECT_TRUE(ifRangeAllows(kModifiedText, true, kTag, kModified));
  EXPECT_FALSE(ifRangeAllows(kEarlier, true, kTag, kModified));
  EXPECT_FALSE(ifRangeAllows("garbage", true, kTag, kModified));
  EXPECT_FALSE(ifRangeAllows("", true, kTag, kModified));
}

}  // namespace
