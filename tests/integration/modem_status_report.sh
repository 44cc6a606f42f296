#!/usr/bin/env bash
# Modem status reports end to end: guichetd on a fake AT modem (build/tools/at_modem, PDU
# mode, libGammu's AT driver), notifications through the API (TLS, a bearer token):
#  - a notification leaves asking for a status report (TP-SRR), with the reference the modem
#    answered kept in the store;
#  - an SMS-STATUS-REPORT with that reference and TP-ST 0x00 put on the SIM: GET says
#    delivered, and the report is deleted from the SIM;
#  - a second notification, guichetd restarted (kill -9) before its report arrives: the
#    report still finds it (the store's remote ids), TP-ST 0x41 -> failed, with the reason;
#  - a pending report (TP-ST 0x20) changes nothing; a report for an unknown reference neither,
#    nor one with a known reference for another recipient (TP-MR wraps after 256 parts);
#  - a message of several parts: each part's reference is kept, the last one's report finds it.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness modem_status_report guichetd tools/at_modem
ATM=$B/tools/at_modem
need curl openssl python3
need_pty
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -n 25 "$T/guichetd.log"; echo "--- modem"; tail -n 10 "$T/at.err"; exit 1; }

"$ROOT/tests/backend/make-certs.sh" "$T/certs" >/dev/null || fail "make-certs"
mkdir -p "$T/cred" "$T/flows" "$T/in"
(umask 077; echo test-token-0123456789abcdef > "$T/cred/api-token")
cat > "$T/flows/bonjour.yaml" <<'Y'
flow: bonjour
title: Bonjour
entry: { sms: [BONJOUR] }
steps:
  fin:
    say: "Bonjour !"
Y
"$ATM" -n at -i "$T/in" -l "$T/tty" -s "$T/sent.jsonl" >"$T/at.out" 2>"$T/at.err" &
PIDS+=($!)
for _ in $(seq 50); do [ -L "$T/tty" ] && break; sleep 0.1; done
[ -L "$T/tty" ] || fail "the fake modem did not start"
PORT=$(free_port)
cat > "$T/guichet.yaml" <<Y
flows: $T/flows
store: $T/guichet.db
credentials: $T/cred
sms: { max_parts: 3 }
modems:
  - name: m1
    device: $T/tty
    connection: at
    poll_ms: 200
    rate: 0
notify:
  quiet_hours: off
  pacing: 0
api:
  listen: 127.0.0.1
  port: $PORT
  cert: $T/certs/server.pem
  key: $T/certs/server.key
  tokens: [api-token]
Y
start() {
  "$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
  GD=$!
  for _ in $(seq 300); do [ "$(grep -c "modem connected\|modem back" "$T/guichetd.log")" -ge "$1" ] && break; sleep 0.1; done
  [ "$(grep -c "modem connected\|modem back" "$T/guichetd.log")" -ge "$1" ] || fail "guichetd or its modem did not start"
}
U=https://127.0.0.1:$PORT
api() { curl -sS --cacert "$T/certs/demo-ca.pem" -o "$T/body" -w '%{http_code}' \
  -H "Authorization: Bearer test-token-0123456789abcdef" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$T/body" "$1"; }
# sent TO KEY [N]: KEY of the Nth part (default 1, -1 the last) the fake modem received for TO
sent() { python3 -c '
import json, sys
p = [e for e in map(json.loads, open(sys.argv[1])) if e["to"] == sys.argv[2]]
n = int(sys.argv[4])
print(p[n - 1 if n > 0 else n][sys.argv[3]] if len(p) >= abs(n) else "")' "$T/sent.jsonl" "$1" "$2" "${3:-1}" 2>/dev/null; }
# semi NUMBER: an international number as TP-RA (length, type 91, swapped semi-octets)
semi() { python3 -c '
import sys
d = sys.argv[1].lstrip("+")
p = d + "F" * (len(d) % 2)
print("%02X91" % len(d) + "".join(p[i + 1] + p[i] for i in range(0, len(p), 2)))' "$1"; }
# report MR ST TO: an SMS-STATUS-REPORT on the SIM (SMSC prefix 00, TP-MTI 2, MR, RA, SCTS,
# DT, ST) about the part of reference MR sent to TO
n=0
report() {
  n=$((n + 1))
  printf 'pdu: 0006%02X%s%s%s%02X\n' "$1" "$(semi "$3")" 62113001000000 62113001000100 "$2" > "$T/in/.r$n"
  mv "$T/in/.r$n" "$T/in/r$n"
}
deleted() { grep -c "SIM index .* deleted" "$T/at.err"; }
# "sent" is the schedule's word for handed to the outbox: the modem sends the parts after.
on_air() { for _ in $(seq 150); do [ -n "$(sent "$1" mr "${2:-1}")" ] && return 0; sleep 0.1; done; return 1; }
status_of() { for _ in $(seq 100); do api "$U/v1/messages/$1" >/dev/null; [ "$(field status)" = "$2" ] && return 0; sleep 0.1; done; return 1; }
notify() {
  local code
  code=$(api -X POST "$U/v1/messages" -d "{\"to\":\"$1\",\"text\":\"$2\"}")
  [ "$code" = 202 ] || fail "POST: $code $(cat "$T/body")"
  field id
}

start 1
id1=$(notify +33612345671 "Votre dossier est pret.")
status_of "$id1" sent || fail "notification 1 not sent"
on_air +33612345671 || fail "notification 1 never reached the modem"
[ "$(sent +33612345671 srr)" = True ] || fail "no status report requested (TP-SRR): $(cat "$T/sent.jsonl")"
mr1=$(sent +33612345671 mr)
[ -n "$mr1" ] || fail "no reference"
echo "ok - a notification leaves with TP-SRR set (reference $mr1)"

# The same reference for another recipient: the part a modem sent 256 parts later.
report "$mr1" 0 +33699887766
for _ in $(seq 100); do [ "$(deleted)" -ge 1 ] && break; sleep 0.1; done
[ "$(deleted)" -ge 1 ] || fail "the status report was not deleted from the SIM"
api "$U/v1/messages/$id1" >/dev/null; [ "$(field status)" = sent ] ||
  fail "a report for another recipient with the same reference changed message 1: $(cat "$T/body")"
echo "ok - a report with the same reference for another recipient changes nothing"
report "$mr1" 0 +33612345671
status_of "$id1" delivered || fail "status report 0x00: $(cat "$T/body")"
for _ in $(seq 50); do [ "$(deleted)" -ge 2 ] && break; sleep 0.1; done
[ "$(deleted)" -ge 2 ] || fail "the status report was not deleted from the SIM"
echo "ok - its status report (TP-ST 0x00): delivered; the report deleted from the SIM"

id2=$(notify +33612345672 "Votre rendez-vous est confirme.")
status_of "$id2" sent || fail "notification 2 not sent"
on_air +33612345672 || fail "notification 2 never reached the modem"
mr2=$(sent +33612345672 mr)
[ -n "$mr2" ] && [ "$mr2" != "$mr1" ] || fail "second reference: $mr2"
kill -9 "$GD"; wait "$GD" 2>/dev/null; GD=
report "$mr2" $((0x20)) +33612345672		# pending: says nothing yet
report $(( (mr2 + 100) % 256 )) $((0x41)) +33612345672	# a reference nothing was sent with
start 2
report "$mr2" $((0x41)) +33612345672
status_of "$id2" failed || fail "status report 0x41 after a restart: $(cat "$T/body")"
field reason | grep -q "UNDELIV 0x41" || fail "reason: $(cat "$T/body")"
api "$U/v1/messages/$id1" >/dev/null; [ "$(field status)" = delivered ] || fail "message 1 changed: $(cat "$T/body")"
echo "ok - after kill -9, a report (TP-ST 0x41) still finds its message: failed, UNDELIV 0x41; pending and unknown ones change nothing"

LONG=$(printf 'Rappel %s. ' $(seq 1 30))
id3=$(notify +33612345673 "$LONG")
status_of "$id3" sent || fail "notification 3 not sent"
on_air +33612345673 2 || fail "notification 3 is not in parts"
report "$(sent +33612345673 mr -1)" 0 +33612345673
status_of "$id3" delivered || fail "the report of a message's last part: $(cat "$T/body")"
echo "ok - a message of several parts: the report of any part (here the last) finds it"

grep -q "+33612345" "$T/guichetd.log" && fail "a phone number appears unmasked in the log"
kill "$GD"; wait "$GD"; rc=$?; GD=
[ "$rc" = 0 ] || fail "guichetd exited $rc"
echo "modem_status_report: ok"
exit 0
