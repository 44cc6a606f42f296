#!/usr/bin/env bash
# SMPP transport against the test SMSC, through build/tools/smpp_probe (the transport with a
# stub router that answers "echo: <text>"):
#  - single GSM-7, UCS-2 with French accents, Latin-1, message_payload, UDH 8-bit and 16-bit,
#    sar_* concatenated MO messages decode to the exact text, and a part whose sibling never
#    comes is released after the reassembly delay;
#  - every reply arrives whole (parts joined by the SMSC), receipts are matched;
#  - 30 % throttling plus a dropped bind in the middle lose nothing;
#  - a permanent error dead-letters, a temporary one is retried;
#  - an SMSC that stops answering enquire_link is dropped and bound again;
#  - a store that fails half the time loses nothing (deliver_sm answered with an error);
#  - transmitter+receiver binds.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness smpp tools/smsc tools/smpp_probe
PROBE=$B/tools/smpp_probe
command -v python3 >/dev/null || { echo "skip: python3 needed to read JSON logs"; exit 77; }

fail() { echo "FAIL: $*"; echo "--- probe log"; tail -30 "$T/probe.err"; echo "--- smsc log"; tail -15 "$T/smsc.log"; exit 1; }

cat > "$T/check.py" <<'EOF'
import json, sys, os
d = sys.argv[1]
def lines(name):
    try:
        with open(os.path.join(d, name), encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        return []
def status():
    try:
        with open(os.path.join(d, "status.json")) as f:
            return json.load(f)
    except Exception:
        return {}
rx = lines("rx.log")
smsc = lines("smsc.log")
received = {}
for e in rx:
    if e.get("event") == "received":
        received.setdefault(e["from"], []).append(e["text"])
replies = {}
for e in smsc:
    if e.get("event") == "message":
        replies.setdefault(e["to"], []).append(e["text"])
def has(frm, text):
    return text in received.get(frm, [])
def got(frm, text):
    return received.get(frm) == [text]
def replied(frm, text):
    return text in replies.get(frm, [])
st = status()
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF

start_smsc --receipts 1
PORT=$SMSC_PORT

write_config() {  # $1 = bind mode
  cat > "$T/guichet.yaml" <<EOF
smpp:
  - name: opx
    host: 127.0.0.1
    port: $PORT
    system_id: guichet
    password: opx-password
    system_type: ""
    bind: $1
    source: "38123"
    parts_per_second: 200
    window: 10
    enquire_link: 1s
    response_timeout: 2s
    reconnect_min: 1s
    reconnect_max: 2s
    reassembly: 2s
    tls: false
EOF
}
start_probe() {
  "$PROBE" --config "$T/guichet.yaml" --received "$T/rx.log" --status "$T/status.json" "$@" \
    2>>"$T/probe.err" &
  PROBE_PID=$!
  PIDS+=($PROBE_PID)
}
stop_probe() { kill "$PROBE_PID" 2>/dev/null; wait "$PROBE_PID" 2>/dev/null; rm -f "$T/status.json"; }

write_config transceiver
start_probe
wait_check "bind" 5 'st.get("binds_up") == 1'

# ---- decoding of every MO shape ----
LONG=$(python3 -c 'print(" ".join("Demande %d de renouvellement de carte;" % i for i in range(12)))')
LONGU=$(python3 -c 'print(" ".join("Reçu n°%d, cœur à l’ouvrage — « merci »" % i for i in range(6)))')
FR='Ça coûte 5 € — êtes-vous sûr ? Où ça ? Garçon, œuvre'
ctl "deliver single +33600000001 38123 Bonjour à tous, où est la mairie ?"
ctl "deliver ucs2 +33600000002 38123 $FR"
ctl "deliver latin1 +33600000003 38123 Déjà vu à Paris"
ctl "deliver payload +33600000004 38123 Payload: $LONG"
ctl "deliver udh8 +33600000005 38123 $LONG"
ctl "deliver udh16 +33600000006 38123 $LONG"
ctl "deliver sar +33600000007 38123 $LONGU"
ctl "deliver udh8 +33600000008 38123 $LONGU"
ctl "deliver partial +33600000009 38123 $LONG"
wait_check "single GSM-7" 5 'got("+33600000001", "Bonjour à tous, où est la mairie ?")'
wait_check "UCS-2 French" 5 "got('+33600000002', '''$FR''')"
wait_check "Latin-1" 5 'got("+33600000003", "Déjà vu à Paris")'
wait_check "message_payload" 5 "got('+33600000004', '''Payload: $LONG''')"
wait_check "UDH 8-bit" 5 "got('+33600000005', '''$LONG''')"
wait_check "UDH 16-bit" 5 "got('+33600000006', '''$LONG''')"
wait_check "sar TLVs, UCS-2" 5 "got('+33600000007', '''$LONGU''')"
wait_check "UDH UCS-2" 5 "got('+33600000008', '''$LONGU''')"
wait_check "partial release" 8 "len(received.get('+33600000009', [])) == 1 and '''$LONG'''.startswith(received['+33600000009'][0]) and len(received['+33600000009'][0]) < len('''$LONG''')"
echo "ok: MO decoding (single, UCS-2, Latin-1, payload, UDH 8/16, sar, partial)"

wait_check "replies" 8 "replied('+33600000001', 'echo: Bonjour à tous, où est la mairie ?') and replied('+33600000002', '''echo: $FR''') and replied('+33600000005', '''echo: $LONG''') and replied('+33600000007', '''echo: $LONGU''') and replied('+33600000004', '''echo: Payload: $LONG''')"
wait_check "all sent" 5 'st.get("sent") == 9 and st.get("outbox") == 0'
# UCS-2 replies carry data_coding 8, long ones a UDH and esm_class 0x40, all ask receipts.
python3 - "$T/smsc.log" <<'EOF' || fail "submit_sm fields"
import json, sys
subs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if '"submit"' in l]
for s in subs:
    assert s["registered_delivery"] == 1, s
    if s["to"] == "+33600000002": assert s["dcs"] == 8, s
    if s["to"] == "+33600000001": assert s["dcs"] == 0 and s["parts"] == 1, s
    if s["to"] == "+33600000005": assert s["parts"] >= 2 and s["esm_class"] & 0x40, s
    assert s["from"] == "38123", s
EOF
wait_check "receipts matched" 5 'st.get("receipts", 0) >= st.get("mt_parts", 1) and st.get("receipts_unmatched") == 0'
echo "ok: replies whole, data_coding/UDH right, receipts matched"

# ---- throttling and a dropped bind lose nothing ----
ctl "throttle 30"
for i in $(seq 100 139); do ctl "deliver single +33610000$i 38123 charge $i"; done
sleep 0.5
ctl "drop"
wait_check "40 MO under throttling + drop" 20 'all(has("+33610000%d" % i, "charge %d" % i) for i in range(100, 140))'
wait_check "40 replies under throttling + drop" 40 'all(replied("+33610000%d" % i, "echo: charge %d" % i) for i in range(100, 140))'
wait_check "outbox empty" 10 'st.get("outbox") == 0 and st.get("dead") == 0 and st.get("throttled", 0) > 0 and st.get("reconnects", 0) >= 1'
ctl "throttle 0"
ctl "qfull 50"
for i in $(seq 200 209); do ctl "deliver single +33620000$i 38123 full $i"; done
wait_check "queue full retried" 20 'all(replied("+33620000%d" % i, "echo: full %d" % i) for i in range(200, 210))'
ctl "qfull 0"
echo "ok: throttling 30 %, queue full and a dropped bind: nothing lost"

# ---- error classes ----
ctl "error 100 0x0B"
ctl "deliver single +33630000001 38123 bad destination"
wait_check "permanent error dead-lettered" 5 'st.get("dead") == 1'
ctl "error 100 0x08"
ctl "deliver single +33630000002 38123 system error"
wait_check "temporary error retried" 5 'st.get("failed_temp", 0) >= 2'
ctl "error 0"
wait_check "temporary error then sent" 5 'replied("+33630000002", "echo: system error")'
echo "ok: permanent error dead, temporary error retried"

# ---- keep-alive: an SMSC that stops answering ----
R0=$(python3 -c 'import json; print(json.load(open("'"$T"'/status.json")).get("reconnects", 0))')
ctl "mute_enquire 1"
wait_check "dropped after enquire_link timeout" 8 "st.get('reconnects', 0) > $R0"
ctl "mute_enquire 0"
wait_check "bound again" 8 'st.get("binds_up") == 1'
grep -q 'no answer to enquire_link' "$T/probe.err" || fail "no journal line for the enquire_link timeout"
ctl "deliver single +33640000001 38123 after reconnect"
wait_check "traffic after reconnect" 5 'replied("+33640000001", "echo: after reconnect")'
echo "ok: enquire_link timeout -> reconnect"

# ---- the store fails half the time: deliver_sm answered with an error, retried ----
stop_probe
start_probe --fail-store 50
wait_check "bind (failing store)" 5 'st.get("binds_up") == 1'
for i in $(seq 10 29); do ctl "deliver udh8 +336500000$i 38123 $i $LONG"; done
wait_check "all stored despite failures" 30 'all(has("+336500000%d" % i, "%d %s" % (i, """'"$LONG"'""")) for i in range(10, 30))'
wait_check "refusals happened" 1 'st.get("refused", 0) > 0'
grep -q '"mo_nack"' "$T/smsc.log" || fail "no deliver_sm answered with an error"
echo "ok: store failures answered ESME_RX_T_APPN, nothing lost"

# ---- transmitter + receiver ----
stop_probe
write_config transmitter+receiver
start_probe
wait_check "two binds" 5 'st.get("binds_up") == 2 and st.get("binds_total") == 2'
ctl "deliver udh16 +33660000001 38123 $LONG"
wait_check "tx+rx round trip" 5 "replied('+33660000001', '''echo: $LONG''')"
echo "ok: transmitter+receiver"

# ---- a bind refused: one clear line ----
stop_probe
printf 'wrong\n' > "$T/opx-password"
write_config transceiver
start_probe
sleep 4
n=$(grep -c 'bind transceiver refused: ESME_RINVPASWD' "$T/probe.err")
[ "$n" = 1 ] || fail "expected one bind failure line, got $n"
echo "ok: bind failure logged once"
stop_probe

grep -E '\+336[0-9]{8}' "$T/probe.err" && fail "a phone number in the journal"
echo "pass"
exit 0
