#!/usr/bin/env bash
# Two guichetd on one PostgreSQL database, woken by each other (LISTEN/NOTIFY) rather than
# by polling: a message accepted by host A's notification API, for transport opx that only
# host B can reach (A's own opx bind finds no SMSC), leaves through B at once, although both
# hosts search the outbox unprompted only every 60 s (outbox_poll). PostgreSQL is started
# here. Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/pg_hosts.sh"
harness pg_notify guichetd tools/smsc
need python3 openssl curl
HA= HB=
at_stop 'kill $HA $HB 2>/dev/null'
fail() { echo "FAIL: $*"; for h in A B; do echo "--- host $h"; tail -15 "$T/h$h.log"; done
         echo "--- smsc"; tail -5 "$T/smsc.log"; exit 1; }

start_pg
"$ROOT/tests/backend/make-certs.sh" "$T/certs" >/dev/null || fail "make-certs"
start_smsc
mkdir -p "$T/cred" "$T/flows"
cp -p "$T/opx-password" "$T/cred/"
(umask 077; echo test-token-0123456789abcdef > "$T/cred/api-token")
cat > "$T/flows/bonjour.yaml" <<'Y'
flow: bonjour
title: Bonjour
entry: { sms: [BONJOUR] }
steps:
  fin:
    say: "Bonjour !"
Y
NOWHERE=$(free_port)
API=$(free_port)
# config HOST SMSC_PORT [api]: host's configuration, its opx bind to SMSC_PORT.
config() {
  cat <<Y
flows: $T/flows
store: $PG_URL
credentials: $T/cred
outbox_poll: 60s
notify: { quiet_hours: off, pacing: 0 }
smpp:
  - { name: opx, host: 127.0.0.1, port: $2, system_id: guichet, password: opx-password,
      bind: transceiver, source: "38123", reconnect_min: 1s, reconnect_max: 2s }
Y
  [ "${3:-}" = api ] && cat <<Y
api:
  listen: 127.0.0.1
  port: $API
  cert: $T/certs/server.pem
  key: $T/certs/server.key
  tokens: [api-token]
Y
}
config A "$NOWHERE" api > "$T/a.yaml"
config B "$SMSC_PORT" > "$T/b.yaml"
"$B/guichetd" -f -c "$T/a.yaml" 2>>"$T/hA.log" & HA=$!
"$B/guichetd" -f -c "$T/b.yaml" 2>>"$T/hB.log" & HB=$!
for _ in $(seq 100); do
  grep -q 'guichetd started' "$T/hA.log" && grep -q 'bound as transceiver' "$T/hB.log" && break
  sleep 0.1
done
grep -q 'guichetd started' "$T/hA.log" || fail "host A did not start"
grep -q 'bound as transceiver' "$T/hB.log" || fail "host B did not bind"
# Past B's start-up offers: from now on only a notification (or the 60 s poll) moves B.
sleep 2

code=$(curl -sS --cacert "$T/certs/demo-ca.pem" -o "$T/body" -w '%{http_code}' \
  -H "Authorization: Bearer test-token-0123456789abcdef" -H 'Content-Type: application/json' \
  -X POST "https://127.0.0.1:$API/v1/messages" -d '{"to":"+33611111111","text":"Votre dossier est pret."}')
[ "$code" = 202 ] || fail "POST to host A: $code $(cat "$T/body")"
end=$((SECONDS + 15))
until grep -q '"to":"+33611111111"' "$T/smsc.log" 2>/dev/null; do
  [ $SECONDS -ge $end ] && fail "the message queued on host A for B's transport did not leave B (waiting for the 60 s poll?)"
  sleep 0.1
done
grep '"event":"message"' "$T/smsc.log" | grep -q 'Votre dossier est pret' || fail "text"
echo "ok: a message queued on host A for a transport only host B reaches left through B at once (NOTIFY), the poll being 60 s"
grep -E '\+3361[0-9]{7}' "$T"/h?.log && fail "a phone number in the journal"
echo "pass"
exit 0
