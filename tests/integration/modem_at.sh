#!/usr/bin/env bash
# The modem transport through libGammu's AT driver, against two fake modems
# (build/tools/at_modem on pseudo-terminals, PDU mode), driven by build/tools/modem_probe
# (PROBE=... runs another program with the same JSON-lines output):
#  - GSM-7 and 3-part UCS-2 messages are received through AT+CMGL and deleted (AT+CMGD);
#  - a reply of 3 parts leaves as 3 PDUs with concatenation headers;
#  - modem a1 stalls (stops answering) in the middle of sending: it is detected, logged once,
#    reset and resumed; the reply it could not finish is sent anyway; the message that
#    arrived meanwhile is received once it is back; a2 keeps serving all along;
#  - a2's line is dropped (pty closed): reconnected, serving again;
#  - a1 answers ERROR to everything: taken down, back when the fault clears;
#  - nothing lost: every message received once, every reply sent.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness modem_at tools/at_modem
PROBE=${PROBE:-$B/tools/modem_probe}
ATM=$B/tools/at_modem
[ -x "$PROBE" ] || { echo "skip: $PROBE not built"; exit 77; }
need python3
need_pty

fail() {
  echo "FAIL: $*"
  echo "--- probe out"; tail -25 "$T/out.jsonl"
  echo "--- probe log"; tail -25 "$T/probe.err"
  for m in a1 a2; do echo "--- $m"; tail -12 "$T/$m.err"; done
  exit 1
}

cat > "$T/check.py" <<'EOF'
import json, sys, os
d = sys.argv[1]
def lines(name):
    try:
        with open(os.path.join(d, name), encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except (FileNotFoundError, json.JSONDecodeError):
        return []
out = lines("out.jsonl")
rx = [e for e in out if e.get("ev") == "received"]
sent = {m: lines(m + ".sent.jsonl") for m in ("a1", "a2")}
def got(text, via=None):
    return [e for e in rx if e["text"] == text and (via is None or e["via"] == via)]
def ready(via):
    return sum(1 for e in out if e.get("ev") == "ready" and e["via"] == via)
def pdus(m, text=None):
    return [s for s in sent[m] if text is None or s["text"] == text]
def joined(text):
    """True when some modem sent text as consecutive concatenated parts."""
    for m in sent:
        parts = [s for s in sent[m] if s["udh"]]
        for i in range(len(parts)):
            t = ""
            for s in parts[i:]:
                t += s["text"]
                if t == text:
                    return True
                if not text.startswith(t):
                    break
    return False
def inbox(m):
    p = os.path.join(d, m + ".in")
    return [f for f in os.listdir(p) if not f.startswith(".")]
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)
EOF
check() { python3 "$T/check.py" "$T" "$1"; }
# Bounds are generous on purpose (x3): under sanitizers on a loaded 2-core machine a libGammu
# exchange can take several times its usual time. A passing run never waits for them.
WAIT_SCALE=3
# drop MODEM FROM TEXT: a message arriving at the fake modem
n=0
drop() {
  n=$((n + 1))
  printf 'from: %s\n\n%s\n' "$2" "$3" > "$T/$1.in/.m$n"
  mv "$T/$1.in/.m$n" "$T/$1.in/m$n"
}
ctl() { echo "$2" > "$T/$1.ctl"; }

for m in a1 a2; do
  mkdir -p "$T/$m.in"
  "$ATM" -n $m -i "$T/$m.in" -l "$T/$m.tty" -s "$T/$m.sent.jsonl" -c "$T/$m.ctl" -d 400 \
    >"$T/$m.out" 2>"$T/$m.err" &
  PIDS+=($!)
done
for i in $(seq 50); do [ -L "$T/a1.tty" ] && [ -L "$T/a2.tty" ] && break; sleep 0.1; done
[ -L "$T/a1.tty" ] && [ -L "$T/a2.tty" ] || fail "fake modems did not start"

cat > "$T/guichet.yaml" <<EOF
modems:
  - name: a1
    device: $T/a1.tty
    connection: at
    rate: 0
    poll_ms: 300
    reassembly_timeout: 20s
  - name: a2
    device: $T/a2.tty
    connection: at
    rate: 0
    poll_ms: 300
    reassembly_timeout: 20s
EOF
"$PROBE" "$T/guichet.yaml" >"$T/out.jsonl" 2>"$T/probe.err" &
PROBE_PID=$!
PIDS+=($PROBE_PID)
wait_check "both modems up" 30 'ready("a1") >= 1 and ready("a2") >= 1'

# receive and send through the AT driver
drop a1 +33612345678 "Bonjour"
drop a2 +33698765432 "Salut"
LONG="Ça y est : votre demande de carte d'électeur est enregistrée. Prochaine étape : présentez-vous à la mairie avec une pièce d'identité. Merci, et à bientôt ! « Guichet » — ô rage, ô désespoir."
export LONG
drop a1 +33611111111 "$LONG"
wait_check "GSM-7 received on a1" 10 'len(got("Bonjour", "a1")) == 1'
wait_check "received on a2" 10 'len(got("Salut", "a2")) == 1'
wait_check "3-part UCS-2 reassembled" 10 'len(got(os.environ["LONG"], "a1")) == 1'
wait_check "replies sent as PDUs" 15 'pdus("a1", "OK Bonjour") and pdus("a2", "OK Salut")'
wait_check "SIMs emptied" 10 'inbox("a1") == [] and inbox("a2") == []'
grep -q "SIM index" "$T/a1.err" || fail "nothing deleted from a1's SIM"

# a long reply as 3 concatenated PDUs
drop a1 +33622222222 "long7 400"
wait_check "3-part reply" 20 'len([s for s in sent["a1"] if s["udh"].startswith("050003") and s["udh"].endswith("03")]) >= 1'

# a1 stalls while sending a 3-part reply; a2 keeps serving
before=$(grep -c "part submitted" "$T/a1.err")
drop a1 +33633333333 "long7 300"
for i in $(seq 100); do
  [ "$(grep -c "part submitted" "$T/a1.err")" -gt "$before" ] && break; sleep 0.1
done
ctl a1 stall
STALL=$SECONDS
drop a1 +33644444444 "pendant la panne"
drop a2 +33655555555 "a2 sert toujours"
wait_check "a2 serves during a1's stall" 15 'len(got("a2 sert toujours", "a2")) == 1 and pdus("a2", "OK a2 sert toujours")'
for i in $(seq 600); do grep -q "a1.*modem down\|modem down.*modem=a1" "$T/probe.err" && break; sleep 0.1; done
grep -q "modem=a1" <(grep "modem down:" "$T/probe.err") || fail "a1's stall not detected"
echo "stall detected after $((SECONDS - STALL))s"
[ "$(grep "modem down:" "$T/probe.err" | grep -c "modem=a1")" -eq 1 ] || fail "the stall logged more than once"
ctl a1 ok
wait_check "a1 back" 60 'ready("a1") >= 2'
grep "modem back" "$T/probe.err" | grep -q "modem=a1" || fail "a1's return not logged"
wait_check "message that arrived during the stall received" 20 'len(got("pendant la panne", "a1")) == 1'
wait_check "the interrupted reply sent whole" 30 'joined("".join(chr(ord("a") + i % 26) if i % 10 != 9 else " " for i in range(300)))'
wait_check "reply to the message received during the stall" 20 'pdus("a1", "OK pendant la panne") or pdus("a2", "OK pendant la panne")'

# a2's line dropped
ctl a2 drop
wait_check "a2 reconnected" 60 'ready("a2") >= 2'
drop a2 +33666666666 "apres coupure"
wait_check "a2 serves again" 20 'len(got("apres coupure", "a2")) == 1 and pdus("a2", "OK apres coupure")'

# a1 answers ERROR to everything
ctl a1 error
for i in $(seq 300); do [ "$(grep "modem down:" "$T/probe.err" | grep -c "modem=a1")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep "modem down:" "$T/probe.err" | grep -c "modem=a1")" -ge 2 ] || fail "a1 answering ERROR not taken down"
ctl a1 ok
wait_check "a1 back after errors" 60 'ready("a1") >= 3'
drop a1 +33677777777 "fin"
wait_check "a1 serves again" 20 'len(got("fin", "a1")) == 1 and pdus("a1", "OK fin")'

# nothing lost, nothing twice
check 'all(len(got(t)) == 1 for t in ["Bonjour", "Salut", os.environ["LONG"], "long7 400", "long7 300", "pendant la panne", "a2 sert toujours", "apres coupure", "fin"])' \
  || fail "a message was lost or received twice"
check 'inbox("a1") == [] and inbox("a2") == []' || fail "messages left in the fake modems' inboxes"
grep -q "+3361\|+3369" "$T/probe.err" && fail "a phone number appears unmasked in the log"
echo "modem_at: ok"
exit 0
