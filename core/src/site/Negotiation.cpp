// Negotiation: see Negotiation.h.
#include "site/Negotiation.h"

#include <algorithm>

#include "base/HttpDate.h"
#include "microserver/Text.h"

namespace microserver::core {

namespace {

// Calls f(element) for each element of a comma-separated list (RFC 9110 5.6.1), trimmed,
// skipping empty ones.
template <typename F>
void forEachElement(std::string_view list, F f) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view element = trimOws(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (!element.empty()) f(element);
  }
}

// A qvalue (RFC 9110 12.4.2) in thousandths: "1", "0.5", "0.001"; -1 if malformed.
int parseQuality(std::string_view q) {
  if (q.empty() || q.size() > 5) return -1;
  if (q[0] == '1') {
    for (std::size_t i = 1; i < q.size(); ++i)
      if (i == 1 ? q[i] != '.' : q[i] != '0') return -1;
    return 1000;
  }
  if (q[0] != '0') return -1;
  if (q.size() == 1) return 0;
  if (q[1] != '.') return -1;
  int value = 0, digits = 0;
  for (std::size_t i = 2; i < q.size(); ++i) {
    if (q[i] < '0' || q[i] > '9') return -1;
    value = value * 10 + (q[i] - '0');
    ++digits;
  }
  while (digits++ < 3) value *= 10;
  return value;
}

}  // namespace

std::string_view codingName(Coding coding) {
  switch (coding) {
    case Coding::Gzip: return "gzip";
    case Coding::Brotli: return "br";
    case Coding::Identity: return "identity";
  }
  return "identity";
}

Coding chooseCoding(std::string_view header, const std::vector<Coding>& available, bool& refused) {
  refused = false;
  // Quality per coding as the client gave it; -1: not mentioned.
  int gzip = -1, brotli = -1, identity = -1, any = -1;
  forEachElement(header, [&](std::string_view element) {
    std::size_t semicolon = element.find(';');
    std::string_view name = trimOws(element.substr(0, semicolon));
    int quality = 1000;
    if (semicolon != std::string_view::npos) {
      std::string_view params = element.substr(semicolon + 1);
      quality = -1;
      std::size_t at = 0;
      while (at <= params.size()) {
        std::size_t next = params.find(';', at);
        std::string_view param = trimOws(params.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
        std::size_t eq = param.find('=');
        if (eq != std::string_view::npos && equalsIgnoreCase(trimOws(param.substr(0, eq)), "q"))
          quality = parseQuality(trimOws(param.substr(eq + 1)));
        if (next == std::string_view::npos) break;
        at = next + 1;
      }
      if (quality < 0) return;  // a malformed qvalue: ignore the element
    }
    if (equalsIgnoreCase(name, "gzip") || equalsIgnoreCase(name, "x-gzip")) gzip = std::max(gzip, quality);
    else if (equalsIgnoreCase(name, "br")) brotli = std::max(brotli, quality);
    else if (equalsIgnoreCase(name, "identity")) identity = std::max(identity, quality);
    else if (name == "*") any = std::max(any, quality);
  });
  auto qualityOf = [&](Coding c) {
    int q = c == Coding::Gzip ? gzip : c == Coding::Brotli ? brotli : identity;
    if (q >= 0) return q;
    if (any >= 0) return any;
    // Not mentioned: identity stays acceptable (RFC 9110 12.5.3), the others are not.
    return c == Coding::Identity ? 1 : 0;
  };
  if (header.empty()) return Coding::Identity;
  Coding best = Coding::Identity;
  int bestQuality = 0;
  for (Coding c : available) {
    int q = qualityOf(c);
    if (q > bestQuality) {
      best = c;
      bestQuality = q;
    }
  }
  if (bestQuality > 0) return best;
  if (qualityOf(Coding::Identity) > 0) return Coding::Identity;
  refused = true;
  return Coding::Identity;
}

RangeVerdict parseRanges(std::string_view header, std::uint64_t size, std::size_t maxRanges,
                         std::vector<ByteRange>& ranges) {
  ranges.clear();
  header = trimOws(header);
  std::size_t eq = header.find('=');
  if (eq == std::string_view::npos || !equalsIgnoreCase(trimOws(header.substr(0, eq)), "bytes"))
    return RangeVerdict::Ignore;
  // Digits only; saturating: a huge first-pos is past the end, a huge last-pos is the end.
  auto number = [](std::string_view s, std::uint64_t& value) {
    if (s.empty()) return false;
    value = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
      value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
    }
    return true;
  };
  bool malformed = false, any = false;
  std::size_t asked = 0;
  forEachElement(header.substr(eq + 1), [&](std::string_view spec) {
    if (malformed) return;
    any = true;
    if (++asked > maxRanges) {
      malformed = true;
      return;
    }
    std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos) {
      malformed = true;
      return;
    }
    std::string_view first = trimOws(spec.substr(0, dash)), last = trimOws(spec.substr(dash + 1));
    ByteRange range;
    if (first.empty()) {  // "-n": the last n bytes
      std::uint64_t suffix = 0;
      if (!number(last, suffix)) {
        malformed = true;
        return;
      }
      if (suffix == 0 || size == 0) return;  // unsatisfiable: dropped
      range.length = std::min(suffix, size);
      range.start = size - range.length;
    } else {
      std::uint64_t firstPos = 0, lastPos = UINT64_MAX;
      if (!number(first, firstPos) || (!last.empty() && (!number(last, lastPos) || lastPos < firstPos))) {
        malformed = true;
        return;
      }
      if (firstPos >= size) return;  // unsatisfiable: dropped
      lastPos = std::min(lastPos, size - 1);
      range.start = firstPos;
      range.length = lastPos - firstPos + 1;
    }
    ranges.push_back(range);
  });
  if (malformed || !any) {
    ranges.clear();
    return RangeVerdict::Ignore;
  }
  if (ranges.empty()) return RangeVerdict::Unsatisfiable;
  // Overlapping ranges could make one request cost many times the file: refused by
  // answering the whole representation (RFC 9110 14.2 allows ignoring Range).
  std::vector<ByteRange> sorted = ranges;
  std::sort(sorted.begin(), sorted.end(), [](const ByteRange& a, const ByteRange& b) { return a.start < b.start; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].start < sorted[i - 1].start + sorted[i - 1].length) {
      ranges.clear();
      return RangeVerdict::Ignore;
    }
  return RangeVerdict::Satisfiable;
}

bool etagListMatches(std::string_view list, std::string_view etag, bool strong) {
  list = trimOws(list);
  if (list == "*") return true;
  bool ourWeak = etag.substr(0, 2) == "W/";
  std::string_view ours = ourWeak ? etag.substr(2) : etag;
  if (strong && ourWeak) return false;
  // Malformed members are skipped rather than failing the whole list, so one bad tag from
  // a client cannot turn a cache hit into a full download.
  while (!list.empty()) {
    while (!list.empty() && (list.front() == ',' || list.front() == ' ' || list.front() == '\t')) list.remove_prefix(1);
    bool weak = list.substr(0, 2) == "W/";
    if (weak) list.remove_prefix(2);
    if (list.empty()) break;
    if (list.front() != '"') {
      std::size_t comma = list.find(',');
      list.remove_prefix(comma == std::string_view::npos ? list.size() : comma);
      continue;
    }
    std::size_t close = list.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(0, close + 1) == ours && !(strong && weak)) return true;
    list.remove_prefix(close + 1);
  }
  return false;
}

Precondition evaluatePreconditions(const Validators& v, bool getOrHead, std::string_view etag,
                                   std::time_t lastModified) {
  std::time_t date = 0;
  if (v.hasIfMatch) {
    if (!etagListMatches(v.ifMatch, etag, true)) return Precondition::Failed;
  } else if (!v.ifUnmodifiedSince.empty() && parseHttpDate(trimOws(v.ifUnmodifiedSince), date)) {
    if (lastModified > date) return Precondition::Failed;
  }
  if (v.hasIfNoneMatch) {
    if (etagListMatches(v.ifNoneMatch, etag, false))
      return getOrHead ? Precondition::NotModified : Precondition::Failed;
  } else if (getOrHead && !v.ifModifiedSince.empty() && parseHttpDate(trimOws(v.ifModifiedSince), date)) {
    if (lastModified <= date) return Precondition::NotModified;
  }
  return Precondition::Proceed;
}

bool ifRangeAllows(std::string_view ifRange, bool hasIfRange, std::string_view etag, std::time_t lastModified) {
  if (!hasIfRange) return true;
  std::string_view value = trimOws(ifRange);
  if (!value.empty() && value.front() == '"') return value == etag;  // strong: a weak tag never matches
  std::time_t date = 0;
  return parseHttpDate(value, date) && date == lastModified;
}

}  // namespace microserver::core
