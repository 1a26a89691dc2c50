#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (the files are checked in; rerun this
after changing it: python3 tests/fuzz/make_seeds.py). Each seed is small and means
something: a valid request of each kind, a pipelined stream, each smuggling shape the parser
must refuse, and so on. The fuzzers that take their input in pieces expect a control byte
and piece sizes first (see FuzzInput.h); every payload is written with a few different
splits and limit flavours so the corpus starts out exercising both."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
ROOT = os.path.dirname(os.path.dirname(HERE))

# (name suffix, control prefix): whole; one byte at a time; pieces of 1, 7 and 32 bytes.
SPLITS = [("whole", b"\x00"), ("bytes", b"\x01\x00"), ("mixed", b"\x03\x00\x06\x1f")]


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def write_split(target, name, payload, flavour=0, splits=SPLITS):
    for suffix, control in splits:
        first = bytes([(flavour << 4) | control[0]])
        write(target, f"{name}.{suffix}", first + control[1:] + payload)


def crlf(text):
    return text.replace("\n", "\r\n").encode("latin-1")


# --- HttpParserFuzzer --------------------------------------------------------------------
HTTP = {
    "get": crlf("GET / HTTP/1.1\nHost: example.com\n\n"),
    "get-query-headers": crlf(
        "GET /search?q=a+b&lang=en HTTP/1.1\nHost: localhost:8080\nUser-Agent: curl/7.88.1\n"
        "Accept: */*\nAccept-Encoding: gzip, deflate\nCookie: a=1; b=2\n\n"),
    "http10-keepalive": crlf("GET /index.html HTTP/1.0\nConnection: keep-alive\n\n"),
    "http10-close": crlf("GET / HTTP/1.0\n\n"),
    "head-close": crlf("HEAD /style.css HTTP/1.1\nHost: a\nConnection: close\n\n"),
    "post-content-length": crlf("POST /api/echo HTTP/1.1\nHost: a\nContent-Type: text/plain\nContent-Length: 5\n\n")
    + b"hello",
    "post-chunked-ext-trailer": crlf(
        "POST /api/echo HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
        "5;name=value\nhello\n6;q=\"a b\"\n world\n0\nChecksum: 1234\n\n"),
    "pipelined-3": crlf("GET /a HTTP/1.1\nHost: a\n\nGET /b HTTP/1.1\nHost: a\n\nGET /c HTTP/1.1\nHost: a\n\n"),
    "pipelined-post-get": crlf("PUT /api/kv/x HTTP/1.1\nHost: a\nContent-Length: 3\n\n")
    + b"abc" + crlf("DELETE /api/kv/x HTTP/1.1\nHost: a\n\n"),
    "pipelined-chunked-get": crlf(
        "POST /chat/messages HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3\nhi\n\n0\n\n"
        "GET /chat/history HTTP/1.1\nHost: a\n\n"),
    "absolute-form": crlf("GET http://example.com:8080/a/b?c=d HTTP/1.1\nHost: ignored\n\n"),
    "absolute-form-no-path": crlf("GET https://example.com HTTP/1.1\nHost: x\n\n"),
    "options-asterisk": crlf("OPTIONS * HTTP/1.1\nHost: a\n\n"),
    "expect-continue": crlf("PUT /api/kv/big HTTP/1.1\nHost: a\nExpect: 100-continue\nContent-Length: 10\n\n")
    + b"0123456789",
    "expect-other": crlf("PUT / HTTP/1.1\nHost: a\nExpect: teapot\nContent-Length: 1\n\nx"),
    "bare-lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "leading-empty-lines": b"\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "websocket-upgrade": crlf(
        "GET /chat/ws HTTP/1.1\nHost: localhost\nUpgrade: websocket\nConnection: keep-alive, Upgrade\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\nOrigin: http://localhost\n\n"),
    "methods": crlf("PATCH /a HTTP/1.1\nHost: a\nContent-Length: 0\n\nTRACE / HTTP/1.1\nHost: a\n\n"
                    "M-SEARCH * HTTP/1.1\nHost: a\n\n"),
    "cl-and-te": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 4\nTransfer-Encoding: chunked\n\n0\n\n"),
    "cl-duplicate": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 1\nContent-Length: 1\n\nx"),
    "cl-list": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 1, 1\n\nx"),
    "cl-huge": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 99999999999999999999\n\n"),
    "cl-sign": crlf("POST / HTTP/1.1\nHost: a\nContent-Length: +5\n\nhello"),
    "te-gzip-chunked": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked\n\n0\n\n"),
    "te-chunked-gzip": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, gzip\n\n"),
    "te-http10": crlf("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n0\n\n"),
    "te-twice": crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n"),
    "obs-fold": crlf("GET / HTTP/1.1\nHost: a\nX-Folded: one\n two\n\n"),
    "space-before-colon": crlf("GET / HTTP/1.1\nHost : a\n\n"),
    "bare-cr": b"GET / HTTP/1.1\rHost: a\r\n\r\n",
    "host-missing": crlf("GET / HTTP/1.1\nAccept: */*\n\n"),
    "host-twice": crlf("GET / HTTP/1.1\nHost: a\nHost: b\n\n"),
    "host-bad-char": crlf("GET / HTTP/1.1\nHost: a/b@c\n\n"),
    "control-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\x01\r\n\r\n",
    "obs-text-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n",
    "version-2": crlf("GET / HTTP/2.0\nHost: a\n\n"),
    "version-garbage": crlf("GET / HTTP/1.10\nHost: a\n\n"),
    "http09": crlf("GET /\n\n"),
    "connect": crlf("CONNECT example.com:443 HTTP/1.1\nHost: example.com:443\n\n"),
    "fragment-in-target": crlf("GET /a#b HTTP/1.1\nHost: a\n\n"),
    "percent-path": crlf("GET /%2e%2e/%2E%2e/etc/passwd?x=%00 HTTP/1.1\nHost: a\n\n"),
    "h2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "tls-hello": bytes.fromhex("16030100a5010000a10303") + bytes(range(32)),
    "long-method": crlf("A" * 70 + " / HTTP/1.1\nHost: a\n\n"),
    "many-headers": crlf("GET / HTTP/1.1\nHost: a\n" + "".join(f"X-{i}: {i}\n" for i in range(12)) + "\n"),
}
for name, payload in HTTP.items():
    write_split("HttpParserFuzzer", name, payload)
# Small limits (flavours 8 and 14, see limitsFor in HttpParserFuzzer.cpp).
write_split("HttpParserFuzzer", "small-limits-get", HTTP["get-query-headers"], flavour=8, splits=SPLITS[:2])
write_split("HttpParserFuzzer", "tiny-limits-post", HTTP["post-content-length"], flavour=14, splits=SPLITS[:1])
write_split("HttpParserFuzzer", "long-target", crlf("GET /" + "a" * 600 + " HTTP/1.1\nHost: a\n\n"), flavour=8,
            splits=SPLITS[2:])

# --- ChunkedDecoderFuzzer ----------------------------------------------------------------
CHUNKED = {
    "one-chunk": b"5\r\nhello\r\n0\r\n\r\n",
    "several-chunks": b"1\r\na\r\nA\r\n0123456789\r\nf\r\n0123456789abcde\r\n0\r\n\r\n",
    "extensions": b"5;name=value;flag\r\nhello\r\n6 ; q=\"a \\\"b\\\" c\"\r\n world\r\n0;last\r\n\r\n",
    "trailers": b"3\r\nabc\r\n0\r\nChecksum: 1234\r\nX-Trailer:\tv\r\n\r\n",
    "then-next-request": b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "leading-zeros": b"0000000000000005\r\nhello\r\n0000\r\n\r\n",
    "empty-body": b"0\r\n\r\n",
    "size-overflow": b"10000000000000000\r\n",
    "size-max-hex": b"ffffffffffffffff\r\n",
    "size-negative": b"-5\r\nhello\r\n0\r\n\r\n",
    "size-0x": b"0x5\r\nhello\r\n0\r\n\r\n",
    "bare-lf": b"5\nhello\n0\n\n",
    "missing-data-crlf": b"5\r\nhelloX\r\n0\r\n\r\n",
    "extension-bad": b"5;a=b c\r\nhello\r\n0\r\n\r\n",
    "extension-ctl": b"5;a=\x01\r\nhello\r\n0\r\n\r\n",
    "trailer-bad": b"0\r\nno colon here\r\n\r\n",
    "trailer-lf": b"0\r\nA: b\n\r\n",
    "incomplete": b"a\r\n01234",
}
for name, payload in CHUNKED.items():
    write_split("ChunkedDecoderFuzzer", name, payload)
# Small limits: flavour 6 = 16 body bytes, 8 trailer bytes; flavour 5 = 1 and 1.
write_split("ChunkedDecoderFuzzer", "over-body-limit", b"11\r\n" + b"x" * 17 + b"\r\n0\r\n\r\n", flavour=6)
write_split("ChunkedDecoderFuzzer", "over-trailer-limit", b"1\r\nx\r\n0\r\nLong-Trailer: 123456\r\n\r\n", flavour=6)
write_split("ChunkedDecoderFuzzer", "at-limits", b"1\r\nx\r\n0\r\n\r\n", flavour=5)


# --- WebSocketDecoderFuzzer --------------------------------------------------------------
def frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d", rsv=0, length_form=None):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask is not None else 0
    form = length_form or (7 if n < 126 else 16 if n <= 0xFFFF else 64)
    if form == 7:
        head = bytes([b0, m | n])
    elif form == 16:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
euro = "€".encode()
WS = {
    "text": frame(TEXT, b"hello"),
    "text-empty": frame(TEXT, b""),
    "binary": frame(BINARY, bytes(range(40))),
    "binary-16bit-length": frame(BINARY, bytes(200)),
    "fragmented-text": frame(TEXT, b"Hel", fin=False) + frame(CONT, b"lo, ", fin=False) + frame(CONT, b"world"),
    "ping-between-fragments": frame(TEXT, b"one ", fin=False) + frame(PING, b"are you there?") + frame(CONT, b"two"),
    "utf8-split-across-fragments": frame(TEXT, b"price: " + euro[:1], fin=False) + frame(CONT, euro[1:] + b"5"),
    "ping-pong": frame(PING, b"") + frame(PONG, b"keepalive"),
    "close-code-reason": frame(CLOSE, struct.pack(">H", 1000) + b"bye"),
    "close-empty": frame(CLOSE, b""),
    "close-then-junk": frame(CLOSE, struct.pack(">H", 1001)) + b"\x00\x01garbage",
    "close-bad-code": frame(CLOSE, struct.pack(">H", 1005)),
    "close-one-byte": frame(CLOSE, b"\x03"),
    "several-messages": frame(TEXT, b"a") + frame(BINARY, b"b") + frame(TEXT, "ß".encode()) + frame(PING, b"p"),
    "unmasked": frame(TEXT, b"hello", mask=None),
    "rsv1-set": frame(TEXT, b"compressed?", rsv=0x40),
    "reserved-opcode": frame(3, b"x"),
    "fragmented-ping": frame(PING, b"x", fin=False),
    "control-too-long": frame(PING, bytes(126)),
    "continuation-alone": frame(CONT, b"x"),
    "text-during-fragment": frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
    "invalid-utf8": frame(TEXT, b"\xc0\xaf"),
    "surrogate-utf8": frame(TEXT, b"\xed\xa0\x80"),
    "non-minimal-16": frame(BINARY, b"abc", length_form=16),
    "non-minimal-64": frame(BINARY, bytes(300), length_form=64),
    "length-64-msb": bytes([0x82, 0xFF]) + b"\x80" + bytes(7) + b"\x00\x00\x00\x00",
    "length-64-large-truncated": bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 20) + b"\x01\x02\x03\x04abc",
    "zero-mask-text": frame(TEXT, b"plain", mask=b"\x00\x00\x00\x00"),
}
for name, payload in WS.items():
    write_split("WebSocketDecoderFuzzer", name, payload)
# Small message limits: flavour 8 = 125 bytes, 5 = 1 byte.
write_split("WebSocketDecoderFuzzer", "over-limit-fragments", frame(TEXT, b"x" * 100, fin=False) + frame(CONT, b"y" * 30),
            flavour=8)
write_split("WebSocketDecoderFuzzer", "limit-one", frame(BINARY, b"x") + frame(BINARY, b"xy"), flavour=5)

# --- PathConfinementFuzzer ---------------------------------------------------------------
PATHS = {
    "root": b"/",
    "index": b"/index.html",
    "nested": b"/assets/css/site.css",
    "dot-dot-inside": b"/a/b/../c",
    "dot-dot-escape": b"/../etc/passwd",
    "dot-dot-deep": b"/a/../../b",
    "dot-segments": b"/./a/./b/.",
    "double-slash": b"//a///b//",
    "trailing-dotdot": b"/a/b/..",
    "three-dots": b"/.../a/..../b",
    "dot-names": b"/.hidden/..x/x..",
    "backslash": b"/a\\..\\b",
    "nul": b"/index.html\x00.png",
    "percent-dotdot": b"/%2e%2e/%2E%2E/etc/passwd",
    "percent-slash": b"/a%2f..%2f..%2fb",
    "double-encoded": b"/%252e%252e/x",
    "percent-nul": b"/a%00b",
    "percent-backslash": b"/a%5c..%5cb",
    "utf8": b"/caf%C3%A9/%E2%82%AC.txt",
    "overlong-dot": b"/%c0%ae%c0%ae/x",
    "empty": b"",
    "relative": b"a/b/../../..",
}
for name, payload in PATHS.items():
    write("PathConfinementFuzzer", name, payload)

# --- NegotiationFuzzer -------------------------------------------------------------------
# First byte: size flavour (high nibble) and the available codings (low bits); then the
# header values, one per line: Accept-Encoding, Range, If-Match, If-None-Match,
# If-Modified-Since, If-Unmodified-Since, If-Range.
NEGOTIATION = {
    "browser": (0x73, ["gzip, deflate, br, zstd", "", "", "", "", "", ""]),
    "qvalues": (0x73, ["br;q=0.5, gzip;q=0.8, *;q=0", "bytes=0-99", "", "", "", "", ""]),
    "identity-refused": (0x70, ["identity;q=0, *;q=0", "", "", "", "", "", ""]),
    "ranges": (0x70, ["", "bytes=0-1, 5-6, -3, 100-", "", "", "", "", ""]),
    "overlap": (0x70, ["", "bytes=0-10,5-20", "", "", "", "", ""]),
    "huge": (0xE0, ["", "bytes=18446744073709551614-99999999999999999999999", "", "", "", "", ""]),
    "suffix-empty-file": (0x00, ["", "bytes=-5", "", "", "", "", ""]),
    "if-match": (0x30, ["", "", "\"5f3a-1c\", W/\"x\"", "", "", "", ""]),
    "if-none-match-star": (0x30, ["", "", "", "*", "Sun, 06 Nov 1994 08:49:37 GMT", "", ""]),
    "dates": (0x30, ["", "bytes=1-2", "", "", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                     "Sun, 06 Nov 1994 08:49:37 GMT"]),
    "if-range-tag": (0x30, ["", "bytes=1-2", "", "", "", "", "\"5f3a-1c\""]),
    "malformed": (0x3F, ["br;q=, ;;;,=", "bytes=--,,-", "W/", "\"unterminated", "32 Foo 1994", "x", "W/\"5f3a-1c\""]),
}
for name, (first, lines) in NEGOTIATION.items():
    write("NegotiationFuzzer", name, bytes([first]) + "\n".join(lines).encode("latin-1"))

# --- ConfigFuzzer ------------------------------------------------------------------------
with open(os.path.join(ROOT, "routes.yaml"), "rb") as f:
    write("ConfigFuzzer", "repo-routes.yaml", f.read())
CONFIGS = {
    "minimal.yaml": "routes:\n  - { path: '^/', static: www }\n",
    "design-example.yaml": """server:
  listen: 127.0.0.1:8080
  reactors: auto
  www: www
  plugins: build/plugins
  limits: { header_bytes: 16384, body_bytes: 1048576, header_timeout: 10s, idle_timeout: 60s }
routes:
  - { path: '^/hello/(?P<name>[A-Za-z]+)$', methods: [GET], handler: hello, config: { greeting: Hello } }
  - { path: '^/api/echo$', methods: [POST], handler: echo }
  - { path: '^/chat/', handler: chat }
  - { path: '^/', static: www }
services:
  - { plugin: chat, listen: 127.0.0.1:9999, config: { history: 100, max_queue_bytes: 1048576 } }
""",
    "all-limits.yaml": """server:
  listen: "[::1]:0"
  reactors: 2
  workers: 4
  access_log: off
  log_level: debug
  limits:
    header_bytes: 8KiB
    uri_bytes: 4k
    header_count: 50
    body_bytes: 1g
    header_timeout: 1.5s
    body_timeout: 250ms
    idle_timeout: 2m
    send_timeout: 1h
    shutdown_grace: 0
    max_connections: 100
    handler_timeout: 30
    worker_queue: 10
""",
    "named-groups.yaml": r"""routes:
  - path: '^/u/(?<user>[a-z]+)/(?P<id>\d+)$'
    methods: [GET, HEAD]
    handler: users
    blocking: yes
    config:
      nested: { list: [1, 2, { deep: true }], "quoted key": ~ }
  - { path: '^/(?<a>x)(?<a>y)$', handler: dup }
  - { path: '[(?<]\(?<n>\Q(?<x>\E', handler: lit }
""",
    "errors.yaml": """server:
  listen: 127.0.0.1
  reactors: 0
  lmits: {}
  limits: { header_bytes: 0, uri_bytes: 2MiB, header_timeout: 0.5ms }
routes:
  - { path: '(unclosed', methods: [GTE, GET, GET], handler: 'bad name', static: www }
  - { methods: [], config: 1 }
  - not a map
services:
  - { listen: ':99999' }
""",
    "tab-indent.yaml": "server:\n\tlisten: 127.0.0.1:8080\n",
    "anchors.yaml": """x-base: &base { greeting: Hi, list: [a, b] }
routes:
  - { path: '^/a', handler: hello, config: *base }
  - { path: '^/b', handler: hello, config: { <<: *base, extra: 1 } }
""",
    "billion-laughs.yaml": """routes:
  - path: '^/'
    handler: x
    config:
      a: &a [x, x, x, x, x, x, x, x, x]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]
""",
    "self-alias.yaml": "routes:\n  - path: '^/'\n    handler: x\n    config: &a [*a]\n",
    "two-documents.yaml": "routes: []\n---\nroutes: []\n",
    "empty.yaml": "",
    "comment-only.yaml": "# nothing here\n",
    "scalar-top.yaml": "just a string\n",
    "duplicate-keys.yaml": "server: {}\nserver: {}\nroutes:\n  - { path: '^/', path: '^/x', static: www }\n",
    "services-only.yaml": "services:\n  - plugin: chat\n    listen: :9999\n    config:\n      room: lobby\n",
    "regex-heavy.yaml": "routes:\n  - { path: '^(a{1,1000}){1,1000}$', handler: x }\n  - { path: '\\\\p{Greek}+|[[:alpha:]]', static: www }\n",
    "flow-json.yaml": '{"server": {"listen": "localhost:8080"}, "routes": [{"path": "^/", "static": "/var/www"}]}\n',
}
for name, text in CONFIGS.items():
    write("ConfigFuzzer", name, text.encode())

# --- LineFramerFuzzer --------------------------------------------------------------------
LINES = {
    "lines": b"hello\nworld\n",
    "crlf": b"hi there\r\nsecond\r\n",
    "empty-lines": b"\n\n\r\n\nx\n",
    "no-final-newline": b"first\nunterminated",
    "quit": b"one\nquit\nnever seen\n",
    "utf8": "grüße 👋 ça va\n€\n".encode(),
    "double-cr": b"a\r\r\nb\r\n",
    "long-line": b"x" * 300 + b"\nshort\n",
    "nul-and-ctl": b"a\x00b\x1b[31m\n",
}
for name, payload in LINES.items():
    write_split("LineFramerFuzzer", name, payload)
# Flavour 5: 8-byte lines, with finish(); 13 = 8-byte lines, no finish (TCP still open).
write_split("LineFramerFuzzer", "limit-8", b"12345678\n123456789\n1234567\r\n12345678\r\nabcdefghij", flavour=5)
write_split("LineFramerFuzzer", "limit-8-open", b"12345678\n123456789\nrest", flavour=13)
write_split("LineFramerFuzzer", "limit-0", b"a\n\nb", flavour=1)

# --- Http2RequestFuzzer ------------------------------------------------------------------
# Frames after the preface (the fuzzer sends the preface itself). HPACK by hand: indexed
# fields from the static table and literals without indexing (RFC 7541 6.1, 6.2.2).
def h2frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def lit(name, value):
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


SETTINGS = h2frame(0x4, 0, 0, b"")
GET = b"\x82\x86\x84" + lit(b":authority", b"example.com")  # GET, http, /
H2 = {
    "get": SETTINGS + h2frame(0x1, 0x5, 1, GET),
    "cookies": SETTINGS + h2frame(0x1, 0x5, 1, GET + lit(b"cookie", b"a=1") + lit(b"user-agent", b"t") + lit(b"cookie", b"b=2")),
    "host-only": SETTINGS + h2frame(0x1, 0x5, 1, b"\x82\x86" + lit(b":path", b"/x?y") + lit(b"host", b"h.example")),
    "post-body": SETTINGS + h2frame(0x1, 0x4, 1, b"\x83\x86\x84" + lit(b":authority", b"e") + lit(b"content-length", b"5"))
                 + h2frame(0x0, 0x1, 1, b"hello"),
    "continuation": SETTINGS + h2frame(0x1, 0x1, 1, GET) + h2frame(0x9, 0, 1, lit(b"x-a", b"1")) + h2frame(0x9, 0x4, 1, lit(b"x-b", b"2")),
    "two-streams-reset": SETTINGS + h2frame(0x1, 0x5, 1, GET) + h2frame(0x1, 0x4, 3, GET) + h2frame(0x3, 0, 3, b"\x00\x00\x00\x08"),
    "big-header": SETTINGS + h2frame(0x1, 0x5, 1, GET + lit(b"x-big", b"v" * 120) + lit(b"x-more", b"w" * 100)),
    "trailers": SETTINGS + h2frame(0x1, 0x4, 1, b"\x83\x86\x84" + lit(b":authority", b"e")) + h2frame(0x0, 0, 1, b"abc")
                + h2frame(0x1, 0x5, 1, lit(b"x-trailer", b"t")),
}
for name, payload in H2.items():
    write_split("Http2RequestFuzzer", name, payload)
    write_split("Http2RequestFuzzer", name + "-small-limits", payload, flavour=1, splits=SPLITS[:1])
# --- ProxyProtocolFuzzer -----------------------------------------------------------------
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(version_command, family_transport, payload):
    return V2_SIGNATURE + bytes([version_command, family_transport]) + struct.pack(">H", len(payload)) + payload


IPV4 = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 56324, 443)
IPV6 = bytes.fromhex("20010db8000000000000000000000001" "20010db8000000000000000000000002") + struct.pack(">HH", 4711, 443)
PROXY = {
    "v1-tcp4": b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n\r\n",
    "v1-tcp6": b"PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n",
    "v1-unknown": b"PROXY UNKNOWN\r\nhello\n",
    "v1-longest": b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    "v1-bad-port": b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
    "v2-ipv4": proxy_v2(0x21, 0x11, IPV4) + b"GET / HTTP/1.1\r\n\r\n",
    "v2-ipv6": proxy_v2(0x21, 0x21, IPV6),
    "v2-tlvs": proxy_v2(0x21, 0x11, IPV4 + b"\x01\x00\x02h2\x02\x00\x0bexample.com"),
    "v2-local": proxy_v2(0x20, 0x00, b"") + b"\x16\x03\x01",
    "v2-unix": proxy_v2(0x21, 0x31, b"/tmp/a".ljust(216, b"\x00")),
    "v2-short": proxy_v2(0x21, 0x21, IPV4),
    "not-proxy": b"GET / HTTP/1.1\r\n\r\n",
}
for name, payload in PROXY.items():
    write_split("ProxyProtocolFuzzer", name, payload)

print("seeds written under", CORPUS, file=sys.stderr)
