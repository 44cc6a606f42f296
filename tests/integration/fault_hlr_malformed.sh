#!/usr/bin/env bash
# Fault: a malicious HLR. guichetd's GSUP link goes to tests/tools/fake_hlr.py instead of
# osmo-hlr; it sends IPA junk, undecodable GSUP, broken GSM 04.80 components, answers for
# dialogues never opened, reused session ids, a flood of abandoned dialogues, split and huge
# frames — and checks after each kind that a well-formed USSD request still gets its screen.
# guichetd must still be running at the end and log no sanitizer report.
# Exit 0 pass, 1 fail, 77 skip.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B;; esac
[ -x "$B/guichetd" ] || { echo "skip: $B/guichetd not built"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 needed"; exit 77; }
[ -r /etc/ssl/certs/ca-certificates.crt ] || { echo "skip: no system CA file"; exit 77; }
T=$(mktemp -d /tmp/guichet-fault-hlr.XXXXXX)
LOGS=${GUICHET_LOG_DIR:-$T/logs}/fault_hlr_malformed
mkdir -p "$LOGS"
GD=
cleanup() {
  [ -n "$GD" ] && kill "$GD" 2>/dev/null
  wait 2>/dev/null
  cp "$T/guichetd.log" "$LOGS/" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -n 30 "$T/guichetd.log"; exit 1; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
umask 077
echo "token-$RANDOM" > "$T/agenda-token"
# The sample flows; the back-end is never reached (the first USSD screen needs no call).
python3 - "$ROOT/config/demo.yaml" "$T/guichet.yaml" "$ROOT" "$T" "$PORT" <<'PY'
import sys
src, dst, root, t, port = sys.argv[1:]
text = open(src, encoding="utf-8").read().split("\nmodems:")[0]
text = text.replace("flows: ../flows", "flows: %s/flows" % root)
text = text.replace("store: ../build/demo/guichet.db", "store: %s/guichet.db" % t)
text = text.replace("credentials: ../build/demo", "credentials: %s" % t)
text = text.replace("../build/demo/demo-ca.pem", "/etc/ssl/certs/ca-certificates.crt")
text = text.replace("ussd: { screen: 182,", "ussd: { screen: 128,")
text += "\ngsup: { host: 127.0.0.1, port: %s, name: guichet, guard_timeout: 5s }\n" % port
open(dst, "w", encoding="utf-8").write(text)
PY
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
