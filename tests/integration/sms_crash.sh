#!/usr/bin/env bash
# kill -9 in the middle of a stream of SMS: after the last restart every person got their
# reply exactly once, or twice only within the counted window (sent, then killed before the
# "sent" mark). Runs guichetd on libGammu's dummy modem with a real SQLite store.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness sms_crash guichetd tools/sms_inject
need sqlite3
mkdir -p "$T/modem" "$T/flows"
GD_SIGNAL=KILL

cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"
cat > "$T/guichet.yaml" <<EOF
flows: $T/flows
store: $T/guichet.db
log: { level: info }
modems:
  - name: m1
    model: dummy
    device: $T/modem
    poll_ms: 50
    rate: 0                     # the dummy driver sends at once
    sent_log: $T/sent.jsonl
EOF

start() {
  "$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$LOGS/guichetd.log" &
  GD=$!
}

N=${CRASH_MESSAGES:-60}
start
killed=0
for i in $(seq 1 "$N"); do
  num=$(printf '+336%08d' "$i")
  "$B/tools/sms_inject" "$T/modem" "$num" "DROITS" >/dev/null || { echo "inject failed"; exit 1; }
  # kill -9 at a few arbitrary points of the stream, then start again
  if [ $((i % 17)) -eq 0 ]; then
    sleep 0.$((RANDOM % 3 + 1))
    kill -9 "$GD"; wait "$GD" 2>/dev/null
    killed=$((killed + 1))
    start
  else
    sleep 0.02
  fi
done

# Wait until every person has an answer and nothing is pending.
ok=0
for _ in $(seq 1 300); do
  answered=$(grep -o '"to": *"[^"]*"' "$T/sent.jsonl" 2>/dev/null | sort -u | wc -l)
  if [ "$answered" -ge "$N" ]; then ok=1; break; fi
  sleep 0.1
done
kill "$GD"; wait "$GD" 2>/dev/null; GD=

sent=$(wc -l < "$T/sent.jsonl")
dups=$(( sent - answered ))
counted=$(sqlite3 "$T/guichet.db" "SELECT value FROM meta WHERE name='duplicate_sends'")
left=$(ls "$T/modem/sms/1" | wc -l)
echo "messages $N, killed $killed times, answered $answered, replies sent $sent, duplicates $dups (counted $counted), left on SIM $left"
[ "$ok" -eq 1 ] || { echo "FAIL: $((N - answered)) people never got an answer"; exit 1; }
[ "$dups" -le "$counted" ] || { echo "FAIL: $dups duplicate replies but only $counted counted"; exit 1; }
[ "$left" -eq 0 ] || { echo "FAIL: $left messages left on the SIM"; exit 1; }
exit 0
