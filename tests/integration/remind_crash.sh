#!/usr/bin/env bash
# A flow's receipt and reminders are stored with the step: guichetd killed -9 after the
# booking and before the reminders' time, then started again, sends every reminder exactly
# once, not before its time, and the receipt once. Then ANNULER cancels the reminders of a
# second booking before they go. guichetd on libGammu's dummy modem, a real SQLite store.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness remind_crash guichetd tools/sms_inject
need python3
mkdir -p "$T/modem" "$T/flows"
GD_SIGNAL=KILL
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }

cat > "$T/flows/rappel.yaml" <<'Y'
flow: rappel
title: Rappel
entry: { sms: [INSCRIPTION, ANNULER] }
start: choix
steps:
  choix:
    menu: "Inscription ?"
    options:
      - { label: "Oui", next: inscrit }
      - { label: "Annuler", next: annule }
  inscrit:
    say: "Inscrit."
    set: { ref: "T1" }
    reference: "{{ref}}"
    receipt: "Recu {{ref}}."
    remind:
      - { at: "+5s", text: "Rappel un {{ref}}." }
      - { at: "now +7s", text: "Rappel deux {{ref}}." }
      - { at: "2030-01-15T10:00 -1d 18:00", text: "Rappel loin {{ref}}." }
    end: true
  annule:
    say: "Annule."
    cancel_reminders: "T1"
    end: true
Y
cat > "$T/guichet.yaml" <<Y
flows: $T/flows
store: $T/guichet.db
log: { level: info }
modems:
  - name: m1
    model: dummy
    device: $T/modem
    poll_ms: 50
    rate: 0
    sent_log: $T/sent.jsonl
notify:
  quiet_hours: off
  pacing: 0
Y
start() {	# in UTC, as servers often are: reminders must still keep Paris's clock
  TZ=UTC "$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
  GD=$!
}
count() { if [ -f "$T/sent.jsonl" ]; then grep -c "$1" "$T/sent.jsonl"; else echo 0; fi; }
wait_count() { for _ in $(seq 1 "${3:-100}"); do [ "$(count "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
say() { "$B/tools/sms_inject" "$T/modem" "$1" "$2" >/dev/null || fail "inject"; }

start
N=3
for i in $(seq 1 $N); do say "+3361000000$i" INSCRIPTION; done
wait_count "Inscription" $N || fail "the menus were not sent"
t0=$(date +%s)
for i in $(seq 1 $N); do say "+3361000000$i" 1; done
wait_count "Inscrit" $N || fail "the bookings were not answered"
wait_count "Recu T1" $N || fail "the receipts were not sent"
# The receipts' "sent" marks reach the store in the next flush: killed before it, a receipt
# would be sent again (the outbox's one counted source of duplicates, as for replies).
sleep 1
kill -9 "$GD"; wait "$GD" 2>/dev/null; GD=
[ "$(count "Rappel")" -eq 0 ] || fail "a reminder went before its time"
echo "ok receipts sent, killed -9 before the reminders' time"
# "-1d 18:00" of 15 January 2030 10:00 is 18:00 in Paris (notify's zone), 17:00 UTC.
python3 - "$T/guichet.db" <<'P' || fail "the far reminder is not at 18:00 Paris time"
import sqlite3, sys, datetime
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT send_at FROM scheduled WHERE body LIKE 'Rappel loin%'").fetchall()
want = int(datetime.datetime(2030, 1, 14, 17, 0, tzinfo=datetime.timezone.utc).timestamp())
ok = rows and all(r[0] in (want, want * 1000) for r in rows)
print(rows[:1], want) if not ok else None
sys.exit(0 if ok else 1)
P
echo "ok a reminder's \"-1d 18:00\" is 18:00 in Paris with guichetd in UTC"
start
wait_count "Rappel deux" $N 200 || fail "not every reminder was sent after the restart"
sleep 1.5
[ "$(count "Rappel un T1")" -eq $N ] || fail "reminder one sent $(count "Rappel un T1") times to $N people"
[ "$(count "Rappel deux T1")" -eq $N ] || fail "reminder two sent $(count "Rappel deux T1") times to $N people"
[ "$(count "Recu T1")" -eq $N ] || fail "receipts sent $(count "Recu T1") times to $N people"
python3 - "$T/sent.jsonl" "$t0" <<'P' || fail "a reminder was sent before its time"
import json, sys
t0 = int(sys.argv[2])
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m["text"].startswith("Rappel un") and m["time"] < t0 + 5: sys.exit(1)
    if m["text"].startswith("Rappel deux") and m["time"] < t0 + 7: sys.exit(1)
P
for i in $(seq 1 $N); do
  [ "$(grep "+3361000000$i" "$T/sent.jsonl" | grep -c Rappel || true)" -eq 2 ] || fail "+3361000000$i did not get its 2 reminders"
done
echo "ok every reminder sent once, at its time, after kill -9"

# A second booking, then ANNULER before its reminders: nothing more goes out.
say "+33610000009" INSCRIPTION
wait_count "Inscription" $((N + 1)) || fail "menu"
say "+33610000009" 1
wait_count "Inscrit" $((N + 1)) || fail "booking"
say "+33610000009" ANNULER
wait_count "Inscription" $((N + 2)) || fail "menu"
say "+33610000009" 2
wait_count "Annule" 1 || fail "cancel answered"
sleep 8
[ "$(grep "+33610000009" "$T/sent.jsonl" | grep -c Rappel || true)" -eq 0 ] || fail "a cancelled reminder was sent"
echo "ok ANNULER cancels the reminders not yet sent"
exit 0
