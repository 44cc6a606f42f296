#!/usr/bin/env bash
# USSD dialogues are capped (max_dialogues), on both transports: with a small cap, a new
# dialogue beyond it gets a clear END screen ("Service saturé...") and is counted, the
# dialogues already open go on, and a place freed is taken again. HTTP: ussd_probe and curl
# (400 session ids thrown at a cap of 3); GSUP: ussd_probe behind a real osmo-hlr and the
# test MSC (skipped without osmo-hlr). Exit 0 pass, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/ussd_http.sh"
harness ussd_cap tools/ussd_msc tools/ussd_probe
need curl
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
fail() { echo "FAIL: $*"; echo "--- probe"; tail -n 30 "$T/probe.out" "$T/probe.err"; exit 1; }
ok() { echo "ok - $*"; }
FULL="END Service saturé. Merci de rappeler dans quelques minutes."
n() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

# ---- HTTP ----
cat >"$T/probe.yaml" <<YAML
ussd_http:
  listen: 127.0.0.1
  port: 0
  allow: [127.0.0.1]
  max_dialogues: 3
YAML
probe_start "$T/probe.yaml"
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
probe_stop
st=$(grep '^HTTP requests' "$T/probe.out")
[ "$(n "$st" full)" = 402 ] || fail "counter full: $st"
ok "HTTP: counted (full=402), logged once each time the limit is reached"

# ---- GSUP ----
if ! command -v osmo-hlr >/dev/null; then
  echo "ok - GSUP part skipped: osmo-hlr not installed"; echo "ussd_cap: all passed"; exit 0
fi
HLR_PID=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 4 30) || fail "osmo-hlr did not start"
PIDS+=("$HLR_PID")
cat >"$T/probe.yaml" <<YAML
gsup:
  host: $IP
  name: guichet
  max_dialogues: 2
YAML
: >"$T/probe.out"
"$B/tools/ussd_probe" -c "$T/probe.yaml" >"$T/probe.out" 2>"$T/probe.err" &
GD=$!
for _ in $(seq 100); do grep -q "GSUP link to osmo-hlr .* up" "$T/probe.err" && break; sleep 0.05; done
grep -q "GSUP link to osmo-hlr .* up" "$T/probe.err" || fail "EUSE link not up"
sleep 0.3
msc() { local name=$1; shift; "$B/tools/ussd_msc" -H "$IP" -n "$name" -t 5 "$@" >>"$T/msc-$name.out" 2>&1; }
MSCS=()
for k in 1 2; do
  msc "MSC-$k" "dial 00101000000000$k *4321#" "expect con Guichet" "sleep 3" "answer 2" \
      "expect end mardi" &
  MSCS+=($!)
done
PIDS+=("${MSCS[@]}")
for _ in $(seq 100); do [ "$(grep -c 'REQ gsup .* begin' "$T/probe.out")" = 2 ] && break; sleep 0.05; done
msc MSC-3 "dial 001010000000003 *4321#" "expect end Service saturé" ||
  fail "GSUP: dialogue beyond max_dialogues not ended with the screen"
ok "GSUP: beyond max_dialogues (2), a BEGIN gets \"Service saturé\""
wait "${MSCS[@]}" || fail "GSUP: dialogues open before the limit did not go on"
PIDS=("$HLR_PID")	# the two MSCs are done
ok "GSUP: open dialogues go on to their END"
msc MSC-4 "dial 001010000000004 *4321#" "expect con Guichet" "answer 2" "expect end mardi" ||
  fail "GSUP: place freed not taken again"
ok "GSUP: a place freed is taken again"
probe_stop
st=$(grep '^GSUP requests' "$T/probe.out")
[ "$(n "$st" full)" = 1 ] || fail "GSUP counter full: $st"
ok "GSUP: counted (full=1)"
echo "ussd_cap: all passed"
