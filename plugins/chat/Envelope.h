// Envelope: one room line as it travels between instances through Redis (the payload of
// a PUBLISH on the room's channel and an item of its history list), and the line the
// members of each instance then get.
//
// The payload is one line of text, fields separated by tabs, the text last (it may hold
// tabs, never "\n"):
//
//   chat1 <instance> <epoch> <seq> <kind> <time> <from> <member> <text>
//
//   instance  the sending instance's name (ChatConfig: isInstanceName)
//   epoch     1..16 hex digits, random per start of the instance's service: a restarted
//             instance counts its seq from 1 again, and (instance, epoch) tells the two apart
//   seq       1.. per (instance, epoch), +1 per line in the order the instance published
//             them: a receiver drops a repeat (seq not above the last it delivered)
//   kind      m (a message), j (joined), l (left), s (left: cut off as too slow)
//   time      the sender's `YYYY-MM-DD HH:MM:SS.mmm` (so every instance shows the same)
//   from      the member's ip:port, as its instance saw it
//   member    the member's connection id on its instance (0 for an HTTP post): lets the
//             instance skip the joiner when its own `joined` comes back
//   text      the line (m), empty for j, l and s
//
// Anyone who can PUBLISH to the Redis can put anything on the channel, so decode() trusts
// nothing: every field is checked, a "\n" in the text is refused (it would forge a second
// line for every member), invalid UTF-8 becomes U+FFFD, and a text longer than the
// receiver's limit is refused.
//
// What members get (see ChatPlugin.cpp):
//   <time> <from>@<instance> <text>\n
//   <time> * <from>@<instance> joined\n      ... left\n      ... left (too slow)\n
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <microserver/Service.h>

namespace chat {

struct Envelope {
  enum class Kind : char { Message = 'm', Join = 'j', Leave = 'l', Slow = 's' };

  std::string instance;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  Kind kind = Kind::Message;
  std::string time;
  std::string from;
  std::uint64_t member = 0;
  std::string text;
};

std::string encodeEnvelope(const Envelope& envelope);
// The envelope in `payload`, or nullopt with `*error` saying why not. `maxTextBytes`
// bounds the text (after invalid UTF-8 is replaced).
std::optional<Envelope> decodeEnvelope(std::string_view payload, std::size_t maxTextBytes,
                                       std::string* error = nullptr);

// The line members get for an envelope, and where its parts are in it: `from` covers
// "<from>@<instance>", `text` the message (or "joined", "left", "left (too slow)").
struct RenderedLine {
  microserver::SharedBytes bytes;
  std::uint32_t fromPos = 0, fromLen = 0, textPos = 0, textLen = 0;
};
RenderedLine renderEnvelope(const Envelope& envelope);

// A member of another instance, as its instance lists it in Redis: a hash per instance,
// field = the address, value = "<transport>\t<joined>" (transport tcp or websocket).
struct FleetMember {
  std::string address;
  std::string instance;
  bool webSocket = false;
  std::string joined;
};
std::string encodeMemberValue(bool webSocket, std::string_view joined);
std::optional<FleetMember> decodeMember(std::string_view instance, std::string_view address, std::string_view value);

// The parts' rules, shared with the tests.
bool isTimestampText(std::string_view text);  // YYYY-MM-DD HH:MM:SS.mmm
bool isAddressText(std::string_view text);    // 1..64 of A-Z a-z 0-9 . : [ ] % _ -

}  // namespace chat
