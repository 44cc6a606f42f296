#!/usr/bin/env bash
# A modem that stops answering is declared down soon, and its replies go through the other
# one. guichetd with two fake AT modems (tests/tools/at_modem, 1 s per part). m1 answers a
# first message (so guichetd has seen how long its sends take), then a second person's
# reply is being sent through m1 when m1 stops answering in the middle of it ("stall").
# guichetd must log m1 down and send that reply through m2, within a generous bound (25 s:
# libGammu's own timeouts alone used to take ~31 s to notice). No AT command is added for
# a healthy modem: m2 sees no command other than reading, deleting and sending messages
# and the signal quality.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness modem_dead guichetd tools/at_modem
need python3
need_pty
mkdir -p "$T/m1.in" "$T/m2.in"
keep_logs guichetd.log 'm*.err'
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -n 20 "$T/guichetd.log";
         echo "--- m1"; tail -n 8 "$T/m1.err"; echo "--- m2"; tail -n 5 "$T/m2.err"; exit 1; }

n=0
drop() {	# drop MODEM FROM TEXT
  n=$((n + 1)); printf 'from: %s\n\n%s\n' "$2" "$3" > "$T/$1.in/.m$n"; mv "$T/$1.in/.m$n" "$T/$1.in/m$n"
}
sent_to() {	# sent_to MODEM NUMBER: parts MODEM submitted to NUMBER
  [ -f "$T/$1.sent.jsonl" ] || { echo 0; return; }
  python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and json.loads(l)["to"] == sys.argv[2]))' \
    "$T/$1.sent.jsonl" "$2"
}

for m in m1 m2; do
  "$B/tools/at_modem" -n $m -i "$T/$m.in" -l "$T/$m.tty" -s "$T/$m.sent.jsonl" -c "$T/$m.ctl" \
    -d 1000 >/dev/null 2>"$T/$m.err" &
  PIDS+=($!)
done
for _ in $(seq 50); do [ -L "$T/m1.tty" ] && [ -L "$T/m2.tty" ] && break; sleep 0.1; done
[ -L "$T/m1.tty" ] && [ -L "$T/m2.tty" ] || fail "fake modems did not start"

mkdir -p "$T/flows"
cp "$ROOT/flows/commun.yaml" "$ROOT/flows/droits.yaml" "$T/flows/"	# no back-end needed
cat > "$T/guichet.yaml" <<EOF2
flows: $T/flows
store: $T/guichet.db
log: { level: info }
modems:
  - { name: m1, device: $T/m1.tty, connection: at, rate: 0, poll_ms: 300 }
  - { name: m2, device: $T/m2.tty, connection: at, rate: 0, poll_ms: 300 }
EOF2
"$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
GD=$!

drop m1 +33611000001 DROITS
for _ in $(seq 300); do [ "$(sent_to m1 +33611000001)" -ge 1 ] && break; sleep 0.1; done
[ "$(sent_to m1 +33611000001)" -ge 1 ] || fail "m1 did not answer the first message"
sleep 2	# the whole first reply out
echo "ok - m1 answers"

before=$(grep -c "part submitted" "$T/m1.err")
drop m1 +33611000002 DROITS
for _ in $(seq 300); do [ "$(grep -c "part submitted" "$T/m1.err")" -gt "$before" ] && break; sleep 0.05; done
[ "$(grep -c "part submitted" "$T/m1.err")" -gt "$before" ] || fail "m1 did not start the second reply"
echo stall > "$T/m1.ctl"
STALL=$SECONDS
for _ in $(seq 250); do [ "$(sent_to m2 +33611000002)" -ge 1 ] && break; sleep 0.1; done
waited=$((SECONDS - STALL))
grep -q "modem down" <(grep "m1" "$T/guichetd.log") || fail "m1's stall not logged as modem down"
[ "$(sent_to m2 +33611000002)" -ge 1 ] || fail "the reply did not go through m2 within 25 s of m1's stall"
echo "ok - m1 declared down and the reply sent through m2 (${waited}s after the stall)"
kill -0 "$GD" 2>/dev/null || fail "guichetd exited"
grep -E "runtime error|AddressSanitizer|LeakSanitizer" "$T/guichetd.log" && fail "sanitizer report"
kill "$GD"; wait "$GD"; rc=$?; GD=
[ $rc -eq 0 ] || fail "guichetd exited $rc on SIGTERM"
echo "ok - guichetd stopped cleanly"
