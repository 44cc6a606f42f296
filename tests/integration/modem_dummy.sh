#!/usr/bin/env bash
# The modem transport on libGammu's dummy driver, through build/tools/modem_probe (the pool
# with a stub sink that echoes replies; PROBE=... runs another program with the same
# JSON-lines output):
#  - a single GSM-7 SMS is received, its reply sent; its status report is handed over as a
#    receipt by modem + reference, then deleted;
#  - a 3-part UCS-2 message with French accents is reassembled to the exact text;
#  - replies of 400 GSM-7 / 150 UCS-2 characters are split into 3 parts and counted so;
#  - a message missing parts is released with what arrived after reassembly_timeout;
#  - a sink that refuses to store keeps the message on the SIM until it accepts, once;
#  - a message re-read after a crash (not deleted) gets the same dedup key;
#  - the inbox is empty at the end (deleted only after storing).
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness modem_dummy tools/sms_inject
PROBE=${PROBE:-$B/tools/modem_probe}
INJECT=$B/tools/sms_inject
[ -x "$PROBE" ] || { echo "skip: $PROBE not built"; exit 77; }
need python3

fail() { echo "FAIL: $*"; echo "--- probe out"; tail -20 "$T/out.jsonl"; echo "--- probe log"; tail -20 "$T/probe.err"; exit 1; }

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
sent = lines("sent.jsonl")
rx = [e for e in out if e.get("ev") == "received"]
def got(text, frm=None):
    return [e for e in rx if e["text"] == text and (frm is None or e["from"] == frm)]
def inbox():
    p = os.path.join(d, "modem", "sms", "1")
    return [f for f in os.listdir(p) if not f.startswith(".")] if os.path.isdir(p) else []
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)
EOF
check() { python3 "$T/check.py" "$T" "$1"; }
# Generous bounds (x3) for sanitizer builds on a loaded machine; a passing run never waits.
WAIT_SCALE=3

mkdir -p "$T/modem"
cat > "$T/guichet.yaml" <<EOF
modems:
  - name: m1
    model: dummy
    device: $T/modem
    rate: 0
    poll_ms: 100
    reassembly_timeout: 3s
    sent_log: $T/sent.jsonl
EOF

start() {
  "$PROBE" "$@" "$T/guichet.yaml" >>"$T/out.jsonl" 2>>"$T/probe.err" &
  GD=$!
}
stop() {
  kill "$GD" 2>/dev/null; wait "$GD" 2>/dev/null; GD=
}
inject() { "$INJECT" "$@" >>"$T/inject.log" || fail "sms_inject $*"; }

start
wait_check "modem up" 10 'any(e.get("ev") == "ready" for e in out)'

# single
inject "$T/modem" +33612345678 "Bonjour"
wait_check "single received" 5 'len(got("Bonjour", "+33612345678")) == 1'
wait_check "single reply sent" 5 'any(s["text"] == "OK Bonjour" and s["parts"] == 1 and s["coding"] == "gsm7" for s in sent)'

# its status report: the dummy driver answers every send with reference 255 (the key adds
# the recipient's last 8 digits: 255:12345678), and libGammu
# 1.42 reads a report file's MessageReference (not its DeliveryStatus: 0, delivered)
wait_check "the reply's reference kept" 5 'any(e.get("ev") == "remote_id" and e["via"] == "m1" and e["remote"] == "255:12345678" for e in out)'
printf '[SMSBackup000]\nPDU = Status_Report\nState = UnRead\nNumber = "+33612345678"\nMessageReference = 255\nDeliveryStatus = 0\nCoding = Default_No_Compression\nText00 = 00440065006C00690076006500720065006400\n' > "$T/modem/sms/1/.9999"
mv "$T/modem/sms/1/.9999" "$T/modem/sms/1/9999"
wait_check "status report handed over" 5 'any(e.get("ev") == "receipt" and e["remote"] == "255:12345678" and e["delivered"] and e["stat"] == "DELIVRD" for e in out)'
wait_check "status report deleted" 5 'inbox() == []'
check 'not got("Delivered")' || fail "a status report was taken for a message"

# 3-part UCS-2 with French accents
LONG="Ça y est : votre demande de carte d'électeur est enregistrée. Prochaine étape : présentez-vous à la mairie avec une pièce d'identité. Merci, et à bientôt ! « Guichet » — ô rage, ô désespoir, être là."
"$INJECT" "$T/modem" +33611111111 "$LONG" > "$T/inject3.log" || fail "sms_inject 3 parts"
grep -q "^3 parts ucs2" "$T/inject3.log" || fail "test text is not 3 UCS-2 parts: $(head -1 "$T/inject3.log")"
export LONG
wait_check "3-part UCS-2 reassembled" 5 'len(got(os.environ["LONG"], "+33611111111")) == 1'

# long replies, split and counted
inject "$T/modem" +33622222222 "long7 400"
inject "$T/modem" +33622222222 "longu 150"
wait_check "400 GSM-7 characters sent as 3 parts" 10 'any(s["coding"] == "gsm7" and len(s["text"]) == 400 and s["parts"] == 3 for s in sent)'
wait_check "150 UCS-2 characters sent as 3 parts" 10 'any(s["coding"] == "ucs2" and len(s["text"]) == 150 and s["parts"] == 3 for s in sent)'
check '[e for e in out if e.get("ev") == "queued" and e["parts"] == 3].__len__() == 2' || fail "renderer and modem disagree on part counts"

# a missing part: parts 1 and 3 of 4 only
PART="$(printf 'morceau%02d ' $(seq 1 60))"
inject -p 1 -p 3 -r 77 "$T/modem" +33633333333 "$PART"
sleep 1.5
check 'not [e for e in rx if e["from"] == "+33633333333"]' || fail "incomplete message released before the timeout"
wait_check "incomplete message released after the timeout" 6 '[e for e in rx if e["from"] == "+33633333333" and e["text"].startswith("morceau01") and "morceau18" not in e["text"] and "morceau37" in e["text"]]'
grep -q "released with 2 of 4 parts" "$T/probe.err" || fail "release not logged"
wait_check "inbox emptied" 5 'inbox() == []'
stop

# a store that refuses twice: the message stays on the SIM, then is delivered once
start -f 2
wait_check "modem up again" 10 'sum(1 for e in out if e.get("ev") == "ready") >= 2'
inject "$T/modem" +33644444444 "stocke-moi"
wait_check "store refused twice" 6 'sum(1 for e in out if e.get("ev") == "store_refused") >= 2'
check 'inbox() != [] or got("stocke-moi")' || fail "message deleted while the store refused it"
wait_check "delivered once the store works" 6 'len(got("stocke-moi")) == 1'
wait_check "then deleted" 5 'inbox() == []'
sleep 1
check 'len(got("stocke-moi")) == 1' || fail "message delivered twice"
stop

# a re-read after a crash is recognised: the same file read by two runs gives one dedup key
inject "$T/modem" +33655555555 "relu"
f=$(ls "$T/modem/sms/1" | grep -v '^\.' | head -1)
cp "$T/modem/sms/1/$f" "$T/saved"
start -n
wait_check "read once" 5 'len(got("relu")) == 1'
wait_check "deleted" 5 'inbox() == []'
stop
cp "$T/saved" "$T/modem/sms/1/$f"
start -n
wait_check "read again" 5 'len(got("relu")) == 2'
check 'len({e["dedup"] for e in got("relu")}) == 1' || fail "dedup key changed between reads"
stop

check 'inbox() == []' || fail "inbox not empty at the end"
grep -q "+3361" "$T/probe.err" && fail "a phone number appears unmasked in the log"
echo "modem_dummy: ok"
exit 0
