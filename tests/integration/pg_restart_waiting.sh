#!/usr/bin/env bash
# Two guichetd on one PostgreSQL database, a person's text waiting for a slow back-end call:
#  - host A makes the call; host B restarts meanwhile: B leaves A's wait alone, and the
#    person gets the back-end's answer (not the error way a restart takes);
#  - host B makes the call and is killed (kill -9); B started again takes the error way for
#    its own interrupted wait, once;
#  - host A makes the call and is killed while B runs on: B, without restarting, finds the
#    wait of a host gone and takes its error way, once.
# PostgreSQL and the demo HTTPS back-end are started here. Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/pg_hosts.sh"
harness pg_restart_waiting guichetd tools/smsc
need python3 openssl curl
fail() { echo "FAIL: $*"; for h in A B; do echo "--- host $h"; tail -15 "$T/h$h.log"; done
         echo "--- smsc"; tail -5 "$T/smsc.log"; exit 1; }

start_pg
start_backend "$T/backend"
start_smsc
cp -p "$T/opx-password" "$T/backend/"

mkdir -p "$T/flows"
cat > "$T/flows/attente.yaml" <<'Y'
flow: attente
title: Attente
entry: { sms: [ATTENTE] }
steps:
  appel:
    call: lent.slow
    with: { ms: "3000" }
    on_error: erreur
    next: fin
  fin:
    say: "Reponse recue."
    end: true
  erreur:
    say: "Erreur."
    end: true
Y
cat > "$T/guichet.yaml" <<Y
flows: $T/flows
store: $PG_URL
credentials: $T/backend
call_budget_ms: 10000
backends:
  lent:
    url: https://127.0.0.1:$BPORT
    ca: $T/backend/demo-ca.pem
    auth: { bearer: agenda-token }
    timeout_ms: 8000
    operations:
      slow: { path: /test/slow, query: { ms: "{{ms}}" } }
smpp:
  - { name: opx, host: 127.0.0.1, port: $SMSC_PORT, system_id: guichet, password: opx-password,
      bind: transceiver, source: "38123", enquire_link: 2s, reconnect_min: 1s, reconnect_max: 2s }
Y
# replies NUMBER: the texts sent to NUMBER, one a line.
replies() {
  python3 - "$T/smsc.log" "$1" <<'PY'
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    if '"message"' in l:
        e = json.loads(l)
        if e["to"] == sys.argv[2]:
            print(e["text"])
PY
}
start_host A
start_host B
# ---- A makes the call, B restarts meanwhile ----
stop_host B
ctl "deliver single +33700000001 38123 ATTENTE"
# The call is under way on A (the back-end holds it 3 s) when B starts again.
sleep 1
start_host B
wait_until "no reply to the waiting person" 20 '[ -n "$(replies +33700000001)" ]'
sleep 1
got=$(replies +33700000001)
[ "$got" = "Reponse recue." ] || fail "A's waiting dialogue, B restarted: got '$got', want the back-end's answer only"
echo "ok: host B restarted while host A waited on a back-end call: A's dialogue completed normally"

# ---- B makes the call and is killed: B started again fails its own wait, once ----
stop_host A
ctl "deliver single +33700000002 38123 ATTENTE"
sleep 1
stop_host B KILL
start_host B
wait_until "the wait of the killed host was not failed at its restart" 20 '[ -n "$(replies +33700000002)" ]'
sleep 4
got=$(replies +33700000002)
[ "$got" = "Erreur." ] || fail "B's own wait after kill -9 and restart: got '$got', want the error way once"
echo "ok: host B killed during its call and started again: its own wait took the error way, once"

# ---- A makes the call and is killed; B runs on and fails A's wait ----
start_host A
stop_host B
ctl "deliver single +33700000003 38123 ATTENTE"
sleep 1
start_host B
stop_host A KILL
wait_until "the wait of the killed host A was left to the person" 40 '[ -n "$(replies +33700000003)" ]'
sleep 2
got=$(replies +33700000003)
[ "$got" = "Erreur." ] || fail "A's wait after A's kill -9, B running: got '$got', want the error way once"
echo "ok: host A killed during its call while B ran on: B took A's wait's error way, once"
grep -E '\+3370[0-9]{7}' "$T"/h?.log && fail "a phone number in the journal"
echo "pass"
exit 0
