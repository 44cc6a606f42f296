#!/usr/bin/env bash
# USSD dialogues are capped (max_dialogues), on both transports: with a small cap, a new
# dialogue beyond it gets a clear END screen ("Service saturé...") and is counted, the
# dialogues already open go on, and a place freed is taken again. HTTP: ussd_probe and curl
# (400 session ids thrown at a cap of 3); GSUP: ussd_probe behind a real osmo-hlr and the
# test MSC (skipped without osmo-hlr). Exit 0 pass, 77 skip.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B;; esac
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
for t in ussd_msc ussd_probe; do
  [ -x "$B/tools/$t" ] || { echo "$B/tools/$t not built"; exit 77; }
done
T=$(mktemp -d /tmp/guichet-ussd-cap.XXXXXX)
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
PIDS=() HLR_PID= PROBE_PID=
cleanup() {
  for p in "${PIDS[@]}" $PROBE_PID $HLR_PID; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- probe"; tail -n 30 "$T/probe.out" "$T/probe.err"; exit 1; }
ok() { echo "ok - $*"; }
expect() { case "$2" in *"$3"*) ;; *) fail "$1: got [$2], wanted [$3]";; esac; }
FULL="END Service saturé. Merci de rappeler dans quelques minutes."
stop_probe() { # -> the probe's counters line for $1 (HTTP or GSUP)
  kill -TERM "$PROBE_PID"; wait "$PROBE_PID"; local rc=$?; PROBE_PID=
  [ "$rc" = 0 ] || fail "probe exited with $rc (sanitizer report?)"
  grep -q "^LEAKS 0$" "$T/probe.out" || fail "memory left after stop"
}
n() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

# ---- HTTP ----
cat >"$T/probe.yaml" <<YAML
ussd_http:
  listen: 127.0.0.1
  port: 0
  allow: [127.0.0.1]
  max_dialogues: 3
YAML
"$B/tools/ussd_probe" -c "$T/probe.yaml" >"$T/probe.out" 2>"$T/probe.err" &
PROBE_PID=$!
for _ in $(seq 100); do grep -q READY "$T/probe.out" && break; sleep 0.05; done
PORT=$(awk '/^HTTP port/ {print $3}' "$T/probe.out")
[ -n "$PORT" ] || fail "probe did not listen"
post() {
  curl -s --max-time 5 --data-urlencode "sessionId=$1" --data-urlencode "serviceCode=*4321#" \
    --data-urlencode "phoneNumber=+33612345678" --data-urlencode "text=$2" "http://127.0.0.1:$PORT/"
}
for s in a b c; do expect "begin $s" "$(post "cap-$s" "")" "CON Guichet"; done
expect "4th session" "$(post cap-d "")" "$FULL"
for i in $(seq 400); do echo "sessionId=flood-$i&serviceCode=*4321%23&text="; done >"$T/flood"
full=0
while read -r body; do
  r=$(curl -s --max-time 5 -d "$body" "http://127.0.0.1:$PORT/")
  [ "$r" = "$FULL" ] && full=$((full + 1))
done <"$T/flood"
[ "$full" = 400 ] || fail "only $full of 400 sessions beyond the cap got the END screen"
ok "HTTP: beyond max_dialogues (3), 401 new sessions get \"$FULL\""
expect "open session goes on" "$(post cap-a "1")" "CON Numéro de dossier ?"
expect "open session ends" "$(post cap-b "2")" "END Rendez-vous"
expect "place freed, taken" "$(post cap-e "")" "CON Guichet"
expect "full again" "$(post cap-f "")" "$FULL"
ok "HTTP: open sessions go on; a place freed is taken again"
[ "$(grep -c "REQ http http:flood" "$T/probe.out")" = 0 ] || fail "refused sessions reached the sink"
[ "$(grep -c "sessions at the limit" "$T/probe.err")" = 2 ] || fail "the limit not logged once per change"
stop_probe
st=$(grep '^HTTP requests' "$T/probe.out")
[ "$(n "$st" full)" = 402 ] || fail "counter full: $st"
ok "HTTP: counted (full=402), logged once each time the limit is reached"

# ---- GSUP ----
if ! command -v osmo-hlr >/dev/null; then
  echo "ok - GSUP part skipped: osmo-hlr not installed"; echo "ussd_cap: all passed"; exit 0
fi
HLR_PID=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 4 30) || fail "osmo-hlr did not start"
cat >"$T/probe.yaml" <<YAML
gsup:
  host: $IP
  name: guichet
  max_dialogues: 2
YAML
: >"$T/probe.out"
"$B/tools/ussd_probe" -c "$T/probe.yaml" >"$T/probe.out" 2>"$T/probe.err" &
PROBE_PID=$!
for _ in $(seq 100); do grep -q "GSUP link to osmo-hlr .* up" "$T/probe.err" && break; sleep 0.05; done
grep -q "GSUP link to osmo-hlr .* up" "$T/probe.err" || fail "EUSE link not up"
sleep 0.3
msc() { local name=$1; shift; "$B/tools/ussd_msc" -H "$IP" -n "$name" -t 5 "$@" >>"$T/msc-$name.out" 2>&1; }
for k in 1 2; do
  msc "MSC-$k" "dial 00101000000000$k *4321#" "expect con Guichet" "sleep 3" "answer 2" \
      "expect end mardi" &
  PIDS+=($!)
done
for _ in $(seq 100); do [ "$(grep -c 'REQ gsup .* begin' "$T/probe.out")" = 2 ] && break; sleep 0.05; done
msc MSC-3 "dial 001010000000003 *4321#" "expect end Service saturé" ||
  fail "GSUP: dialogue beyond max_dialogues not ended with the screen"
ok "GSUP: beyond max_dialogues (2), a BEGIN gets \"Service saturé\""
wait "${PIDS[@]}" || fail "GSUP: dialogues open before the limit did not go on"
PIDS=()
ok "GSUP: open dialogues go on to their END"
msc MSC-4 "dial 001010000000004 *4321#" "expect con Guichet" "answer 2" "expect end mardi" ||
  fail "GSUP: place freed not taken again"
ok "GSUP: a place freed is taken again"
stop_probe
st=$(grep '^GSUP requests' "$T/probe.out")
[ "$(n "$st" full)" = 1 ] || fail "GSUP counter full: $st"
ok "GSUP: counted (full=1)"
echo "ussd_cap: all passed"
