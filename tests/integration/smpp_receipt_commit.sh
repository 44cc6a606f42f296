#!/usr/bin/env bash
# An SMSC's delivery receipt (deliver_sm with the receipt esm_class) is answered
# (deliver_sm_resp) only once the receipt is committed, like a person's message: the test
# SMSC (build/tools/smsc) and build/tools/smpp_probe --hold-receipts 1 (a sink that commits
# receipts only on SIGUSR2):
#  - a receipt is handed over, its deliver_sm left unanswered; a message delivered after it
#    is stored and answered meanwhile (the old code answered the receipt at once);
#  - once committed (SIGUSR2), the receipt's deliver_sm is answered ESME_ROK;
#  - a receipt that says nothing final (ENROUTE) carries nothing to commit: answered at once.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness smpp_receipt_commit tools/smpp_probe tools/smsc
PROBE=$B/tools/smpp_probe
command -v python3 >/dev/null || { echo "skip: python3 needed to read JSON logs"; exit 77; }
fail() { echo "FAIL: $*"; echo "--- probe"; tail -15 "$T/probe.err"; echo "--- rx"; tail -10 "$T/rx.log"; echo "--- smsc"; tail -15 "$T/smsc.log"; exit 1; }
# n FILE PATTERN: lines of FILE holding PATTERN
n() { grep -c "$2" "$T/$1" 2>/dev/null; }
# wait_for WHAT SECONDS SHELL-CONDITION (generous bounds: a passing run never waits for them)
wait_for() {
  local end=$((SECONDS + $2 * 3))
  while [ $SECONDS -le $end ]; do eval "$3" && return 0; sleep 0.2; done
  fail "$1"
}

start_smsc --receipts 0 --window 10
smpp_config 'system_type: ""' "enquire_link: 5s" "reconnect_min: 1s" "reconnect_max: 2s" \
  "tls: false" > "$T/guichet.yaml"
"$PROBE" --config "$T/guichet.yaml" --received "$T/rx.log" --status "$T/status.json" \
  --hold-receipts 1 2>"$T/probe.err" &
PROBE_PID=$!
PIDS+=($PROBE_PID)
wait_for "bound" 10 'grep -q "\"binds_up\":1" "$T/status.json" 2>/dev/null'

ctl "receipt abc123 DELIVRD +33614000001 38123"
wait_for "the receipt handed over" 10 '[ "$(n rx.log "\"event\":\"receipt\"")" = 1 ]'
grep -q '"remote":"abc123","stat":"DELIVRD"' "$T/rx.log" || fail "receipt fields"
ctl "deliver single +33614000002 38123 Bonjour"
wait_for "the message after it stored" 10 '[ "$(n rx.log "\"event\":\"received\"")" = 1 ]'
wait_for "the message answered" 10 '[ "$(n smsc.log "\"receipt\":false")" = 1 ]'
[ "$(n smsc.log "\"receipt\":true")" = 0 ] || fail "the receipt was answered before it was committed"
echo "ok - a receipt not committed yet is not answered (a message after it is)"

kill -USR2 $PROBE_PID
wait_for "receipts committed" 10 '[ "$(n rx.log "receipts_committed\",\"n\":1")" = 1 ]'
wait_for "the receipt answered once committed" 10 '[ "$(n smsc.log "\"receipt\":true")" = 1 ]'
echo "ok - committed, the receipt is answered ESME_ROK"

ctl "receipt abc124 ENROUTE +33614000001 38123"
wait_for "a non-final receipt answered at once" 10 '[ "$(n smsc.log "\"receipt\":true")" = 2 ]'
[ "$(n rx.log "\"event\":\"receipt\"")" = 1 ] || fail "a non-final receipt was handed over"
echo "ok - a receipt saying nothing final (ENROUTE) is answered at once"

grep -E '\+336[0-9]{8}' "$T/probe.err" && fail "a phone number in the journal"
kill $PROBE_PID; wait $PROBE_PID; rc=$?
[ "$rc" = 0 ] || fail "smpp_probe exited $rc"
echo "smpp_receipt_commit: ok"
exit 0
