#!/usr/bin/env bash
# The SMPP bind's life as an osmo_fsm (smpp.c), read from the transitions libosmocore logs at
# debug ("smpp_bind(opx-transceiver){BINDING}: State change to BOUND (X4, 1s)"), through
# build/tools/smpp_probe against the test SMSC:
#  - two binds refused, then accepted: CONNECTING, BINDING, IDLE with a reconnect timer of
#    reconnect_min (1s), again with it doubled (2s, the cap), then BOUND; each reconnect is
#    the IDLE timer's expiry (a broken backoff or reconnect timer fails here);
#  - the keepalive: BOUND's timer expires every enquire_link period; an SMSC that stops
#    answering enquire_link is dropped (BOUND -> IDLE) and bound again;
#  - the SMSC closes the connection: IDLE with the backoff back to reconnect_min, bound again;
#  - the SMSC unbinds: UNBINDING, then IDLE, bound again;
#  - an SMSC that does not answer the bind: BINDING's timer (response_timeout) drops it;
#  - stop: IDLE without a timer, the instance freed.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness smpp_bind_fsm tools/smsc tools/smpp_probe
PROBE=$B/tools/smpp_probe
need python3
fail() { echo "FAIL: $*"; echo "--- transitions"; trans | tail -30; echo "--- smsc log"; tail -8 "$T/smsc.log"; exit 1; }
# The bind's transitions and timer expiries, one per line: "CONNECTING (X2, 2s)", "T X1".
trans() {
  sed -n 's/.*smpp_bind(opx-transceiver){[A-Z]*}: State change to \(.*\)$/\1/p;
           s/.*smpp_bind(opx-transceiver){[A-Z]*}: Timeout of \(X[0-9]\)$/T \1/p' "$T/probe.err"
}
# Waits until the transitions since line $1 (keepalive expiries left out) start with the
# lines given, in order; prints nothing, fails with what was seen.
expect_since() {
  local from=$1 what=$2 timeout=$3; shift 3
  local want got end=$((SECONDS + timeout))
  want=$(printf '%s\n' "$@")
  while :; do
    got=$(trans | tail -n +"$((from + 1))" | grep -v '^T X4$' | head -n $#)
    [ "$got" = "$want" ] && return 0
    [ $SECONDS -ge $end ] && { printf 'want:\n%s\ngot:\n%s\n' "$want" "$got"; fail "$what"; }
    sleep 0.2
  done
}
mark() { trans | wc -l; }

start_smsc
smpp_config "enquire_link: 1s" "response_timeout: 2s" "reconnect_min: 1s" "reconnect_max: 2s" \
  > "$T/guichet.yaml"

# ---- two binds refused, then accepted ----
ctl "refuse_binds 2"
sleep 0.2
PROBE_LOG_LEVEL=debug "$PROBE" --config "$T/guichet.yaml" --status "$T/status.json" 2>"$T/probe.err" &
GD=$!
expect_since 0 "refused twice, then bound" 15 \
  "CONNECTING (X2, 2s)" "BINDING (X3, 2s)" "IDLE (X1, 1s)" "T X1" \
  "CONNECTING (X2, 2s)" "BINDING (X3, 2s)" "IDLE (X1, 2s)" "T X1" \
  "CONNECTING (X2, 2s)" "BINDING (X3, 2s)" "BOUND (X4, 1s)"
[ "$(grep -c 'bind transceiver refused: ESME_RBINDFAIL' "$T/probe.err")" = 1 ] ||
  fail "the repeated refusal was not logged once"
echo "ok: refused, refused, bound: reconnect timer 1s then doubled to 2s, each reconnect on its expiry"

# ---- keepalive ----
m=$(mark)
for _ in $(seq 50); do
  [ "$(trans | tail -n +"$((m + 1))" | grep -c '^T X4$')" -ge 2 ] && break; sleep 0.1
done
[ "$(trans | tail -n +"$((m + 1))" | grep -c '^T X4$')" -ge 2 ] || fail "BOUND's enquire_link timer does not expire again and again"
m=$(mark)
ctl "mute_enquire 1"
expect_since "$m" "no answer to enquire_link: dropped" 8 "IDLE (X1, 1s)"
grep -q 'link down (BOUND): no answer to enquire_link in 2s' "$T/probe.err" || fail "no line for the enquire_link timeout"
ctl "mute_enquire 0"
expect_since "$m" "bound again after the keepalive drop" 8 \
  "IDLE (X1, 1s)" "T X1" "CONNECTING (X2, 2s)" "BINDING (X3, 2s)" "BOUND (X4, 1s)"
echo "ok: keepalive: BOUND's timer sends enquire_link each period; unanswered -> IDLE -> bound again"

# ---- the SMSC closes the connection ----
m=$(mark)
ctl "drop"
expect_since "$m" "reconnect after the SMSC closed" 8 \
  "IDLE (X1, 1s)" "T X1" "CONNECTING (X2, 2s)" "BINDING (X3, 2s)" "BOUND (X4, 1s)"
grep -q 'link down (BOUND): closed by the SMSC' "$T/probe.err" || fail "no line for the close"
echo "ok: the SMSC closes: IDLE (backoff back to 1s), bound again"

# ---- the SMSC unbinds ----
m=$(mark)
ctl "unbind"
expect_since "$m" "unbind from the SMSC" 8 \
  "UNBINDING (no timeout)" "IDLE (X1, 1s)" "T X1" "CONNECTING (X2, 2s)" "BINDING (X3, 2s)" "BOUND (X4, 1s)"
grep -q 'transceiver: the SMSC unbinds' "$T/probe.err" || fail "no line for the unbind"
echo "ok: the SMSC unbinds: UNBINDING, IDLE, bound again"

# ---- an SMSC that does not answer the bind ----
m=$(mark)
ctl "hang 1"
ctl "drop"
expect_since "$m" "unanswered bind dropped by BINDING's timer" 10 \
  "IDLE (X1, 1s)" "T X1" "CONNECTING (X2, 2s)" "BINDING (X3, 2s)" "T X3" "IDLE (X1, 2s)"
grep -q 'link down (BINDING): no answer to bind in 2s' "$T/probe.err" || fail "no line for the bind timeout"
ctl "hang 0"
ctl "drop"
for _ in $(seq 80); do trans | tail -1 | grep -q '^BOUND' && break; sleep 0.1; done
trans | tail -1 | grep -q '^BOUND' || fail "not bound again after the SMSC answered again"
echo "ok: bind unanswered: BINDING's timer (response_timeout) drops it, backoff doubled"

# ---- stop ----
kill -TERM "$GD"
wait "$GD"
trans | tail -1 | grep -qx 'IDLE (no timeout)' || fail "stop: not IDLE without a timer"
grep -q 'smpp_bind(opx-transceiver){IDLE}: Deallocated' "$T/probe.err" || fail "stop: the instance was not freed"
grep -q 'transition to state .* not permitted' "$T/probe.err" && fail "a transition outside the table"
echo "ok: stop: IDLE without a reconnect, instance freed; no transition outside the table"
echo "pass"
exit 0
