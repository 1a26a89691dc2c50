// OutputQueue: the bytes and file ranges a connection still has to send, in order.
//
// The fast path never uses it: a response is sent straight from the reactor's scratch
// buffer. Only what the transport could not take is queued here (copied once), and the
// connection then waits for the socket to become writable. File ranges stay file ranges
// (sent with sendfile on plain TCP), so a 1 GiB download never sits in memory.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "base/OpenFile.h"
#include "net/Transport.h"


namespace microserver::core {

class OutputQueue {
 public:
  enum class Result {
    Drained,      // everything was sent
    WouldBlock,   // the socket is full; wait for writable
    PeerGone,     // the peer reset or closed the connection
    FileShrank    // a file got shorter while being sent: the response cannot be completed
  };

  OutputQueue() = default;
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  bool empty() const { return segments_.empty(); }
  std::uint64_t pendingBytes() const { return pendingBytes_; }

  void pushBytes(std::string_view bytes);
  // [offset, offset + length) of `file`, held until sent.
  void pushFile(FileRef file, std::uint64_t offset, std::uint64_t length);

  // Sends as much as the transport takes now.
  Result drain(Transport& transport);

 private:
  struct Segment {
    std::string bytes;
    std::size_t sent = 0;
    FileRef file;
    std::uint64_t offset = 0;
    std::uint64_t remaining = 0;
  };
  std::deque<Segment> segments_;
  std::uint64_t pendingBytes_ = 0;
};

}  // namespace microserver::core
