#!/usr/bin/env bash
# run-demo-backend.sh DIR PORT: starts the demo back-end over HTTPS on 127.0.0.1:PORT with its
# state, certificates and token in DIR (created when missing), waits until it answers, and
# prints its pid on stdout. Stop it with kill PID. Its log goes to DIR/demo-backend.log.
set -euo pipefail
dir=${1:?usage: run-demo-backend.sh DIR PORT}
port=${2:?usage: run-demo-backend.sh DIR PORT}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -s "$dir/demo-ca.pem" ] && [ -s "$dir/server.pem" ] && [ -s "$dir/other-ca.pem" ] ||
  "$here/make-certs.sh" "$dir" >/dev/null
if [ ! -s "$dir/agenda-token" ]; then
  (umask 077; od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$dir/agenda-token")
fi
chmod 600 "$dir/agenda-token"
python3 "$here/demo_backend.py" --port "$port" --cert "$dir/server.pem" --key "$dir/server.key" \
  --token-file "$dir/agenda-token" --db "$dir/demo.sqlite" ${DEMO_VERBOSE:+--verbose} \
  >>"$dir/demo-backend.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo back-end exited; see $dir/demo-backend.log" >&2
    tail -5 "$dir/demo-backend.log" >&2
    exit 1
  fi
  if curl -s --cacert "$dir/demo-ca.pem" -o /dev/null "https://127.0.0.1:$port/health"; then
    echo "$pid"
    exit 0
  fi
  sleep 0.1
done
echo "demo back-end did not answer on port $port" >&2
kill "$pid" 2>/dev/null || true
exit 1
