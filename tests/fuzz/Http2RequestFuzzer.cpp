// Http2RequestFuzzer: what an HTTP/2 client sends, after the connection preface, through a
// real nghttp2 server session (Debian's libnghttp2, set up with the server's options and
// settings) into our part of the request path: RequestFields, which assembles each header
// block within the limits. The input arrives in pieces (FuzzInput.h); the flavour picks
// small limits or the defaults.
//
// Checked for every complete header block: the views point into the block's own strings,
// nothing over a limit is kept, the cookie fields are joined, and nghttp2 keeps working
// (its output is drained; a fatal error ends the input, as the server closes then).
#include <nghttp2/nghttp2.h>

#include <map>
#include <memory>
#include <string>

#include "FuzzInput.h"
#include "http2/RequestFields.h"

namespace {

using microserver::core::ParserLimits;
using microserver::core::RequestFields;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Connection {
  ParserLimits limits;
  std::map<std::int32_t, RequestFields> streams;
};

bool inside(std::string_view view, const std::string& owner) {
  return view.data() >= owner.data() && view.data() + view.size() <= owner.data() + owner.size();
}

void checkBlock(const RequestFields& r, const ParserLimits& limits) {
  if (r.tooLarge) return;
  FUZZ_CHECK(r.bytes <= limits.headerBytes);
  FUZZ_CHECK(r.fields.size() <= limits.headerCount);
  FUZZ_CHECK(r.target.size() <= limits.uriBytes);
  FUZZ_CHECK(r.headers.size() == r.fields.size() + (r.cookie.empty() ? 0 : 1));
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    FUZZ_CHECK(inside(r.headers[i].name, r.fields[i].first));
    FUZZ_CHECK(inside(r.headers[i].value, r.fields[i].second));
    FUZZ_CHECK(r.fields[i].first != "cookie");
    FUZZ_CHECK(r.fields[i].first.empty() || r.fields[i].first[0] != ':');
  }
  if (!r.cookie.empty()) FUZZ_CHECK(inside(r.headers.back().value, r.cookie));
  if (std::optional<std::uint64_t> length = r.contentLength()) FUZZ_CHECK(*length <= UINT64_MAX);
}

int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    static_cast<Connection*>(user)->streams[frame->hd.stream_id] = RequestFields{};
  return 0;
}

int onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t nameLength,
             const std::uint8_t* value, std::size_t valueLength, std::uint8_t, void* user) {
  auto* c = static_cast<Connection*>(user);
  auto it = c->streams.find(frame->hd.stream_id);
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST || it == c->streams.end()) return 0;
  it->second.add(std::string_view(reinterpret_cast<const char*>(name), nameLength),
                 std::string_view(reinterpret_cast<const char*>(value), valueLength), c->limits);
  return 0;
}

int onFrameReceived(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto it = c->streams.find(frame->hd.stream_id);
  if (it == c->streams.end()) return 0;
  it->second.finish();
  checkBlock(it->second, c->limits);
  return 0;
}

int onStreamClosed(nghttp2_session*, std::int32_t streamId, std::uint32_t, void* user) {
  static_cast<Connection*>(user)->streams.erase(streamId);
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::SplitInput input(data, size);
  Connection connection;
  if (input.flavour & 1) {
    connection.limits.headerBytes = 200;
    connection.limits.headerCount = 4;
    connection.limits.uriBytes = 16;
  }
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameReceived);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClosed);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);  // as the server sets them (Http2Session.cpp)
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_stream_reset_rate_limit(option, 1000, 33);
  nghttp2_option_set_max_continuations(option, 8);
  nghttp2_option_set_max_outbound_ack(option, 1000);
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new2(&session, callbacks, &connection, option);
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                       {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                                        static_cast<std::uint32_t>(connection.limits.headerBytes)}};
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 2);

  nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(kPreface.data()), kPreface.size());
  fuzz::ExactCopy copy(input.payload, input.size);
  std::size_t at = 0;
  for (std::size_t cut : input.cuts()) {
    ssize_t used = nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(copy.data()) + at, cut - at);
    at = cut;
    if (used < 0) break;  // the server closes the connection here
    const std::uint8_t* out = nullptr;
    while (nghttp2_session_mem_send(session, &out) > 0) {
    }
  }
  nghttp2_session_del(session);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  return 0;
}
