#!/usr/bin/env bash
# Runs every tests/integration/*.sh with BUILD set; exit 0 = pass, 77 = skipped, else fail.
# Each script starts the peers it needs (HTTPS back-end, osmo-hlr, test modem, test SMSC)
# in its own temporary directory and stops what it started.
set -u
BUILD=${BUILD:-build}
export BUILD GUICHET_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Every test leaves the logs it captured here; log_scan.sh, run last, checks that none holds
# an unmasked number or a secret input.
export GUICHET_LOG_DIR=${GUICHET_LOG_DIR:-$(mktemp -d /tmp/guichet-logs.XXXXXX)}
pass=0 fail=0 skip=0 failed=""
tests=()
for t in "$GUICHET_ROOT"/tests/integration/*.sh; do
  case $(basename "$t") in log_scan.sh) ;; *) tests+=("$t");; esac
done
[ -e "$GUICHET_ROOT/tests/integration/log_scan.sh" ] && tests+=("$GUICHET_ROOT/tests/integration/log_scan.sh")
for t in "${tests[@]}"; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  start=$(date +%s)
  out=$(mktemp)
  bash "$t" >"$out" 2>&1; rc=$?
  dur=$(( $(date +%s) - start ))
  case $rc in
    0)  pass=$((pass+1)); echo "PASS $name (${dur}s)";;
    77) skip=$((skip+1)); echo "SKIP $name: $(tail -1 "$out")";;
    *)  fail=$((fail+1)); failed="$failed $name"; echo "FAIL $name (${dur}s)"; grep -m5 'FAIL' "$out" | sed 's/^/    /'; sed 's/^/    /' "$out" | tail -40;;
  esac
  rm -f "$out"
done
echo "integration: $pass passed, $fail failed, $skip skipped (logs in $GUICHET_LOG_DIR)"
[ $fail -eq 0 ]
