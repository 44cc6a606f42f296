#!/usr/bin/env bash
# Personal data in the logs, at the most talkative level: guichetd at `debug` runs the case
# status flow by SMS (dummy modem) against the demo HTTPS back-end, with a secret code. The
# log must hold neither the code nor a raw phone number; log_scan.sh then scans it again
# with every other test's logs (the code is listed in a *.forbidden file for it).
# PRIVACY_JOURNAL=1 (privacy_journal.sh): the same with guichetd logging to the journal, every
# structured field read back with journalctl; skipped (77) when journald is not running.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/dossier_sms.sh"
harness privacy guichetd tools/sms_inject
JOURNAL=${PRIVACY_JOURNAL:-0}
if [ "$JOURNAL" = 1 ]; then
  command -v journalctl >/dev/null || { echo "skip: journalctl not installed"; exit 77; }
  [ -S /run/systemd/journal/socket ] || { echo "skip: journald is not running here (no /run/systemd/journal/socket)"; exit 77; }
fi
keep_logs guichetd.log
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }

echo "$SECRET" >> "$LOGS/secret-code.forbidden"
dossier_setup "store: $T/guichet.db" "log: { level: debug }"
if [ "$JOURNAL" = 1 ]; then
  # Under systemd: no -f, and JOURNAL_STREAM set, as systemd sets it for a service.
  JOURNAL_STREAM=0:0 "$B/guichetd" -c "$T/guichet.yaml" 2>>"$T/guichetd.stderr" &
  GD=$!
  journal() { journalctl --no-pager -q -o verbose _PID="$GD" > "$T/guichetd.log" 2>/dev/null; }
else
  "$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
  GD=$!
  journal() { :; }
fi
for _ in $(seq 100); do journal; grep -q "guichetd started" "$T/guichetd.log" && break; sleep 0.1; done

say DOSSIER
say 12345678
say "$SECRET"
tail -1 "$T/sent.jsonl" | grep -q "introuvable" || fail "the flow did not reach the back-end's answer"
kill "$GD"; wait "$GD" 2>/dev/null
sleep 0.5; journal; GD=
[ "$JOURNAL" = 1 ] && { grep -q "GUICHET_" "$T/guichetd.log" || fail "no structured field in the journal"; }

grep -q "text: (answer to a secret question" "$T/guichetd.log" || fail "debug logging of inputs is not on"
grep -q "$SECRET" "$T/guichetd.log" && fail "the secret code is in the log"
grep -q "98765432\|98 76 54 32" "$T/guichetd.log" && fail "the phone number is in the log"
grep -q "+33 6\*\*" "$T/guichetd.log" || fail "no masked number in the log at all"
echo "ok - at debug level: inputs logged, the secret answer and the number are not"
