#!/usr/bin/env bash
# SMS end to end (issue 4, "Benchmark"), all on this machine in one run:
#  1. messages/s through guichetd on libGammu's dummy modem with the durable SQLite store:
#     N texts from N distinct numbers are written into the dummy inbox with sms_inject
#     BEFORE guichetd starts (pre-loaded inbox), and the clock runs from guichetd's start
#     until every person has a reply in the modem's sent log. (a) DROITS -> a menu, no
#     back-end; (b) STATUT (bench/flows/sms/statut.yaml) -> one HTTPS call to the demo
#     back-end -> a reply.
#  2. the same workload (a) through gammu-smsd (dummy driver, files backend, RunOnReceive
#     writing the reply into the files outbox), pre-loaded the same way -> msg/s and ratio.
#  3. fake AT modems (tests/tools/at_modem, 2.5 s per part): a burst of people texting
#     DROITS to 1 modem, then to 2 modems (half each), then to 2 modems all on the first:
#     parts/minute per modem and the idle gaps between parts while replies are queued
#     (gap = time between two submits minus the modem's 2.5 s), from at_modem's log lines
#     time-stamped as they are written.
# Env: N (2000), SMSD_N (500), POLL_MS (50, dummy modem), PEOPLE (12), AT_DELAY_MS (2500),
#      SKIP_SMSD=1, SKIP_AT=1, KEEP=1 (keep the temporary directory).
# Prints figures only; nothing is asserted.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
B=${BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B;; esac
N=${N:-2000} SMSD_N=${SMSD_N:-500} POLL_MS=${POLL_MS:-50} PEOPLE=${PEOPLE:-12}
AT_DELAY_MS=${AT_DELAY_MS:-2500}
for x in guichetd tools/sms_inject tools/at_modem; do
  [ -x "$B/$x" ] || { echo "bench_sms: $B/$x not built (make)"; exit 0; }
done
T=$(mktemp -d /tmp/guichet-bench-sms.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { echo "$EPOCHREALTIME"; }
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
stamp() { while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
stop() {	# stop PID: SIGTERM, wait (at most 10 s), then SIGKILL
  local p=$1
  kill "$p" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null
}
# preload DIR COUNT KEYWORD: COUNT texts from +33600000001.. into the dummy inbox
preload() {
  mkdir -p "$1/sms/1"
  seq 1 "$2" | xargs -P2 -I{} sh -c \
    "'$B/tools/sms_inject' '$1' \"\$(printf '+336%08d' {})\" '$3' >/dev/null"
}
people() { grep -o '"to":"[^"]*"' "$1" 2>/dev/null | sort -u | wc -l; }

declare -A R	# results, for the summary

# ---------------------------------------------------------------- 1. guichetd, dummy modem
# run_dummy NAME FLOWDIR KEYWORD COUNT [EXTRA_YAML]: fills R[NAME_*]
run_dummy() {
  local name=$1 flows=$2 kw=$3 n=$4 extra=${5:-}
  local d=$T/$name
  mkdir -p "$d/modem"
  cat >"$d/guichet.yaml" <<YAML
flows: $flows
store: $d/guichet.db
log: { level: notice }
call_budget_ms: 60000
$extra
modems:
  - name: m1
    model: dummy
    device: $d/modem
    poll_ms: $POLL_MS
    rate: 0
    sent_log: $d/sent.jsonl
YAML
  local p0; p0=$(now)
  preload "$d/modem" "$n" "$kw"
  local p1; p1=$(now)
  local t0; t0=$(now)
  "$B/guichetd" -f -c "$d/guichet.yaml" 2>"$d/guichetd.log" &
  local pid=$!
  PIDS+=($pid)
  local sent=0 t_read="" t_first="" deadline=$((SECONDS + 120))
  while [ $SECONDS -lt $deadline ]; do
    sent=$(cat "$d/sent.jsonl" 2>/dev/null | wc -l)
    [ -z "$t_first" ] && [ "$sent" -gt 0 ] && t_first=$(now)
    if [ -z "$t_read" ] && [ -z "$(ls -A "$d/modem/sms/1" 2>/dev/null)" ]; then t_read=$(now); fi
    [ "$sent" -ge "$n" ] && break
    sleep 0.02
  done
  local t1; t1=$(now)
  local cpu; cpu=$(cpu_ticks "$pid")
  stop "$pid"
  local got; got=$(people "$d/sent.jsonl")
  R[${name}_n]=$n
  R[${name}_people]=$got
  R[${name}_sent]=$sent
  R[${name}_s]=$(calc %.2f "$t1 - $t0")
  R[${name}_rate]=$(calc %.0f "$got / ($t1 - $t0)")
  R[${name}_read]=$(calc %.2f "${t_read:-$t1} - $t0")
  R[${name}_first]=$(calc %.2f "${t_first:-$t1} - $t0")
  R[${name}_cpu_us]=$(calc %.0f "$cpu / $HZ * 1e6 / ($got ? $got : 1)")
  R[${name}_inject]=$(calc %.0f "$n / ($p1 - $p0)")
  local errs; errs=$(grep -c "Service indisponible" "$d/sent.jsonl" 2>/dev/null)
  R[${name}_errors]=${errs:-0}
  echo "guichetd $name: $got/$n people answered in ${R[${name}_s]} s from start" \
       "-> ${R[${name}_rate]} msg/s (inbox read+stored+deleted by ${R[${name}_read]} s," \
       "first reply at ${R[${name}_first]} s); guichetd CPU ${R[${name}_cpu_us]} us/msg;" \
       "pre-load ${R[${name}_inject]} msg/s (sms_inject)"
}

echo "== SMS through guichetd on the dummy modem (SQLite store, poll_ms $POLL_MS, rate 0;" \
     "inbox pre-loaded before start)"
mkdir -p "$T/flows-a"
cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows-a/"
run_dummy a "$T/flows-a" DROITS "$N"

# (b) one back-end call per message, to the demo back-end over HTTPS
mkdir -p "$T/flows-b"
cp "$ROOT/bench/flows/sms/statut.yaml" "$ROOT/flows/commun.yaml" "$T/flows-b/"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if BPID=$("$ROOT/tests/backend/run-demo-backend.sh" "$T/backend" "$PORT"); then
  PIDS+=($BPID)
  # Default timeouts: the relay opens at most 256 connections per back-end host and reuses
  # them, so a burst of N people does not mean N TLS handshakes at once.
  run_dummy b "$T/flows-b" STATUT "$N" "credentials: $T/backend
backends:
  dossier:
    url: https://127.0.0.1:$PORT
    ca: $T/backend/demo-ca.pem
    auth: { bearer: agenda-token }
    operations:
      status:
        method: POST
        path: /dossiers/status
        body: { numero: \"{{numero}}\", code: \"{{code}}\" }
        require: [status, label]"
  echo "  (b) replies that took the error way (Service indisponible): ${R[b_errors]}"
  stop "$BPID"
else
  echo "guichetd b: demo back-end did not start"
fi

# ---------------------------------------------------------------- 2. gammu-smsd
if [ "${SKIP_SMSD:-}" != 1 ] && command -v gammu-smsd >/dev/null; then
  echo "== the same workload (a) through gammu-smsd $(gammu-smsd --version | sed -n '1s/.*version //p')" \
       "(dummy driver, files backend, RunOnReceive), $SMSD_N messages"
  S=$T/smsd
  mkdir -p "$S/in" "$S/out" "$S/sent" "$S/err" "$S/modem/sms/"{1,2,3,4,5}
  cat >"$S/onrecv.sh" <<EOF
#!/bin/sh
# the reply (the DROITS menu, same size) into the files outbox: written, then renamed
printf '%s\n' "Vos droits. Votre situation ? 1 Sans emploi 2 Salarie(e) 3 Retraite(e)" > "$S/out/.r\$\$"
mv "$S/out/.r\$\$" "$S/out/OUT\${SMS_1_NUMBER}.txt"
EOF
  chmod +x "$S/onrecv.sh"
  # Tuned (defaults give ~0.4 msg/s): no sleep between loops, outbox scanned at once,
  # no status/security/battery/signal/network checks; ReceiveFrequency 2 s while busy
  # sending (0 re-reads the inbox after every sent SMS: each scan of the dummy driver
  # probes 50,000 paths, ~90 ms, and the rate falls about 4x).
  cat >"$S/smsdrc" <<EOF
[gammu]
model = dummy
connection = none
device = $S/modem

[smsd]
service = files
inboxpath = $S/in/
outboxpath = $S/out/
sentsmspath = $S/sent/
errorsmspath = $S/err/
logfile = $S/smsd.log
debuglevel = 0
RunOnReceive = $S/onrecv.sh
LoopSleep = 0
CommTimeout = 0
ReceiveFrequency = 2
StatusFrequency = 0
CheckSecurity = 0
CheckBattery = 0
CheckSignal = 0
CheckNetwork = 0
HangupCalls = 0
PhoneID = bench
EOF
  preload "$S/modem" "$SMSD_N" DROITS
  t0=$(now)
  gammu-smsd -c "$S/smsdrc" >/dev/null 2>&1 &
  SPID=$!
  PIDS+=($SPID)
  deadline=$((SECONDS + 90)) sent=0
  while [ $SECONDS -lt $deadline ]; do
    sent=$(ls "$S/sent" | wc -l)
    [ "$sent" -ge "$SMSD_N" ] && break
    sleep 0.05
  done
  t1=$(now)
  stop "$SPID"
  R[smsd_n]=$SMSD_N
  R[smsd_sent]=$sent
  R[smsd_s]=$(calc %.2f "$t1 - $t0")
  R[smsd_rate]=$(calc %.1f "$sent / ($t1 - $t0)")
  echo "gammu-smsd: $sent/$SMSD_N replies sent in ${R[smsd_s]} s -> ${R[smsd_rate]} msg/s"
  # Guichet on the same count, for a like-for-like ratio
  run_dummy a_small "$T/flows-a" DROITS "$SMSD_N"
  R[ratio]=$(calc %.0f "${R[a_small_rate]} / (${R[smsd_rate]} > 0 ? ${R[smsd_rate]} : 1)")
  R[ratio_n]=$(calc %.0f "${R[a_rate]} / (${R[smsd_rate]} > 0 ? ${R[smsd_rate]} : 1)")
  echo "ratio Guichet / gammu-smsd: ${R[ratio]}x ($SMSD_N messages each)," \
       "${R[ratio_n]}x (Guichet's $N-message rate)"
else
  echo "== gammu-smsd: skipped (SKIP_SMSD=1, or not installed: apt-get install gammu-smsd)"
fi

# ---------------------------------------------------------------- 3. fake AT modems, 2.5 s/part
# run_at NAME NMODEMS SPREAD(alternate|first): PEOPLE people text DROITS at once
run_at() {
  local name=$1 nm=$2 spread=$3
  local d=$T/$name mpids=()
  mkdir -p "$d"
  printf 'flows: %s\nstore: %s\nlog: { level: info }\nmodems:\n' "$T/flows-a" "$d/guichet.db" \
    >"$d/guichet.yaml"
  for i in $(seq 1 "$nm"); do
    mkdir -p "$d/a$i.in"
    "$B/tools/at_modem" -n "a$i" -i "$d/a$i.in" -l "$d/a$i.tty" -s "$d/a$i.sent.jsonl" \
      -d "$AT_DELAY_MS" >"$d/a$i.out" 2> >(stamp >"$d/a$i.err") &
    mpids+=($!)
    PIDS+=($!)
    printf '  - name: a%s\n    device: %s\n    connection: at\n    poll_ms: 1000\n    rate: 0\n' \
      "$i" "$d/a$i.tty" >>"$d/guichet.yaml"
  done
  for i in $(seq 1 "$nm"); do
    for _ in $(seq 50); do [ -L "$d/a$i.tty" ] && break; sleep 0.1; done
  done
  "$B/guichetd" -f -c "$d/guichet.yaml" 2> >(stamp >"$d/guichetd.log") &
  local gpid=$!
  PIDS+=($gpid)
  for _ in $(seq 300); do
    [ "$(grep -c "modem connected" "$d/guichetd.log" 2>/dev/null)" -ge "$nm" ] && break
    sleep 0.1
  done
  sleep 1.2	# past the first poll
  local t0; t0=$(now)
  for k in $(seq 1 "$PEOPLE"); do
    local m=1
    [ "$spread" = alternate ] && m=$(( (k - 1) % nm + 1 ))
    printf 'from: +3361%07d\n\nDROITS\n' "$k" >"$d/a$m.in/.p$k"
    mv "$d/a$m.in/.p$k" "$d/a$m.in/p$k"
  done
  local deadline=$((SECONDS + 150)) n=0
  while [ $SECONDS -lt $deadline ]; do
    n=$(cat "$d"/a*.sent.jsonl 2>/dev/null | wc -l)
    [ "$n" -ge "$PEOPLE" ] && break
    sleep 0.2
  done
  local t1; t1=$(now)
  sleep 0.3
  stop "$gpid"
  for p in "${mpids[@]}"; do stop "$p"; done
  local total=0
  for i in $(seq 1 "$nm"); do
    local line
    line=$(awk -v t0="$t0" -v busy="$AT_DELAY_MS" '
      /part submitted/ { n++; if (!f) f = $1
        if (p) { g = $1 - p - busy / 1000; s += g; if (g > mx) mx = g }
        p = $1 }
      END { if (n == 0) { print "0 0 0 0 0 0"; exit }
            # parts/min in steady state: one part every (last - first)/(n - 1) s
            rate = n > 1 ? 60 * (n - 1) / (p - f) : 0
            mean = n > 1 ? s / (n - 1) : 0
            printf "%d %.1f %.3f %.3f %.2f %.2f\n", n, rate, mean, mx, f - t0, p + busy / 1000 - t0 }' "$d/a$i.err")
    set -- $line
    total=$((total + $1))
    R[${name}_a${i}]="$1 parts, $2 parts/min, gap mean $3 s max $4 s"
    echo "  $name a$i: $1 parts, $2 parts/min, idle gap between parts mean $3 s" \
         "(max $4 s), first part submitted $5 s after the burst, last one done at $6 s"
    R[${name}_a${i}_rate]=$2
    R[${name}_a${i}_gap]=$3
    R[${name}_a${i}_end]=$6
  done
  local end=0
  for i in $(seq 1 "$nm"); do end=$(calc %.2f "${R[${name}_a${i}_end]} > $end ? ${R[${name}_a${i}_end]} : $end"); done
  R[${name}_end]=$end
  R[${name}_total]=$(calc %.1f "$total * 60 / ($end > 0 ? $end : 1)")
  echo "  $name: $total parts to $PEOPLE people in $end s from the burst ->" \
       "${R[${name}_total]} parts/min over all modems"
}
# run_dead: one fake modem serving a burst stops answering ("stall") right after a part
# is submitted; the time until guichetd logs it down is R[dead_s]. Healthy modems get no
# extra AT command for this (libGammu commands are bounded, and a part's status wait
# is bounded by 3x the longest status seen, at least 6 s).
run_dead() {
  local d=$T/dead
  mkdir -p "$d/a1.in"
  printf 'flows: %s\nstore: %s\nlog: { level: info }\nmodems:\n' "$T/flows-a" "$d/guichet.db" \
    >"$d/guichet.yaml"
  printf '  - { name: a1, device: %s, connection: at, poll_ms: 1000, rate: 0 }\n' "$d/a1.tty" \
    >>"$d/guichet.yaml"
  "$B/tools/at_modem" -n a1 -i "$d/a1.in" -l "$d/a1.tty" -s "$d/a1.sent.jsonl" -c "$d/a1.ctl" \
    -d "$AT_DELAY_MS" >/dev/null 2>"$d/a1.err" &
  local mp=$!
  PIDS+=($mp)
  for _ in $(seq 50); do [ -L "$d/a1.tty" ] && break; sleep 0.1; done
  "$B/guichetd" -f -c "$d/guichet.yaml" 2> >(stamp >"$d/guichetd.log") &
  local gpid=$!
  PIDS+=($gpid)
  for k in 1 2 3 4; do
    printf 'from: +3362%07d\n\nDROITS\n' "$k" >"$d/a1.in/.p$k"
    mv "$d/a1.in/.p$k" "$d/a1.in/p$k"
  done
  for _ in $(seq 600); do [ "$(grep -c "part submitted" "$d/a1.err")" -ge 2 ] && break; sleep 0.05; done
  echo stall >"$d/a1.ctl"
  local t0; t0=$(now)
  for _ in $(seq 600); do grep -q "modem down" "$d/guichetd.log" 2>/dev/null && break; sleep 0.1; done
  local t1; t1=$(grep -m1 "modem down" "$d/guichetd.log" | cut -d' ' -f1)
  R[dead_s]=$( [ -n "$t1" ] && calc %.1f "$t1 - $t0" || echo "not detected in 60 s")
  echo "  a modem that stops answering during a burst: logged down after ${R[dead_s]} s"
  stop "$gpid"
  stop "$mp"
}
if [ "${SKIP_AT:-}" != 1 ]; then
  echo "== fake AT modems, $AT_DELAY_MS ms per part, $PEOPLE people text DROITS at once" \
       "(1-part replies; poll_ms 1000, rate 0)"
  run_at at1 1 alternate
  run_at at2 2 alternate
  run_at at2first 2 first
  run_dead
  R[at_speedup]=$(calc %.2f "${R[at1_end]:-0} / (${R[at2_end]:-0} > 0 ? ${R[at2_end]:-0} : 1)")
  echo "  2 modems (people on both) vs 1: the burst is served ${R[at_speedup]}x faster;" \
       "all people on a1: a2 sent ${R[at2first_a2]%% parts*} parts (replies leave by the" \
       "modem written to while it has room; another modem takes the rest)"
fi

# ---------------------------------------------------------------- summary
echo "== bench_sms summary (nproc $(nproc), store on $(df -T "$T" | awk 'NR==2 {print $2}'))"
printf '  guichetd, no back-end (DROITS):   %6s msg/s  (%s msgs in %s s, %s us CPU/msg)\n' \
  "${R[a_rate]}" "${R[a_n]}" "${R[a_s]}" "${R[a_cpu_us]}"
[ -n "${R[b_rate]:-}" ] &&
printf '  guichetd, 1 HTTPS call (STATUT):  %6s msg/s  (%s msgs in %s s, %s us CPU/msg, %s error replies)\n' \
  "${R[b_rate]}" "${R[b_n]}" "${R[b_s]}" "${R[b_cpu_us]}" "${R[b_errors]}"
[ -n "${R[smsd_rate]:-}" ] &&
printf '  gammu-smsd (DROITS-like reply):   %6s msg/s  (%s msgs in %s s); guichetd on %s: %s msg/s -> ratio %sx\n' \
  "${R[smsd_rate]}" "${R[smsd_sent]}" "${R[smsd_s]}" "${R[smsd_n]}" "${R[a_small_rate]}" "${R[ratio]}"
if [ -n "${R[at1_a1]:-}" ]; then
  echo "  AT, 1 modem:            a1 ${R[at1_a1]}"
  echo "  AT, 2 modems:           a1 ${R[at2_a1]}; a2 ${R[at2_a2]}; ${R[at2_total]} parts/min total (1 modem: ${R[at1_total]}), burst ${R[at_speedup]}x faster"
  echo "  AT, 2 modems, all on a1: a1 ${R[at2first_a1]}; a2 ${R[at2first_a2]}"
  # The gap is mostly libGammu's own: ATGEN_SendSMS sleeps 0.1 s after the prompt, 0.5 s
  # after writing the PDU and 0.1 s after Ctrl-Z, fixed, no setting (see docs/benchmarks.md).
  echo "figure modem_gap_s_per_part: ${R[at1_a1_gap]}"
  echo "figure modem_dead_detect_s: ${R[dead_s]}"
fi
exit 0
