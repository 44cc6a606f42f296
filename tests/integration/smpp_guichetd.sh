#!/usr/bin/env bash
# guichetd over SMPP, end to end: the test SMSC delivers what a person types, guichetd (sample
# flows, the demo HTTPS back-end, the durable store) answers through submit_sm.
#  - each sample flow's transcript (flows/tests, SMS ones, exported) completes over SMPP with
#    the replies of its .ok file;
#  - an SMSC delivering a message again (its deliver_sm_resp lost) gets it answered once; the
#    same words sent again by the person (a new message) are answered again;
#  - kill -9 while submits are outstanding (the SMSC holds its answers): after a restart
#    every reply is sent, none lost.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness smpp_guichetd guichetd tools/smsc
need python3 curl openssl
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -30 "$T/guichetd.log"; echo "--- smsc"; tail -10 "$T/smsc.log"; exit 1; }

start_backend "$T/backend"
cp "$T/backend/agenda-token" "$T/agenda-token"; chmod 600 "$T/agenda-token"
start_smsc --receipts 1

# The demo configuration, with its modem replaced by the SMSC.
{ demo_config "$BPORT"
  smpp_config "parts_per_second: 100" "window: 10" "enquire_link: 2s" "response_timeout: 3s" \
    "reconnect_min: 1s" "reconnect_max: 2s"
} > "$T/guichet.yaml"

start_guichetd() {
  "$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
  GD=$!
  for _ in $(seq 100); do
    grep -q 'bound as transceiver' "$T/guichetd.log" 2>/dev/null && [ "$(grep -c 'bound as transceiver' "$T/guichetd.log")" -ge "$1" ] && return 0
    kill -0 "$GD" 2>/dev/null || fail "guichetd exited"
    sleep 0.1
  done
  fail "guichetd did not bind"
}
start_guichetd 1

cat > "$T/replies.py" <<'EOF'
import json, sys
# Prints the number of complete replies the SMSC accepted for a number, or their texts.
to, mode = sys.argv[2], sys.argv[3]
msgs = []
for l in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(l)
    # The booking's SMS receipt (a message sent first, not a reply) is left out.
    if e.get("event") == "message" and e["to"] == to and "Gardez ce SMS" not in e["text"]:
        msgs.append(e["text"])
if mode == "count":
    print(len(msgs))
else:
    for m in msgs:
        print(json.dumps(m, ensure_ascii=False))
EOF
count() { python3 "$T/replies.py" "$T/smsc.log" "$1" count; }
# all_replied PREFIX FIRST LAST TIMEOUT: every number PREFIX<i> got a reply, polled once a
# fifth of a second; prints the numbers still waiting on failure.
all_replied() {
  local end=$((SECONDS + $4))
  while :; do
    python3 - "$T/smsc.log" "$1" "$2" "$3" <<'PY' && return 0
import json, sys
log, prefix, a, b = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
got = set()
for l in open(log, encoding="utf-8"):
    if '"message"' in l:
        got.add(json.loads(l)["to"])
missing = [prefix + str(i) for i in range(a, b + 1) if prefix + str(i) not in got]
if missing and "--final" in sys.argv: print("missing:", len(missing))
sys.exit(1 if missing else 0)
PY
    [ $SECONDS -ge $end ] && return 1
    sleep 0.2
  done
}

# ---- each sample flow, one message at a time, from its own number ----
n=0
mkdir -p "$T/transcripts"
"$B/guichet" test -q --export "$T/transcripts" "$ROOT/flows" \
  "$ROOT"/flows/tests/{rendez-vous,droits,dossier}.yaml >/dev/null || fail "guichet test --export"
for in in "$T"/transcripts/*.in; do
  case $in in *.ussd.in) continue;; esac
  name=$(basename "$in" .in); n=$((n + 1))
  num="+3361200000$n"
  k=0
  while IFS= read -r line; do
    case $line in ''|'#'*) continue;; esac
    k=$((k + 1))
    ctl "deliver single $num 38123 $line"
    for _ in $(seq 100); do [ "$(count "$num")" -ge "$k" ] && break; sleep 0.1; done
    [ "$(count "$num")" -ge "$k" ] || fail "$name: no reply to input $k ($line)"
  done < "$in"
  # The replies, in order, against the transcript's (the demo back-end stands in for the
  # canned answers: a transcript reply naming back-end data may differ; flow texts may not).
  python3 - "$T/transcripts/$name.ok" <(python3 "$T/replies.py" "$T/smsc.log" "$num" texts) "$name" <<'EOF' || fail "$name: replies differ from the transcript"
import json, sys
ok, got, name = sys.argv[1:]
want, cur = [], None
for l in open(ok, encoding="utf-8"):
    l = l.rstrip("\n")
    if l.startswith("< "):
        cur = []; want.append(cur)
    elif l.startswith("> "):
        cur = None
    elif cur is not None and l.startswith("  "):
        cur.append(l[2:])
want = ["\n".join(w) for w in want]
got = [json.loads(l) for l in open(got, encoding="utf-8")]
if len(got) != len(want):
    print("%s: %d replies, transcript has %d" % (name, len(got), len(want))); sys.exit(1)
same = sum(1 for a, b in zip(got, want) if a == b)
# Every reply at least starts like the transcript's (first line), most are identical.
for a, b in zip(got, want):
    if a.split("\n")[0][:12] != b.split("\n")[0][:12]:
        print("%s: got %r\nwanted %r" % (name, a, b)); sys.exit(1)
print("%s: %d/%d replies identical to the transcript" % (name, same, len(want)))
EOF
done
[ $n -ge 3 ] || fail "only $n sample flows found"
echo "ok: $n sample flows complete over SMPP"

# ---- 30 % throttling and a dropped bind, through the router: nothing lost ----
ctl "throttle 30"
for i in $(seq 10 39); do ctl "deliver single +336140000$i 38123 bonjour"; done
sleep 0.3
ctl "drop"
S0=$SECONDS
# The router re-queues what the drop failed with its own backoff (up to minutes), hence the
# long bound; the transport itself resends throttled parts within a second or two.
all_replied +336140000 10 39 60 || fail "replies lost under throttling + drop"
ctl "throttle 0"
echo "ok: 30 % throttling and a dropped bind through guichetd: all 30 replies sent ($((SECONDS - S0)) s)"

# ---- a re-delivery is recognised, a repeated message is not ----
num=+33615000001
ctl "deliver single $num 38123 bonjour"
for _ in $(seq 100); do [ "$(count "$num")" -ge 1 ] && break; sleep 0.1; done
[ "$(count "$num")" -eq 1 ] || fail "no reply to the first message"
acks=$(grep -c '"mo_ack"' "$T/smsc.log")
ctl "redeliver"
for _ in $(seq 100); do [ "$(grep -c '"mo_ack"' "$T/smsc.log")" -gt "$acks" ] && break; sleep 0.1; done
[ "$(grep -c '"mo_ack"' "$T/smsc.log")" -gt "$acks" ] || fail "the re-delivery was not acknowledged"
sleep 1
[ "$(count "$num")" -eq 1 ] || fail "a re-delivered deliver_sm answered twice ($(count "$num") replies)"
echo "ok: a re-delivered deliver_sm acknowledged and answered once"
ctl "deliver single $num 38123 bonjour"
for _ in $(seq 100); do [ "$(count "$num")" -ge 2 ] && break; sleep 0.1; done
[ "$(count "$num")" -eq 2 ] || fail "the same words sent again were not answered"
echo "ok: the same words sent again (a new message) answered again"

# ---- kill -9 with submits outstanding ----
ctl "hold 1"
N=20
for i in $(seq 10 $((9 + N))); do ctl "deliver single +336130000$i 38123 bonjour"; done
held=$(smsc_held 10)
[ "$held" -ge 10 ] || fail "submits not outstanding ($held held)"
kill -9 "$GD"; wait "$GD" 2>/dev/null; GD=
ctl "hold 0"
start_guichetd 2
all_replied +336130000 10 $((9 + N)) 30 || fail "replies lost after kill -9"
echo "ok: kill -9 with $held submits outstanding: all $N replies sent after restart"
grep -E '\+336[0-9]{8}' "$T/guichetd.log" && fail "a phone number in the journal"
echo "pass"
exit 0
