#!/usr/bin/env bash
# USSD screens per second through osmo-hlr (logging at notice), Guichet's EUSE behind it,
# and the test MSC in bench mode: screens/s, per-screen latency p50/p99 at the MSC (request
# sent -> screen back: HLR both ways + EUSE), and the EUSE's own CPU per screen
# (utime+stime from /proc/<pid>/stat over the run, divided by the screens).
#
# Env: CONC (concurrent dialogues, 100), SCREENS (per dialogue, 5), DUR (seconds, 10),
#      SUBS (subscribers, 100), EUSE="minimal guichetd probe" (which EUSEs to measure:
#      build/bench/euse_minimal, the smallest EUSE there is (libosmo-gsup-client answering
#      every request with one fixed screen from memory); guichetd with bench/flows; and
#      Guichet's transport alone behind a stub menu). All against the same osmo-hlr and the
#      same test MSC, one after the other in this run.
# Figures: ussd_cpu_us_per_screen (guichetd's CPU per screen), ussd_screens_vs_minimal_euse_pct
#      (guichetd's screens/s in percent of the minimal EUSE's).
# Targets (issue 7): >= 15,000 screens/s, EUSE CPU < 25 us/screen, p99 added < 1 ms.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
B=${BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B;; esac
CONC=${CONC:-100} SCREENS=${SCREENS:-5} DUR=${DUR:-10} SUBS=${SUBS:-100}
command -v osmo-hlr >/dev/null || { echo "osmo-hlr not installed"; exit 77; }
for t in ussd_msc ussd_probe; do
  [ -x "$B/tools/$t" ] || { echo "$B/tools/$t not built"; exit 77; }
done
T=$(mktemp -d /tmp/guichet-bench-ussd.XXXXXX)
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
HLR_PID= EUSE_PID=
cleanup() {
  [ -n "$EUSE_PID" ] && kill "$EUSE_PID" 2>/dev/null
  [ -n "$HLR_PID" ] && kill "$HLR_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

HLR_PID=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" "$SUBS" 30) || { echo "osmo-hlr did not start"; exit 1; }
run_euse() {	# run_euse probe|guichetd: start it, wait for the HLR link
  local what=$1 log="$T/$1.err"
  if [ "$what" = minimal ]; then
    "$B/bench/euse_minimal" "$IP" 4222 guichet >"$T/euse.out" 2>"$log" &
  elif [ "$what" = probe ]; then
    cat >"$T/probe.yaml" <<YAML
gsup:
  host: $IP
  port: 4222
  name: guichet
YAML
    PROBE_LOG=notice "$B/tools/ussd_probe" -q -c "$T/probe.yaml" >"$T/euse.out" 2>"$log" &
  else
    # guichetd itself: router, engine (bench/flows/boucle.yaml: a menu that answers itself),
    # in-memory dialogues; its store is a SQLite file as in production.
    cat >"$T/guichet.yaml" <<YAML
flows: $ROOT/bench/flows
store: $T/guichet.db
ussd: { screen: 128 }
log: { level: notice }
gsup: { host: $IP, port: 4222, name: guichet }
# 100 subscribers dialling again and again is the load, not an attack: no per-number rate.
limits: { ussd_per_minute: 0, ussd_per_day: 0 }
YAML
    "$B/guichetd" -f -c "$T/guichet.yaml" >"$T/euse.out" 2>"$log" &
  fi
  EUSE_PID=$!
  if [ "$what" = minimal ]; then
    sleep 1.5	# it logs nothing: give the IPA link time to come up
  else
    for _ in $(seq 100); do grep -q "link to osmo-hlr .* up" "$log" && break; sleep 0.05; done
    grep -q "link to osmo-hlr .* up" "$log" || { echo "EUSE ($what) not connected"; cat "$log"; exit 1; }
  fi
  sleep 0.3
}

declare -A RATE CPU
for EUSE in ${EUSE:-minimal guichetd probe}; do
run_euse "$EUSE"

hz=$(getconf CLK_TCK)
e0=$(cpu_ticks "$EUSE_PID"); h0=$(cpu_ticks "$HLR_PID")
"$B/tools/ussd_msc" -H "$IP" --bench -c "$CONC" -m "$SCREENS" -d "$DUR" --imsis "$SUBS" \
  --code '*4321*9#' --answer 1 >"$T/msc.out" 2>&1 || { cat "$T/msc.out"; exit 1; }
e1=$(cpu_ticks "$EUSE_PID"); h1=$(cpu_ticks "$HLR_PID")
screens=$(sed -n 's/^screens=\([0-9]*\).*/\1/p' "$T/msc.out")
rate=$(sed -n 's/^screens_per_s=//p' "$T/msc.out")
lat=$(grep '^latency_us' "$T/msc.out")
errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' "$T/msc.out")
euse_us=$(awk -v t=$((e1 - e0)) -v hz="$hz" -v n="$screens" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
hlr_us=$(awk -v t=$((h1 - h0)) -v hz="$hz" -v n="$screens" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
RATE[$EUSE]=$rate CPU[$EUSE]=$euse_us
echo "bench_ussd: concurrency=$CONC screens/dialogue=$SCREENS duration=${DUR}s subscribers=$SUBS euse=$EUSE"
echo "  screens through osmo-hlr: $screens ($rate screens/s), errors: $errors"
echo "  $lat (at the MSC: HLR both ways + EUSE)"
echo "  EUSE CPU per screen: $euse_us us (target < 25); osmo-hlr CPU per screen: $hlr_us us"
# Latency without queueing: one dialogue at a time (the round trip through the HLR, both
# ways, plus the EUSE; the EUSE's own share is about its CPU per screen above).
"$B/tools/ussd_msc" -H "$IP" --bench -c 1 -m "$SCREENS" -d 2 --imsis "$SUBS" \
  --code '*4321*9#' --answer 1 >"$T/msc1.out" 2>&1 || { cat "$T/msc1.out"; exit 1; }
echo "  one dialogue at a time: $(sed -n 's/^screens_per_s=//p' "$T/msc1.out") screens/s, $(grep '^latency_us' "$T/msc1.out")"
kill "$EUSE_PID"; wait "$EUSE_PID" 2>/dev/null; EUSE_PID=
done
if [ -n "${CPU[guichetd]:-}" ]; then
  echo "figure ussd_cpu_us_per_screen: ${CPU[guichetd]}"
  if [ -n "${RATE[minimal]:-}" ]; then
    echo "  guichetd ${RATE[guichetd]} screens/s, ${CPU[guichetd]} us CPU/screen; minimal EUSE" \
         "${RATE[minimal]} screens/s, ${CPU[minimal]} us CPU/screen (same osmo-hlr, same MSC)"
    echo "figure ussd_screens_vs_minimal_euse_pct: $(awk -v g="${RATE[guichetd]}" -v m="${RATE[minimal]}" 'BEGIN { printf "%.1f", (m > 0 ? 100 * g / m : 0) }')"
  fi
fi
