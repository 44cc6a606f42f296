#!/usr/bin/env bash
# make demo: the demo HTTPS back-end, guichetd on libGammu's dummy modem, and a terminal
# phone. Everything lives under build/demo/ and stops with Ctrl-D.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) bin=$BUILD;; *) bin="$root/$BUILD";; esac
demo="$root/build/demo"
# A fresh conversation each time: no store, inbox or sent log from an earlier demo.
rm -rf "$demo/modem" "$demo"/guichet.db* "$demo/sent.jsonl" "$demo/demo.sqlite"
mkdir -p "$demo/modem"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

backend_pid=$("$root/tests/backend/run-demo-backend.sh" "$demo" 8443) || {
  echo "The demo back-end did not start (port 8443 busy?). See $demo/demo-backend.log" >&2; exit 1; }
pids+=("$backend_pid")
"$bin/guichetd" -f -c "$root/config/demo.yaml" 2>"$demo/guichetd.log" &
pids+=($!)
for _ in $(seq 1 50); do
  grep -q "guichetd started" "$demo/guichetd.log" 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "guichetd stopped:" >&2; tail -20 "$demo/guichetd.log" >&2; exit 1; }
  sleep 0.1
done
echo "Guichet runs: back-end https://127.0.0.1:8443, daemon log $demo/guichetd.log"
"$bin/tools/demo_phone" "$bin/tools/sms_inject" "$demo/modem" "$demo/sent.jsonl"
