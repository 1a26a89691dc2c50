#!/usr/bin/env python3
"""abuse_client.py: the hostile share of `bench/soak.sh` (python3, stdlib only).

For --duration seconds, cycles through requests a server must refuse or cut short, one
at a time, each on a fresh connection, and checks the answer:

  garbage      bytes that are not HTTP                             -> 400
  long-uri     a 64 KiB request target                             -> 414
  big-headers  200 KiB of header lines                             -> 431
  bad-length   Content-Length: abc                                 -> 400
  huge-body    Content-Length: 1 GiB, and a little of it           -> 413
  bad-chunk    Transfer-Encoding: chunked with a bad chunk size    -> 400
  half-close   half a request line, then the client hangs up       -> nothing (no answer due)
  ws-bad-key   a WebSocket upgrade with a broken key               -> 400

Meanwhile it holds --slow connections that each send one header byte per second
(slowloris); the server must answer 408 and close them by its header_timeout.

Prints `abuse.<kind> <count>` for each kind, `abuse.unexpected <n>` (answers other than
the expected status or a close) and `abuse.slow_closed <n>`. Exit 0 when no answer was
unexpected, else 1 with the first few listed on stderr. Every socket has a timeout: the
tool never waits longer than --io-timeout on one step.
"""
import argparse
import socket
import sys
import time

CASES = [
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n", {400}),
    ("long-uri", b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    ("big-headers", b"GET / HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-F%d: %s\r\n" % (i, b"b" * 1000) for i in range(200)) + b"\r\n", {431}),
    ("bad-length", b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", {400}),
    ("huge-body", b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n" + b"z" * 4096, {413}),
    ("bad-chunk", b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", {400}),
    ("half-close", b"GET /index.ht", None),
    ("ws-bad-key", b"GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", {400}),
]


def status_of(sock, timeout):
    """The status code of the first response on sock, or None if it closed first."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


def one_case(host, port, payload, expected, timeout):
    """Returns None when the server behaved, else a description of what it did."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            return None  # cut off while we were still sending: a refusal too
        if expected is None:
            sock.shutdown(socket.SHUT_WR)
            return None
        try:
            status = status_of(sock, timeout)
        except socket.timeout:
            return "no answer within %.0f s" % timeout
        if status in expected:
            return None
        return "closed without an answer" if status is None else "status %d" % status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--slow", type=int, default=20, help="slowloris connections held at once")
    ap.add_argument("--io-timeout", type=float, default=15)
    args = ap.parse_args()

    counts = {name: 0 for name, _, _ in CASES}
    unexpected = []
    slow = []  # (socket, next byte index)
    slow_closed = 0
    slow_request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100000
    deadline = time.monotonic() + args.duration
    next_drip = 0.0
    i = 0
    while time.monotonic() < deadline:
        while len(slow) < args.slow:
            s = socket.create_connection((args.host, args.port), timeout=args.io_timeout)
            s.setblocking(False)
            slow.append([s, 0])
        if time.monotonic() >= next_drip:  # one byte per slow connection per second
            next_drip = time.monotonic() + 1.0
            for entry in list(slow):
                s, at = entry
                try:
                    s.send(slow_request[at:at + 1])
                    entry[1] = at + 1
                    s.recv(1, socket.MSG_PEEK)  # 408 bytes or end of stream: it was cut off
                    raise ConnectionResetError
                except BlockingIOError:
                    pass  # nothing to read yet: still open
                except (BrokenPipeError, ConnectionResetError):
                    slow.remove(entry)
                    s.close()
                    slow_closed += 1
        name, payload, expected = CASES[i % len(CASES)]
        i += 1
        problem = one_case(args.host, args.port, payload, expected, args.io_timeout)
        counts[name] += 1
        if problem:
            unexpected.append("%s: %s" % (name, problem))
    for s, _ in slow:
        s.close()
    for name, n in counts.items():
        print("abuse.%s %d" % (name, n))
    print("abuse.unexpected %d" % len(unexpected))
    print("abuse.slow_closed %d" % slow_closed)
    for line in unexpected[:10]:
        print("abuse_client: unexpected: " + line, file=sys.stderr)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
