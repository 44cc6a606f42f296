#!/usr/bin/env bash
# USSD through a real osmo-hlr: Guichet's EUSE (ussd_probe: the GSUP transport with a stub
# menu) and the test MSC (ussd_msc). Dial, menu, answers, END; unknown codes; END from the
# phone; a reused session id; the HLR killed and restarted (reconnect, one log line each
# way); a person who stops answering (guard timer). Exit 0 pass, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/ussd_http.sh"
harness ussd_gsup tools/ussd_msc tools/ussd_probe
need osmo-hlr
# A loopback address of our own: osmo-hlr's GSUP port cannot move from 4222.
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
HLR_PID=
at_stop 'kill $HLR_PID 2>/dev/null'	# killed and started again below
fail() { echo "FAIL: $*"; echo "--- probe"; tail -n 30 "$T/probe.out" "$T/probe.err"; echo "--- hlr"; tail -n 15 "$T/hlr/hlr.log"; exit 1; }
ok() { echo "ok - $*"; }
msc() { "$B/tools/ussd_msc" -H "$IP" -t 3 "$@" >>"$T/msc.out" 2>&1; }
wait_for() { # file pattern count timeout_s
  for _ in $(seq $(( $4 * 20 ))); do
    [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
    sleep 0.05
  done
  return 1
}

HLR_PID=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 3 5) || fail "osmo-hlr did not start"
cat >"$T/probe.yaml" <<YAML
gsup:
  host: $IP
  port: 4222
  name: guichet
  guard_timeout: 8s
YAML
"$B/tools/ussd_probe" -c "$T/probe.yaml" >"$T/probe.out" 2>"$T/probe.err" &
GD=$!
wait_for "$T/probe.err" "GSUP link to osmo-hlr .* up" 1 5 || fail "EUSE link not up"
sleep 0.3
I1=001010000000001 I2=001010000000002

# 1. A whole dialogue, GSM-7 then UCS-2; a final answer; codes unknown to us and to the HLR.
msc "dial $I1 *4321#" "expect con Acte de naissance" "answer 1" "expect con dossier" \
    "answer 2024-XY" "expect end Demande 2024-XY enregistrée" \
  || fail "menu -> answer -> END"
ok "menu, prompt, answer, final screen"
msc "dial $I2 *4321#" "expect con" "answer 3" "expect con « oui »" "answer ça va" \
    "expect end Reçu : ça va" || fail "UCS-2 prompt and answer"
ok "UCS-2 prompt and answer"
msc "dial $I1 *4321#" "expect con" "answer 9" "expect con Choix invalide" "answer 2" \
    "expect end mardi" || fail "invalid choice re-prompt"
ok "re-prompt on an invalid choice"
msc "dial $I1 *4321*5#" "expect end Code inconnu" || fail "code unknown to the menu"
msc "dial $I1 *999#" "expect err" || fail "code unknown to the HLR"
ok "unknown codes"
msc "dial $I1 *4321*7#" "expect end Long:xxx" || fail "long screen"
grep -q "longer than 128 characters: cut" "$T/probe.err" || fail "no truncation notice"
ok "long screen cut to 128 characters"

# 2. The phone ends the dialogue.
msc "sid 4242" "dial $I1 *4321#" "expect con" "end" "expect none" || fail "END from the phone"
wait_for "$T/probe.out" "ABORT $I1:4242" 1 3 || fail "END from the phone not aborted"
ok "END from the phone aborts the dialogue"

# 3. A session id reused while the dialogue is open here (the HLR, guard 5 s, forgot it).
msc "sid 777" "dial $I2 *4321#" "expect con" "sleep 6" "sid 777" "dial $I2 *4321#" \
    "expect con Guichet" "answer 2" "expect end mardi" || fail "reused session id"
wait_for "$T/probe.out" "ABORT $I2:777" 1 3 || fail "old dialogue not aborted on reuse"
[ "$(grep -c "REQ gsup $I2:777 begin" "$T/probe.out")" = 2 ] || fail "reuse did not begin anew"
ok "reused session id: old dialogue aborted, new one served"

# 4. The person stops answering: our guard timer (8 s) ends the dialogue.
# The HLR (guard 5 s) has forgotten it too: a late answer gets a GSUP error back.
msc "sid 888" "dial $I1 *4321#" "expect con" "wait 9.5" "answer 1" "expect err" \
  || fail "silent person"
grep -q "ABORT $I1:888" "$T/probe.out" || fail "silent dialogue not aborted"
grep -q "silent for 8 s" "$T/probe.err" || fail "no guard notice"
ok "silent person: dialogue ended by the guard timer"

# 5. The HLR goes away with a dialogue open, then comes back.
"$B/tools/ussd_msc" -H "$IP" -t 3 "sid 999" "dial $I1 *4321#" "expect con" "wait 30" \
  >"$T/msc-drop.out" 2>&1 &
MSC_PID=$!
wait_for "$T/probe.out" "REQ gsup $I1:999 begin" 1 5 || fail "dialogue before the drop"
sleep 0.3
kill "$HLR_PID"; wait "$HLR_PID" 2>/dev/null; HLR_PID=
wait_for "$T/probe.out" "ABORT $I1:999" 1 5 || fail "link drop did not abort the dialogue"
sleep 2.5
kill "$MSC_PID" 2>/dev/null; wait "$MSC_PID" 2>/dev/null
[ "$(grep -c "GSUP link to osmo-hlr .* down" "$T/probe.err")" = 1 ] || fail "link down not logged exactly once"
HLR_PID=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 3 5) || fail "osmo-hlr did not restart"
wait_for "$T/probe.err" "GSUP link to osmo-hlr .* up" 2 6 || fail "no reconnection"
sleep 0.5
msc "dial $I1 *4321#" "expect con" "answer 2" "expect end mardi" || fail "dialogue after reconnect"
ok "HLR killed: dialogue aborted, one down line; restarted: reconnected and serving"

probe_stop
ok "no memory left after stop"
echo "ussd_gsup: all passed"
