#!/usr/bin/env python3
"""Guichet's demo back-end: a small HTTPS service for the demo and the tests.

    demo_backend.py --port 8443 --cert DIR/server.pem --key DIR/server.key \
                    --token-file DIR/token --db DIR/demo.sqlite

Serves the sample flows' operations (appointment slots and bookings, case statuses) from a
SQLite file it creates and seeds, plus fault endpoints for the tests. Every request must carry
"Authorization: Bearer <token>" with the token read from --token-file. A fixture, not the
product: python3's standard library only.
"""
import argparse
import hmac
import json
import os
import random
import sqlite3
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SLOTS = {
    "caf": [("S1", "2026-12-07T09:30"), ("S2", "2026-12-07T11:00"), ("S3", "2026-12-08T14:00"),
            ("S4", "2026-12-09T10:15")],
    "rsa": [("R1", "2026-12-07T10:00"), ("R2", "2026-12-10T15:30"), ("R3", "2026-12-11T09:00")],
    "cpam": [("C1", "2026-12-08T08:30"), ("C2", "2026-12-08T16:45"), ("C3", "2026-12-14T11:30")],
    "pole-emploi": [("P1", "2026-12-09T13:30"), ("P2", "2026-12-10T09:00")],
}
DOSSIERS = [
    ("12345678", "4321", "en_cours", "Votre dossier est en cours d'instruction.", "2026-11-20"),
    ("87654321", "1234", "accepte", "Votre demande est acceptée. Premier versement le 5 décembre.",
     "2026-11-18"),
    ("11112222", "0000", "incomplet", "Il manque un justificatif de domicile.", "2026-11-15"),
    ("33334444", "9876", "refuse", "Votre demande n'a pas pu être acceptée.", "2026-11-02"),
]
DAYS = ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."]
MONTHS = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
          "nov.", "déc."]


def label(start):
    t = time.strptime(start, "%Y-%m-%dT%H:%M")
    hm = "%dh%02d" % (t.tm_hour, t.tm_min) if t.tm_min else "%dh" % t.tm_hour
    return "%s %d %s %s" % (DAYS[t.tm_wday], t.tm_mday, MONTHS[t.tm_mon - 1], hm)


class Store:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS slots (id TEXT PRIMARY KEY, service TEXT NOT NULL,
                start TEXT NOT NULL, label TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS bookings (reference TEXT PRIMARY KEY,
                slot TEXT NOT NULL UNIQUE, service TEXT NOT NULL, allocataire TEXT NOT NULL,
                created TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS dossiers (numero TEXT PRIMARY KEY, code TEXT NOT NULL,
                status TEXT NOT NULL, label TEXT NOT NULL, updated TEXT NOT NULL);
        """)
        with self.lock:
            for service, slots in SLOTS.items():
                for sid, start in slots:
                    self.db.execute("INSERT OR IGNORE INTO slots VALUES (?,?,?,?)",
                                    (sid, service, start, label(start)))
            for d in DOSSIERS:
                self.db.execute("INSERT OR IGNORE INTO dossiers VALUES (?,?,?,?,?)", d)

    def slots(self, service):
        with self.lock:
            rows = self.db.execute(
                "SELECT id, label, start FROM slots WHERE service=? AND id NOT IN "
                "(SELECT slot FROM bookings) ORDER BY start", (service,)).fetchall()
        return [{"id": r[0], "label": r[1], "start": r[2]} for r in rows]

    def book(self, slot, service, allocataire):
        with self.lock:
            row = self.db.execute("SELECT start, label FROM slots WHERE id=? AND service=?",
                                  (slot, service)).fetchone()
            if not row:
                return 404, {"error": "créneau inconnu"}
            if self.db.execute("SELECT 1 FROM bookings WHERE slot=?", (slot,)).fetchone():
                return 409, {"error": "créneau déjà pris"}
            while True:
                ref = "RDV-%04d" % random.randint(0, 9999)
                if not self.db.execute("SELECT 1 FROM bookings WHERE reference=?",
                                       (ref,)).fetchone():
                    break
            self.db.execute("INSERT INTO bookings VALUES (?,?,?,?,?)",
                            (ref, slot, service, allocataire,
                             time.strftime("%Y-%m-%dT%H:%M:%S")))
        return 201, {"reference": ref, "start": row[0], "label": row[1]}

    def set_status(self, numero, status, label):
        with self.lock:
            cur = self.db.execute("UPDATE dossiers SET status=?, label=?, updated=? WHERE numero=?",
                                  (status, label, time.strftime("%Y-%m-%d"), numero))
        return cur.rowcount == 1

    def status(self, numero, code):
        with self.lock:
            row = self.db.execute("SELECT numero, status, label, updated FROM dossiers "
                                  "WHERE numero=? AND code=?", (numero, code)).fetchone()
        if not row:
            return 404, {"error": "inconnu"}
        return 200, {"numero": row[0], "status": row[1], "label": row[2], "updated": row[3]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: the relay reuses connections
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "guichet-demo/1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("demo-backend: " + (fmt % args) + "\n")

    def reply(self, code, obj=None, raw=None, ctype="application/json"):
        body = raw if raw is not None else json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        got = self.headers.get("Authorization", "")
        want = "Bearer " + self.server.token
        if hmac.compare_digest(got.encode(), want.encode()):
            return True
        self.reply(401, {"error": "unauthorized"})
        return False

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1 << 20:
            return None
        data = self.rfile.read(n) if n else b""
        try:
            return json.loads(data.decode("utf-8")) if data else {}
        except (ValueError, UnicodeDecodeError):
            return None

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        if u.path == "/health":
            return self.reply(200, {"ok": True})
        if not self.authorized():
            return
        if u.path == "/agenda/slots":
            service = q.get("service", [""])[0]
            return self.reply(200, {"slots": self.server.store.slots(service)})
        if u.path == "/test/slow":
            ms = int(q.get("ms", ["1000"])[0])
            time.sleep(ms / 1000.0)
            return self.reply(200, {"slept_ms": ms})
        if u.path == "/test/status":
            code = int(q.get("code", ["503"])[0])
            return self.reply(code, {"error": "status %d on request" % code})
        if u.path == "/test/notjson":
            return self.reply(200, raw=b"<html><body>Service indisponible</body></html>",
                              ctype="text/html")
        if u.path == "/test/missing":
            return self.reply(200, {"something": "else", "count": 1})
        if u.path == "/test/big":
            n = int(q.get("kb", ["512"])[0])
            return self.reply(200, {"pad": "x" * (n * 1024)})
        if u.path == "/test/rappels":
            with self.server.lock:
                return self.reply(200, {"rappels": list(self.server.rappels)})
        if u.path == "/test/echo":
            return self.reply(200, {"echo": None, "query": {k: v[0] for k, v in q.items()},
                                    "path": u.path})
        return self.reply(404, {"error": "no such endpoint"})

    def do_POST(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        if not self.authorized():
            return
        body = self.read_json()
        if body is None or not isinstance(body, dict):
            return self.reply(400, {"error": "a JSON object is expected"})
        if u.path == "/agenda/bookings":
            missing = [k for k in ("slot", "service", "allocataire") if not body.get(k)]
            if missing:
                return self.reply(400, {"error": "missing " + ", ".join(missing)})
            code, obj = self.server.store.book(str(body["slot"]), str(body["service"]),
                                               str(body["allocataire"]))
            return self.reply(code, obj)
        if u.path == "/dossiers/status":
            code, obj = self.server.store.status(str(body.get("numero", "")),
                                                 str(body.get("code", "")))
            return self.reply(code, obj)
        if u.path.startswith("/admin/dossiers/") and u.path.endswith("/status"):
            # A case's status changes: its owner is told by SMS through guichetd's
            # notification API (POST /v1/messages), as an administration's system would.
            numero = u.path[len("/admin/dossiers/"):-len("/status")]
            if not body.get("status") or not body.get("label") or not body.get("phone"):
                return self.reply(400, {"error": "status, label and phone are needed"})
            if not self.server.store.set_status(numero, str(body["status"]), str(body["label"])):
                return self.reply(404, {"error": "inconnu"})
            code, answer = self.server.notify({
                "to": body["phone"], "reference": "dossier-" + numero,
                "idempotency_key": "dossier-%s-%s" % (numero, body["status"]),
                "text": "Dossier %s : %s Envoyez DOSSIER pour le detail." % (numero, body["label"])})
            return self.reply(200 if code == 202 else 502, {"notify": code, "answer": answer})
        if u.path == "/conseil/rappels":
            # A handoff: who calls back and when. Kept in memory for the tests to read back
            # (GET /test/rappels): the number and the transcript, as Guichet sent them.
            if not body.get("phone"):
                return self.reply(400, {"error": "missing phone"})
            with self.server.lock:
                self.server.rappels.append(body)
            return self.reply(201, {"qui": "Un conseiller", "quand": "demain entre 9h et 12h"})
        if u.path.startswith("/test/echo"):
            return self.reply(200, {"echo": body, "query": {k: v[0] for k, v in q.items()},
                                    "path": u.path})
        return self.reply(404, {"error": "no such endpoint"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024   # bursts of 200+ connections must not be dropped
    allow_reuse_address = True
    tls = None
    verbose = False

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the request's thread, not in accept(): a burst of
        # handshakes (or a client that stalls in one) must not hold up the others.
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if self.verbose:
                sys.stderr.write("demo-backend: TLS handshake failed: %s\n" % e)
            return
        try:
            super().finish_request(request, client_address)
        finally:
            try:
                request.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--notify-url", help="guichetd's notification API, e.g. https://127.0.0.1:8444")
    ap.add_argument("--notify-token-file", help="its bearer token")
    ap.add_argument("--notify-ca", help="the CA its certificate is checked against")
    a = ap.parse_args()

    with open(a.token_file, encoding="utf-8") as f:
        token = f.readline().rstrip("\r\n")
    if not token:
        sys.exit("demo-backend: empty token file")
    srv = Server((a.bind, a.port), Handler)
    srv.token = token
    srv.verbose = a.verbose
    srv.store = Store(a.db)
    srv.lock = threading.Lock()

    def notify(msg):
        if not a.notify_url:
            return 0, "no --notify-url"
        with open(a.notify_token_file, encoding="utf-8") as f:
            tok = f.readline().strip()
        req = urllib.request.Request(a.notify_url.rstrip("/") + "/v1/messages",
                                     data=json.dumps(msg).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + tok,
                                              "Content-Type": "application/json"})
        tls = ssl.create_default_context(cafile=a.notify_ca)
        try:
            with urllib.request.urlopen(req, context=tls, timeout=5) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (OSError, ValueError) as e:
            return 0, str(e)
    srv.notify = notify
    srv.rappels = []            # handoffs received (POST /conseil/rappels)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(a.cert, a.key)
    srv.tls = ctx
    print("demo-backend: https://%s:%d/ (db %s)" % (a.bind, a.port, a.db), file=sys.stderr,
          flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
