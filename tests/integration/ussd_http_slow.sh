#!/usr/bin/env bash
# Slow and hostile clients on the USSD aggregator callback (slowloris): 2,000 connections
# trickling a byte a second from an address not allowed, and 2,000 more from an allowed
# address, while the real aggregator (curl) keeps running dialogues, which must all be
# answered with the right screens. The probe runs with few file descriptors (ulimit -n 256)
# and must survive it. Checks: refused at accept time (not_allowed), cut at request_timeout
# (timeouts), no leak. Exit 0 pass, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/ussd_http.sh"
harness ussd_http_slow tools/ussd_probe
need curl python3
# Loopback aliases 127.0.0.2/3 (Linux routes all of 127/8 to lo).
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.3",0))' 2>/dev/null ||
  { echo "cannot bind 127.0.0.3"; exit 77; }
fail() { echo "FAIL: $*"; echo "--- probe"; tail -n 30 "$T/probe.out" "$T/probe.err"; exit 1; }
ok() { echo "ok - $*"; }
cat >"$T/probe.yaml" <<YAML
ussd_http:
  listen: 127.0.0.1
  port: 0
  allow: [127.0.0.1, 127.0.0.3]
  max_connections_per_address: 20
  request_timeout: 3s
YAML
(ulimit -n 256; exec "$B/tools/ussd_probe" -q -c "$T/probe.yaml" -D 100) >"$T/probe.out" 2>"$T/probe.err" &
PROBE_PID=$!; PIDS+=("$PROBE_PID")
probe_port

# The aggregator's requests come from 127.0.0.1 (allowed; no secret is configured here).
agg() { post "$1" "$2" --interface 127.0.0.1; }

python3 "$ROOT/tests/tools/trickle.py" -s 127.0.0.2 -n 2000 -t 14 127.0.0.1 "$PORT" >"$T/foreign.out" &
PIDS+=($!)
python3 "$ROOT/tests/tools/trickle.py" -s 127.0.0.3 -n 2000 -t 14 127.0.0.1 "$PORT" >"$T/allowed.out" &
PIDS+=($!)
for _ in $(seq 100); do grep -q OPEN "$T/foreign.out" && grep -q OPEN "$T/allowed.out" && break; sleep 0.1; done
grep -q OPEN "$T/foreign.out" && grep -q OPEN "$T/allowed.out" || fail "trickle clients did not start"

# The aggregator, all along (the trickles last 14 s; request_timeout is 3 s).
for i in $(seq 10); do
  expect "dialogue $i begin" "$(agg "agg-$i" "")" $'CON Guichet\n1. Acte de naissance'
  expect "dialogue $i answer" "$(agg "agg-$i" "1")" "CON Numéro de dossier ?"
  expect "dialogue $i end" "$(agg "agg-$i" "1*AB$i")" "END Demande AB$i enregistrée. Merci."
  sleep 1
done
ok "aggregator answered through 4,000 trickling connections (10 dialogues, right screens)"
kill -0 "$PROBE_PID" 2>/dev/null || fail "probe died under the flood (ulimit -n 256)"
wait "${PIDS[1]}" "${PIDS[2]}" 2>/dev/null

kill -TERM "$PROBE_PID"; wait "$PROBE_PID"; rc=$?
[ "$rc" = 0 ] || fail "probe exited with $rc (sanitizer report?)"
stats=$(grep '^HTTP requests' "$T/probe.out")
n() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$stats"; }
[ "$(n not_allowed)" -ge 1000 ] || fail "foreign connections not refused at accept: $stats"
ok "foreign address closed at accept time ($(n not_allowed) connections)"
[ "$(n timeouts)" -ge 20 ] || fail "trickling allowed connections not cut: $stats"
ok "allowed address held to its limit and cut at request_timeout ($(n timeouts) cut)"
[ "$(n requests)" = 30 ] || fail "requests reaching the sink: $stats"
grep -q "^LEAKS 0$" "$T/probe.out" || fail "memory left after stop"
lines=$(grep -c "not allowed\|request after\|libmicrohttpd" "$T/probe.err")
[ "$lines" -lt 200 ] || fail "journal flooded: $lines lines about refused connections"
ok "no leak, journal not flooded ($lines lines)"

# An allowed address takes every connection the descriptors allow (ulimit -n 40: 20), then
# goes, leaving its dead connections in the listen queue: the aggregator is served again
# once they are cleared (libmicrohttpd leaves its listening socket out of its epoll set at
# the limit; it must be run again to take it back, or it never accepts again).
cat >"$T/probe2.yaml" <<YAML
ussd_http:
  listen: 127.0.0.1
  port: 0
  allow: [127.0.0.1, 127.0.0.3]
  request_timeout: 1s
YAML
(ulimit -n 40; exec "$B/tools/ussd_probe" -q -c "$T/probe2.yaml") >"$T/probe.out" 2>"$T/probe.err" &
PROBE_PID=$!; PIDS+=("$PROBE_PID")
probe_port "second probe"
grep -q "at most 20 connections" "$T/probe.err" || fail "connection limit not fitted to ulimit -n 40"
python3 "$ROOT/tests/tools/trickle.py" -s 127.0.0.3 -n 100 -t 3 127.0.0.1 "$PORT" >"$T/allowed.out" ||
  fail "trickle client"
r=$(curl -s --max-time 20 --interface 127.0.0.1 -d "sessionId=after&serviceCode=*4321%23&text=" \
    "http://127.0.0.1:$PORT/")
expect "after the limit was reached" "$r" $'CON Guichet\n1. Acte de naissance'
kill -TERM "$PROBE_PID"; wait "$PROBE_PID"; rc=$?
[ "$rc" = 0 ] || fail "second probe exited with $rc"
grep -q "^LEAKS 0$" "$T/probe.out" || fail "memory left after stop"
ok "every connection taken, then released: the aggregator is served again"
echo "ussd_http_slow: all passed"
