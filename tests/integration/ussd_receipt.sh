#!/usr/bin/env bash
# A receipt after a USSD dialogue through a real osmo-hlr: the test MSC dials a code, the
# procedure ends on a screen with receipt:, and the proof leaves by SMS (libGammu's dummy
# modem) to the subscriber's MSISDN, with its reference. The MSISDN is the one the MSC puts
# in its GSUP BEGIN, which osmo-hlr forwards to the EUSE as is; without it Guichet only has
# the IMSI, and the cost guard refuses the message (status refused: destination). Exit 0/1/77.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness ussd_receipt guichetd tools/ussd_msc
need osmo-hlr python3
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -n 20 "$T/guichetd.log"; echo "--- msc"; tail -n 10 "$T/msc.out"; exit 1; }
HLR=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 2 30) || fail "osmo-hlr did not start"
PIDS+=("$HLR")
mkdir -p "$T/flows" "$T/modem"
cat > "$T/flows/attestation.yaml" <<'Y'
flow: attestation
title: Attestation
entry: { ussd: "*4321*7#" }
start: type
steps:
  type:
    menu: "Attestation de ?"
    options:
      - { label: "Domicile", set: { type: domicile } }
      - { label: "Ressources", set: { type: ressources } }
    next: fin
  fin:
    say: "Demande enregistree. Preuve par SMS."
    set: { ref: "ATT-{{type}}" }
    reference: "{{ref}}"
    receipt: "Preuve : demande {{ref}} enregistree. Presentez ce SMS au guichet."
Y
cat > "$T/guichet.yaml" <<Y
flows: $T/flows
store: $T/guichet.db
log: { level: info }
notify: { quiet_hours: off, pacing: 0 }
gsup: { host: $IP, port: 4222, name: guichet, guard_timeout: 40s }
modems:
  - name: m1
    model: dummy
    device: $T/modem
    poll_ms: 50
    rate: 0
    sent_log: $T/sent.jsonl
Y
"$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
GD=$!
for _ in $(seq 100); do
  grep -q "GSUP link to osmo-hlr .* up" "$T/guichetd.log" && break
  kill -0 "$GD" 2>/dev/null || fail "guichetd exited"
  sleep 0.1
done
grep -q "GSUP link to osmo-hlr .* up" "$T/guichetd.log" || fail "guichetd not connected to osmo-hlr"
sleep 0.3
"$B/tools/ussd_msc" -H "$IP" -t 6 "msisdn +33612345601" "dial 001010000000001 *4321*7#" "expect con" "answer 2" \
  "expect end" >>"$T/msc.out" 2>&1 || fail "the USSD dialogue"
for _ in $(seq 100); do [ -s "$T/sent.jsonl" ] && break; sleep 0.1; done
[ -s "$T/sent.jsonl" ] || fail "no SMS receipt after the USSD dialogue"
python3 - "$T/sent.jsonl" <<'P' || fail "the receipt: $(cat "$T/sent.jsonl")"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
assert len(m) == 1, m
assert m[0]["to"].endswith("33612345601"), m[0]
assert "ATT-ressources" in m[0]["text"] and m[0]["text"].startswith("Preuve"), m[0]
P
echo "ok a receipt by SMS after a USSD dialogue through osmo-hlr, to the MSISDN"
exit 0
