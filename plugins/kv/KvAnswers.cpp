// KvAnswers: see KvAnswers.h.
#include "KvAnswers.h"

#include <utility>

#include <microserver/Text.h>

namespace kv {

namespace {

// {"<field>":"<key>"} or {"error":"...","key":"..."}: the key may be anything the client
// sent, so it goes through the JSON escaper.
std::string keyJson(std::string_view field, std::string_view key, std::string_view error = {}) {
  std::string out = "{";
  if (!error.empty()) {
    out.append(R"("error":)");
    microserver::appendJsonString(out, error);
    out.push_back(',');
  }
  microserver::appendJsonString(out, field);
  out.push_back(':');
  microserver::appendJsonString(out, key);
  out.append("}\n");
  return out;
}

Answer json(int status, std::string body) {
  Answer a;
  a.status = status;
  a.contentType = std::string(kJson);
  a.body = std::move(body);
  return a;
}

}  // namespace

Answer keysAnswer(const std::vector<std::string>& keys) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const std::string& key : keys) {
    if (!first) out.push_back(',');
    first = false;
    microserver::appendJsonString(out, key);
  }
  out.append("]}\n");
  return json(200, std::move(out));
}

Answer valueAnswer(std::string contentType, std::string value) {
  Answer a;
  a.contentType = std::move(contentType);
  a.body = std::move(value);
  return a;
}

Answer notFoundAnswer(std::string_view key) { return json(404, keyJson("key", key, "no such key")); }
Answer createdAnswer(std::string_view key) { return json(201, keyJson("created", key)); }
Answer updatedAnswer(std::string_view key) { return json(200, keyJson("updated", key)); }

Answer deletedAnswer() {
  Answer a;
  a.status = 204;
  return a;
}

Answer tooLargeAnswer(std::size_t size, std::size_t maxValueBytes) {
  return json(413, R"({"error":"value too large","size":)" + std::to_string(size) + R"(,"max_value_bytes":)" +
                       std::to_string(maxValueBytes) + "}\n");
}

Answer fullAnswer(std::size_t maxKeys) {
  return json(507, R"({"error":"store is full","max_keys":)" + std::to_string(maxKeys) + "}\n");
}

Answer invalidKeyAnswer(std::string_view key) {
  return json(400, keyJson("key", key, "invalid key: use 1 to 128 characters from A-Z a-z 0-9 . _ -"));
}

Answer methodNotAllowedAnswer(std::string_view allow) {
  std::string body = R"({"error":"method not allowed","allow":)";
  microserver::appendJsonString(body, allow);
  body.append("}\n");
  Answer a = json(405, std::move(body));
  a.allow = std::string(allow);
  return a;
}

Answer unavailableAnswer(std::string_view store, std::string_view why) {
  Answer a = json(503, keyJson("store", store, "store unavailable: " + std::string(why)));
  a.retryAfter = true;
  return a;
}

void send(microserver::Response& response, const Answer& answer) {
  if (!answer.allow.empty()) response.addHeader("Allow", answer.allow);
  if (answer.retryAfter) response.addHeader("Retry-After", "1");
  response.setStatus(answer.status);
  if (!answer.contentType.empty()) response.setContentType(answer.contentType);
  if (!answer.body.empty()) response.setBody(answer.body);
}

void send(microserver::Responder& later, const Answer& answer) {
  if (!answer.allow.empty()) later.addHeader("Allow", answer.allow);
  if (answer.retryAfter) later.addHeader("Retry-After", "1");
  later.setStatus(answer.status);
  if (!answer.contentType.empty()) {
    try {
      later.setContentType(answer.contentType);
    } catch (const std::invalid_argument&) {
      // A stored type the server will not send (it came from another writer of the
      // Redis key): the bytes still go, as bytes.
      later.setContentType("application/octet-stream");
    }
  }
  if (!answer.body.empty()) later.append(answer.body);
  later.finish();
}

}  // namespace kv
