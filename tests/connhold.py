#!/usr/bin/env python3
"""connhold: hold N TCP connections open against a receiver, for tests.

    connhold.py [--mode idle|trickle|hello] [--status FILE] HOST PORT N

Modes, what each connection does once connected:
  idle     sends nothing (a slowloris that never starts);
  trickle  sends a TLS handshake record header announcing 512 bytes, then
           one byte a second (a ClientHello that never completes);
  hello    sends a complete TLS 1.3 ClientHello (made by Python's ssl
           module), then never answers the server (a handshake that stalls
           half-way, holding a process on the receiver).

A connection the receiver closes is opened again, so that N stay open the
whole time.  FILE gets "ready" once all N are connected the first time,
and, on SIGTERM or SIGINT, "reconnects=R" (how many the receiver closed);
then the helper exits 0.
"""
import argparse
import selectors
import signal
import socket
import ssl
import sys
import time


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("idle", "trickle", "hello"), default="idle")
    ap.add_argument("--status")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    a = ap.parse_args()

    hello = client_hello() if a.mode == "hello" else b""
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> bytes of the trickle still to send
    reconnects = 0
    ready = False
    stop = []

    def status(line):
        if a.status:
            with open(a.status, "a") as f:
                f.write(line + "\n")

    def on_signal(sig, frame):
        stop.append(sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def open_one():
        while not stop:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect((a.host, a.port))
            except OSError:
                s.close()
                time.sleep(0.05)
                continue
            if a.mode == "hello":
                s.sendall(hello)
            left = b""
            if a.mode == "trickle":
                s.sendall(bytes([22, 3, 1, 2, 0]))
                left = bytes(512)
            s.setblocking(False)
            conns[s] = left
            sel.register(s, selectors.EVENT_READ)
            return

    for _ in range(a.n):
        open_one()
    if not stop:
        ready = True
        status("ready")
    last_tick = time.monotonic()
    while not stop:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                continue  # a server flight (hello mode): never answered
            sel.unregister(s)
            del conns[s]
            s.close()
            reconnects += 1
            open_one()
        if a.mode == "trickle" and time.monotonic() - last_tick >= 1:
            last_tick = time.monotonic()
            for s, left in list(conns.items()):
                if left:
                    try:
                        s.send(left[:1])
                        conns[s] = left[1:]
                    except OSError:
                        pass
    status("reconnects=%d" % reconnects)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
