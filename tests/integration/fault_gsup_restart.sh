#!/usr/bin/env bash
# Fault: osmo-hlr killed (-9) and restarted while the test MSC keeps USSD dialogues in flight
# through it. guichetd must notice the link down, abort the dialogues it held, keep running,
# connect again by itself once osmo-hlr is back, and serve a new dialogue; then stop cleanly.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness fault_gsup_restart guichetd tools/ussd_msc
need osmo-hlr python3
[ -r /etc/ssl/certs/ca-certificates.crt ] || { echo "skip: no system CA file"; exit 77; }
keep_logs guichetd.log
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
HLR= LOAD=
# osmo-hlr is killed and started again, the load ends by itself: stopped by the pid they have.
at_stop 'kill $LOAD $HLR 2>/dev/null'
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -n 25 "$T/guichetd.log"; exit 1; }
ups() { grep -c "GSUP link to osmo-hlr .* up" "$T/guichetd.log"; }

umask 077
echo "token-$RANDOM" > "$T/agenda-token"
# The back-end is never reached: the demo's address, the system's CAs.
{ demo_config 8443 /etc/ssl/certs/ca-certificates.crt | sed 's/ussd: { screen: 182,/ussd: { screen: 128,/'
  echo "gsup: { host: $IP, port: 4222, name: guichet, guard_timeout: 20s }"
  # 3 subscribers stand for many people here: no per-number dialogue rate.
  echo "limits: { ussd_per_minute: 0, ussd_per_day: 0 }"
} > "$T/guichet.yaml"
HLR=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 3 30) || fail "osmo-hlr did not start"
"$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
GD=$!
for _ in $(seq 100); do [ "$(ups)" -ge 1 ] && break; kill -0 "$GD" 2>/dev/null || fail "guichetd exited"; sleep 0.1; done
[ "$(ups)" -ge 1 ] || fail "guichetd not connected to osmo-hlr"
sleep 0.3
dialogue() {	# one dialogue through osmo-hlr: the root menu, an answer, END from the phone
  "$B/tools/ussd_msc" -H "$IP" -t 6 "dial 001010000000002 *4321#" "expect con" "answer 1" \
    "expect con" "end" >>"$T/msc.out" 2>&1
}
dialogue || fail "first dialogue"
echo "ok - a dialogue through osmo-hlr before the fault"

# Load: dialogues kept in flight over 3 subscribers while osmo-hlr dies.
"$B/tools/ussd_msc" -H "$IP" --bench -c 20 -m 4 -d 6 --imsis 3 --code '*4321#' --answer 1 \
  >"$T/load.out" 2>&1 &
LOAD=$!
sleep 1.5
kill -9 "$HLR"; wait "$HLR" 2>/dev/null; HLR=
for _ in $(seq 50); do grep -q "GSUP link to osmo-hlr .* down" "$T/guichetd.log" && break; sleep 0.1; done
grep -q "GSUP link to osmo-hlr .* down" "$T/guichetd.log" || fail "the link loss went unnoticed"
echo "ok - osmo-hlr killed under load: guichetd saw the link go down"
sleep 1
kill -0 "$GD" 2>/dev/null || fail "guichetd died with osmo-hlr"
HLR=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 3 30) || fail "osmo-hlr did not restart"
for _ in $(seq 200); do [ "$(ups)" -ge 2 ] && break; sleep 0.1; done
[ "$(ups)" -ge 2 ] || fail "guichetd did not connect again to the restarted osmo-hlr"
echo "ok - guichetd connected again by itself"
wait "$LOAD" 2>/dev/null; LOAD=
screens=$(sed -n 's/^screens=\([0-9]*\).*/\1/p' "$T/load.out")
[ "${screens:-0}" -gt 0 ] || fail "the load generator carried no screen: $(cat "$T/load.out")"
echo "ok - the load carried $screens screens around the fault"
sleep 0.5
dialogue || { tail -5 "$T/msc.out"; fail "no dialogue after the restart"; }
echo "ok - a dialogue through the restarted osmo-hlr"
grep -E "runtime error|AddressSanitizer|LeakSanitizer" "$T/guichetd.log" && fail "sanitizer report"
kill "$GD"; wait "$GD"; rc=$?; GD=
[ $rc -eq 0 ] || fail "guichetd exited $rc on SIGTERM"
echo "ok - guichetd stopped cleanly"
