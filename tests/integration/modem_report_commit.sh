#!/usr/bin/env bash
# A modem's status report stays on the SIM until the receipt it carries is committed:
# build/tools/modem_probe -r (a sink that commits receipts only on SIGUSR2) on a fake AT
# modem (build/tools/at_modem, PDU mode):
#  - a final report (TP-ST 0x00) is handed over as a receipt, not deleted;
#  - a text received after it is stored and deleted from the SIM: the report is still there
#    (the old code deleted it at once, before the text);
#  - once the receipt is committed (SIGUSR2), the report is deleted;
#  - a pending report (TP-ST 0x20) carries nothing to commit: deleted at once.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness modem_report_commit tools/modem_probe tools/at_modem
PROBE=$B/tools/modem_probe ATM=$B/tools/at_modem
need python3
need_pty
fail() { echo "FAIL: $*"; echo "--- probe out"; tail -15 "$T/out.jsonl"; echo "--- probe log"; tail -15 "$T/probe.err"; echo "--- modem"; tail -15 "$T/at.err"; exit 1; }
# count EV: lines of event EV from the probe
count() { grep -c "\"ev\":\"$1\"" "$T/out.jsonl"; }
deleted() { grep -c "SIM index .* deleted" "$T/at.err"; }
# wait_for WHAT SECONDS SHELL-CONDITION (generous bounds: a passing run never waits for them)
wait_for() {
  local end=$((SECONDS + $2 * 3))
  while [ $SECONDS -le $end ]; do eval "$3" && return 0; sleep 0.2; done
  fail "$1"
}
n=0
# report MR ST: an SMS-STATUS-REPORT on the SIM (SMSC prefix 00, TP-MTI 2, MR, RA, SCTS, DT, ST)
report() {
  n=$((n + 1))
  printf 'pdu: 0006%02X0B913306214365F7%s%s%02X\n' "$1" 62113001000000 62113001000100 "$2" > "$T/in/.r$n"
  mv "$T/in/.r$n" "$T/in/r$n"
}
text() {
  n=$((n + 1))
  printf 'from: %s\n\n%s\n' "$1" "$2" > "$T/in/.m$n"
  mv "$T/in/.m$n" "$T/in/m$n"
}

mkdir -p "$T/in"
"$ATM" -n at -i "$T/in" -l "$T/tty" -s "$T/sent.jsonl" >"$T/at.out" 2>"$T/at.err" &
PIDS+=($!)
for _ in $(seq 50); do [ -L "$T/tty" ] && break; sleep 0.1; done
[ -L "$T/tty" ] || fail "the fake modem did not start"
cat > "$T/guichet.yaml" <<EOF
modems:
  - name: m1
    device: $T/tty
    connection: at
    rate: 0
    poll_ms: 200
EOF
"$PROBE" -r -n "$T/guichet.yaml" >"$T/out.jsonl" 2>"$T/probe.err" &
PROBE_PID=$!
PIDS+=($PROBE_PID)
wait_for "the modem up" 30 '[ "$(count ready)" -ge 1 ]'

report 7 0
wait_for "the report handed over as a receipt" 10 '[ "$(count receipt)" -ge 1 ]'
grep -q '"remote":"7:01234567","delivered":true' "$T/out.jsonl" || fail "receipt fields"
text +33612345678 "Bonjour"
wait_for "the text received" 10 '[ "$(count received)" -ge 1 ]'
wait_for "the text deleted from the SIM" 10 '[ "$(deleted)" -ge 1 ]'
[ "$(deleted)" = 1 ] || fail "the status report was deleted before its receipt was committed"
echo "ok - a status report whose receipt is not committed stays on the SIM (a text after it is deleted)"

kill -USR2 $PROBE_PID
wait_for "receipts committed" 10 '[ "$(count receipts_committed)" -ge 1 ]'
grep -q '"ev":"receipts_committed","n":1' "$T/out.jsonl" || fail "one receipt committed"
wait_for "the report deleted once committed" 10 '[ "$(deleted)" = 2 ]'
echo "ok - committed, the status report is deleted from the SIM"

report 8 $((0x20))
wait_for "a pending report deleted at once" 10 '[ "$(deleted)" = 3 ]'
[ "$(count receipt)" = 1 ] || fail "a pending report made a receipt"
echo "ok - a pending report (TP-ST 0x20) carries no receipt: deleted at once"

kill $PROBE_PID; wait $PROBE_PID; rc=$?
[ "$rc" = 0 ] || fail "modem_probe exited $rc"
echo "modem_report_commit: ok"
exit 0
