#!/usr/bin/env bash
# The cost guard end to end: guichetd on libGammu's dummy modem with its SQLite store.
#  1. a burst of BURST (5,000) texts from one number: every one stored, at most per_minute (10)
#     replies and one notice;
#  2. 1,000 numbers x 3 texts at once: every text answered;
#  3. a non-allowed prefix and an alphanumeric sender: stored, not answered, journal lines
#     with the number masked;
#  4. two robots replying to each other (a test phone answering each reply at once with a
#     near-identical text): the loop is broken within 5 exchanges;
#  5. a spend cap of 5 parts (fresh store): new procedures stop exactly at the cap, across a
#     restart; a person already in a procedure finishes it; a higher cap by reload (SIGHUP)
#     applies at once.
# Inbox files are written the way sms_inject writes them (gammu's smsbackup format, written
# then linked in), by a small Python helper, so that thousands are written in a second.
# BURST=N to change the burst (5,000; 2,000 on build-san). Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness guard guichetd tools/sms_inject
# The sanitized build reads the dummy inbox several times slower: 2,000 there (the same
# property: far past the per-minute limit in one burst).
case $B in */build-san) BURST=${BURST:-2000};; *) BURST=${BURST:-5000};; esac
need python3
GD=
fail() { echo "FAIL: $*"; tail -n 15 "$T/guichetd.log"; exit 1; }

mkdir -p "$T/flows" "$T/modem/sms/1" "$T/modem2/sms/1"
cat >"$T/flows/t.yaml" <<'EOF'
flow: t
title: Test
entry: { sms: [GO] }
steps:
  nom:
    ask: "Nom ?"
    expect: text
    save: nom
    next: fin
  fin:
    say: "Merci {{nom}}"
EOF
config() {	# config FILE STORE MODEMDIR SENTLOG LIMITS
  cat >"$1" <<EOF
flows: $T/flows
store: $2
log: { level: info, counters: 1s }
limits: $5
modems:
  - name: m1
    model: dummy
    device: $3
    poll_ms: 50
    rate: 0
    sent_log: $4
EOF
}
config "$T/g1.yaml" "$T/g1.db" "$T/modem" "$T/sent.jsonl" "{ per_minute: 10, per_day: 200 }"
config "$T/g2.yaml" "$T/g2.db" "$T/modem2" "$T/sent2.jsonl" "{ daily_parts: 5 }"

# inject DIR < lines of "NUMBER<TAB>TEXT": written as sms_inject does, without a timestamp
# (the store then tells them apart by their inbox location, as a modem without one would).
cat >"$T/inject.py" <<'EOF'
import os, sys
inbox = os.path.join(sys.argv[1], "sms", "1")
n = 1
for i, line in enumerate(sys.stdin):
    number, text = line.rstrip("\n").split("\t", 1)
    tmp = os.path.join(inbox, ".guard-%d-%d" % (os.getpid(), i))
    with open(tmp, "w") as f:
        f.write("[SMSBackup000]\nPDU = Deliver\nState = UnRead\nNumber = \"%s\"\n"
                "Coding = Unicode_No_Compression\nText00 = %s\nFolder = 1\nClass = -1\n"
                % (number, text.encode("utf-16-be").hex().upper()))
    while True:
        try:
            os.link(tmp, os.path.join(inbox, str(n)))
            break
        except FileExistsError:
            n += 1
    os.unlink(tmp)
    n += 1
EOF
inject() { python3 "$T/inject.py" "$1"; }
stop() { kill "$GD"; wait "$GD" 2>/dev/null; GD=; }
rows() { sqlite3 "$1" "$2" 2>/dev/null || echo -1; }
sent_to() { cat "$1" 2>/dev/null | grep -c "\"to\":\"$2\""; }
lines() { cat "$1" 2>/dev/null | wc -l; }
empty_inbox() { for _ in $(seq "$2"); do [ -z "$(ls -A "$1/sms/1")" ] && return 0; sleep 0.1; done; return 1; }

# ---- 1. the burst
seq 1 "$BURST" | sed 's/^/+33600000001\t/' | inject "$T/modem"
start_guichetd "$T/g1.yaml"
empty_inbox "$T/modem" 600 || fail "the burst was not read within 60 s"
n=$(rows "$T/g1.db" "SELECT count(*) FROM inbound WHERE sender = '+33600000001'")
[ "$n" -eq "$BURST" ] || fail "$n of $BURST texts stored"
sleep 1
replies=$(sent_to "$T/sent.jsonl" "+33600000001")
notices=$(grep "+33600000001" "$T/sent.jsonl" | grep -c "Trop de messages")
[ "$replies" -le 11 ] && [ "$notices" -eq 1 ] ||
  fail "burst: $replies replies, $notices notices (at most 10 + 1 notice expected)"
echo "ok - $BURST texts from one number in a burst: all stored, $replies replies of which 1 notice"

# ---- 2. 1,000 numbers x 3 texts
python3 -c '
for i in range(1000):
    n = "+3361%07d" % i
    print(n + "\tGO"); print(n + "\tEva"); print(n + "\t?")' | inject "$T/modem"
empty_inbox "$T/modem" 600 || fail "1,000 x 3 texts not read within 60 s"
for _ in $(seq 300); do
  [ "$(grep -c '"to":"+3361' "$T/sent.jsonl")" -ge 3000 ] && break; sleep 0.1
done
python3 - "$T/sent.jsonl" <<'EOF' || fail "1,000 x 3: not every text answered"
import json, sys, collections
c = collections.Counter(json.loads(l)["to"] for l in open(sys.argv[1]))
bad = [n for n in ("+3361%07d" % i for i in range(1000)) if c[n] != 3]
if bad:
    print("%d numbers without their 3 replies, e.g. %s: %d" % (len(bad), bad[0], c[bad[0]]))
    sys.exit(1)
EOF
echo "ok - 1,000 numbers x 3 texts at once: every text answered"

# ---- 3. a number outside the allowed prefixes, an alphanumeric sender
printf '+447700900123\tGO\nINFOBANK\tVotre code est 1234\n' | inject "$T/modem"
empty_inbox "$T/modem" 100 || fail "not read"
sleep 1
n=$(rows "$T/g1.db" "SELECT count(*) FROM inbound WHERE sender IN ('+447700900123', 'INFOBANK')")
[ "$n" -eq 2 ] || fail "foreign/alphanumeric: $n of 2 stored"
[ "$(sent_to "$T/sent.jsonl" "+447700900123")" -eq 0 ] && [ "$(sent_to "$T/sent.jsonl" INFOBANK)" -eq 0 ] ||
  fail "a foreign number or an alphanumeric sender was answered"
grep -q "+44 7\*.*not an allowed destination.*guard=refused_destination" "$T/guichetd.log" ||
  fail "no masked journal line for the foreign number"
grep -q "447700900123" "$T/guichetd.log" && fail "the foreign number is in the log unmasked"
echo "ok - a non-allowed prefix and an alphanumeric sender: stored, not answered, logged masked"

# ---- 4. two robots: the test phone answers each reply at once, near-identically
robot=+33699999999
"$B/tools/sms_inject" "$T/modem" "$robot" "Message automatique 0 : je suis absent." >/dev/null
seen=0 k=0
for _ in $(seq 150); do	# up to 15 s
  grep -q "muted for a while" "$T/guichetd.log" && break
  now=$(sent_to "$T/sent.jsonl" "$robot")
  if [ "$now" -gt "$seen" ]; then
    seen=$now k=$((k + 1))
    "$B/tools/sms_inject" "$T/modem" "$robot" "Message automatique $k : je suis absent." >/dev/null
  fi
  sleep 0.1
done
sleep 1.5	# a reply after the mute would be out by now
answered=$(sent_to "$T/sent.jsonl" "$robot")
grep -q "answers each reply at once.*guard=muted" "$T/guichetd.log" || fail "the loop was not recognised ($answered replies)"
[ "$answered" -le 5 ] || fail "the loop went on for $answered exchanges"
[ "$(grep -c "guard=muted" "$T/guichetd.log")" -eq 1 ] || fail "more than one journal line for the loop"
echo "ok - two robots replying to each other: the loop is broken after $answered exchanges, one journal line"
grep -q "counters: .*; guard: limited [1-9][0-9]* (notices 1), muted [1-9].*refused destination 1" "$T/guichetd.log" ||
  fail "the counters line does not show the guard's counters"
echo "ok - the counters line shows what the guard stopped"
stop

# ---- 5. the spend cap (5 parts), across a restart
start_guichetd "$T/g2.yaml"
printf '+33620000001\tGO\n+33620000002\tGO\n+33620000003\tGO\n' | inject "$T/modem2"
for _ in $(seq 100); do [ "$(lines "$T/sent2.jsonl")" -ge 3 ] && break; sleep 0.1; done
[ "$(lines "$T/sent2.jsonl")" -eq 3 ] || fail "cap: the first 3 new procedures were not all answered"
grep -q "spend at 80% of the daily cap: 4/5" "$T/guichetd.log" && fail "80 % warned too early"
stop
start_guichetd "$T/g2.yaml"
printf '+33620000004\tGO\n+33620000005\tGO\n+33620000006\tGO\n+33620000007\tGO\n' | inject "$T/modem2"
empty_inbox "$T/modem2" 100 || fail "not read"
sleep 1.5
[ "$(lines "$T/sent2.jsonl")" -eq 5 ] ||
  fail "cap across a restart: $(lines "$T/sent2.jsonl") replies, 5 expected"
for n in 04 05; do [ "$(sent_to "$T/sent2.jsonl" "+336200000$n")" -eq 1 ] || fail "+336200000$n not answered"; done
grep -q "spend at 80% of the daily cap: 4/5 parts" "$T/guichetd.log" || fail "no 80 % line"
grep -q "daily spend cap reached: 5/5 parts" "$T/guichetd.log" || fail "no line when the cap was hit"
n=$(rows "$T/g2.db" "SELECT count(*) FROM inbound")
[ "$n" -eq 7 ] || fail "cap: $n of 7 texts stored"
echo "ok - the spend cap stops new procedures exactly at 5 parts, across a restart"
printf '+33620000001\tEva\n' | inject "$T/modem2"
for _ in $(seq 50); do grep -q "Merci Eva" "$T/sent2.jsonl" && break; sleep 0.1; done
grep -q '"to":"+33620000001","text":"Merci Eva"' "$T/sent2.jsonl" ||
  fail "a person already in a procedure did not get its end at the cap"
spent=$(rows "$T/g2.db" "SELECT sum(parts) FROM spend")
[ "$spent" -eq 6 ] || fail "spend in the store: $spent"
echo "ok - at the cap, a person already in a procedure finishes it (spend 6 parts in the store)"
# A higher cap by reload (SIGHUP): new procedures are answered again, at once.
sed -i 's/daily_parts: 5/daily_parts: 10/' "$T/g2.yaml"
kill -HUP "$GD"
for _ in $(seq 50); do grep -q "limits applied" "$T/guichetd.log" && break; sleep 0.1; done
printf '+33620000008\tGO\n' | inject "$T/modem2"
for _ in $(seq 50); do [ "$(sent_to "$T/sent2.jsonl" +33620000008)" -ge 1 ] && break; sleep 0.1; done
[ "$(sent_to "$T/sent2.jsonl" +33620000008)" -eq 1 ] || fail "a higher cap by reload was not applied"
echo "ok - limits reloaded on SIGHUP: a higher cap answers new procedures again"
stop
! grep -q "ERROR: .*Sanitizer\|runtime error" "$T/guichetd.log" || fail "sanitizer report"
echo pass
