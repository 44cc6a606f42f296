#!/usr/bin/env bash
# The relay against a back-end that sets up one TLS connection at a time
# (tests/tools/serial_tls_backend.py, 20 ms per connection before its handshake): a burst of
# 200 calls at once, each with 2 s of timeout, all succeed. Without a cap on the connections
# being set up at once, the relay opened ~200 connections together, the back-end worked
# through their handshakes one by one for ~4 s and most calls timed out.
# Exit 0 pass, 77 skip, anything else fail.
set -u
BUILD=${BUILD:-build}
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD;; esac
PROBE=$BUILD/tools/backend_probe
for t in python3 openssl; do
  command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }
done
[ -x "$PROBE" ] || { echo "skip: $PROBE not built"; exit 77; }
tmp=$(mktemp -d /tmp/guichet-serial-tls.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
bash "$ROOT/tests/backend/make-certs.sh" "$tmp" >/dev/null || { echo "FAIL: certificates"; exit 1; }
python3 "$ROOT/tests/tools/serial_tls_backend.py" "$tmp/server.pem" "$tmp/server.key" "$tmp/port" 20 &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL: back-end did not start"; exit 1; }
printf 'token\n' > "$tmp/token"; chmod 600 "$tmp/token"
cat > "$tmp/probe.yaml" <<YAML
backends:
  serial:
    url: https://127.0.0.1:$(cat "$tmp/port")
    ca: demo-ca.pem
    auth: { bearer: token }
    timeout_ms: 2000
    operations:
      status: { path: /status, query: { n: "{{n}}" }, require: [status, label] }
YAML
PROBE_LOG_LEVEL=error "$PROBE" -c "$tmp/probe.yaml" -q -n 200 -b 2000 serial.status n=1 > "$tmp/out" 2>"$tmp/err"
rc=$?
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
summary=$(grep '^summary' "$tmp/out")
echo "$summary; back-end: $(cat "$tmp/port.stats" 2>/dev/null)"
if [ $rc -ne 0 ]; then
  echo "FAIL: calls failed against a back-end that handshakes one connection at a time"
  tail -3 "$tmp/err"
  exit 1
fi
echo "ok: 200 calls at once, zero failures against a one-at-a-time TLS back-end"
