#!/usr/bin/env bash
# SMPP end to end, MO -> reply, in messages per second, against the test SMSC (no
# throttling, no receipts): the SMSC injects N messages from N numbers ("bonjour", which the
# sample flows answer with their menu) as fast as its deliver window allows and stops the
# clock when a submit_sm (ROK) has come back to every one of them.
#   1. guichetd: sample flows, durable SQLite store (synchronous=FULL), one transceiver bind.
#   2. Kannel 1.4.5 (Debian's bearerbox + smsbox) bound to the same SMSC, sms-service with
#      get-url to a tiny local HTTP back-end that returns the same reply text.
# Prints both figures and their ratio. Kannel is installed with apt-get when missing and we are
# root; otherwise (or when it does not come up) its half is skipped with the reason.
# Env: N (messages, 5000), WINDOW (deliver_sm / submit_sm outstanding, 50).
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD;; *) B=$ROOT/$BUILD;; esac
N=${N:-5000} WINDOW=${WINDOW:-50}
for x in "$B/guichetd" "$B/tools/smsc"; do
  [ -x "$x" ] || { echo "skip: $x not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "skip: python3 needed"; exit 77; }

T=$(mktemp -d /tmp/guichet-bench-smpp.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
ctl() { printf '%s\n' "$*" > "$T/ctl"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_smsc() {  # $1: tag
  rm -f "$T/port" "$T/ctl"
  "$B/tools/smsc" --port-file "$T/port" --control "$T/ctl" --log "$T/smsc-$1.log" \
    --system-id guichet --password opxpass1 --window "$WINDOW" --receipts 0 2>"$T/smsc-$1.err" &
  SMSC_PID=$!
  PIDS+=($SMSC_PID)
  for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
  [ -s "$T/port" ] || { echo "test SMSC did not start"; exit 1; }
  PORT=$(cat "$T/port")
}
# Runs the bench on the SMSC and prints the rate (empty on timeout).
run_bench() {  # $1: tag, $2: timeout s
  ctl "bench $N 38123 bonjour"
  local end=$((SECONDS + $2))
  while [ $SECONDS -le $end ]; do
    if grep -q '"event":"bench"' "$T/smsc-$1.log" 2>/dev/null; then
      python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("event") == "bench": print("%.0f" % e["rate"])' "$T/smsc-$1.log"
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# ---------------- Guichet ----------------
start_smsc guichet
printf 'opxpass1\n' > "$T/opx-password"; chmod 600 "$T/opx-password"
printf 'unused\n' > "$T/agenda-token"; chmod 600 "$T/agenda-token"
python3 - "$ROOT/config/demo.yaml" "$T/guichet.yaml" "$ROOT" "$T" "$PORT" "$WINDOW" <<'EOF'
import sys
src, dst, root, t, port, window = sys.argv[1:]
text = open(src, encoding="utf-8").read().split("\nmodems:")[0]
text = text.replace("flows: ../flows", "flows: %s/flows" % root)
text = text.replace("store: ../build/demo/guichet.db", "store: %s/guichet.db" % t)
text = text.replace("credentials: ../build/demo", "credentials: %s" % t)
text = text.replace("../build/demo/demo-ca.pem", "/etc/ssl/certs/ca-certificates.crt")
text = text.replace("level: info", "level: notice")
text += """
smpp:
  - name: opx
    host: 127.0.0.1
    port: %s
    system_id: guichet
    password: opx-password
    bind: transceiver
    source: "38123"
    parts_per_second: 0
    window: %s
    enquire_link: 30s
""" % (port, window)
open(dst, "w", encoding="utf-8").write(text)
EOF
"$B/guichetd" -f -c "$T/guichet.yaml" 2>"$T/guichetd.log" &
GD=$!; PIDS+=($GD)
for _ in $(seq 100); do grep -q 'bound as transceiver' "$T/guichetd.log" && break; sleep 0.1; done
grep -q 'bound as transceiver' "$T/guichetd.log" || { echo "guichetd did not bind"; tail "$T/guichetd.log"; exit 1; }
cpu0=$(awk '{print $14 + $15}' /proc/$GD/stat)
G_RATE=$(run_bench guichet 300)
cpu1=$(awk '{print $14 + $15}' /proc/$GD/stat)
[ -n "$G_RATE" ] || { echo "Guichet: bench did not finish"; tail "$T/guichetd.log"; exit 1; }
G_CPU=$(python3 -c "print('%.0f' % (($cpu1 - $cpu0) * 1e6 / $(getconf CLK_TCK) / $N))")
echo "Guichet  (guichetd, durable store, window $WINDOW): $G_RATE MO->reply msg/s, ${G_CPU} us CPU/msg in guichetd"
kill "$GD" "$SMSC_PID" 2>/dev/null; wait "$GD" "$SMSC_PID" 2>/dev/null

# ---------------- Kannel ----------------
kannel_skip() { echo "Kannel: skipped ($*)"; echo "ratio: n/a"; exit 0; }
if ! command -v bearerbox >/dev/null || ! command -v smsbox >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing kannel (apt-get)..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q kannel >"$T/apt.log" 2>&1 ||
      kannel_skip "apt-get install kannel failed: $(tail -1 "$T/apt.log")"
  else
    kannel_skip "bearerbox/smsbox not installed and not root to install them"
  fi
fi
# Debian starts a bearerbox of its own at install: ours uses other ports anyway.
start_smsc kannel
HP=$(free_port) ADMIN=$(free_port) SMSBOXP=$(free_port) SENDP=$(free_port)
REPLY=$(python3 -c 'import json,sys
for l in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(l)
    if e.get("event") == "message": print(e["text"].replace("\n", " ")); break' "$T/smsc-guichet.log")
printf '%s' "${REPLY:-Guichet}" > "$T/reply.txt"
cat > "$T/backend.py" <<'EOF'
import sys, http.server, socketserver
reply = open(sys.argv[2], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$T/backend.py" "$HP" "$T/reply.txt" 2>"$T/backend.err" &
PIDS+=($!)
cat > "$T/kannel.conf" <<EOF
group = core
admin-port = $ADMIN
admin-password = bench
smsbox-port = $SMSBOXP
log-file = "$T/bearerbox.log"
log-level = 3
box-allow-ip = 127.0.0.1
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = opx
host = 127.0.0.1
port = $PORT
transceiver-mode = true
smsc-username = guichet
smsc-password = opxpass1
system-type = ""
source-addr-ton = 3
source-addr-npi = 0
source-addr-autodetect = false
enquire-link-interval = 30
max-pending-submits = $WINDOW
msg-id-type = 0x01

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $SMSBOXP
sendsms-port = $SENDP
log-file = "$T/smsbox.log"
log-level = 3
mo-recode = false

group = sms-service
keyword = default
catch-all = true
get-url = "http://127.0.0.1:$HP/?from=%p&text=%a"
max-messages = 3
concatenation = true
omit-empty = true
EOF
bearerbox "$T/kannel.conf" >"$T/bearerbox.out" 2>&1 &
PIDS+=($!)
sleep 1
smsbox "$T/kannel.conf" >"$T/smsbox.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '"event":"bind"' "$T/smsc-kannel.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"event":"bind","kind":9,"system_id":"guichet","status":0' "$T/smsc-kannel.log" ||
  kannel_skip "bearerbox did not bind to the test SMSC; see bearerbox.log"
sleep 1
K_RATE=$(run_bench kannel 300) || true
[ -n "$K_RATE" ] || kannel_skip "the Kannel run did not finish in 300 s"
echo "Kannel   (bearerbox+smsbox, get-url, max-pending-submits $WINDOW, no store-file): $K_RATE MO->reply msg/s"
python3 -c "print('ratio Guichet/Kannel: %.2f' % ($G_RATE / $K_RATE))"
exit 0
