#!/usr/bin/python3
"""h2probe: an HTTP/2 client that does what curl and nghttp will not, for Http2Test.

Debian's python3-h2 frames ordinary requests; hostile frames are written by hand. Each
command talks prior-knowledge h2c to 127.0.0.1:PORT, prints what it saw as `key value`
lines on stdout, and exits 0; the test asserts on those lines. Every wait is bounded by the
socket timeout (10 s): a server that hangs shows up as `timeout`, never as a hung test.

  h2probe.py PORT get PATH...                  one connection, every PATH as its own stream
  h2probe.py PORT events PATH COUNT            read COUNT server-sent events from one stream
  h2probe.py PORT rapid-reset COUNT            open and cancel COUNT streams at once (CVE-2023-44487)
  h2probe.py PORT continuation-flood COUNT     one header block in COUNT CONTINUATION frames (CVE-2024-28182)
  h2probe.py PORT garbage                      the preface, then bytes that are no frame
  h2probe.py PORT streams PATH COUNT           COUNT concurrent requests for PATH on one connection
  h2probe.py PORT stop-during PATH PID         a request in flight, then SIGTERM to PID: GOAWAY, answer, close
"""
import os
import signal
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, CONTINUATION = 0x1, 0x9
END_STREAM, END_HEADERS = 0x1, 0x4


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def client(sock):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return conn


def request_headers(port, path, method="GET"):
    return [(":method", method), (":scheme", "http"), (":authority", "127.0.0.1:%d" % port), (":path", path)]


def frame(kind, flags, stream_id, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id) + payload


def literal(name, value):
    # HPACK "literal header field without indexing, new name" (RFC 7541 6.2.2): complete
    # on its own, so any run of them is a valid header block fragment.
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def read_until_closed(sock):
    """Everything the server sends until it closes: (bytes, 'closed' or 'timeout')."""
    raw = b""
    while True:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return raw, "timeout"
        except ConnectionResetError:
            return raw, "closed"
        if not data:
            return raw, "closed"
        raw += data


def read_events(sock, conn, until):
    """Feeds the connection until `until(events)` says stop, or the peer closes. Returns
    every h2 event seen and how it ended: 'done', 'closed' or 'timeout'."""
    seen = []
    while True:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return seen, "timeout"
        except ConnectionResetError:
            return seen, "closed"
        if not data:
            return seen, "closed"
        try:
            events = conn.receive_data(data)
        except Exception as e:  # the server broke the protocol: say so
            print("protocol-error", type(e).__name__)
            return seen, "closed"
        seen.extend(events)
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except OSError:
                return seen, "closed"
        if until(seen):
            return seen, "done"


def report_goaway(events):
    for e in events:
        if isinstance(e, h2.events.ConnectionTerminated):
            print("goaway", e.error_code.name if hasattr(e.error_code, "name") else e.error_code, e.last_stream_id)


def cmd_get(port, paths):
    sock = connect(port)
    conn = client(sock)
    ids = []
    for path in paths:
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_headers(port, path), end_stream=True)
        ids.append(sid)
    sock.sendall(conn.data_to_send())
    status, body = {}, {}
    ended = set()
    def done(events):
        for e in events:
            if isinstance(e, h2.events.ResponseReceived):
                status[e.stream_id] = dict(e.headers)[":status"]
            elif isinstance(e, h2.events.DataReceived):
                body[e.stream_id] = body.get(e.stream_id, b"") + e.data
                conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
                ended.add(e.stream_id)
        events.clear()
        return len(ended) == len(ids)
    _, how = read_events(sock, conn, done)
    for sid, path in zip(ids, paths):
        print("response", path, status.get(sid, "none"), len(body.get(sid, b"")))
    print("end", how)


def cmd_events(port, path, count):
    sock = connect(port)
    conn = client(sock)
    conn.send_headers(1, request_headers(port, path), end_stream=True)
    sock.sendall(conn.data_to_send())
    text = b""
    def done(events):
        nonlocal text
        for e in events:
            if isinstance(e, h2.events.ResponseReceived):
                headers = dict(e.headers)
                print("status", headers[":status"])
                print("content-type", headers.get("content-type", ""))
            elif isinstance(e, h2.events.DataReceived):
                text += e.data
                conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        events.clear()
        return sum(1 for line in text.split(b"\n") if line.startswith(b"data: ")) >= count
    _, how = read_events(sock, conn, done)
    for line in text.decode().splitlines():
        if line.startswith("data: "):
            print("event", line[6:])
    print("end", how)


def cmd_rapid_reset(port, count):
    sock = connect(port)
    conn = client(sock)
    for _ in range(count):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_headers(port, "/delay/5000"))
        conn.reset_stream(sid)
    try:
        sock.sendall(conn.data_to_send())
    except OSError:
        pass
    events, how = read_events(sock, conn, lambda ev: any(isinstance(e, h2.events.ConnectionTerminated) for e in ev))
    report_goaway(events)
    print("end", how)


def cmd_continuation_flood(port, count):
    sock = connect(port)
    sock.sendall(PREFACE + frame(0x4, 0, 0, b""))  # an empty SETTINGS
    block = b"\x82\x86\x84" + literal(b":authority", b"127.0.0.1")  # GET, http, /
    frames = frame(HEADERS, END_STREAM, 1, block)
    for i in range(count):
        frames += frame(CONTINUATION, END_HEADERS if i == count - 1 else 0, 1, literal(b"x-pad", b"a" * 8))
    try:
        sock.sendall(frames)
    except OSError:
        pass
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.data_to_send()
    raw, how = read_until_closed(sock)
    if how == "timeout":
        print("end timeout")
        return
    # Our hand-made stream 1 is unknown to the h2 state machine: look for GOAWAY by hand.
    pos = 0
    while pos + 9 <= len(raw):
        length = int.from_bytes(raw[pos:pos + 3], "big")
        if raw[pos + 3] == 0x7:
            code = int.from_bytes(raw[pos + 13:pos + 17], "big")
            print("goaway-code", code)
        if raw[pos + 3] == 0x1:
            print("headers-for", int.from_bytes(raw[pos + 5:pos + 9], "big") & 0x7FFFFFFF)
        pos += 9 + length
    print("end closed")


def cmd_garbage(port):
    sock = connect(port)
    sock.sendall(PREFACE + b"\x00\x00\x04\xff\xff\xff\xff\xffgarbage that is not a frame")
    print("end", read_until_closed(sock)[1])


def cmd_streams(port, path, count):
    sock = connect(port)
    conn = client(sock)
    # Wait for the server's SETTINGS (its stream limit) before opening streams past it:
    # h2 itself refuses to open more than the peer allows, so open them by hand-made
    # frames through h2 with the limit lifted locally.
    conn.remote_settings = h2.settings.Settings(client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2**31 - 1})
    for _ in range(count):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_headers(port, path), end_stream=True)
    sock.sendall(conn.data_to_send())
    ok, refused = 0, 0
    def done(events):
        nonlocal ok, refused
        for e in events:
            if isinstance(e, h2.events.StreamEnded):
                ok += 1
            elif isinstance(e, h2.events.StreamReset):
                refused += 1
            elif isinstance(e, h2.events.DataReceived):
                conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        events.clear()
        return ok + refused >= count
    _, how = read_events(sock, conn, done)
    print("answered", ok)
    print("refused", refused)
    print("end", how)


def cmd_stop_during(port, path, pid):
    # By hand: h2's state machine refuses every frame after a GOAWAY, and the point here is
    # the answer that follows one.
    import hpack
    sock = connect(port)
    encoder, decoder = hpack.Encoder(), hpack.Decoder()
    block = encoder.encode(request_headers(port, path))
    sock.sendall(PREFACE + frame(0x4, 0, 0, b"") + frame(HEADERS, END_STREAM | END_HEADERS, 1, block) +
                 frame(0x6, 0, 0, b"inflight"))  # PING
    # The PING's answer comes after the server has taken the request (frames are handled
    # in order): only then is it surely in flight when the stop begins.
    raw, status, body, how = b"", None, b"", "closed"
    while True:
        while len(raw) >= 9 and len(raw) >= 9 + int.from_bytes(raw[0:3], "big"):
            length, kind, flags = int.from_bytes(raw[0:3], "big"), raw[3], raw[4]
            stream = int.from_bytes(raw[5:9], "big") & 0x7FFFFFFF
            payload, raw = raw[9:9 + length], raw[9 + length:]
            if kind == 0x4 and not flags & 0x1:
                sock.sendall(frame(0x4, 0x1, 0, b""))  # SETTINGS ack
            elif kind == 0x6 and flags & 0x1:
                os.kill(pid, signal.SIGTERM)
                print("signalled")
            elif kind == 0x7:
                code = int.from_bytes(payload[4:8], "big")
                print("goaway", "NO_ERROR" if code == 0 else code, int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF)
            elif kind == HEADERS and stream == 1:
                status = dict(decoder.decode(payload)).get(":status")
            elif kind == 0x0 and stream == 1:
                body += payload
                if payload:  # keep the windows open
                    increment = struct.pack(">I", len(payload))
                    sock.sendall(frame(0x8, 0, 0, increment) + frame(0x8, 0, 1, increment))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            how = "timeout"
            break
        except ConnectionResetError:
            break
        if not data:
            break
        raw += data
    print("status", status)
    print("body", body.decode(errors="replace").strip())
    print("end", how)


def main():
    port, command, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if command == "get":
        cmd_get(port, args)
    elif command == "events":
        cmd_events(port, args[0], int(args[1]))
    elif command == "rapid-reset":
        cmd_rapid_reset(port, int(args[0]))
    elif command == "continuation-flood":
        cmd_continuation_flood(port, int(args[0]))
    elif command == "garbage":
        cmd_garbage(port)
    elif command == "streams":
        cmd_streams(port, args[0], int(args[1]))
    elif command == "stop-during":
        cmd_stop_during(port, args[0], int(args[1]))
    else:
        sys.exit("unknown command " + command)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
