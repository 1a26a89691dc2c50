#!/usr/bin/env python3
"""idle_client.py: the client of `bench/run.sh idle` (python3, stdlib only).

Opens COUNT keep-alive connections to HOST:PORT, makes one request on each (GET PATH,
HTTP/1.1, reads the whole response) and then holds them all open, idle, until the file
RELEASE exists (or --hold seconds pass). Prints `ready ok=N failed=M` once every
connection has its answer, so the caller can read the server's RSS while they are held.
With --tls each connection is HTTPS (TLS handshake first, the certificate not verified).

  idle_client.py --port P --path /hello --count 10000 --release /tmp/x/release

At most --batch connections are being set up at once (a listen backlog overflow would
otherwise cost SYN retries). Bounded: setup gives up after --timeout seconds.
"""
import argparse
import os
import selectors
import socket
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--hold", type=float, default=120)
    ap.add_argument("--release", required=True)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    tls = None
    if a.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE

    request = f"GET {a.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    held = []  # sockets with their answer, kept open
    state = {}  # fd -> [sock, bytes received]
    failed = 0
    started = 0
    deadline = time.monotonic() + a.timeout

    def start_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((a.host, a.port))
        state[s.fileno()] = [s, b"", "connect"]
        sel.register(s, selectors.EVENT_WRITE)

    # TLS: drives the handshake; True once it is done (the socket then sends the request).
    def handshake(s, entry):
        try:
            s.do_handshake()
        except ssl.SSLWantReadError:
            sel.modify(s, selectors.EVENT_READ)
            return False
        except ssl.SSLWantWriteError:
            sel.modify(s, selectors.EVENT_WRITE)
            return False
        entry[2] = "request"
        return True

    def complete(buf):
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        length = 0
        for line in buf[:head_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return len(buf) >= head_end + 4 + length

    while len(held) + failed < a.count:
        if time.monotonic() > deadline:
            print(f"idle_client: timed out with {len(held)} of {a.count} connections", file=sys.stderr)
            return 1
        while started < a.count and len(state) < a.batch:
            start_one()
            started += 1
        for key, events in sel.select(timeout=1.0):
            s = key.fileobj
            entry = state[s.fileno()]
            try:
                if entry[2] == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    entry[2] = "request"
                    if tls:
                        sel.unregister(s)
                        s = tls.wrap_socket(s, server_hostname="localhost", do_handshake_on_connect=False)
                        entry[0] = s
                        sel.register(s, selectors.EVENT_WRITE)
                        entry[2] = "handshake"
                if entry[2] == "handshake" and not handshake(s, entry):
                    continue
                if entry[2] == "request":
                    s.send(request)
                    entry[2] = "response"
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                try:
                    data = s.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not data:
                    raise OSError("closed by the server")
                entry[1] += data
                if complete(entry[1]):
                    if not entry[1].startswith(b"HTTP/1.1 200"):
                        raise OSError("answer: " + entry[1].split(b"\r\n")[0].decode(errors="replace"))
                    sel.unregister(s)
                    del state[s.fileno()]
                    held.append(s)
            except OSError as e:
                if failed < 5:
                    print(f"idle_client: connection failed: {e}", file=sys.stderr)
                failed += 1
                sel.unregister(s)
                del state[s.fileno()]
                s.close()

    print(f"ready ok={len(held)} failed={failed}", flush=True)
    hold_until = time.monotonic() + a.hold
    while not os.path.exists(a.release) and time.monotonic() < hold_until:
        time.sleep(0.05)
    # Check that the server kept them all open while we held them.
    closed = 0
    for s in held:
        try:
            if tls:
                s.setblocking(False)
                if s.recv(1) == b"":
                    closed += 1
            elif s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                closed += 1
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except OSError:
            closed += 1
    print(f"released closed_by_server={closed}", flush=True)
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
