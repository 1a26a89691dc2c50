// LineFramer: cuts a byte stream into chat lines. TCP hands a session whatever pieces the
// network delivered (half a line, three lines and a bit); a WebSocket message or an HTTP
// body is one piece that may hold several lines. Both come here, so every way into the
// room frames, limits and refuses lines the same way.
//
// Rules: a line ends at "\n"; one "\r" before it is dropped (telnet, Windows `nc`); empty
// lines are skipped. A line longer than the limit is never buffered whole: as soon as it is
// known to be too long the sink hears onTooLong() once, and the rest of it, up to the next
// "\n", is thrown away as it arrives. What follows that "\n" is framed as usual, so one
// over-long paste costs its sender that line, not the connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chat {

class LineSink {
 public:
  virtual ~LineSink() = default;
  // A complete, non-empty line (without "\n" or the "\r" before it). Return false to stop
  // framing (the sender quit): the rest of the input is not looked at.
  virtual bool onLine(std::string_view line) = 0;
  // A line longer than the limit was dropped.
  virtual void onTooLong() = 0;
};

class LineFramer {
 public:
  explicit LineFramer(std::size_t maxLineBytes) : max_(maxLineBytes) {}

  // Frames the next piece of the stream. A line that ends in `bytes` is handed over as a
  // view into `bytes` when it was not split (no copy); a split line is buffered until its
  // "\n" arrives. Returns false if the sink said stop.
  bool feed(std::string_view bytes, LineSink& sink);
  // The input ended (a WebSocket message, an HTTP body): an unterminated last line counts
  // as a line. The framer is then empty, ready for the next message.
  bool finish(LineSink& sink);
  // Forgets any partial line.
  void reset();

  std::size_t maxLineBytes() const { return max_; }
  std::size_t buffered() const { return partial_.size(); }

 private:
  bool complete(std::string_view line, LineSink& sink);

  const std::size_t max_;
  std::string partial_;      // the start of a line whose "\n" has not arrived yet
  bool discarding_ = false;  // inside a line already refused: drop bytes up to its "\n"
};

}  // namespace chat
