#!/usr/bin/env bash
# The store deleted while guichetd runs (rm guichet.db*): noticed within seconds, said once
# in the journal (error) and in STATUS=, and from then on no message is taken: a text
# arriving on the dummy modem gets no reply and stays on the SIM (not acknowledged, since it
# could not be stored), a new USSD dialogue is refused with END; SIGTERM still stops cleanly.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness store_lost guichetd tools/sms_inject
need python3 curl
mkdir -p "$T/flows" "$T/modem" "$T/store"
GD_SIGNAL=KILL
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; echo "--- status"; tail -n 3 "$T/notify.log"; exit 1; }
cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"

notify_socket
HPORT=$(free_port)
cat > "$T/guichet.yaml" <<EOF
flows: $T/flows
store: $T/store/guichet.db
modems: [ { name: m1, model: dummy, device: $T/modem, poll_ms: 50, rate: 0, sent_log: $T/sent.jsonl } ]
ussd_http: { listen: 127.0.0.1, port: $HPORT, allow: [127.0.0.1] }
EOF
NOTIFY_SOCKET=$T/notify start_guichetd

replies() { [ -f "$T/sent.jsonl" ] && wc -l < "$T/sent.jsonl" || echo 0; }
inbox() { find "$T/modem/sms" -type f | wc -l; }
ussd() { curl -s -m 5 --data-urlencode "sessionId=$1" --data-urlencode "serviceCode=*4321*2#" \
              --data-urlencode "phoneNumber=+33612345678" --data-urlencode "text=" \
              "http://127.0.0.1:$HPORT/"; }
"$B/tools/sms_inject" "$T/modem" +33612345678 DROITS >/dev/null || fail "inject"
for _ in $(seq 100); do [ "$(replies)" -ge 1 ] && break; sleep 0.05; done
[ "$(replies)" -eq 1 ] || fail "no reply before the store is removed"
case $(ussd A) in CON*) ;; *) fail "USSD not served before the store is removed";; esac
echo "ok - served before the store is removed"

rm -f "$T"/store/guichet.db*
for _ in $(seq 50); do grep -q "was removed or replaced" "$T/guichetd.log" && break; sleep 0.1; done
grep -q "ERROR store store lost: $T/store/guichet.db was removed or replaced while in use" "$T/guichetd.log" \
  || fail "the removal is not in the journal as an error"
for _ in $(seq 30); do grep -q "STATUS=store lost" "$T/notify.log" && break; sleep 0.1; done
grep -q "STATUS=store lost: .*removed or replaced" "$T/notify.log" || fail "STATUS= does not say the store is lost"
echo "ok - the removal is noticed: an error line and STATUS="

before=$(inbox)
"$B/tools/sms_inject" "$T/modem" +33698765432 DROITS >/dev/null || fail "inject"
sleep 3		# the modem retries every second
[ "$(replies)" -eq 1 ] || fail "a message was answered after the store was removed"
[ "$(inbox)" -gt "$before" ] || fail "the message was taken off the SIM though it could not be stored"
case $(ussd B) in END*) ;; *) fail "a new USSD dialogue is not refused";; esac
[ "$(grep -c "store lost" "$T/guichetd.log")" -eq 1 ] || fail "the loss is logged more than once"
echo "ok - no message taken any more: no reply, the text stays on the SIM, USSD ends; logged once"

kill -TERM "$GD"; wait "$GD"; rc=$?; GD=
[ $rc -eq 0 ] || fail "exit $rc at stop"
grep -q "guichetd stopped" "$T/guichetd.log" || fail "no clean stop"
echo "ok - SIGTERM still stops cleanly"
