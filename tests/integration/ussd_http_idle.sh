#!/usr/bin/env bash
# USSD aggregator sessions forgotten after session_timeout of silence (the idle deadline on
# the dialogue's one table entry), each screen re-arming it: a session left alone is aborted
# and refused afterwards, one answered in time goes on. ~12 s. Exit 0 pass, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/ussd_http.sh"
harness ussd_http_idle tools/ussd_probe
need curl
fail() { echo "FAIL: $*"; echo "--- probe"; tail -n 30 "$T/probe.out" "$T/probe.err"; exit 1; }
ok() { echo "ok - $*"; }
ussd_secret
probe_config "  session_timeout: 10s"
probe_start "$T/probe.yaml"

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

probe_stop
ok "no memory left after stop"
echo "ussd_http_idle: all passed"
