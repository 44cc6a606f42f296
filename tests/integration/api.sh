#!/usr/bin/env bash
# The notification API with real TLS clients: guichetd on libGammu's dummy modem, curl as a
# back-end. A bearer token and a client certificate let in; a wrong token, a certificate of
# another CA, plain HTTP are refused. A message is committed before its 202 and sent once;
# an idempotency key twice is one message; a batch; a cancel (and a 409 once sent); bad
# input gets a 400 with a reason; STOP then a notification -> refused: opt-out, START -> sent;
# kill -9 with messages scheduled: after the restart each is sent once, at its time.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness api guichetd tools/sms_inject
need curl openssl
fail() { echo "FAIL: $*"; tail -n 30 "$T/guichetd.log"; exit 1; }

"$ROOT/tests/backend/make-certs.sh" "$T/certs" >/dev/null || fail "make-certs"
# A client certificate of another CA: must be refused.
( cd "$T/certs" && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=intruder" -keyout bad.key -out bad.csr 2>/dev/null &&
  openssl x509 -req -in bad.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
    -days 30 -out bad.pem 2>/dev/null ) || fail "the other CA's client certificate"
mkdir -p "$T/cred" "$T/modem" "$T/flows"
umask 077
TOKEN=test-token-0123456789abcdef
echo "$TOKEN" > "$T/cred/api-token"
umask 022
cat > "$T/flows/bonjour.yaml" <<'Y'
flow: bonjour
title: Bonjour
entry: { sms: [BONJOUR] }
steps:
  fin:
    say: "Bonjour !"
Y
cat > "$T/flows/rappel.yaml" <<'Y'
flow: rappel
title: Rappel
entry: { sms: [RAPPEL] }
steps:
  debut:
    say: "Les rappels arrivent par SMS."
    set: { date: "prochain" }
    next: confirmer
  confirmer:
    menu: "Votre RDV du {{date}} est-il maintenu ?"
    options:
      - { label: "Oui", next: oui }
      - { label: "Non", next: non }
  oui:
    say: "Merci, RDV du {{date}} maintenu."
    end: true
  non:
    say: "RDV du {{date}} annule."
    end: true
Y
PORT=$(free_port)
cat > "$T/guichet.yaml" <<Y
flows: $T/flows
store: $T/guichet.db
credentials: $T/cred
sms: { max_parts: 3, fold: true }
modems:
  - name: m1
    model: dummy
    device: $T/modem
    poll_ms: 50
    rate: 0
    sent_log: $T/sent.jsonl
notify:
  quiet_hours: off
  pacing: 0
api:
  listen: 127.0.0.1
  port: $PORT
  cert: $T/certs/server.pem
  key: $T/certs/server.key
  tokens: [api-token]
  client_ca: $T/certs/demo-ca.pem
Y
start_guichetd
U=https://127.0.0.1:$PORT
C=(curl -sS --cacert "$T/certs/demo-ca.pem" -o "$T/body" -w '%{http_code}')
api() { "${C[@]}" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$T/body" "$1"; }
sent_to() { if [ -f "$T/sent.jsonl" ]; then grep -c "\"to\": *\"$1\"" "$T/sent.jsonl"; else echo 0; fi; }
wait_sent() { for _ in $(seq 100); do [ "$(sent_to "$1")" -ge "$2" ] && return 0; sleep 0.05; done; return 1; }

# --- who gets in ---
code=$("${C[@]}" -X POST "$U/v1/messages" -d '{}')
[ "$code" = 401 ] || fail "no credentials: $code"
code=$("${C[@]}" -H "Authorization: Bearer wrong-token-0123456789" -X POST "$U/v1/messages" -d '{}')
[ "$code" = 401 ] || fail "a wrong token: $code"
code=$("${C[@]}" --cert "$T/certs/bad.pem" --key "$T/certs/bad.key" "$U/v1/messages/1")
[ "$code" = 401 ] || fail "another CA's client certificate: $code"
curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/messages/1" && fail "plain HTTP answered"
grep -q "api: POST /v1/messages refused: wrong token" "$T/guichetd.log" || fail "the refusal is not logged"
echo "ok - no token, a wrong token, another CA's certificate, plain HTTP: refused"

# --- one message, by token, then by client certificate ---
code=$(api -X POST "$U/v1/messages" -d '{"to":"+33611111111","text":"Votre dossier est prêt.","reference":"D-1"}')
[ "$code" = 202 ] || fail "POST: $code $(cat "$T/body")"
id1=$(field '["id"]')
wait_sent +33611111111 1 || fail "the message was not sent"
grep '"to": *"+33611111111"' "$T/sent.jsonl" | grep -q "Votre dossier est pret\." || fail "text (folded to GSM-7 like flow texts)"
code=$("${C[@]}" --cert "$T/certs/client.pem" --key "$T/certs/client.key" "$U/v1/messages/$id1")
[ "$code" = 200 ] || fail "GET with a client certificate: $code"
[ "$(field '["status"]')" = sent ] || fail "status $(cat "$T/body")"
[ "$(field '["reference"]')" = D-1 ] || fail "reference"
echo "ok - a message by token is committed, sent, and read back with a client certificate"

# --- idempotency ---
code=$(api -X POST "$U/v1/messages" -H 'Idempotency-Key: k-42' -d '{"to":"+33622222222","text":"Une fois"}')
[ "$code" = 202 ] || fail "POST with a key: $code"
ida=$(field '["id"]')
code=$(api -X POST "$U/v1/messages" -d '{"to":"+33622222222","text":"Une fois","idempotency_key":"k-42"}')
[ "$code" = 202 ] && [ "$(field '["id"]')" = "$ida" ] || fail "the same key gave another message"
wait_sent +33622222222 1 || fail "not sent"
sleep 0.5
[ "$(sent_to +33622222222)" = 1 ] || fail "a repeated key was sent twice"
echo "ok - the same idempotency key twice: one message, one id"

# --- cancel ---
code=$(api -X POST "$U/v1/messages" -d '{"to":"+33633333333","text":"Plus tard","send_at":"2099-01-01T10:00:00+01:00"}')
[ "$code" = 202 ] && [ "$(field '["status"]')" = queued ] || fail "scheduled: $code"
idc=$(field '["id"]')
code=$(api -X DELETE "$U/v1/messages/$idc")
[ "$code" = 200 ] && [ "$(field '["status"]')" = cancelled ] || fail "DELETE: $code"
code=$(api -X DELETE "$U/v1/messages/$id1")
[ "$code" = 409 ] || fail "DELETE of a sent message: $code"
code=$(api -X DELETE "$U/v1/messages/999999")
[ "$code" = 404 ] || fail "DELETE of nothing: $code"
echo "ok - cancel before sending; 409 once sent; 404 for no such message"

# --- batch ---
python3 - "$T/batch.json" <<'P'
import json, sys
json.dump({"messages": [{"to": "+3364444%04d" % i, "template": "Bonjour {{nom}}, RDV {{n}}",
                         "vars": {"nom": "Zoé", "n": i}} for i in range(50)]}, open(sys.argv[1], "w"))
P
code=$(api -X POST "$U/v1/messages:batch" --data-binary @"$T/batch.json")
[ "$code" = 202 ] || fail "batch: $code $(cat "$T/body")"
[ "$(field '["messages"].__len__()')" = 50 ] || fail "batch ids"
for _ in $(seq 100); do [ "$(grep -c '+3364444' "$T/sent.jsonl")" -ge 50 ] && break; sleep 0.05; done
[ "$(grep -c '+3364444' "$T/sent.jsonl")" = 50 ] || fail "batch: $(grep -c '+3364444' "$T/sent.jsonl") sent"
python3 -c '
import json, sys
ok = any(m["to"] == "+33644440007" and m["text"] == "Bonjour Zoé, RDV 7"
         for m in map(json.loads, open(sys.argv[1])))
sys.exit(0 if ok else 1)' "$T/sent.jsonl" || fail "template"
echo "ok - a batch of 50 templated messages: 50 ids, 50 sent"

# --- concurrent clients: their requests may share one commit; each gets its own id ---
seq 40 | xargs -P 20 -I{} curl -sS --cacert "$T/certs/demo-ca.pem" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -o "$T/par.{}" -w '%{http_code}\n' -X POST "$U/v1/messages" \
  -d '{"to":"+336555500{}","text":"Ensemble {}"}' > "$T/par.codes" 2>/dev/null
[ "$(grep -c '^202$' "$T/par.codes")" = 40 ] || fail "concurrent: $(sort "$T/par.codes" | uniq -c | tr '\n' ' ')"
[ "$(cat "$T"/par.[0-9]* | python3 -c 'import sys, json; print(len({json.loads(l)["id"] for l in sys.stdin.read().replace("}{", "}\n{").splitlines()}))')" = 40 ] ||
  fail "concurrent: ids not distinct"
for _ in $(seq 100); do [ "$(grep -c '+336555500' "$T/sent.jsonl")" -ge 40 ] && break; sleep 0.05; done
[ "$(grep -c '+336555500' "$T/sent.jsonl")" = 40 ] || fail "concurrent: $(grep -c '+336555500' "$T/sent.jsonl") of 40 sent"
echo "ok - 40 concurrent requests: 40 ids, 40 sent"

# --- validation ---
bad() {
  code=$(api -X POST "$U/v1/messages" -d "$1")
  [ "$code" = 400 ] || fail "[$1] got $code"
  grep -q '"detail"' "$T/body" || fail "[$1] no detail"
}
bad '{"to":"0611111111","text":"x"}'
bad '{"to":"+33611111111"}'
bad '{"to":"+33611111111","text":"x","template":"y"}'
bad '{"to":"+33611111111","text":"x","send_at":"demain"}'
bad '{"to":"+33611111111","text":"x","send_at":"2099-02-30T10:00:00Z"}'
bad '{"to":"+33611111111","text":"x","send_at":"2099-01-01T10:00:00Z","not_after":"2099-01-01T09:00:00Z"}'
bad '{"to":"+33611111111","text":12}'
bad '{"to":"+33611111111","text":"x","colour":"red"}'
bad '{"to":"+33611111111","text":"x","to":"+33622222222"}'
bad 'not json'
bad "{\"to\":\"+33611111111\",\"text\":\"$(printf 'x%.0s' $(seq 600))\"}"
code=$(api -X POST "$U/v1/messages:batch" -d '{"messages":[{"to":"+33611111111","text":"ok"},{"to":"bad","text":"x"}]}')
[ "$code" = 400 ] && grep -q 'messages\[1\]' "$T/body" || fail "a bad batch: $code $(cat "$T/body")"
sleep 0.3
[ "$(sent_to +33611111111)" = 1 ] || fail "a message of a refused batch was sent"
echo "ok - bad numbers, dates, types, members, JSON, sizes: 400 with a reason; a bad batch stores nothing"

# --- consent ---
"$B/tools/sms_inject" "$T/modem" +33655555555 "STOP" >/dev/null || fail inject
for _ in $(seq 100); do grep -q "opts out of" "$T/guichetd.log" && break; sleep 0.05; done
code=$(api -X POST "$U/v1/messages" -d '{"to":"+33655555555","text":"Campagne"}')
[ "$code" = 202 ] && [ "$(field '["status"]')" = refused ] && [ "$(field '["reason"]')" = opt-out ] ||
  fail "after STOP: $code $(cat "$T/body")"
"$B/tools/sms_inject" "$T/modem" +33655555555 "START" >/dev/null || fail inject
for _ in $(seq 100); do grep -q "opts back in" "$T/guichetd.log" && break; sleep 0.05; done
before=$(sent_to +33655555555)
code=$(api -X POST "$U/v1/messages" -d '{"to":"+33655555555","text":"Campagne 2"}')
[ "$code" = 202 ] || fail "after START: $code"
wait_sent +33655555555 $((before + 1)) || fail "not sent after START"
grep '"to": *"+33655555555"' "$T/sent.jsonl" | grep -q "Campagne\"" && fail "the refused one was sent"
echo "ok - STOP: refused: opt-out; START: sent"

# --- a procedure Guichet opens; the person's answer continues it ---
code=$(api -X POST "$U/v1/messages" -d '{"to":"+33688888888","flow":"rappel","step":"confirmer","vars":{"date":"3/12"}}')
[ "$code" = 202 ] || fail "opening a flow: $code $(cat "$T/body")"
wait_sent +33688888888 1 || fail "the opening question was not sent"
last_to() { python3 -c '
import json, sys
print([m["text"] for m in map(json.loads, open(sys.argv[1])) if m["to"] == sys.argv[2]][-1])' "$T/sent.jsonl" "$1"; }
last_to +33688888888 | grep -q "Votre RDV du 3/12 est-il maintenu" || fail "opening text: $(last_to +33688888888)"
"$B/tools/sms_inject" "$T/modem" +33688888888 "1" >/dev/null || fail inject
wait_sent +33688888888 2 || fail "the answer was not answered"
[ "$(last_to +33688888888)" = "Merci, RDV du 3/12 maintenu." ] || fail "the flow did not go on: $(last_to +33688888888)"
code=$(api -X POST "$U/v1/messages" -d '{"to":"+33688888888","flow":"rappel","step":"nulle_part"}')
[ "$code" = 400 ] || fail "an unknown step: $code"
echo "ok - a procedure opened by the API, answered by SMS, continues as if the person had started it"

# --- guichet send, an operator through the same API ---
out=$("$B/guichet" send --config "$T/guichet.yaml" --to +33677777777 --text "Message de l'accueil") ||
  fail "guichet send: $out"
echo "$out" | grep -Eq '^id [0-9]+: (queued|sent)$' || fail "guichet send said [$out]"
wait_sent +33677777777 1 || fail "guichet send: not sent"
out=$("$B/guichet" send --config "$T/guichet.yaml" --ca "$T/certs/other-ca.pem" --to +33677777777 --text x 2>&1) &&
  fail "guichet send trusted a certificate of another CA"
out=$("$B/guichet" send --config "$T/guichet.yaml" --to 0677 --text x 2>&1) && fail "a bad number passed"
echo "$out" | grep -q "HTTP 400: .*E.164" || fail "guichet send did not tell why: $out"
echo "ok - guichet send: through the API, the certificate verified, the API's reason shown"

# --- kill -9 with messages scheduled: each sent once, at its time ---
at=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4]+"Z")')
for i in 1 2 3 4 5; do
  code=$(api -X POST "$U/v1/messages" -d "{\"to\":\"+3366666000$i\",\"text\":\"Rappel $i\",\"send_at\":\"$at\"}")
  [ "$code" = 202 ] || fail "scheduling $i: $code"
done
kill -9 "$GD"; wait "$GD" 2>/dev/null; GD=
[ "$(grep -c '+336666600' "$T/sent.jsonl")" = 0 ] || fail "sent before its time"
start_guichetd
for _ in $(seq 150); do [ "$(grep -c '+336666600' "$T/sent.jsonl")" -ge 5 ] && break; sleep 0.05; done
[ "$(grep -c '+336666600' "$T/sent.jsonl")" = 5 ] || fail "after kill -9: $(grep -c '+336666600' "$T/sent.jsonl") of 5 sent"
due=$(python3 -c "import datetime; print(datetime.datetime.strptime('$at','%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp())")
now=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if $now >= $due else 1)" || fail "sent before its time"
sleep 1
[ "$(grep -c '+336666600' "$T/sent.jsonl")" = 5 ] || fail "sent twice after the restart"
echo "ok - kill -9 between scheduling and sending: each message sent once, at its time"

kill -TERM "$GD"; wait "$GD"; rc=$?; GD=
[ "$rc" = 0 ] || fail "guichetd exited $rc at SIGTERM"
grep -Eq "AddressSanitizer|LeakSanitizer|runtime error" "$T/guichetd.log" && fail "sanitizer report"
grep -q "+33611111111\|+33688888888" "$T/guichetd.log" && fail "a number in the journal"
echo "ok - a clean stop; no sanitizer report; no number in the journal"
exit 0
