#!/usr/bin/env bash
# Live reload (SIGHUP, what `systemctl reload guichetd` sends): a valid change serves new
# sessions while a session already running finishes on the flow it began with; an invalid
# change is refused with file:line:column in the log and the previous flows keep serving.
# Driven through the USSD aggregator callback (curl), which answers synchronously.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness reload guichetd
need curl
mkdir -p "$T/flows"
keep_logs guichetd.log
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }

cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"
PORT=$(free_port)
cat > "$T/guichet.yaml" <<EOF
flows: $T/flows
store: $T/guichet.db
ussd_http: { listen: 127.0.0.1, port: $PORT, allow: [127.0.0.1] }
EOF
start_guichetd

# post SESSION TEXT: one aggregator request; the answer on stdout
post() { curl -s -m 5 --data-urlencode "sessionId=$1" --data-urlencode "serviceCode=*4321*2#" \
              --data-urlencode "phoneNumber=+33612345678" --data-urlencode "text=$2" \
              "http://127.0.0.1:$PORT/"; }
reloads() { grep -c "reload \(done\|refused\)" "$T/guichetd.log"; }
reload() {
  local before; before=$(reloads)
  kill -HUP "$GD"
  for _ in $(seq 50); do [ "$(reloads)" -gt "$before" ] && return 0; sleep 0.1; done
  fail "no reload line after SIGHUP"
}

r=$(post A ""); case $r in "CON Vos droits. Votre situation ?"*) ;; *) fail "session A start: [$r]";; esac

# A valid change: new wording for two steps.
sed -i -e 's/Vos droits. Votre situation ?/Droits : votre situation ?/' \
       -e "s/Combien d'enfants à charge ?/Nombre d'enfants à charge ?/" "$T/flows/droits.yaml"
reload
grep -q "reload done" "$T/guichetd.log" || fail "valid change not taken"
r=$(post B ""); case $r in "CON Droits : votre situation ?"*) ;; *) fail "new session on the new flow: [$r]";; esac
r=$(post A "1"); case $r in "CON Combien d'enfants"*) ;; *) fail "old session left its flow: [$r]";; esac
echo "ok - valid reload: new sessions on the new flow, a running one finishes on its own"

# An invalid change: a typo in a key.
sed -i 's/^    next: enfants$/    nxt: enfants/' "$T/flows/droits.yaml"
grep -q "nxt: enfants" "$T/flows/droits.yaml" || fail "test setup: no line to break"
reload
grep -q "reload refused" "$T/guichetd.log" || fail "invalid change not refused"
grep -q "droits.yaml:[0-9]*:[0-9]*: .*nxt" "$T/guichetd.log" || fail "the error has no file:line:column"
r=$(post C ""); case $r in "CON Droits : votre situation ?"*) ;; *) fail "previous flows not serving: [$r]";; esac
kill -0 "$GD" || fail "guichetd died"
echo "ok - invalid reload refused with its location; the previous flows keep serving"
