#!/usr/bin/env bash
# USSD aggregator dialogues shared between hosts: requests/s and latency of the aggregator's
# requests (one client, keep-alive, one request at a time) for N dialogues x 3 screens,
# through two guichetd on one PostgreSQL with the requests alternating between them (every
# request after the first reads the shared row, every CON screen writes it), one guichetd on
# PostgreSQL, and one on SQLite (nothing shared: no store I/O for a USSD screen), in the same
# run. PostgreSQL is started here (fsync on, unix socket). Prints `figure NAME: VALUE`.
# Env: N (500), KEEP=1.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD;; *) B=$ROOT/$BUILD;; esac
N=${N:-500}
. "$ROOT/tests/pg/pg.sh"
[ -x "$PGB/pg_ctl" ] && [ -x "$B/guichetd" ] && command -v python3 >/dev/null ||
  { echo "figure pg_ussd: n/a (no PostgreSQL, python3, or not built)"; exit 0; }
T=$(mktemp -d /tmp/guichet-bench-pgussd.XXXXXX); chmod 755 "$T"
PIDS=() PGUP=
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null
  [ -n "$PGUP" ] && pg_stop "$T/pg"; [ "${KEEP:-}" = 1 ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
pg_start "$T/pg" durable || { echo "figure pg_ussd: n/a (PostgreSQL did not start)"; exit 0; }
PGUP=1
URL="postgresql:///postgres?host=$T/pg&user=guichet"
mkdir -p "$T/flows"
cat > "$T/flows/etapes.yaml" <<'Y'
flow: etapes
title: Etapes
entry: { ussd: "*55#" }
steps:
  choix:
    menu: "Etape 1 ?"
    options:
      - { label: "Nom", next: nom }
  nom:
    ask: "Votre nom ?"
    save: nom
    next: fin
  fin:
    say: "Merci {{nom}}."
    end: true
Y
printf 'bench-%s\n' "$RANDOM$RANDOM" > "$T/ussd-secret"; chmod 600 "$T/ussd-secret"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # NAME STORE PORT
  cat > "$T/$1.yaml" <<Y
flows: $T/flows
store: $2
credentials: $T
ussd: { screen: 128, answer_ms: 4000 }
log: { level: notice }
ussd_http: { listen: 127.0.0.1, port: $3, secret: ussd-secret, allow: [127.0.0.1], session_timeout: 60s }
Y
  "$B/guichetd" -f -c "$T/$1.yaml" 2>>"$T/$1.log" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "USSD HTTP callback listening" "$T/$1.log" && return 0; sleep 0.1; done
  echo "figure pg_ussd: n/a ($1 did not start)"; exit 0
}
P1=$(free_port); P2=$(free_port); P3=$(free_port)
start pg1 "$URL" "$P1"; start pg2 "$URL" "$P2"; start sqlite "$T/guichet.db" "$P3"
python3 - "$N" "$(head -1 "$T/ussd-secret")" "$P1" "$P2" "$P3" <<'PY'
import http.client, sys, time, urllib.parse
n, secret = int(sys.argv[1]), sys.argv[2]
p1, p2, p3 = map(int, sys.argv[3:])
def run(name, ports, tag):
    conns = [http.client.HTTPConnection("127.0.0.1", p) for p in ports]
    lat = []
    t0 = time.monotonic()
    for i in range(n):
        sid = "%s%d" % (tag, i)
        for k, text in enumerate(["", "1", "1*Nom%d" % i]):
            c = conns[k % len(conns)]
            body = urllib.parse.urlencode({"sessionId": sid, "serviceCode": "*55#",
                                           "phoneNumber": "+3361%07d" % i, "text": text})
            s = time.monotonic()
            c.request("POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded",
                                          "X-Guichet-Secret": secret})
            r = c.getresponse().read().decode()
            lat.append(time.monotonic() - s)
            if not r.startswith(["CON Etape", "CON Votre nom", "END Merci"][k]):
                print("figure %s: n/a (dialogue %s, screen %d: %r)" % (name, sid, k + 1, r))
                return
    el = time.monotonic() - t0
    lat.sort()
    print("figure %s: %.0f req/s, mean %.2f ms, p99 %.2f ms (%d dialogues x 3 requests)"
          % (name, 3 * n / el, 1000 * sum(lat) / len(lat), 1000 * lat[int(len(lat) * 0.99)], n))
run("pg_ussd_two_hosts_alternating", [p1, p2], "a")
run("pg_ussd_one_host", [p1], "b")
run("sqlite_ussd_one_host", [p3], "c")
PY
