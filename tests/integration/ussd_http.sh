#!/usr/bin/env bash
# USSD through an aggregator's HTTP callback: curl plays the aggregator against the HTTP
# transport (ussd_probe: ussd_http with a stub menu), replying at once and after a delay
# (suspended requests). Dialogues to END, UCS-2, forged and replayed histories, wrong or
# missing secret, address not allowed (closed at accept), an aggregator that leaves before the reply.
# Exit 0 pass, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/ussd_http.sh"
harness ussd_http tools/ussd_probe
need curl
fail() { echo "FAIL: $*"; echo "--- probe"; tail -n 30 "$T/probe.out" "$T/probe.err"; exit 1; }
ok() { echo "ok - $*"; }
ussd_secret
probe_config

for DELAY in 0 150; do
  probe_start "$T/probe.yaml" -D "$DELAY"
  p="s$DELAY-$RANDOM"

  # A whole dialogue: begin, answer, answer -> END.
  expect "begin" "$(post "$p-a" "")" $'CON Guichet\n1. Acte de naissance'
  expect "answer 1" "$(post "$p-a" "1")" "CON Numéro de dossier ?"
  expect "answer 2" "$(post "$p-a" "1*AB-12")" "END Demande AB-12 enregistrée. Merci."
  expect "content type" "$(curl -s -o /dev/null -w '%{content_type}' -H "X-Guichet-Secret: $SECRET" \
     -d "sessionId=$p-ct&serviceCode=*4321%23&text=" "http://127.0.0.1:$PORT/")" "text/plain; charset=utf-8"
  ok "[delay $DELAY] dialogue to END"
  expect "UCS-2 prompt" "$(post "$p-b" "" >/dev/null; post "$p-b" "3")" "CON Votre avis ? « oui » ou « non »"
  expect "UCS-2 answer" "$(post "$p-b" "3*ça va")" "END Reçu : ça va"
  ok "[delay $DELAY] non-GSM-7 text both ways"

  # A forged history: jumping to another branch is refused and the dialogue aborted.
  post "$p-c" "" >/dev/null; post "$p-c" "1" >/dev/null
  expect "forged" "$(post "$p-c" "2*X")" "END Session invalide."
  grep -q "ABORT http:$p-c" "$T/probe.out" || fail "forged history did not abort"
  expect "after forged" "$(post "$p-c" "1*X")" "END Session invalide."
  # A replayed request (same text twice).
  post "$p-d" "" >/dev/null; post "$p-d" "1" >/dev/null
  expect "replayed" "$(post "$p-d" "1")" "END Session invalide."
  # A history for a session never begun here.
  expect "unknown session" "$(post "$p-e" "1*2")" "END Session invalide."
  ok "[delay $DELAY] forged, replayed and unknown histories refused"

  # Access control.
  r=$(curl -s -m 5 -H "X-Guichet-Secret: wrong" -d "sessionId=$p-f&serviceCode=*4321%23&text=" \
      -w '\nHTTP %{http_code}' "http://127.0.0.1:$PORT/")
  expect "wrong secret" "$r" "HTTP 403"
  r=$(curl -s -m 5 -d "sessionId=$p-f&serviceCode=*4321%23&text=" -w '\nHTTP %{http_code}' \
      "http://127.0.0.1:$PORT/")
  expect "no secret" "$r" "HTTP 403"
  r=$(curl -s -m 5 -d "sessionId=$p-f&serviceCode=*4321%23&text=" -w '\nHTTP %{http_code}' \
      "http://127.0.0.1:$PORT/?secret=$SECRET")
  expect "secret as query parameter" "$r" "CON Guichet"
  # An address not allowed is closed at accept time, before any byte is read: no reply.
  r=$(post "$p-g" "" --interface 127.0.0.9)
  expect "address not allowed" "$r" "HTTP 000"
  r=$(curl -s -m 5 -H "X-Guichet-Secret: $SECRET" -w '\nHTTP %{http_code}' "http://127.0.0.1:$PORT/")
  expect "GET" "$r" "HTTP 405"
  r=$(head -c 20000 /dev/zero | tr '\0' a | curl -s -m 5 -H "X-Guichet-Secret: $SECRET" \
      --data-binary @- -H 'Content-Type: application/x-www-form-urlencoded' \
      -w '\nHTTP %{http_code}' "http://127.0.0.1:$PORT/")
  expect "too large" "$r" "HTTP 413"
  grep -q "REQ http http:$p-f" "$T/probe.out" || true
  [ "$(grep -c "REQ http http:$p-g" "$T/probe.out")" = 0 ] || fail "refused request reached the sink"
  ok "[delay $DELAY] wrong/missing secret, foreign address, GET, oversized body refused"

  if [ "$DELAY" != 0 ]; then
    # The aggregator gives up before the reply: the reply is dropped, the session aborted.
    post "$p-h" "" >/dev/null
    curl -s -m 0.05 -H "X-Guichet-Secret: $SECRET" -d "sessionId=$p-h&serviceCode=*4321%23&phoneNumber=%2B33612345678&text=1" \
      "http://127.0.0.1:$PORT/" >/dev/null
    sleep 0.4
    grep -q "ABORT http:$p-h" "$T/probe.out" || fail "session not aborted after the aggregator left"
    expect "after leaving" "$(post "$p-h" "1*X")" "END Session invalide."
    ok "[delay $DELAY] aggregator leaving before the reply: dropped safely, session aborted"
  fi

  # Concurrent sessions.
  for i in $(seq 40); do post "$p-k$i" "" >"$T/c$i" & done; wait $(jobs -p | grep -v "^$GD$") 2>/dev/null
  for i in $(seq 40); do grep -q "CON Guichet" "$T/c$i" || fail "concurrent session $i"; done
  ok "[delay $DELAY] 40 concurrent sessions"

  probe_stop
  ok "[delay $DELAY] no memory left after stop"
done
echo "ussd_http: all passed"
