#!/usr/bin/env bash
# kill -9 in the middle of a stream of SMS: after the last restart every person got their
# reply exactly once, or twice only within the counted window (sent, then killed before the
# "sent" mark). Runs guichetd on libGammu's dummy modem with a real SQLite store.
set -u
BUILD=${BUILD:-build}
root=${GUICHET_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
case $BUILD in /*) bin=$BUILD;; *) bin="$root/$BUILD";; esac
[ -x "$bin/tools/sms_inject" ] || { echo "skip: $bin/tools/sms_inject not built"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 (the tool) not installed"; exit 77; }
dir=$(mktemp -d /tmp/guichet-crash.XXXXXX)
logdir=${GUICHET_LOG_DIR:-$dir}/sms_crash
mkdir -p "$dir/modem" "$dir/flows" "$logdir"
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ "${KEEP:-}" = 1 ] && echo "kept $dir" || rm -rf "$dir"; }
trap cleanup EXIT

cp "$root/flows/droits.yaml" "$root/flows/commun.yaml" "$dir/flows/"
cat > "$dir/guichet.yaml" <<EOF
flows: $dir/flows
store: $dir/guichet.db
log: { level: info }
modems:
  - name: m1
    model: dummy
    device: $dir/modem
    poll_ms: 50
    rate: 0                     # the dummy driver sends at once
    sent_log: $dir/sent.jsonl
EOF

start() {
  "$bin/guichetd" -f -c "$dir/guichet.yaml" 2>>"$logdir/guichetd.log" &
  pid=$!
}

N=${CRASH_MESSAGES:-60}
start
killed=0
for i in $(seq 1 "$N"); do
  num=$(printf '+336%08d' "$i")
  "$bin/tools/sms_inject" "$dir/modem" "$num" "DROITS" >/dev/null || { echo "inject failed"; exit 1; }
  # kill -9 at a few arbitrary points of the stream, then start again
  if [ $((i % 17)) -eq 0 ]; then
    sleep 0.$((RANDOM % 3 + 1))
    kill -9 "$pid"; wait "$pid" 2>/dev/null
    killed=$((killed + 1))
    start
  else
    sleep 0.02
  fi
done

# Wait until every person has an answer and nothing is pending.
ok=0
for _ in $(seq 1 300); do
  answered=$(grep -o '"to": *"[^"]*"' "$dir/sent.jsonl" 2>/dev/null | sort -u | wc -l)
  if [ "$answered" -ge "$N" ]; then ok=1; break; fi
  sleep 0.1
done
kill "$pid"; wait "$pid" 2>/dev/null; pid=""

sent=$(wc -l < "$dir/sent.jsonl")
dups=$(( sent - answered ))
counted=$(sqlite3 "$dir/guichet.db" "SELECT value FROM meta WHERE name='duplicate_sends'")
left=$(ls "$dir/modem/sms/1" | wc -l)
echo "messages $N, killed $killed times, answered $answered, replies sent $sent, duplicates $dups (counted $counted), left on SIM $left"
[ "$ok" -eq 1 ] || { echo "FAIL: $((N - answered)) people never got an answer"; exit 1; }
[ "$dups" -le "$counted" ] || { echo "FAIL: $dups duplicate replies but only $counted counted"; exit 1; }
[ "$left" -eq 0 ] || { echo "FAIL: $left messages left on the SIM"; exit 1; }
exit 0
