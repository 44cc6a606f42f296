#!/usr/bin/env bash
# Back-end relay figures against the local demo back-end over real TLS (one process, one
# select loop): 200 concurrent calls to a 1 s back-end (new connections, then warm ones), and
# the relay's own added latency per call (wall time from call() to done minus curl's
# CURLINFO_TOTAL_TIME) at p50/p99. Targets (issue 3): 200 x 1 s within 1.2 s; added latency
# under 2 ms at p99.
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD;; esac
PROBE=$BUILD/tools/backend_probe
[ -x "$PROBE" ] || { echo "bench_backend: $PROBE not built (make all)"; exit 0; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pid=$("$ROOT/tests/backend/run-demo-backend.sh" "$tmp" "$port") || { echo "bench_backend: demo back-end did not start"; exit 1; }
cat > "$tmp/bench.yaml" <<YAML
backends:
  demo:
    url: https://127.0.0.1:$port
    ca: demo-ca.pem
    auth: { bearer: agenda-token }
    timeout_ms: 5000
    operations:
      sleep: { path: /test/slow, query: { ms: "{{ms}}" } }
      slots: { path: /agenda/slots, query: { service: "{{service}}" }, result: slots }
YAML
export PROBE_LOG_LEVEL=error
run() { "$PROBE" -c "$tmp/bench.yaml" -q -t "$@" 2>"$tmp/err" || { echo "  (calls failed)"; tail -3 "$tmp/err"; }; }
fig() { sed -n "s/^$1/  /p"; }

echo "== back-end relay (demo back-end over TLS, 127.0.0.1)"
echo "200 concurrent calls to a 1 s back-end, new TLS connections, then 2 rounds on warm ones:"
run demo.sleep ms=1000 -n 200 -r 3 > "$tmp/conc"
fig "summary: " < "$tmp/conc"
sed -n "s/^rounds (ms):/  rounds (ms):/p" < "$tmp/conc"
fig "overhead: " < "$tmp/conc" | sed 's/^/  under load: /'
fig "cpu: " < "$tmp/conc"
echo "added latency per call, one call at a time against a 0 ms endpoint (500 calls):"
run demo.sleep ms=0 -n 1 -r 500 > "$tmp/seq"
fig "overhead: " < "$tmp/seq"
fig "cpu: " < "$tmp/seq"
echo "throughput, 50 at a time against /agenda/slots (4 slots flattened per answer), 40 rounds:"
run demo.slots service=caf -n 50 -r 40 > "$tmp/thr"
calls=$(sed -n 's/^summary: \([0-9]*\) calls.*wall \([0-9]*\) ms.*/\1 \2/p' "$tmp/thr")
set -- $calls
[ $# -eq 2 ] && [ "$2" -gt 0 ] && echo "  $1 calls in $2 ms: $(( $1 * 1000 / $2 )) calls/s (the python demo back-end is the limit)"
fig "overhead: " < "$tmp/thr"
fig "cpu: " < "$tmp/thr"
