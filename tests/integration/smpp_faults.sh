#!/usr/bin/env bash
# guichetd over SMPP, faults a careless or hostile SMSC brings (run it with BUILD=build-san
# too: CI does, and the use-after-free below is only seen there):
#  - malformed deliver_sm: a TLV claiming 5000 bytes with 5 there (refused), a UDH longer
#    than the message (taken without UDH, answered); the journal holds no part of the
#    sender's number, not even at debug (libsmpp34's PDU dump used to be logged);
#  - 1,100 first parts of two, unanswered: past 1,024 waiting, the oldest is released and
#    answered at once (the bound was not enforced: entries piled up unanswered);
#  - SIGTERM while replies wait in the outbox and submits are outstanding (the SMSC holds its
#    answers), a dummy modem beside: guichetd stops cleanly (the SMPP and modem transports
#    were freed while the router still offered replies to them: heap-use-after-free under
#    ASan).
# Its guichetd log stays in $GUICHET_LOG_DIR for log_scan.sh, with the sender's number as a
# forbidden literal. Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness smpp_faults guichetd tools/smsc
need python3 curl openssl
mkdir -p "$T/modem"
GLOG=$LOGS/guichetd.log
: > "$GLOG"
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -40 "$GLOG"; echo "--- smsc"; tail -10 "$T/smsc.log"; exit 1; }

# The malformed PDUs' senders: no trace of these digits may reach a log.
BAD1=33799100451 BAD2=33799100452
printf '%s\n' "$BAD1" "$BAD2" > "$LOGS/smpp_faults.forbidden"

start_backend "$T/backend"
cp "$T/backend/agenda-token" "$T/agenda-token"; chmod 600 "$T/agenda-token"
start_smsc

# The demo configuration at debug level, with the SMSC and a dummy modem: at stop both
# transports are freed while the SMSC's outstanding submits, reported failed, arm the
# router's flush timer.
{ demo_config "$BPORT" | sed 's/level: info/level: debug/'
  smpp_config "window: 10" "response_timeout: 30s"; cat <<EOF
modems:
  - name: m1
    model: dummy
    device: $T/modem
    rate: 0
    poll_ms: 200
EOF
} > "$T/guichet.yaml"

"$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$GLOG" &
GD=$!
for _ in $(seq 100); do
  grep -q 'bound as transceiver' "$GLOG" && break
  kill -0 "$GD" 2>/dev/null || fail "guichetd exited"
  sleep 0.1
done
grep -q 'bound as transceiver' "$GLOG" || fail "guichetd did not bind"

# ---- malformed deliver_sm ----
ctl "deliver badtlv +$BAD1 38123 bonjour"
ctl "deliver badudh +$BAD2 38123 bonjour"
ctl "deliver single +33612000901 38123 bonjour"
for _ in $(seq 100); do
  [ "$(grep -c '"mo_nack"\|"mo_ack"' "$T/smsc.log")" -ge 3 ] && break; sleep 0.1
done
[ "$(grep -c '"mo_nack"\|"mo_ack"' "$T/smsc.log")" -ge 3 ] || fail "the malformed deliver_sm were not answered"
kill -0 "$GD" 2>/dev/null || fail "guichetd died on a malformed deliver_sm"
for n in "$BAD1" "$BAD2"; do
  for k in 4 5 6 7; do	# any run of its digits past the country code
    frag=${n:2:$k}
    grep -n -- "$frag" "$GLOG" | grep -v 'p-[0-9a-f]' && fail "digits of $n ($frag) in the log"
  done
done
grep -qi 'source_addr' "$GLOG" && fail "a PDU dump in the log"
# libsmpp34's error text is a dump of the PDU's fields (numbers included): never logged.
grep -n 'smpp34_strerror' "$ROOT"/daemon/*.c | grep -v '/\*' && fail "daemon code logs smpp34_strerror"
# A UDH longer than the message is no UDH: the message is taken as it is and answered, the
# same as from a modem (sms_parts.c), not refused (lost).
for _ in $(seq 50); do grep -q "\"to\":\"+$BAD2\"" "$T/smsc.log" && break; sleep 0.1; done
grep -q "\"to\":\"+$BAD2\"" "$T/smsc.log" || fail "the message with a broken UDH got no reply"
echo "ok: malformed deliver_sm answered, no dump and no digit of the sender logged (debug level)"

# ---- more incomplete messages than guichetd keeps waiting for parts (1,024) ----
# The SMSC's window lets 1,100 first-parts through unanswered; each one past the bound
# pushes the oldest out: released as it is and answered at once, not an hour later.
acks0=$(grep -c '"mo_ack"' "$T/smsc.log")
ctl "window 2000"
for i in $(seq 1000 2099); do echo "deliver partial +3361700$i 38123 bonjour tout le monde"; done > "$T/ctl"
for _ in $(seq 200); do
  [ $(( $(grep -c '"mo_ack"' "$T/smsc.log") - acks0 )) -ge 76 ] && break; sleep 0.1
done
acked=$(( $(grep -c '"mo_ack"' "$T/smsc.log") - acks0 ))
[ "$acked" -ge 76 ] || fail "reassembly bound: $acked of 1,100 first-parts answered, wanted 76"
grep -q 'released with parts missing: 1024 messages already wait' "$GLOG" || fail "no line for the bound"
echo "ok: 1,100 incomplete messages: the $acked oldest past the bound released and answered at once"
ctl "window 10"

# ---- SIGTERM with replies queued and submits outstanding ----
ctl "hold 1"
N=40
for i in $(seq 10 $((9 + N))); do ctl "deliver single +336150000$i 38123 AIDE"; done
held=$(smsc_held 10)
[ "$held" -ge 10 ] || fail "submits not outstanding ($held held)"
# Every message answered by the router (its replies queued), none sent.
for _ in $(seq 100); do
  [ $(( $(grep -c '"mo_ack"' "$T/smsc.log") - acks0 - acked )) -ge $N ] && break; sleep 0.1
done
sleep 0.5
kill -TERM "$GD"
rc=0
for _ in $(seq 150); do kill -0 "$GD" 2>/dev/null || break; sleep 0.1; done
kill -0 "$GD" 2>/dev/null && fail "guichetd still running 15 s after SIGTERM"
wait "$GD"; rc=$?; GD=
grep -q 'AddressSanitizer\|runtime error' "$GLOG" && fail "sanitizer report at stop"
[ $rc -eq 0 ] || fail "guichetd exited $rc at stop with $held submits outstanding"
grep -q 'guichetd stopped' "$GLOG" || fail "no 'guichetd stopped' line"
echo "ok: SIGTERM with $held submits outstanding and replies queued: clean stop"
echo "pass"
exit 0
