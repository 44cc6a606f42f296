#!/usr/bin/env bash
# Delivery status over SMPP: a flow's receipt goes out through the test SMSC; guichetd is
# killed -9 and started again; the SMSC's delivery receipts come only then (deliver_sm with
# the receipt esm_class and the id of submit_sm_resp) and still find their messages: the
# schedule's rows become delivered, and failed (UNDELIV) for the other one.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness smpp_receipts guichetd tools/smsc
need python3 sqlite3
GD_SIGNAL=KILL
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -20 "$T/guichetd.log"; echo "--- smsc"; tail -5 "$T/smsc.log"; exit 1; }
mkdir -p "$T/flows"
start_smsc --receipts 0
cat > "$T/flows/recu.yaml" <<'Y'
flow: recu
title: Recu
entry: { sms: [RECU] }
steps:
  fin:
    say: "Enregistre."
    reference: "R1"
    receipt: "Recu R1 pour {{phone}}."
Y
{ cat <<Y
flows: $T/flows
store: $T/guichet.db
credentials: $T
log: { level: info }
notify: { quiet_hours: off, pacing: 0 }
Y
  smpp_config "reconnect_min: 1s" "reconnect_max: 2s"
} > "$T/guichet.yaml"
start() {
  "$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
  GD=$!
  for _ in $(seq 100); do [ "$(grep -c 'bound as transceiver' "$T/guichetd.log")" -ge "$1" ] && return 0; sleep 0.1; done
  fail "guichetd did not bind"
}
msg_id() { python3 - "$T/smsc.log" "$1" <<'P'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("event") == "submit" and m.get("text", "").startswith(sys.argv[2]):
        print(m["msg_id"]); break
P
}
status() { sqlite3 "$T/guichet.db" "SELECT status || ' ' || coalesce(reason, '') FROM scheduled WHERE recipient = '$1'"; }

start 1
ctl "deliver single +33614000001 38123 RECU"
ctl "deliver single +33614000002 38123 RECU"
for _ in $(seq 100); do [ -n "$(msg_id 'Recu R1 pour +33614000002')" ] && [ -n "$(msg_id 'Recu R1 pour +33614000001')" ] && break; sleep 0.1; done
id1=$(msg_id "Recu R1 pour +33614000001"); id2=$(msg_id "Recu R1 pour +33614000002")
[ -n "$id1" ] && [ -n "$id2" ] || fail "the receipts were not submitted"
sleep 0.5   # the sent marks and the SMSC ids are written with the next flush
[ "$(status +33614000001)" = "sent " ] || fail "before the receipt: $(status +33614000001)"
kill -9 "$GD"; wait "$GD" 2>/dev/null; GD=
start 2
ctl "receipt $id1 DELIVRD +33614000001 38123"
ctl "receipt $id2 UNDELIV +33614000002 38123"
for _ in $(seq 100); do [ "$(status +33614000001)" = "delivered " ] && [ "$(status +33614000002)" = "failed UNDELIV" ] && break; sleep 0.1; done
[ "$(status +33614000001)" = "delivered " ] || fail "a DELIVRD receipt after a restart: $(status +33614000001)"
echo "ok a delivery receipt after a restart marks the message delivered"
[ "$(status +33614000002)" = "failed UNDELIV" ] || fail "an UNDELIV receipt: $(status +33614000002)"
echo "ok an UNDELIV receipt marks it failed, with the SMSC's status"
exit 0
