#!/usr/bin/env bash
# A handoff reaches the demo back-end with the person's number and the transcript so far,
# without the answer to the secret question; the person is told who calls back and when.
# Then the CONSEILLER keyword in the middle of another procedure hands that one over too.
# guichetd on libGammu's dummy modem, the demo HTTPS back-end.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness handoff guichetd tools/sms_inject
need curl
mkdir -p "$T/modem" "$T/flows"
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }

start_backend "$T/backend"
cat > "$T/flows/dossier.yaml" <<'Y'
flow: dossier
title: Dossier
entry: { sms: [DOSSIER] }
start: numero
steps:
  numero:
    ask: "Votre numero de dossier ?"
    expect: { digits: 8, retry: "Il faut 8 chiffres." }
    save: numero
    next: code
  code:
    ask: "Votre code secret ?"
    expect: { secret: { digits: 4 }, retry: "Il faut 4 chiffres." }
    save: code
    next: question
  question:
    ask: "Votre question ?"
    save: question
    next: humain
  humain:
    handoff: conseil.rappel
    save: rappel
    on_error: desole
    next: dit
  dit:
    say: "{{rappel.qui}} vous rappellera {{rappel.quand}}."
  desole:
    say: "Le service ne repond pas."
Y
cat > "$T/flows/conseiller.yaml" <<'Y'
flow: conseiller
title: Un conseiller
entry: { sms: [CONSEILLER] }
steps:
  humain:
    handoff: conseil.rappel
    save: rappel
    on_error: desole
    next: dit
  dit:
    say: "{{rappel.qui}} vous rappellera {{rappel.quand}}."
  desole:
    say: "Le service ne repond pas."
Y
cat > "$T/guichet.yaml" <<Y
flows: $T/flows
store: $T/guichet.db
credentials: $T/backend
log: { level: info }
backends:
  conseil:
    url: https://127.0.0.1:$BPORT
    ca: $T/backend/demo-ca.pem
    auth: { bearer: agenda-token }
    timeout_ms: 3000
    operations:
      rappel:
        method: POST
        path: /conseil/rappels
        body: { phone: "{{phone}}", transcript: "{{transcript}}" }
        require: [qui, quand]
modems:
  - name: m1
    model: dummy
    device: $T/modem
    poll_ms: 50
    rate: 0
    sent_log: $T/sent.jsonl
Y
start_guichetd

replies() { [ -f "$T/sent.jsonl" ] && wc -l < "$T/sent.jsonl" || echo 0; }
say() {
  local before; before=$(replies)
  "$B/tools/sms_inject" "$T/modem" "$1" "$2" >/dev/null || fail "inject"
  for _ in $(seq 200); do [ "$(replies)" -gt "$before" ] && return 0; sleep 0.05; done
  fail "no reply to [$2]"
}
rappels() { curl -s --cacert "$T/backend/demo-ca.pem" -H "Authorization: Bearer $(cat "$T/backend/agenda-token")" "https://127.0.0.1:$BPORT/test/rappels"; }

say +33612340001 DOSSIER
say +33612340001 12345678
say +33612340001 9876
say +33612340001 "Je ne comprends pas le courrier"
tail -1 "$T/sent.jsonl" | grep -q "Un conseiller vous rappellera demain entre 9h et 12h" || fail "the person was not told who calls back: $(tail -1 "$T/sent.jsonl")"
rappels > "$T/r.json"
python3 - "$T/r.json" <<'P' || fail "the handoff did not reach the back-end as expected: $(cat "$T/r.json")"
import json, sys
r = json.load(open(sys.argv[1]))["rappels"]
assert len(r) == 1, r
h = r[0]
assert h["phone"] == "+33612340001", h
t = h["transcript"]
for want in ("> DOSSIER", "> 12345678", "< Votre code secret ?", "> Je ne comprends pas le courrier"):
    assert want in t, (want, t)
assert "9876" not in t, t
P
grep -q 9876 "$T/guichetd.log" && fail "the secret answer is in the journal"
echo "ok a handoff reaches the back-end with the number and transcript, without the secret answer"

say +33612340002 DOSSIER
say +33612340002 1234567
say +33612340002 CONSEILLER
tail -1 "$T/sent.jsonl" | grep -q "Un conseiller vous rappellera" || fail "CONSEILLER in a procedure: $(tail -1 "$T/sent.jsonl")"
rappels > "$T/r.json"
python3 - "$T/r.json" <<'P' || fail "CONSEILLER's handoff: $(cat "$T/r.json")"
import json, sys
r = json.load(open(sys.argv[1]))["rappels"]
assert len(r) == 2, r
t = r[1]["transcript"]
assert r[1]["phone"] == "+33612340002"
assert "> 1234567\n< Il faut 8 chiffres." in t and "> CONSEILLER" in t, t
P
echo "ok CONSEILLER in the middle of a procedure hands it over with what was said"
exit 0
