#!/usr/bin/env bash
# The shared store: msg/s through guichetd over SMPP with one and two hosts on PostgreSQL,
# and one host on SQLite, in the same run on the same machine. Each run: N people x a
# 3-step dialogue (each round all N texts, then all N replies awaited), msg/s = 3N / the
# rounds' time.
# PostgreSQL is started here (fsync on, as in production; unix socket). The test SMSC hands
# deliveries to the binds in turn. Prints `figure NAME: VALUE` (medians of REPS rounds).
# Env: N (1000), WARM (N/4 people through the dialogue first, untimed), REPS (3), KEEP=1.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD;; *) B=$ROOT/$BUILD;; esac
N=${N:-1000}
WARM=${WARM:-$((N / 4))}
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
  # A dialogue of WARM other people first, neither timed nor counted: what a host does
  # once (its connection's first statements, the server process's first pages, SQLite's
  # first pages) is not what a message costs a host that has run for an hour.
  local k w busy=0 gd0 sm0 seen=0
  for w in $([ "$WARM" -gt 0 ] && echo 73) 72; do
    local n=$N; [ $w = 73 ] && n=$WARM
    [ $w = 72 ] && { pg0=$(pg_ticks); gd0=$(ticks "${HOSTS[@]}"); sm0=$(ticks $SPID); }
    for k in 1 2 3; do
      local txt=ETAPES; [ $k -gt 1 ] && txt=1
      for i in $(seq 0 $((n - 1))); do printf 'deliver single +33%s%07d 38123 %s\n' $w "$i" "$txt"; done > "$T/texts"
      # A round's time: from its texts handed to the SMSC to the SMSC's log last written
      # (the round's last reply); the 0.1 s polling below adds nothing to it.
      local t0 t1 end=$((SECONDS + 300))
      t0=$(date +%s.%N)
      cat "$T/texts" > "$T/ctl"
      seen=$((seen + n))
      until [ "$(grep -c '"event":"message"' "$T/smsc.log")" -ge "$seen" ]; do
        [ $SECONDS -ge $end ] && { echo "n/a"; stop_all; return; }
        sleep 0.1
      done
      t1=$(stat -c %.9Y "$T/smsc.log")
      [ $w = 72 ] && busy=$(python3 -c "print($busy + $t1 - $t0)")
    done
  done
  gd=$(($(ticks "${HOSTS[@]}") - gd0)) sm=$(($(ticks $SPID) - sm0))
  stop_all
  sleep 0.5	# the server processes of the hosts' connections end and are reaped
  python3 -c "
us = 1e6 / $HZ / (3 * $N)
print('guichetd %.0f postgresql %.0f smsc %.0f' % ($gd * us, ($(pg_ticks) - $pg0) * us, $sm * us))" \
    > "$T/$name.cpu"
  python3 -c "print('%.0f' % (3 * $N / $busy))"
}
PGURL() { echo "postgresql:///$1?host=$T/pg&user=guichet"; }
# REPS rounds of the three runs, one after the other: the machine's other load changes
# from second to second, and a round's runs share it; each figure is the median of its
# REPS, the ratio the median of the rounds' own ratios.
REPS=${REPS:-3}
for r in $(seq "$REPS"); do
  s=$(run sqlite1 "$T/guichet$r.db" 1 ""); mv "$T/sqlite1.cpu" "$T/sqlite1.cpu$r" 2>/dev/null
  p1=$(run pg1 "$(PGURL a$r)" 1 a$r); mv "$T/pg1.cpu" "$T/pg1.cpu$r" 2>/dev/null
  p2=$(run pg2 "$(PGURL b$r)" 2 b$r); mv "$T/pg2.cpu" "$T/pg2.cpu$r" 2>/dev/null
  echo "round $r: sqlite one host $s, postgresql one host $p1, two hosts $p2 msg/s"
  echo "$s $p1 $p2" >> "$T/rounds"
done
python3 - "$T" "$REPS" <<'PY'
import statistics, sys
t, reps = sys.argv[1], int(sys.argv[2])
def num(x):
    try: return float(x)
    except ValueError: return None
rounds = [[num(x) for x in l.split()] for l in open(t + '/rounds')]
def med(v):
    v = [x for x in v if x is not None]
    return '%.0f' % statistics.median(v) if v else 'n/a'
for i, name in enumerate(['sqlite_one_host', 'pg_one_host', 'pg_two_hosts']):
    print('figure %s_msg_per_s: %s' % (name, med([r[i] for r in rounds])))
# CPU per message: what each process costs, whatever else the machine runs.
for n in ['sqlite1', 'pg1', 'pg2']:
    cpu = []
    for r in range(1, reps + 1):
        try: f = open('%s/%s.cpu%d' % (t, n, r)).read().split()
        except OSError: continue
        cpu.append(dict(zip(f[0::2], map(float, f[1::2]))))
    for k in ['guichetd', 'postgresql', 'smsc']:
        if cpu and not (n == 'sqlite1' and k == 'postgresql'):
            print('figure %s_cpu_us_per_msg_%s: %s' % (n, k, med([c[k] for c in cpu])))
ratios = [r[2] / r[0] for r in rounds if r[0] and r[2]]
print('rounds pg_two_hosts / sqlite_one_host: ' + ' '.join('%.2f' % x for x in ratios))
print('figure pg_two_hosts_vs_sqlite_one: ' +
      ('%.2f' % statistics.median(ratios) if ratios else 'n/a'))
PY
