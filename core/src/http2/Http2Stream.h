// Http2Stream: one request and its answer on an HTTP/2 connection (RFC 9113 section 5),
// from its HEADERS frame until nghttp2 closes it. The session (Http2Session) owns it and
// is the only one to touch it, on its reactor thread.
//
// It keeps its own copy of the request (headers, pseudo-headers, buffered body): frames
// of many streams interleave, so nothing can point into the read buffer as HTTP/1 does.
// The answer's body waits here until nghttp2 asks for it (Http2Session::readBody), whether
// it is a string, a range of a file or a plugin's stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/OpenFile.h"
#include "http2/RequestFields.h"
#include "site/BlockingCall.h"
#include "site/Responder.h"

namespace microserver::core {

class Http2Session;

struct Http2Stream final : BlockingCall::Waiter {
  Http2Stream(Http2Session& owner, std::int32_t streamId) : session(owner), id(streamId) {}
  void blockingDone(BlockingCall& call) override;

  Http2Session& session;
  const std::int32_t id;

  // ---- The request.
  RequestFields request;         // its header block
  std::string client;            // "ip:port" a trusted proxy says it is for; empty: the peer
  bool requestComplete = false;  // END_STREAM seen
  std::string body;              // a buffered body so far
  std::uint64_t bodyReceived = 0;  // DATA bytes of the request so far
  std::uint64_t bodyLimit = 0;   // its route's
  bool bodyStreamed = false;     // a `body: stream` route: the handler has it piece by piece
  bool bodyPaused = false;       // the handler said Pause: received bytes are not acknowledged
  std::size_t bodyHeld = 0;      // bytes received while paused, their WINDOW_UPDATE owed
  bool dispatched = false;       // the site has it
  std::int64_t deadlineMs = 0;   // for the request to arrive (header, then body timeout)
  std::uint64_t startNs = 0;

  // ---- The answer.
  std::shared_ptr<BlockingCall> blocking;  // a worker runs its handler
  std::int64_t handlerDeadlineMs = 0;
  std::shared_ptr<Responder> pending;      // an answer given later
  ResponseRecord record;                   // the request, for the log, the metrics, a late answer
  Duration timeout{0};                     // the route's
  std::int64_t answerDeadlineMs = 0;       // of `pending`, until its head is out
  bool responded = false;                  // a final response was submitted
  int status = 0;
  bool streamed = false;                   // its body comes as the plugin writes it
  bool ended = false;                      // nothing more will be added to the body
  bool dataDeferred = false;               // nghttp2 was told to wait for more (resume_data owed)
  std::string out;                         // body bytes not yet framed
  std::size_t outOffset = 0;
  FileRef file;                            // or a file's range
  std::uint64_t fileOffset = 0, fileRemaining = 0;
  std::uint64_t bodyBytesSent = 0;
  bool recorded = false;                   // counted in the metrics and the access log
};

}  // namespace microserver::core
