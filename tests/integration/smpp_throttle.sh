#!/usr/bin/env bash
# guichetd under SMSC throttling (tests/tools/smsc.c's two models): a rate limit (the SMSC
# accepts 100 submit_sm per second, throttles above) and 20 % of submits throttled at random.
# 300 people each; every one gets exactly one reply (none lost, none twice), and the run ends
# (no stall: the deadline is more than ten times what the limit needs). The rate kept is a
# figure (bench/bench_smpp.sh; the controller's behaviour: tests/unit/test_smpp.c).
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness smpp_throttle guichetd tools/smsc
need python3
fail() { echo "FAIL: $*"; tail -20 "$T/guichetd.log"; exit 1; }

start_smsc --window 10 --receipts 0
mkdir -p "$T/flows"
cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"
{ printf '%s\n' "flows: $T/flows" "store: $T/guichet.db" "credentials: $T" "log: { level: info }"
  smpp_config "parts_per_second: 0" "window: 10"
} > "$T/guichet.yaml"
"$B/guichetd" -f -c "$T/guichet.yaml" 2>"$T/guichetd.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'bound as transceiver' "$T/guichetd.log" && break; sleep 0.1; done
grep -q 'bound as transceiver' "$T/guichetd.log" || fail "guichetd did not bind"

# run MODEL N DEADLINE: the SMSC's bench of N people under MODEL; checks the replies.
run() {
  local model=$1 n=$2 deadline=$3
  : > "$T/smsc.log"
  ctl "$model"
  ctl "bench $n 38123 DROITS"
  local end=$((SECONDS + deadline))
  until grep -q '"event":"bench"' "$T/smsc.log"; do
    [ $SECONDS -ge $end ] && fail "$model: not every person answered within $deadline s (stall)"
    sleep 0.2
  done
  sleep 0.5   # the last parts of multi-part replies
  python3 - "$T/smsc.log" "$n" "$model" <<'PY' || fail "$model: replies lost or duplicated"
import collections, json, sys
log, n, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
replies, throttled = collections.Counter(), 0
for l in open(log, encoding="utf-8"):
    e = json.loads(l)
    if e.get("event") == "message":
        replies[e["to"]] += 1
    elif e.get("event") == "submit" and e["status"] == 0x58:
        throttled += 1
people = ["+3369%07d" % i for i in range(n)]
lost = [p for p in people if replies[p] == 0]
twice = [p for p in people if replies[p] > 1]
print("%s: %d people, %d answered, %d lost, %d answered twice, %d submits throttled"
      % (model, n, n - len(lost), len(lost), len(twice), throttled))
sys.exit(0 if not lost and not twice and throttled > 0 else 1)
PY
}
run "ratelimit 100" 300 45
echo "ok: an SMSC limited to 100 submits/s: all 300 replies sent once, no stall"
ctl "ratelimit 0"
run "throttle 20" 300 45
echo "ok: 20 % of submits throttled: all 300 replies sent once, no stall"
