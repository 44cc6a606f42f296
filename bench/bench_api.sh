#!/usr/bin/env bash
# Notifications accepted durably through the API: guichetd with a real TLS API and a SQLite
# store (WAL, synchronous=FULL), a client posting batches of 500 messages with keep-alive
# (each batch one transaction, answered 202 after its commit), and single messages, from one
# client and from 32 at once (requests arriving together share one commit). Messages are due next year, so nothing is sent while measuring.
# Prints `figure api_accepted_per_s: N` (batched) and the single-message rate.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
B=${BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B;; esac
[ -x "$B/guichetd" ] || { echo "bench_api: $B/guichetd not built"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/var/tmp}/guichet-bench-api.XXXXXX")
GD=
trap '[ -n "$GD" ] && kill "$GD" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
"$ROOT/tests/backend/make-certs.sh" "$T/certs" >/dev/null
mkdir -p "$T/cred" "$T/flows" "$T/modem"
( umask 077; echo bench-token-0123456789abcdef > "$T/cred/api-token" )
printf 'flow: b\ntitle: B\nentry: { sms: [B] }\nsteps:\n  fin:\n    say: "B"\n' > "$T/flows/b.yaml"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/guichet.yaml" <<Y
flows: $T/flows
store: $T/guichet.db
credentials: $T/cred
log: { level: notice }
modems: [{ name: m1, model: dummy, device: $T/modem, rate: 0, sent_log: $T/sent.jsonl }]
api: { listen: 127.0.0.1, port: $PORT, cert: $T/certs/server.pem, key: $T/certs/server.key,
       tokens: [api-token] }
Y
"$B/guichetd" -f -c "$T/guichet.yaml" 2>"$T/log" &
GD=$!
for _ in $(seq 100); do grep -q "guichetd started" "$T/log" && break; sleep 0.1; done
python3 - "$PORT" "$T/certs/demo-ca.pem" <<'P'
import http.client, json, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
hdr = {"Authorization": "Bearer bench-token-0123456789abcdef", "Content-Type": "application/json"}
def post(path, body):
    conn.request("POST", path, body=json.dumps(body), headers=hdr)
    r = conn.getresponse(); r.read()
    assert r.status == 202, r.status
msg = lambda i: {"to": "+3361%07d" % i, "text": "Rappel : votre rendez-vous du 3/12 a 10h.",
                 "send_at": "2099-01-01T10:00:00Z", "reference": "R%d" % i}
batches, size = 20, 500
t = time.monotonic()
for b in range(batches):
    post("/v1/messages:batch", {"messages": [msg(b * size + i) for i in range(size)]})
batched = batches * size / (time.monotonic() - t)
n = 300
t = time.monotonic()
for i in range(n):
    post("/v1/messages", msg(1000000 + i))
single = n / (time.monotonic() - t)
# 32 clients at once, one message a request: the daemon commits what arrives together in one
# transaction (group commit), so they share each fsync.
import threading
conn.close()	# the server allows 32 connections from one address
clients, each = 32, 100
def client(k):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    for i in range(each):
        c.request("POST", "/v1/messages", body=json.dumps(msg(2000000 + k * each + i)), headers=hdr)
        r = c.getresponse(); r.read()
        assert r.status == 202, r.status
th = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
t = time.monotonic()
for x in th: x.start()
for x in th: x.join()
concurrent = clients * each / (time.monotonic() - t)
print("api: batches of %d: %.0f messages/s; one message a request: %.0f/s sequential, "
      "%.0f/s from %d clients at once" % (size, batched, single, concurrent, clients))
print("figure api_accepted_per_s: %.0f" % batched)
print("figure api_single_concurrent_per_s: %.0f" % concurrent)
P
