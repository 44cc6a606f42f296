#!/usr/bin/env bash
# guichetd over USSD, end to end, with the sample flows and the demo HTTPS back-end:
#  - through a real osmo-hlr: the test MSC dials each sample flow's code
#    (flows/tests/*.ussd.yaml exported: the code, then one answer a line) and answers until END;
#  - through the aggregator callback: curl posts the same dialogues (text = inputs joined
#    by '*'), and a forged history is refused.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/ussd_http.sh"
harness ussd_guichetd guichetd tools/ussd_msc
need osmo-hlr python3 curl openssl
IP=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
fail() { echo "FAIL: $*"; echo "--- guichetd"; tail -n 30 "$T/guichetd.log"; echo "--- msc"; tail -n 20 "$T/msc.out"; exit 1; }
ok() { echo "ok - $*"; }

start_backend "$T/backend"
cp "$T/backend/agenda-token" "$T/agenda-token"; chmod 600 "$T/agenda-token"
ussd_secret
HPORT=$(free_port)
HLR=$("$ROOT/tests/ussd/start-hlr.sh" "$T/hlr" "$IP" 3 30) || fail "osmo-hlr did not start"
PIDS+=("$HLR")

{ demo_config "$BPORT" | sed 's/ussd: { screen: 182,/ussd: { screen: 128,/'; cat <<Y
gsup: { host: $IP, port: 4222, name: guichet, guard_timeout: 40s }
ussd_http: { listen: 127.0.0.1, port: $HPORT, secret: ussd-secret, allow: [127.0.0.1] }
Y
} > "$T/guichet.yaml"
"$B/guichetd" -f -c "$T/guichet.yaml" 2>>"$T/guichetd.log" &
GD=$!
for _ in $(seq 100); do
  grep -q "GSUP link to osmo-hlr .* up" "$T/guichetd.log" && grep -q "USSD HTTP callback listening" "$T/guichetd.log" && break
  kill -0 "$GD" 2>/dev/null || fail "guichetd exited"
  sleep 0.1
done
grep -q "GSUP link to osmo-hlr .* up" "$T/guichetd.log" || fail "guichetd not connected to osmo-hlr"
sleep 0.3

n=0
# The sample USSD dialogues, as transcripts (NAME.ussd.in: the code, then the answers).
mkdir -p "$T/transcripts"
"$B/guichet" test -q --export "$T/transcripts" "$ROOT/flows" \
  "$ROOT"/flows/tests/{droits,rendez-vous,menu-racine}.ussd.yaml >/dev/null || fail "guichet test --export"
for in in "$T"/transcripts/*.ussd.in; do
  name=$(basename "$in" .ussd.in); n=$((n + 1))
  mapfile -t lines < <(grep -v '^\s*\(#.*\)\?$' "$in")
  code=${lines[0]}; answers=("${lines[@]:1}")
  # Over GSUP.
  steps=("dial 00101000000000$(( (n - 1) % 3 + 1 )) $code")
  for i in "${!answers[@]}"; do steps+=("expect con" "answer ${answers[$i]}"); done
  steps+=("expect end")
  "$B/tools/ussd_msc" -H "$IP" -t 6 "${steps[@]}" >>"$T/msc.out" 2>&1 || fail "$name over GSUP"
  ok "$name over osmo-hlr: ${#answers[@]} answer(s), END"
  # Over the aggregator callback.
  sid="t$n-$RANDOM" text="" k=0
  post() { curl -s -m 8 -H "X-Guichet-Secret: $SECRET" --data-urlencode "sessionId=$sid" \
           --data-urlencode "serviceCode=$code" --data-urlencode "phoneNumber=+3361234567$n" \
           --data-urlencode "text=$1" "http://127.0.0.1:$HPORT/"; }
  r=$(post ""); case $r in CON*) ;; *) fail "$name over HTTP: first screen [$r]";; esac
  for a in "${answers[@]}"; do
    k=$((k + 1)); text=${text:+$text*}$a
    r=$(post "$text")
    if [ $k -lt ${#answers[@]} ]; then
      case $r in CON*) ;; *) fail "$name over HTTP: screen $k [$r]";; esac
    else
      case $r in END*) ;; *) fail "$name over HTTP: last screen [$r]";; esac
    fi
  done
  ok "$name over the aggregator callback: END"
done

# A forged history jumps nowhere: after answering 1, a text that does not extend "1" is
# refused; and "1*2*3" as a first answer is one (odd) answer, not three steps.
fpost() { curl -s -m 8 -H "X-Guichet-Secret: $SECRET" -d "sessionId=$1&phoneNumber=%2B33612345670" \
          --data-urlencode "serviceCode=*4321#" --data-urlencode "text=$2" "http://127.0.0.1:$HPORT/"; }
sid="forged-$RANDOM"
fpost "$sid" "" | grep -q '^CON' || fail "forged: begin"
fpost "$sid" "1" | grep -q '^CON' || fail "forged: first answer"
r=$(fpost "$sid" "2*1")
[ "$r" = "END Session invalide." ] || fail "forged history accepted: [$r]"
sid="forged-$RANDOM"
fpost "$sid" "" >/dev/null
r=$(fpost "$sid" "1*2*3")
case $r in *"Votre démarche"*|*"non comprise"*) ;; *) fail "1*2*3 as a first answer: [$r]";; esac
ok "forged history refused; a starred first answer is one answer"
echo "ussd_guichetd: all passed"
