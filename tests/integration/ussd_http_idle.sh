#!/usr/bin/env bash
# USSD aggregator sessions forgotten after session_timeout of silence (the idle deadline on
# the dialogue's one table entry), each screen re-arming it: a session left alone is aborted
# and refused afterwards, one answered in time goes on. ~12 s. Exit 0 pass, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness ussd_http_idle tools/ussd_probe
need curl
fail() { echo "FAIL: $*"; echo "--- probe"; tail -n 30 "$T/probe.out" "$T/probe.err"; exit 1; }
ok() { echo "ok - $*"; }
umask 077
printf 'ussd-%s\n' "$RANDOM$RANDOM" >"$T/ussd-secret"
SECRET=$(head -1 "$T/ussd-secret")
cat >"$T/probe.yaml" <<YAML
ussd_http:
  listen: 127.0.0.1
  port: 0
  secret: ussd-secret
  allow: [127.0.0.1]
  session_timeout: 10s
YAML
post() {
  curl -s -m 5 -H "X-Guichet-Secret: $SECRET" --data-urlencode "sessionId=$1" \
    --data-urlencode "serviceCode=*4321#" --data-urlencode "phoneNumber=+33612345678" \
    --data-urlencode "text=$2" "http://127.0.0.1:$PORT/ussd"
}
expect() { case "$2" in *"$3"*) ;; *) fail "$1: got [$2], wanted [$3]";; esac; }

"$B/tools/ussd_probe" -c "$T/probe.yaml" >"$T/probe.out" 2>"$T/probe.err" &
GD=$!
for _ in $(seq 100); do grep -q READY "$T/probe.out" && break; sleep 0.05; done
PORT=$(awk '/^HTTP port/ {print $3}' "$T/probe.out")
[ -n "$PORT" ] || fail "probe did not listen"

expect "begin kept" "$(post kept "")" "CON Guichet"
expect "begin left" "$(post left "")" "CON Guichet"
sleep 6
expect "kept answers in time" "$(post kept 1)" "CON Numéro de dossier ?"
sleep 5
# left: 11 s since its screen, past session_timeout; kept: 5 s since its last screen.
expect "left, after the timeout" "$(post left 1)" "END Session invalide."
grep -q "ABORT http:left" "$T/probe.out" || fail "idle session not aborted"
grep -q "idle for 10 s" "$T/probe.err" || fail "no idle notice"
ok "a session silent past session_timeout is aborted and refused afterwards"
expect "kept goes on" "$(post kept "1*AB-12")" "END Demande AB-12 enregistrée. Merci."
grep -q "ABORT http:kept" "$T/probe.out" && fail "a session answered in time was aborted"
ok "each screen re-arms the deadline"

kill -TERM "$GD"; wait "$GD"; rc=$?; GD=
[ "$rc" = 0 ] || fail "probe exited with $rc (sanitizer report?)"
grep -q "^LEAKS 0$" "$T/probe.out" || fail "memory left after stop"
ok "no memory left after stop"
echo "ussd_http_idle: all passed"
