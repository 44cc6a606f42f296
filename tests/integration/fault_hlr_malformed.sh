#!/usr/bin/env bash
# Fault: a malicious HLR. guichetd's GSUP link goes to tests/tools/fake_hlr.py instead of
# osmo-hlr; it sends IPA junk, undecodable GSUP, broken GSM 04.80 components, answers for
# dialogues never opened, reused session ids, a flood of abandoned dialogues, split and huge
# frames — and checks after each kind that a well-formed USSD request still gets its screen.
# guichetd must still be running at the end and log no sanitizer report.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness fault_hlr_malformed guichetd
need python3
[ -r /etc/ssl/certs/ca-certificates.crt ] || { echo "skip: no system CA file"; exit 77; }
keep_logs guichetd.log
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -n 30 "$T/guichetd.log"; exit 1; }

PORT=$(free_port)
umask 077
echo "token-$RANDOM" > "$T/agenda-token"
# The sample flows; the back-end is never reached (the first USSD screen needs no call).
{ demo_config 8443 /etc/ssl/certs/ca-certificates.crt | sed 's/ussd: { screen: 182,/ussd: { screen: 128,/'
  echo "gsup: { host: 127.0.0.1, port: $PORT, name: guichet, guard_timeout: 5s }"
} > "$T/guichet.yaml"
python3 "$ROOT/tests/tools/fake_hlr.py" "$PORT" > "$T/hlr.out" 2>&1 &
HLR=$!
sleep 0.3
"$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
GD=$!
wait "$HLR"; rc=$?
cat "$T/hlr.out"
[ $rc -eq 0 ] || fail "the malicious HLR's checks"
kill -0 "$GD" 2>/dev/null || fail "guichetd is not running any more"
grep -E "runtime error|AddressSanitizer|LeakSanitizer" "$T/guichetd.log" && fail "sanitizer report"
kill "$GD"; wait "$GD"; rc=$?; GD=
[ $rc -eq 0 ] || fail "guichetd exited $rc on SIGTERM"
echo "ok - guichetd served through the malicious HLR's traffic and stopped cleanly"
