#!/usr/bin/env python3
"""A back-end that sets up ONE TLS connection at a time (a single-threaded TLS terminator):
accepts, waits HS_DELAY_MS, does the handshake, and only then accepts the next connection;
each established connection is served (HTTP/1.1, keep-alive, a fixed JSON answer) by a
thread of its own. Writes its port to PORT_FILE. Counts handshakes done and given up
(written to PORT_FILE.stats at exit, on SIGTERM).

  serial_tls_backend.py CERT KEY PORT_FILE [HS_DELAY_MS]
"""
import signal, socket, ssl, sys, threading, time

cert, key, port_file = sys.argv[1:4]
delay = (int(sys.argv[4]) if len(sys.argv) > 4 else 20) / 1000.0
body = b'{"status":"open","label":"en cours"}'
answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
          % len(body)) + body
stats = {"handshakes": 0, "failed": 0, "requests": 0}

def serve(conn):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = conn.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            n = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":", 1)[1])
            while len(buf) < n:
                d = conn.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[n:]
            stats["requests"] += 1
            conn.sendall(answer)
    except OSError:
        pass
    finally:
        conn.close()

def stop(*_):
    with open(port_file + ".stats", "w") as f:
        f.write("%(handshakes)d handshakes, %(failed)d failed, %(requests)d requests\n" % stats)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(["http/1.1"])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(1024)
with open(port_file + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
while True:
    s, _ = ls.accept()
    time.sleep(delay)
    s.settimeout(5)
    try:
        c = ctx.wrap_socket(s, server_side=True)
    except (OSError, ssl.SSLError):
        stats["failed"] += 1
        s.close()
        continue
    c.settimeout(None)
    stats["handshakes"] += 1
    threading.Thread(target=serve, args=(c,), daemon=True).start()
