// LineFramer: see LineFramer.h.
#include "LineFramer.h"

namespace chat {

bool LineFramer::feed(std::string_view bytes, LineSink& sink) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t nl = bytes.find('\n', pos);
    if (nl == std::string_view::npos) {
      std::string_view rest = bytes.substr(pos);
      if (discarding_) return true;
      // One more byte than the limit may still be a "\r" that the "\n" will strip; past
      // that the line is too long whatever comes, so refuse it now instead of buffering it.
      if (partial_.size() + rest.size() > max_ + 1) {
        partial_.clear();
        discarding_ = true;
        sink.onTooLong();
        return true;
      }
      partial_.append(rest.data(), rest.size());
      return true;
    }
    std::string_view piece = bytes.substr(pos, nl - pos);
    pos = nl + 1;
    if (discarding_) {  // the "\n" that ends the refused line
      discarding_ = false;
      continue;
    }
    bool go;
    if (partial_.empty()) {
      go = complete(piece, sink);
    } else {
      partial_.append(piece.data(), piece.size());
      go = complete(partial_, sink);
      partial_.clear();  // after the sink: the line it saw was a view of partial_
    }
    if (!go) {
      reset();
      return false;
    }
  }
  return true;
}

bool LineFramer::finish(LineSink& sink) {
  bool go = true;
  if (!discarding_ && !partial_.empty()) go = complete(partial_, sink);
  reset();
  return go;
}

void LineFramer::reset() {
  partial_.clear();
  discarding_ = false;
}

bool LineFramer::complete(std::string_view line, LineSink& sink) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > max_) {
    sink.onTooLong();
    return true;
  }
  if (line.empty()) return true;
  return sink.onLine(line);
}

}  // namespace chat
