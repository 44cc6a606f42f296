#!/usr/bin/env bash
# make soak: SOAK_MINUTES (default 30) of random dialogues over two dummy modems, the test
# SMSC and the USSD callback, with kill -9 at random, SIGHUP every minute and back-end
# outages; then checks that nothing was lost and that memory came back to its baseline
# (see soak.py). Not part of make check or CI. SOAK_SEED replays a run's random choices;
# KEEP=1 keeps the directory (logs, store). Exit 0 pass, 1 fail, 77 skip.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B;; esac
for x in guichetd tools/sms_inject tools/smsc; do
  [ -x "$B/$x" ] || { echo "skip: $B/$x not built"; exit 77; }
done
for c in python3 curl openssl; do command -v $c >/dev/null || { echo "skip: $c needed"; exit 77; }; done
T=$(mktemp -d /tmp/guichet-soak.XXXXXX)
DRIVER=
cleanup() {
  # soak.py stops the peers it started (by pid) when it exits, however it exits.
  [ -n "$DRIVER" ] && kill "$DRIVER" 2>/dev/null && wait "$DRIVER" 2>/dev/null
  if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
umask 077
python3 "$ROOT/tests/soak/soak.py" "$ROOT" "$B" "$T" &
DRIVER=$!
wait "$DRIVER"; rc=$?
DRIVER=
exit $rc
