#!/usr/bin/env bash
# SMPP end to end, equal work: Guichet and Kannel bound in turn to the same test SMSC
# (tests/tools/smsc.c: Debian ships no SMPP SMSC simulator), each making ONE HTTPS call per
# message to the same back-end, then replying. The SMSC injects N messages from N numbers as
# fast as its deliver window allows and stops the clock when a submit_sm (ROK) has come back
# to every one of them.
#   back-end: nginx (Debian) over TLS (a test CA from tests/backend/make-certs.sh), HTTP/2 and
#     keep-alive, answering a fixed body: JSON for Guichet's call (GET /dossiers/status?...),
#     the reply as plain text for Kannel's get-url (GET /kannel?...): nginx is not the
#     bottleneck. (GET for both: nginx's `return` answers a POST before reading its body, and
#     over HTTP/2 libcurl 7.88 then fails ~2 % of calls with "Stream error in the HTTP/2
#     framing layer"; a real back-end reads the body.)
#   Guichet: bench/flows/sms/statut.yaml (STATUT -> dossier.status -> "Dossier ... : label"),
#     durable SQLite store (WAL, synchronous=FULL), run under strace counting fsync/fdatasync.
#   Kannel 1.4.5: bearerbox + smsbox, sms-service get-url https://... (no store file).
# Rows: windows 10 and 100 (GSM-7 "STATUT"), Guichet alone offered PACE msg/s (row paced: the
# SMSC delivers message i at i/PACE s, window 10: fewer messages share a loop iteration than
# at full speed), two-part UCS-2 MO (window 10), then Guichet alone under 20 % random
# ESME_RTHROTTLED and under an SMSC rate limit of RL parts/s.
# Each comparison is REPS alternated runs, medians compared (the 2-core machine's load drifts).
# Prints `figure NAME: VALUE` lines. Env: N (2000), N_THR (2000), RL (400), PACE (1000),
# REPS (3), KEEP=1,
# ROWS (default all: "w10 paced w100 relay cold ucs2 throttle"; e.g. ROWS=w10 to measure one),
# PROBE_WRAP (a command the relay probe runs under, e.g. "perf record -g -o /tmp/p.data"),
# PERF_GUICHETD (a path prefix: perf record -g of guichetd during each of its runs).
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD;; *) B=$ROOT/$BUILD;; esac
N=${N:-2000} N_THR=${N_THR:-2000} RL=${RL:-400} REPS=${REPS:-3} PACE=${PACE:-1000}
ROWS=" ${ROWS:-w10 paced w100 relay cold ucs2 throttle} "
row() { [[ $ROWS == *" $1 "* ]]; }
for x in "$B/guichetd" "$B/tools/smsc"; do
  [ -x "$x" ] || { echo "skip: $x not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "skip: python3 needed"; exit 77; }
"$ROOT/bench/deps.sh" >/dev/null || true
command -v nginx >/dev/null || { echo "skip: nginx not installed (bench/deps.sh)"; exit 77; }

T=$(mktemp -d /tmp/guichet-bench-smpp.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
calc() { python3 -c "print('$1' % ($2))"; }
HZ=$(getconf CLK_TCK)
REPLY_TEXT="Dossier 12345678 : en cours d'instruction"
UCS2_TEXT="STATUT déjà reçu ? Ma demande de prime d'activité a été déposée le 3 mars à l'accueil, ça fait trois semaines : où en est-elle ?"
ERRORS=0

# ---------------- back-end: nginx, TLS, HTTP/2, keep-alive ----------------
bash "$ROOT/tests/backend/make-certs.sh" "$T/certs" >/dev/null || { echo "certificates failed"; exit 1; }
NG=$(free_port) SLOW=$(free_port)
# The slow upstream behind nginx's /slow (the cold row): answers each request after 1 s
# (asyncio: 200 at once cost it nothing), with a listen backlog for 200 connections at once.
cat > "$T/slow.py" <<'EOF'
import asyncio, sys
BODY = b'{"status":"open","label":"en cours"}'
async def serve(r, w):
    try:
        head = await r.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HEAD"):
            await asyncio.sleep(1)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
        await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    srv = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await srv.serve_forever()
asyncio.run(main())
EOF
python3 "$T/slow.py" "$SLOW" 2>"$T/slow.err" &
PIDS+=($!)
for _ in $(seq 50); do curl -sfI "http://127.0.0.1:$SLOW/" >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$T/nginx"
cat > "$T/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  server {
    listen 127.0.0.1:$NG ssl http2;
    ssl_certificate $T/certs/server.pem;
    ssl_certificate_key $T/certs/server.key;
    ssl_session_cache shared:tls:10m;
    location = /dossiers/status {
      default_type application/json;
      return 200 '{"status":"open","label":"en cours d\'instruction"}';
    }
    location = /slow {
      proxy_pass http://127.0.0.1:$SLOW;
    }
    location = /kannel {
      default_type text/plain;
      return 200 "$REPLY_TEXT";
    }
  }
}
EOF
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" 2>"$T/nginx/stderr" &
PIDS+=($!)
for _ in $(seq 50); do
  curl -s --cacert "$T/certs/demo-ca.pem" "https://127.0.0.1:$NG/kannel" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -s --http2 --cacert "$T/certs/demo-ca.pem" -o /dev/null -w '%{http_version}' \
  "https://127.0.0.1:$NG/kannel" > "$T/httpv" 2>/dev/null || { echo "nginx did not start"; cat "$T/nginx/stderr"; exit 1; }
echo "back-end: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), TLS, HTTP/$(cat "$T/httpv") with keep-alive, fixed body"

# ---------------- the SMSC ----------------
start_smsc() {  # $1: tag, $2: window
  rm -f "$T/port" "$T/ctl"
  "$B/tools/smsc" --port-file "$T/port" --control "$T/ctl" --log "$T/smsc-$1.log" \
    --system-id guichet --password opxpass1 --window "$2" --receipts 0 2>"$T/smsc-$1.err" &
  SMSC_PID=$!
  PIDS+=($SMSC_PID)
  for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
  [ -s "$T/port" ] || { echo "test SMSC did not start"; exit 1; }
  PORT=$(cat "$T/port")
}
ctl() { printf '%s\n' "$*" > "$T/ctl"; }
# run_bench TAG N TEXT TIMEOUT: the SMSC's MO->reply rate (empty on timeout).
run_bench() {
  ctl "bench $2 38123 $3"
  local end=$((SECONDS + $4))
  while [ $SECONDS -le $end ]; do
    if grep -q '"event":"bench"' "$T/smsc-$1.log" 2>/dev/null; then
      python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("event") == "bench": print("%.0f" % e["rate"])' "$T/smsc-$1.log"
      return 0
    fi
    sleep 0.1
  done
  return 1
}
# error_replies TAG: complete replies in the SMSC's log other than the back-end's answer.
error_replies() {
  python3 - "$T/smsc-$1.log" "$REPLY_TEXT" <<'EOF'
import json, sys
bad = 0
for l in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(l)
    if e.get("event") == "message" and e.get("text") != sys.argv[2]:
        bad += 1
print(bad)
EOF
}

# ---------------- Guichet ----------------
mkdir -p "$T/flows"
cp "$ROOT/bench/flows/sms/statut.yaml" "$T/flows/"
printf 'opxpass1\n' > "$T/certs/opx-password"
printf 'unused\n' > "$T/certs/agenda-token"
chmod 600 "$T/certs/opx-password" "$T/certs/agenda-token"
# guichet_run TAG WINDOW N TEXT [SMSC COMMAND]: sets G_RATE G_CPU G_FSYNC G_ERR.
guichet_run() {
  local tag=$1 w=$2 n=$3 text=$4 cmd=${5:-}
  G_RATE="" G_CPU="" G_FSYNC="" G_ERR=""
  start_smsc "g-$tag" "$w"
  [ -n "$cmd" ] && ctl "$cmd"
  rm -f "$T/guichet.db"*
  cat > "$T/g-$tag.yaml" <<EOF
flows: $T/flows
store: $T/guichet.db
credentials: $T/certs
log: { level: notice }
call_budget_ms: 8000
backends:
  dossier:
    url: https://127.0.0.1:$NG
    ca: $T/certs/demo-ca.pem
    auth: { bearer: agenda-token }
    timeout_ms: 3000
    operations:
      status:
        method: GET
        path: /dossiers/status
        query: { numero: "{{numero}}", code: "{{code}}" }
        idempotent: true
        require: [status, label]
smpp:
  - name: opx
    host: 127.0.0.1
    port: $PORT
    system_id: guichet
    password: opx-password
    bind: transceiver
    source: "38123"
    parts_per_second: 0
    window: $w
    enquire_link: 30s
EOF
  local pid
  if command -v strace >/dev/null; then
    # Only fsync/fdatasync stop the process (seccomp filter): the count costs ~nothing.
    strace -f -c --seccomp-bpf -e trace=fsync,fdatasync -o "$T/strace-$tag" \
      "$B/guichetd" -f -c "$T/g-$tag.yaml" 2>"$T/guichetd-$tag.log" &
    pid=$!
    PIDS+=($pid)
    local gd=""
    for _ in $(seq 50); do gd=$(pgrep -P "$pid" guichetd) && break; sleep 0.1; done
  else
    "$B/guichetd" -f -c "$T/g-$tag.yaml" 2>"$T/guichetd-$tag.log" &
    pid=$!; gd=$pid
    PIDS+=($pid)
  fi
  for _ in $(seq 100); do grep -q 'bound as transceiver' "$T/guichetd-$tag.log" && break; sleep 0.1; done
  grep -q 'bound as transceiver' "$T/guichetd-$tag.log" || { echo "guichetd did not bind"; tail -3 "$T/guichetd-$tag.log"; return 1; }
  local c0; c0=$(awk '{print $14 + $15}' "/proc/$gd/stat")
  local perf=""
  if [ -n "${PERF_GUICHETD:-}" ]; then
    perf record -g -p "$gd" -o "$PERF_GUICHETD-$tag" >/dev/null 2>&1 & perf=$!
  fi
  G_RATE=$(run_bench "g-$tag" "$n" "$text" 300)
  local c1; c1=$(awk '{print $14 + $15}' "/proc/$gd/stat")
  [ -n "$perf" ] && { kill -INT "$perf"; wait "$perf" 2>/dev/null; }
  kill "$gd" 2>/dev/null; wait "$pid" 2>/dev/null
  kill "$SMSC_PID" 2>/dev/null; wait "$SMSC_PID" 2>/dev/null
  [ -n "$G_RATE" ] || { echo "Guichet $tag: bench did not finish"; tail -3 "$T/guichetd-$tag.log"; return 1; }
  G_CPU=$(calc %.0f "($c1 - $c0) * 1e6 / $HZ / $n")
  G_ERR=$(error_replies "g-$tag")
  ERRORS=$((ERRORS + G_ERR))
  if [ -s "$T/strace-$tag" ]; then
    local fs; fs=$(awk '$NF=="fsync"||$NF=="fdatasync"{s+=$4} END{print s+0}' "$T/strace-$tag")
    G_FSYNC=$(calc %.3f "$fs / $n")
  fi
  echo "Guichet $tag (window $w): $G_RATE msg/s, ${G_CPU} us CPU/msg, ${G_FSYNC:-?} fsyncs/msg, $G_ERR error replies"
}

# ---------------- Kannel ----------------
K_OK=1
if ! command -v bearerbox >/dev/null || ! command -v smsbox >/dev/null; then
  K_OK=0; echo "Kannel: not installed (bench/deps.sh needs root)"
fi
# kannel_run TAG WINDOW N TEXT: sets K_RATE K_ERR.
kannel_run() {
  local tag=$1 w=$2 n=$3 text=$4
  K_RATE="" K_ERR=""
  [ $K_OK = 1 ] || return 1
  start_smsc "k-$tag" "$w"
  local admin smsboxp sendp
  admin=$(free_port) smsboxp=$(free_port) sendp=$(free_port)
  cat > "$T/kannel-$tag.conf" <<EOF
group = core
admin-port = $admin
admin-password = bench
smsbox-port = $smsboxp
log-file = "$T/bearerbox-$tag.log"
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
max-pending-submits = $w
msg-id-type = 0x01

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $smsboxp
sendsms-port = $sendp
log-file = "$T/smsbox-$tag.log"
log-level = 3
mo-recode = false

group = sms-service
keyword = default
catch-all = true
get-url = "https://127.0.0.1:$NG/kannel?from=%p&text=%a"
max-messages = 3
concatenation = true
omit-empty = true
EOF
  bearerbox "$T/kannel-$tag.conf" >"$T/bearerbox-$tag.out" 2>&1 &
  local bb=$!; PIDS+=($bb)
  sleep 1
  smsbox "$T/kannel-$tag.conf" >"$T/smsbox-$tag.out" 2>&1 &
  local sb=$!; PIDS+=($sb)
  for _ in $(seq 100); do grep -q '"event":"bind"' "$T/smsc-k-$tag.log" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  local c0 c1
  c0=$(cat "/proc/$bb/stat" "/proc/$sb/stat" | awk '{s += $14 + $15} END {print s}')
  K_RATE=$(run_bench "k-$tag" "$n" "$text" 300) || true
  c1=$(cat "/proc/$bb/stat" "/proc/$sb/stat" | awk '{s += $14 + $15} END {print s}')
  kill "$sb" "$bb" "$SMSC_PID" 2>/dev/null; wait "$sb" "$bb" "$SMSC_PID" 2>/dev/null
  [ -n "$K_RATE" ] || { echo "Kannel $tag: bench did not finish in 300 s"; return 1; }
  K_ERR=$(error_replies "k-$tag")
  ERRORS=$((ERRORS + K_ERR))
  echo "Kannel  $tag (window $w): $K_RATE msg/s, $(calc %.0f "($c1 - $c0) * 1e6 / $HZ / $n") us CPU/msg (bearerbox+smsbox), $K_ERR error replies"
}
ratio() {  # NAME: prints the figure from G_RATE/K_RATE
  if [ -n "$G_RATE" ] && [ -n "$K_RATE" ]; then
    echo "figure $1: $(calc %.2f "$G_RATE / $K_RATE")"
  else
    echo "figure $1: n/a"
  fi
}

median() { python3 -c 'import sys, statistics; v = [float(x) for x in sys.argv[1:]]; print("%.0f" % statistics.median(v)) if v else print("")' "$@"; }
# pair TAG WINDOW TEXT: REPS runs of Guichet and Kannel, alternated (the machine's load
# drifts: each pair shares it), then G_RATE/K_RATE are the medians; G_CPU and G_FSYNC too.
pair() {
  local tag=$1 w=$2 text=$3 gr=() kr=() gc=() gf=()
  for i in $(seq "$REPS"); do
    guichet_run "$tag-$i" "$w" "$N" "$text" && { gr+=("$G_RATE"); gc+=("$G_CPU"); gf+=("${G_FSYNC:-0}"); }
    kannel_run "$tag-$i" "$w" "$N" "$text" && kr+=("$K_RATE")
  done
  G_RATE=$(median "${gr[@]}") K_RATE=$(median "${kr[@]}") G_CPU=$(median "${gc[@]}")
  G_FSYNC=$(python3 -c 'import sys, statistics; v = [float(x) for x in sys.argv[1:]]; print("%.3f" % statistics.median(v)) if v else print("")' "${gf[@]}")
  echo "median of $REPS: Guichet $G_RATE msg/s (${G_CPU} us CPU/msg, $G_FSYNC fsyncs/msg), Kannel ${K_RATE:-?} msg/s"
}

echo "== MO -> one HTTPS call -> reply, $N messages, GSM-7"
if row w10; then
  pair w10 10 STATUT; CPU10=$G_CPU; FS10=$G_FSYNC
  ratio smpp_https_w10_vs_kannel
  echo "figure cpu_us_per_msg_https: ${CPU10:-n/a}"
  echo "figure fsyncs_per_msg: ${FS10:-n/a}"
fi
# Guichet alone at a fixed offered rate: the goal "<= 0.2 fsyncs per message at 1,000 msg/s".
if row paced; then
  PR=() PC=() PF=()
  for i in $(seq "$REPS"); do
    guichet_run "paced-$i" 10 "$N" STATUT "pace $PACE" && { PR+=("$G_RATE"); PC+=("$G_CPU"); PF+=("${G_FSYNC:-0}"); }
  done
  PF=$(python3 -c 'import sys, statistics; v = [float(x) for x in sys.argv[1:]]; print("%.3f" % statistics.median(v)) if v else print("n/a")' "${PF[@]}")
  echo "median of $REPS offered $PACE msg/s: $(median "${PR[@]}") msg/s, $(median "${PC[@]}") us CPU/msg, $PF fsyncs/msg"
  echo "figure fsyncs_per_msg_paced: $PF (offered $PACE msg/s)"
  echo "figure cpu_us_per_msg_paced: $(median "${PC[@]}")"
fi
if row w100; then
  pair w100 100 STATUT
  ratio smpp_https_w100_vs_kannel
fi
# The relay alone (tests/tools/backend_probe), same nginx, warm HTTP/2 connection: CPU per call.
if row relay && [ -x "$B/tools/backend_probe" ]; then
  printf '%s\n' "backends:" "  dossier:" "    url: https://127.0.0.1:$NG" "    ca: demo-ca.pem" \
    "    auth: { bearer: agenda-token }" "    timeout_ms: 3000" "    operations:" \
    "      status: { path: /dossiers/status, query: { numero: \"12345678\", code: \"4321\" }, require: [status, label] }" \
    > "$T/certs/probe.yaml"
  PROBE_LOG_LEVEL=error ${PROBE_WRAP:-} "$B/tools/backend_probe" -c "$T/certs/probe.yaml" -q -t -n 10 -r 300 dossier.status \
    > "$T/probe.out" 2>"$T/probe.err"
  RELAY_CPU=$(sed -n 's/^cpu: .*(\([0-9.]*\) us per call.*/\1/p' "$T/probe.out")
  echo "relay alone, 10 calls at a time x 300 rounds, warm connection: $(grep '^summary' "$T/probe.out")"
  echo "figure relay_cpu_us_per_call_warm: ${RELAY_CPU:-n/a}"
fi
# 200 calls at once from a cold relay (a new process: no connection, no TLS session) to the
# HTTP/2 back-end, each answered after 1 s (nginx proxying /slow): wall time of the round.
if row cold && [ -x "$B/tools/backend_probe" ]; then
  printf '%s\n' "backends:" "  dossier:" "    url: https://127.0.0.1:$NG" "    ca: demo-ca.pem" \
    "    auth: { bearer: agenda-token }" "    timeout_ms: 5000" "    operations:" \
    "      slow: { path: /slow, require: [status, label] }" > "$T/certs/cold.yaml"
  CW=() CF=0
  for i in $(seq "$REPS"); do
    PROBE_LOG_LEVEL=error "$B/tools/backend_probe" -c "$T/certs/cold.yaml" -q -t -n 200 -r 1 \
      dossier.slow > "$T/cold-$i.out" 2>"$T/cold-$i.err"
    grep -q '200 ok, 0 failed' "$T/cold-$i.out" || CF=$((CF + 1))
    w=$(sed -n 's/.*wall \([0-9]*\) ms.*/\1/p' "$T/cold-$i.out")
    [ -n "$w" ] && CW+=("$w")
    echo "cold relay, 200 x 1 s calls at once over HTTP/2, run $i: $(grep '^summary' "$T/cold-$i.out")"
  done
  ERRORS=$((ERRORS + CF))
  # The peer: the curl program, 200 transfers in parallel over HTTP/2, same back-end.
  args=(); for _ in $(seq 200); do args+=(-o /dev/null "https://127.0.0.1:$NG/slow"); done
  s0=$(date +%s%N)
  curl -s --no-progress-meter -Z --parallel-max 200 --http2 --cacert "$T/certs/demo-ca.pem" "${args[@]}" 2>/dev/null
  echo "peer: curl $(curl --version | sed -n '1s/curl \([^ ]*\).*/\1/p') -Z, 200 transfers at once, cold: $(( ($(date +%s%N) - s0) / 1000000 )) ms"
  CMED=$(median "${CW[@]}")
  echo "figure relay_cold_200x1s_s: $([ -n "$CMED" ] && calc %.2f "$CMED / 1000.0" || echo n/a) (median of ${#CW[@]}, $CF runs with failures)"
fi
if row ucs2; then
  echo "== two-part UCS-2 MO -> one HTTPS call -> reply, window 10, $N messages"
  pair ucs2 10 "$UCS2_TEXT"
  ratio smpp_ucs2_concat_vs_kannel
fi

row throttle || { echo "figure backend_errors_zero: $([ "$ERRORS" = 0 ] && echo 1 || echo 0)"; exit 0; }
echo "== Guichet under SMSC throttling, window 10, $N_THR messages"
# Unthrottled and throttled runs alternated (the machine's load drifts), medians compared.
BR=() TR=()
for i in $(seq "$REPS"); do
  guichet_run "base-$i" 10 "$N_THR" STATUT && BR+=("$G_RATE")
  guichet_run "thr20-$i" 10 "$N_THR" STATUT "throttle 20" && TR+=("$G_RATE")
done
GB=$(median "${BR[@]}") G_RATE=$(median "${TR[@]}")
if [ -n "$G_RATE" ] && [ -n "$GB" ]; then
  echo "figure smpp_throttle20_kept_pct: $(calc %.0f "100.0 * $G_RATE / $GB") ($G_RATE msg/s throttled, $GB unthrottled, medians of $REPS)"
else
  echo "figure smpp_throttle20_kept_pct: n/a"
fi
guichet_run rl 10 "$N_THR" STATUT "ratelimit $RL"
if [ -n "$G_RATE" ]; then
  echo "figure smpp_ratelimit_kept_pct: $(calc %.0f "100.0 * $G_RATE / $RL") (of $RL parts/s)"
else
  echo "figure smpp_ratelimit_kept_pct: n/a"
fi
echo "figure backend_errors_zero: $([ "$ERRORS" = 0 ] && echo 1 || echo 0)"
exit 0
