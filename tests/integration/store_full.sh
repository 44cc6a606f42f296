#!/usr/bin/env bash
# A full disk under the store (a 1 MB tmpfs, filled up): the failed writes are logged once
# when they start (with "store full") and once when they succeed again, not once per retry;
# STATUS= says "store full" meanwhile; a text received meanwhile stays on the SIM and is
# answered once there is room again. Needs root (mount); skipped otherwise.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness store_full guichetd tools/sms_inject
need python3
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root to mount a small tmpfs"; exit 77; }
mkdir -p "$T/flows" "$T/modem" "$T/store"
mount -t tmpfs -o size=1m,mode=0700 tmpfs "$T/store" 2>/dev/null || { echo "skip: cannot mount a tmpfs here"; exit 77; }
at_exit 'umount "$T/store" 2>/dev/null'
GD_SIGNAL=KILL
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; echo "--- status"; tail -n 3 "$T/notify.log"; exit 1; }
cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"

notify_socket
cat > "$T/guichet.yaml" <<EOF
flows: $T/flows
store: $T/store/guichet.db
modems: [ { name: m1, model: dummy, device: $T/modem, poll_ms: 50, rate: 0, sent_log: $T/sent.jsonl } ]
# The cost guard counts each retried attempt (it is consulted inside the transaction that
# fails): left on, the retries of one message look like a loop. Off here: this test is
# about the store's failures, not the guard's.
limits: { per_minute: 0, loop: { exchanges: 0 } }
EOF
NOTIFY_SOCKET=$T/notify start_guichetd

replies() { [ -f "$T/sent.jsonl" ] && wc -l < "$T/sent.jsonl" || echo 0; }
"$B/tools/sms_inject" "$T/modem" +33612345678 DROITS >/dev/null || fail "inject"
for _ in $(seq 100); do [ "$(replies)" -ge 1 ] && break; sleep 0.05; done
[ "$(replies)" -eq 1 ] || fail "no reply before the disk is full"

dd if=/dev/zero of="$T/store/fill" bs=4k 2>/dev/null
"$B/tools/sms_inject" "$T/modem" +33698765432 DROITS >/dev/null || fail "inject"
for _ in $(seq 50); do grep -q "store full" "$T/guichetd.log" && break; sleep 0.1; done
sleep 3		# several retries (the modem retries every second, the outbox every tick)
grep -q "ERROR store store: .* failed: store full: " "$T/guichetd.log" || fail "no error line saying the store is full"
[ "$(grep -c "failed: store full" "$T/guichetd.log")" -eq 1 ] || fail "the full store is logged more than once"
grep -q "STATUS=store full: " "$T/notify.log" || fail "STATUS= does not say store full"
[ "$(replies)" -eq 1 ] || fail "a reply went out that could not be stored"
echo "ok - a full disk: one error line saying store full, STATUS= says it, nothing taken"

rm -f "$T/store/fill"
for _ in $(seq 100); do [ "$(replies)" -ge 2 ] && break; sleep 0.05; done
[ "$(replies)" -eq 2 ] || fail "the message kept on the SIM was not answered once there was room"
grep -q "NOTICE store store: writes succeed again" "$T/guichetd.log" || fail "the recovery is not logged"
[ "$(grep -c "writes succeed again" "$T/guichetd.log")" -eq 1 ] || fail "the recovery is logged more than once"
sleep 1.5
tail -n 1 "$T/notify.log" | grep -q "STATUS=1/1 modems up" || fail "STATUS= still says the store fails"
echo "ok - room again: one line saying so, the waiting message answered, STATUS= back to normal"

kill -TERM "$GD"; wait "$GD"; rc=$?; GD=
[ $rc -eq 0 ] || fail "exit $rc at stop"
echo "ok - stopped cleanly"
