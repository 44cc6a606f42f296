#!/usr/bin/env bash
# guichetd's own cost per USSD screen through osmo-hlr, in figures that repeat on a loaded
# machine (bench_ussd.sh's microseconds do not): instructions per screen (valgrind's
# callgrind, counters zeroed once the GSUP link is up, so start-up is left out) and system
# calls per screen (strace -c -f). Same osmo-hlr, test MSC and bench flow as bench_ussd.sh,
# fewer dialogues (valgrind is ~50x slower). Not run by `make bench` (no bench_ prefix).
#
#   bench/ussd_profile.sh [callgrind|strace]...     (default: both)
# Env: BUILD (build), CONC (20), DUR (4 s), KEEP=1 keeps the temp dir (callgrind's cg.out).
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
B=${BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B;; esac
CONC=${CONC:-20} DUR=${DUR:-4}
command -v osmo-hlr >/dev/null || { echo "osmo-hlr not installed"; exit 77; }
[ -x "$B/guichetd" ] && [ -x "$B/tools/ussd_msc" ] || { echo "$B not built"; exit 77; }
T=$(mktemp -d /tmp/guichet-ussd-profile.XXXXXX)
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
HLR_PID= W_PID= G_PID=
cleanup() {
  [ -n "$G_PID" ] && kill "$G_PID" 2>/dev/null
  [ -n "$W_PID" ] && kill "$W_PID" 2>/dev/null
  [ -n "$HLR_PID" ] && kill "$HLR_PID" 2>/dev/null
  wait 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
HLR_PID=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 100 60) || { echo "osmo-hlr did not start"; exit 1; }
cat >"$T/guichet.yaml" <<YAML
flows: $ROOT/bench/flows
store: $T/guichet.db
ussd: { screen: 128 }
log: { level: notice }
gsup: { host: $IP, port: 4222, name: guichet }
limits: { ussd_per_minute: 0, ussd_per_day: 0 }
YAML

for mode in ${*:-callgrind strace}; do
  rm -f "$T/guichet.db"* "$T/err"
  case $mode in
  callgrind) valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" \
               "$B/guichetd" -f -c "$T/guichet.yaml" >/dev/null 2>"$T/err" & ;;
  strace) strace -c -f -o "$T/strace.txt" "$B/guichetd" -f -c "$T/guichet.yaml" \
            >/dev/null 2>"$T/err" & ;;
  *) echo "unknown mode $mode"; exit 2 ;;
  esac
  W_PID=$!
  for _ in $(seq 300); do grep -q "link to osmo-hlr .* up" "$T/err" 2>/dev/null && break; sleep 0.1; done
  grep -q "link to osmo-hlr .* up" "$T/err" || { echo "guichetd ($mode) not connected"; cat "$T/err"; exit 1; }
  sleep 0.5
  G_PID=$(pgrep -P "$W_PID" -x guichetd || true)	# strace's child; valgrind runs in place
  [ "$mode" = callgrind ] && { callgrind_control -z "$W_PID" >/dev/null 2>&1; G_PID=$W_PID; }
  "$B/tools/ussd_msc" -H "$IP" --bench -c "$CONC" -m 5 -d "$DUR" --imsis 100 \
    --code '*4321*9#' --answer 1 >"$T/msc.out" 2>&1 || { cat "$T/msc.out"; exit 1; }
  kill "$G_PID"; wait "$W_PID" 2>/dev/null; W_PID= G_PID=
  screens=$(sed -n 's/^screens=\([0-9]*\).*/\1/p' "$T/msc.out")
  if [ "$mode" = callgrind ]; then
    ir=$(callgrind_annotate "$T/cg.out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    echo "ussd_profile: $screens screens under callgrind (concurrency $CONC)"
    echo "figure ussd_instructions_per_screen: $(awk -v i="$ir" -v n="$screens" 'BEGIN { printf "%.0f", n ? i / n : 0 }')"
  else
    echo "ussd_profile: $screens screens under strace (concurrency $CONC)"
    sum=0
    for sc in recvfrom sendto poll; do
      c=$(awk -v s=$sc '$NF == s { print $4 }' "$T/strace.txt")
      sum=$((sum + ${c:-0}))
      echo "  $sc per screen: $(awk -v c="${c:-0}" -v n="$screens" 'BEGIN { printf "%.2f", n ? c / n : 0 }')"
    done
    # The loop's own calls; start-up (mmap, open, the store's fsyncs) is left out.
    echo "figure ussd_syscalls_per_screen: $(awk -v c="$sum" -v n="$screens" 'BEGIN { printf "%.2f", n ? c / n : 0 }')"
  fi
done
