// KvAnswers: every answer the kv plugin gives, built once whichever store answers (in
// memory, at once; or Redis, later from the client's thread), so both speak exactly the
// same HTTP and JSON (the list is in KvHandler.cpp's header comment).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <microserver/Responder.h>
#include <microserver/Response.h>

namespace kv {

inline constexpr std::string_view kJson = "application/json; charset=utf-8";

struct Answer {
  int status = 200;
  std::string contentType;  // empty: none (a 204)
  std::string body;
  std::string allow;        // an Allow header (405)
  bool retryAfter = false;  // Retry-After: 1 (503)
};

Answer keysAnswer(const std::vector<std::string>& keys);  // 200 {"keys":[...]}
Answer valueAnswer(std::string contentType, std::string value);
Answer notFoundAnswer(std::string_view key);  // 404 {"error":"no such key","key":"..."}
Answer createdAnswer(std::string_view key);   // 201 {"created":"..."}
Answer updatedAnswer(std::string_view key);   // 200 {"updated":"..."}
Answer deletedAnswer();                       // 204
Answer tooLargeAnswer(std::size_t size, std::size_t maxValueBytes);  // 413
Answer fullAnswer(std::size_t maxKeys);                              // 507
Answer invalidKeyAnswer(std::string_view key);                       // 400
Answer methodNotAllowedAnswer(std::string_view allow);               // 405 + Allow
// 503 {"error":"store unavailable: <why>","store":"..."} with Retry-After: 1.
Answer unavailableAnswer(std::string_view store, std::string_view why);

// Gives the answer now (during handle()) or later (any thread).
void send(microserver::Response& response, const Answer& answer);
void send(microserver::Responder& later, const Answer& answer);

}  // namespace kv
