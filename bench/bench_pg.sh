#!/usr/bin/env bash
# The shared store: msg/s through guichetd over SMPP with one and two hosts on PostgreSQL,
# and one host on SQLite, in the same run on the same machine. Each run: N people x a
# 3-step dialogue (each round all N texts, then all N replies awaited), msg/s = 3N / time.
# PostgreSQL is started here (fsync on, as in production; unix socket). The test SMSC hands
# deliveries to the binds in turn. Prints `figure NAME: VALUE`. Env: N (1000), KEEP=1.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD;; *) B=$ROOT/$BUILD;; esac
N=${N:-1000}
. "$ROOT/tests/pg/pg.sh"
[ -x "$PGB/pg_ctl" ] && [ -x "$B/guichetd" ] && [ -x "$B/tools/smsc" ] || { echo "figure pg_two_hosts_vs_sqlite_one: n/a (no PostgreSQL or not built)"; exit 0; }
T=$(mktemp -d /tmp/guichet-bench-pg.XXXXXX); chmod 755 "$T"
HOSTS=() SPID= PGUP=
stop_all() { for p in "${HOSTS[@]}" $SPID; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; HOSTS=(); SPID=; }
cleanup() { stop_all; [ -n "$PGUP" ] && pg_stop "$T/pg"
  [ "${KEEP:-}" = 1 ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$T/flows"
pg_start "$T/pg" durable ||
  { echo "figure pg_two_hosts_vs_sqlite_one: n/a (PostgreSQL did not start)"; exit 0; }
PGUP=1
printf 'pw\n' > "$T/pw"; chmod 600 "$T/pw"
cat > "$T/flows/etapes.yaml" <<'Y'
flow: etapes
title: Etapes
entry: { sms: [ETAPES] }
steps:
  un:
    menu: "Etape 1 ?"
    options:
      - { label: "Suite", next: deux }
  deux:
    menu: "Etape 2 ?"
    options:
      - { label: "Suite", next: fin }
  fin:
    say: "Fini."
    end: true
Y
# CPU time in clock ticks of the processes named: user + system, with their reaped
# children's (PostgreSQL's server processes end with their connection and are reaped by
# the postmaster).
ticks() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat")))
  done
  echo $t
}
pg_ticks() {
  local pm; pm=$(head -1 "$T/pg/data/postmaster.pid")
  ticks "$pm" $(ps --ppid "$pm" -o pid= 2>/dev/null)
}
HZ=$(getconf CLK_TCK)
# run NAME STORE HOSTS: prints msg/s; NAME.cpu gets the CPU time per message (us) of the
# guichetd hosts, PostgreSQL (all its processes) and the test SMSC, the load being shared
# with whatever else runs: these say where the time goes better than msg/s does.
run() {
  local name=$1 store=$2 hosts=$3 db=$4 pg0 gd sm
  rm -f "$T/port" "$T/smsc.log"
  if [ -n "$db" ]; then
    psql "postgresql:///postgres?host=$T/pg&user=guichet" -qc "CREATE DATABASE $db" >/dev/null 2>&1
  fi
  pg0=$(pg_ticks)
  "$B/tools/smsc" --port-file "$T/port" --control "$T/ctl" --log "$T/smsc.log" --system-id guichet \
    --password pw 2>/dev/null & SPID=$!
  for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
  cat > "$T/$name.yaml" <<Y
flows: $T/flows
store: $store
credentials: $T
log: { level: notice }
smpp:
  - { name: opx, host: 127.0.0.1, port: $(cat "$T/port"), system_id: guichet, password: pw,
      bind: transceiver, source: "38123", parts_per_second: 5000, window: 50 }
Y
  for h in $(seq "$hosts"); do
    "$B/guichetd" -f -c "$T/$name.yaml" 2>"$T/$name-h$h.log" & HOSTS+=($!)
    for _ in $(seq 100); do grep -q 'bound as' "$T/$name-h$h.log" 2>/dev/null && break; sleep 0.1; done
  done
  local t0 t1 k
  t0=$(date +%s.%N)
  for k in 1 2 3; do
    local txt=ETAPES; [ $k -gt 1 ] && txt=1
    for i in $(seq 0 $((N - 1))); do printf 'deliver single +3372%07d 38123 %s\n' "$i" "$txt"; done > "$T/ctl"
    local want=$((k * N)) end=$((SECONDS + 300))
    until [ "$(grep -c '"event":"message"' "$T/smsc.log")" -ge "$want" ]; do
      [ $SECONDS -ge $end ] && { echo "n/a"; stop_all; return; }
      sleep 0.1
    done
  done
  t1=$(date +%s.%N)
  gd=$(ticks "${HOSTS[@]}") sm=$(ticks $SPID)
  stop_all
  sleep 0.5	# the server processes of the hosts' connections end and are reaped
  python3 -c "
us = 1e6 / $HZ / (3 * $N)
print('guichetd %.0f postgresql %.0f smsc %.0f' % ($gd * us, ($(pg_ticks) - $pg0) * us, $sm * us))" \
    > "$T/$name.cpu"
  python3 -c "print('%.0f' % (3 * $N / ($t1 - $t0)))"
}
PGURL() { echo "postgresql:///$1?host=$T/pg&user=guichet"; }
S1=$(run sqlite1 "$T/guichet.db" 1 "")
P1=$(run pg1 "$(PGURL b1)" 1 b1)
P2=$(run pg2 "$(PGURL b2)" 2 b2)
echo "figure sqlite_one_host_msg_per_s: $S1"
echo "figure pg_one_host_msg_per_s: $P1"
echo "figure pg_two_hosts_msg_per_s: $P2"
# CPU per message: what each process costs, whatever else the machine runs.
for n in sqlite1 pg1 pg2; do
  [ -s "$T/$n.cpu" ] || continue
  read -r _ g _ p _ m < "$T/$n.cpu"
  echo "figure ${n}_cpu_us_per_msg_guichetd: $g"
  [ $n = sqlite1 ] || echo "figure ${n}_cpu_us_per_msg_postgresql: $p"
  echo "figure ${n}_cpu_us_per_msg_smsc: $m"
done
python3 -c "
try: print('figure pg_two_hosts_vs_sqlite_one: %.2f' % ($P2 / $S1))
except Exception: print('figure pg_two_hosts_vs_sqlite_one: n/a')"
