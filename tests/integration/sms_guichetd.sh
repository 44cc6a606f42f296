#!/usr/bin/env bash
# The main road, end to end: guichetd on libGammu's dummy modem, the demo HTTPS back-end, a
# SQLite store. Each sample SMS dialogue (flows/tests, exported by guichet test) is texted
# line by line, as a phone would; every line gets exactly one reply, and each procedure
# reaches its end. A long reply is split into parts as the renderer counted them.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness sms_guichetd guichetd tools/sms_inject
mkdir -p "$T/modem"
keep_logs guichetd.log
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }

start_backend "$T/backend"
# The demo configuration, pointed at this test's back-end, store and modem.
sed -e "s|flows: ../flows|flows: $ROOT/flows|" \
    -e "s|store: ../build/demo/guichet.db|store: $T/guichet.db|" \
    -e "s|credentials: ../build/demo|credentials: $T/backend|" \
    -e "s|../build/demo/demo-ca.pem|$T/backend/demo-ca.pem|" \
    -e "s|https://127.0.0.1:8443|https://127.0.0.1:$BPORT|" \
    -e "s|device: ../build/demo/modem|device: $T/modem|" \
    -e "s|sent_log: ../build/demo/sent.jsonl|sent_log: $T/sent.jsonl|" \
    -e "s|poll_ms: 200|poll_ms: 50|" "$ROOT/config/demo.yaml" > "$T/guichet.yaml"
start_guichetd

# Replies only: the booking's SMS receipt (a message sent first, "Gardez ce SMS") is left out.
replies() { [ -f "$T/sent.jsonl" ] && { grep -v "Gardez ce SMS" "$T/sent.jsonl" || true; } | wc -l || echo 0; }
last_text() { grep -v "Gardez ce SMS" "$T/sent.jsonl" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"])'; }
n=0
# The sample dialogues, as transcripts: NAME.in (the texts) and NAME.ok (the replies).
mkdir -p "$T/transcripts"
"$B/guichet" test -q --export "$T/transcripts" "$ROOT/flows" \
  "$ROOT"/flows/tests/{rendez-vous,droits,dossier}.yaml >/dev/null || fail "guichet test --export"
for in in "$T"/transcripts/*.in; do
  case $in in *.ussd.in) continue;; esac
  name=$(basename "$in" .in); n=$((n + 1))
  number=$(printf '+3361100%04d' "$n")
  prev=
  while IFS= read -r line; do
    case $line in ''|'#'*) continue;; esac
    # The same text twice from one number within the SMSC timestamp's second is taken for
    # one message read twice (that is how a re-read after a crash is recognised): a person
    # cannot type that fast, a script can.
    [ "$line" = "$prev" ] && sleep 1.1
    prev=$line
    before=$(replies)
    "$B/tools/sms_inject" "$T/modem" "$number" "$line" >/dev/null || fail "inject"
    for _ in $(seq 200); do [ "$(replies)" -gt "$before" ] && break; sleep 0.05; done
    [ "$(replies)" -eq $((before + 1)) ] || fail "$name: [$line] got $(( $(replies) - before )) replies"
  done < "$in"
  # The last reply of each dialogue, as its transcript ends (the back-end's slots and
  # references differ from the canned ones, so only the wording of the end is compared).
  want=$(grep -v '^[<>]' "${in%.in}.ok" | tail -1 | sed 's/^  //' | cut -c1-18)
  got=$(last_text | tail -1 | cut -c1-18)
  [ "$got" = "$want" ] || fail "$name ends with [$got], expected [$want]"
  echo "ok - $name over the dummy modem: one reply per text, ends as its transcript"
done

# A reply longer than one SMS: the help text plus the menu, folded to GSM-7, in 1 part;
# and a long UCS-2 text in: the number of parts the sender reports.
before=$(replies)
long="Bonjour, je voudrais savoir à quelles aides j'ai droit avec trois enfants, un loyer élevé et un travail à temps partiel. Merci beaucoup de votre aide — c'est très important pour moi."
"$B/tools/sms_inject" "$T/modem" +33611009999 "$long" | grep -q "3 parts" || fail "the long text was not sent as 3 parts"
for _ in $(seq 200); do [ "$(replies)" -gt "$before" ] && break; sleep 0.05; done
tail -1 "$T/sent.jsonl" | grep -q '"to": *"+33611009999"' || fail "no reply to the 3-part message"
grep -q "message from +33 6\*\* \*\* \*9 99, 3 parts" "$T/guichetd.log" || fail "the 3 parts were not reassembled into one message"
echo "ok - a 3-part UCS-2 message is reassembled into one text and answered once"
