#!/usr/bin/env bash
# Signals in every transport combination: guichetd with (a) libGammu's dummy modem, (b) the
# fake AT modem on a pseudo-terminal, (c) SMPP (test SMSC) and the USSD HTTP callback.
# In each: SIGHUP reloads (its line logged, still running), SIGUSR1 dumps the memory report
# (still running), SIGTERM stops cleanly (its "stopping" line, "guichetd stopped", exit 0).
# Threads other than the loop (modem threads, libcurl's resolver) must never take them.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness signals guichetd tools/at_modem tools/smsc
need python3
mkdir -p "$T/flows" "$T/modem" "$T/at.in"
GD_SIGNAL=KILL
keep_logs '*.log'
LOG=
fail() { echo "FAIL: $*"; [ -n "$LOG" ] && tail -n 20 "$LOG"; exit 1; }
cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"

# The peers: a fake AT modem and a test SMSC.
"$B/tools/at_modem" -n at1 -i "$T/at.in" -l "$T/at1.tty" -s "$T/at1.sent.jsonl" -c "$T/at1.ctl" \
  >"$T/at_modem.out" 2>"$T/at_modem.log" &
PIDS+=($!)
printf 'smscpass\n' > "$T/smsc-password"; chmod 600 "$T/smsc-password"
"$B/tools/smsc" --port-file "$T/smsc.port" --control "$T/smsc.ctl" --log "$T/smsc.jsonl" \
  --system-id guichet --password smscpass 2>"$T/smsc.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -L "$T/at1.tty" ] && [ -s "$T/smsc.port" ] && break; sleep 0.1; done
[ -L "$T/at1.tty" ] || fail "fake AT modem did not start"
[ -s "$T/smsc.port" ] || fail "test SMSC did not start"
HPORT=$(free_port)

base() { printf 'flows: %s/flows\nstore: %s/%s.db\n' "$T" "$T" "$1"; }
{ base dummy
  echo "modems: [ { name: d1, model: dummy, device: $T/modem, poll_ms: 100, rate: 0 } ]"
} > "$T/dummy.yaml"
{ base at
  echo "modems: [ { name: at1, device: $T/at1.tty, connection: at, rate: 0, poll_ms: 300 } ]"
} > "$T/at.yaml"
{ base net
  cat <<EOF
credentials: $T
smpp:
  - { name: opx, host: 127.0.0.1, port: $(cat "$T/smsc.port"), system_id: guichet,
      password: smsc-password, bind: transceiver, source: "38123" }
ussd_http: { listen: 127.0.0.1, port: $HPORT, allow: [127.0.0.1] }
EOF
} > "$T/net.yaml"

count() { grep -c "$1" "$LOG" 2>/dev/null; }
# wait_line PATTERN N: the log holds at least N lines matching, while guichetd runs.
wait_line() {
  for _ in $(seq 150); do
    [ "$(count "$1")" -ge "$2" ] && return 0
    kill -0 "$GD" 2>/dev/null || fail "$NAME: guichetd exited while waiting for [$1]"
    sleep 0.1
  done
  fail "$NAME: no [$1] line"
}

# run NAME READY_PATTERN: start on $T/NAME.yaml, then HUP, USR1, HUP, TERM.
run() {
  NAME=$1 LOG=$T/$1.log
  "$B/guichetd" -f -c "$T/$1.yaml" 2>>"$LOG" &
  GD=$!
  wait_line "guichetd started" 1
  wait_line "$2" 1
  kill -HUP "$GD"; wait_line "reload done" 1
  kill -USR1 "$GD"; wait_line "full talloc report" 1
  kill -HUP "$GD"; wait_line "reload done" 2
  kill -0 "$GD" 2>/dev/null || fail "$NAME: guichetd died after SIGHUP/SIGUSR1"
  echo "ok - $NAME: SIGHUP reloads and SIGUSR1 dumps, the daemon keeps running"
  kill -TERM "$GD"
  local rc=0
  for _ in $(seq 150); do kill -0 "$GD" 2>/dev/null || break; sleep 0.1; done
  wait "$GD" || rc=$?
  GD=
  [ "$rc" -eq 0 ] || fail "$NAME: exit status $rc after SIGTERM"
  grep -q "stopping: no new messages" "$LOG" || fail "$NAME: no stopping line"
  grep -q "guichetd stopped" "$LOG" || fail "$NAME: no stopped line"
  echo "ok - $NAME: SIGTERM stops cleanly (stopping line, exit 0)"
}

run dummy "guichetd started"
run at "modem connected"
run net "bound as transceiver"
echo "pass"
