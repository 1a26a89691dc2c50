// Envelope: see Envelope.h.
#include "Envelope.h"

#include <cctype>
#include <charconv>

#include <microserver/Text.h>

#include "ChatConfig.h"
#include "Timestamp.h"

namespace chat {

namespace {

constexpr std::string_view kVersion = "chat1";

bool fail(std::string* error, const char* why) {
  if (error) *error = why;
  return false;
}

bool decimal(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool hex(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 16) return false;
  for (char c : text)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

// The next tab-separated field of `rest` (which then starts after its tab).
bool field(std::string_view& rest, std::string_view& out) {
  const std::size_t tab = rest.find('\t');
  if (tab == std::string_view::npos) return false;
  out = rest.substr(0, tab);
  rest.remove_prefix(tab + 1);
  return true;
}

const char* kindText(Envelope::Kind kind) {
  switch (kind) {
    case Envelope::Kind::Join:
      return "joined";
    case Envelope::Kind::Leave:
      return "left";
    case Envelope::Kind::Slow:
      return "left (too slow)";
    case Envelope::Kind::Message:
      break;
  }
  return "";
}

}  // namespace

bool isTimestampText(std::string_view t) {
  if (t.size() != kTimestampLength) return false;
  static constexpr std::string_view shape = "dddd-dd-dd dd:dd:dd.ddd";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i]) return false;
  }
  return true;
}

bool isAddressText(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != ':' && c != '[' && c != ']' && c != '%' &&
        c != '_' && c != '-')
      return false;
  return true;
}

std::string encodeEnvelope(const Envelope& e) {
  char epoch[17];
  auto end = std::to_chars(epoch, epoch + sizeof epoch, e.epoch, 16).ptr;
  std::string out;
  out.reserve(kVersion.size() + e.instance.size() + e.from.size() + e.text.size() + 80);
  out.append(kVersion).push_back('\t');
  out.append(e.instance).push_back('\t');
  out.append(epoch, end).push_back('\t');
  out.append(std::to_string(e.seq)).push_back('\t');
  out.push_back(static_cast<char>(e.kind));
  out.push_back('\t');
  out.append(e.time).push_back('\t');
  out.append(e.from).push_back('\t');
  out.append(std::to_string(e.member)).push_back('\t');
  out.append(e.text);
  return out;
}

std::optional<Envelope> decodeEnvelope(std::string_view payload, std::size_t maxTextBytes, std::string* error) {
  Envelope e;
  std::string_view rest = payload, version, instance, epoch, seq, kind, time, from, member;
  if (!field(rest, version) || version != kVersion) return fail(error, "not a chat1 envelope"), std::nullopt;
  if (!field(rest, instance) || !field(rest, epoch) || !field(rest, seq) || !field(rest, kind) || !field(rest, time) ||
      !field(rest, from) || !field(rest, member))
    return fail(error, "missing fields"), std::nullopt;
  if (!isInstanceName(instance)) return fail(error, "bad instance name"), std::nullopt;
  if (!hex(epoch, e.epoch)) return fail(error, "bad epoch"), std::nullopt;
  if (!decimal(seq, e.seq) || e.seq == 0) return fail(error, "bad seq"), std::nullopt;
  if (kind.size() != 1 || (kind[0] != 'm' && kind[0] != 'j' && kind[0] != 'l' && kind[0] != 's'))
    return fail(error, "bad kind"), std::nullopt;
  e.kind = static_cast<Envelope::Kind>(kind[0]);
  if (!isTimestampText(time)) return fail(error, "bad time"), std::nullopt;
  if (!isAddressText(from)) return fail(error, "bad sender address"), std::nullopt;
  if (!decimal(member, e.member)) return fail(error, "bad member id"), std::nullopt;
  std::string_view text = rest;
  if (text.find('\n') != std::string_view::npos) return fail(error, "a newline in the text"), std::nullopt;
  if (e.kind == Envelope::Kind::Message) {
    if (text.empty()) return fail(error, "an empty message"), std::nullopt;
    if (text.size() > maxTextBytes) return fail(error, "the text is too long"), std::nullopt;
    microserver::appendValidUtf8(e.text, text);
    if (e.text.size() > maxTextBytes) return fail(error, "the text is too long"), std::nullopt;
  } else if (!text.empty()) {
    return fail(error, "text on a join or leave"), std::nullopt;
  }
  e.instance = std::string(instance);
  e.time = std::string(time);
  e.from = std::string(from);
  return e;
}

RenderedLine renderEnvelope(const Envelope& e) {
  const bool message = e.kind == Envelope::Kind::Message;
  const std::string_view text = message ? std::string_view(e.text) : std::string_view(kindText(e.kind));
  std::string line;
  line.reserve(e.time.size() + e.from.size() + e.instance.size() + text.size() + 6);
  line.append(e.time).append(message ? " " : " * ");
  RenderedLine out;
  out.fromPos = static_cast<std::uint32_t>(line.size());
  line.append(e.from).append("@").append(e.instance);
  out.fromLen = static_cast<std::uint32_t>(line.size() - out.fromPos);
  line.push_back(' ');
  out.textPos = static_cast<std::uint32_t>(line.size());
  line.append(text);
  out.textLen = static_cast<std::uint32_t>(text.size());
  line.push_back('\n');
  out.bytes = microserver::makeShared(std::move(line));
  return out;
}

std::string encodeMemberValue(bool webSocket, std::string_view joined) {
  return std::string(webSocket ? "websocket" : "tcp") + "\t" + std::string(joined);
}

std::optional<FleetMember> decodeMember(std::string_view instance, std::string_view address, std::string_view value) {
  if (!isInstanceName(instance) || !isAddressText(address)) return std::nullopt;
  const std::size_t tab = value.find('\t');
  if (tab == std::string_view::npos) return std::nullopt;
  std::string_view transport = value.substr(0, tab), joined = value.substr(tab + 1);
  if ((transport != "tcp" && transport != "websocket") || !isTimestampText(joined)) return std::nullopt;
  return FleetMember{std::string(address), std::string(instance), transport == "websocket", std::string(joined)};
}

}  // namespace chat
