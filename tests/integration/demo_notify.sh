#!/usr/bin/env bash
# The demo back-end tells a case's owner that its status changed, through guichetd's
# notification API: POST /admin/dossiers/N/status on the back-end -> POST /v1/messages on
# guichetd (TLS, bearer token) -> an SMS on libGammu's dummy modem; the same change twice
# is one message (idempotency key); the dossier flow then answers the new status.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness demo_notify guichetd tools/sms_inject
need curl openssl python3
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; tail -n 5 "$T/backend.log"; exit 1; }

"$ROOT/tests/backend/make-certs.sh" "$T/certs" >/dev/null || fail "make-certs"
mkdir -p "$T/cred" "$T/modem"
(umask 077; echo "backend-token-0123456789abcdef" > "$T/cred/agenda-token";
 echo "api-token-0123456789abcdef" > "$T/cred/api-token")
BPORT=$(free_port); APORT=$(free_port)
python3 "$ROOT/tests/backend/demo_backend.py" --port "$BPORT" --cert "$T/certs/server.pem" \
  --key "$T/certs/server.key" --token-file "$T/cred/agenda-token" --db "$T/demo.sqlite" \
  --notify-url "https://127.0.0.1:$APORT" --notify-token-file "$T/cred/api-token" \
  --notify-ca "$T/certs/demo-ca.pem" >"$T/backend.log" 2>&1 &
PIDS+=($!)
python3 - "$ROOT/config/demo.yaml" "$T/guichet.yaml" "$ROOT" "$T" "$BPORT" "$APORT" <<'PY'
import sys
src, dst, root, t, bport, aport = sys.argv[1:]
text = open(src, encoding="utf-8").read().split("\nmodems:")[0]
text = text.replace("flows: ../flows", "flows: %s/flows" % root)
text = text.replace("store: ../build/demo/guichet.db", "store: %s/guichet.db" % t)
text = text.replace("credentials: ../build/demo", "credentials: %s/cred" % t)
text = text.replace("../build/demo/demo-ca.pem", "%s/certs/demo-ca.pem" % t)
text = text.replace("https://127.0.0.1:8443", "https://127.0.0.1:%s" % bport)
text += """
modems:
  - { name: m1, model: dummy, device: %s/modem, poll_ms: 50, rate: 0, sent_log: %s/sent.jsonl }
notify: { quiet_hours: off, pacing: 0 }
api:
  listen: 127.0.0.1
  port: %s
  cert: %s/certs/server.pem
  key: %s/certs/server.key
  tokens: [api-token]
""" % (t, t, aport, t, t)
open(dst, "w", encoding="utf-8").write(text)
PY
start_guichetd
for _ in $(seq 50); do curl -s --cacert "$T/certs/demo-ca.pem" -o /dev/null "https://127.0.0.1:$BPORT/health" && break; sleep 0.1; done

admin() { curl -s --cacert "$T/certs/demo-ca.pem" -H "Authorization: Bearer $(cat "$T/cred/agenda-token")" \
  -H 'Content-Type: application/json' -d "$2" "https://127.0.0.1:$BPORT/admin/dossiers/$1/status"; }
sent_to() { if [ -f "$T/sent.jsonl" ]; then grep -c "\"to\": *\"$1\"" "$T/sent.jsonl" || true; else echo 0; fi; }
change='{"status": "accepte", "label": "Votre demande est acceptee.", "phone": "+33612000001"}'
r=$(admin 12345678 "$change")
case $r in *'"notify": 202'*) ;; *) fail "the back-end's notification: $r";; esac
for _ in $(seq 100); do [ "$(sent_to +33612000001)" -ge 1 ] && break; sleep 0.1; done
grep "+33612000001" "$T/sent.jsonl" | grep -q "Dossier 12345678 : Votre demande est acceptee." ||
  fail "no SMS for the status change: $(cat "$T/sent.jsonl" 2>/dev/null)"
echo "ok a status change in the demo back-end reaches the person by SMS through the API"
r=$(admin 12345678 "$change")
case $r in *'"notify": 202'*) ;; *) fail "the same change again: $r";; esac
sleep 1
[ "$(sent_to +33612000001)" -eq 1 ] || fail "the same change twice sent $(sent_to +33612000001) SMS"
echo "ok the same change twice is one message (idempotency key)"
"$B/tools/sms_inject" "$T/modem" +33612000001 DOSSIER >/dev/null
for _ in $(seq 100); do [ "$(sent_to +33612000001)" -ge 2 ] && break; sleep 0.1; done
"$B/tools/sms_inject" "$T/modem" +33612000001 12345678 >/dev/null
for _ in $(seq 100); do [ "$(sent_to +33612000001)" -ge 3 ] && break; sleep 0.1; done
"$B/tools/sms_inject" "$T/modem" +33612000001 4321 >/dev/null
for _ in $(seq 100); do [ "$(sent_to +33612000001)" -ge 4 ] && break; sleep 0.1; done
tail -1 "$T/sent.jsonl" | grep -q "Votre demande est acceptee" || fail "the dossier flow: $(tail -1 "$T/sent.jsonl")"
echo "ok the dossier flow then answers the new status"
exit 0
