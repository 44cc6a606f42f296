#!/usr/bin/env bash
# A reload of a big flow set does not stop the daemon from answering: the files are loaded
# and checked on a thread of their own, and only the swap happens on the loop. Four flows
# of 8,000 chained questions each (seconds to load and check) are added and SIGHUP sent;
# meanwhile USSD dialogues through the aggregator callback must be answered, with
# curl --max-time 2 as the detector (the old loop stopped for the whole load). Then the new
# flows serve, and a second SIGHUP during a load is not lost.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness reload_busy guichetd
need curl python3
mkdir -p "$T/flows" "$T/big"
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }
ok() { echo "ok - $*"; }

cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"
python3 - "$T/big" <<'PY'
import sys
n = 8000
for k in range(4):
    with open("%s/grand%d.yaml" % (sys.argv[1], k), "w") as f:
        f.write('flow: grand%d\ntitle: "Grand %d"\nentry: { sms: GRAND%d, ussd: "*4321*8%d#" }\n'
                'steps:\n' % (k, k, k, k))
        for i in range(n - 1):
            f.write('  q%d: { ask: "Q%d ?", save: r%d, next: q%d }\n' % (i, i, i, i + 1))
        f.write('  q%d: { say: "Fin.", end: true }\n' % (n - 1))
PY
PORT=$(free_port)
cat > "$T/guichet.yaml" <<YAML
flows: $T/flows
store: $T/guichet.db
ussd_http: { listen: 127.0.0.1, port: $PORT, allow: [127.0.0.1] }
YAML
start_guichetd
# post SESSION CODE TEXT; each session its own number (the guard limits dialogues per number)
post() { curl -s --max-time 2 --data-urlencode "sessionId=$1" --data-urlencode "serviceCode=$2" \
              --data-urlencode "phoneNumber=+336123$(cksum <<<"$1" | cut -c1-5)" \
              --data-urlencode "text=$3" "http://127.0.0.1:$PORT/"; }
done_lines() { grep -c "reload done" "$T/guichetd.log"; }
r=$(post A "*4321*2#" ""); case $r in "CON Vos droits"*) ;; *) fail "before the reload: [$r]";; esac

mv "$T"/big/*.yaml "$T/flows/"
kill -HUP "$GD"
sleep 0.2
during=0 n=0
for i in $(seq 8); do
  before=$(done_lines)
  r=$(post "D$i" "*4321*2#" ""); case $r in "CON Vos droits"*) ;; *) fail "dialogue $i during the reload: [$r]";; esac
  r=$(post "D$i" "*4321*2#" "1"); case $r in "CON Combien d'enfants"*) ;; *) fail "dialogue $i, answer: [$r]";; esac
  n=$((n + 1))
  [ "$before" = 0 ] && [ "$(done_lines)" = 0 ] && during=$((during + 1))
  sleep 0.2
done
kill -0 "$GD" 2>/dev/null || fail "guichetd died"
if [ "$during" -gt 0 ]; then
  ok "$during of $n dialogues answered while the big flow set was loading"
else
  echo "ok - (the reload ended before the first answer: this machine is too fast to show it)"
fi
for _ in $(seq 600); do [ "$(done_lines)" -ge 1 ] && break; sleep 0.1; done
[ "$(done_lines)" = 1 ] || fail "no reload line"
grep -q "reload done: 5 flows" "$T/guichetd.log" || fail "the new flows not loaded"
r=$(post G "*4321*83#" ""); case $r in "CON Q0 ?"*) ;; *) fail "new flow after the reload: [$r]";; esac
r=$(post A "*4321*2#" "1"); case $r in "CON Combien d'enfants"*) ;; *) fail "session begun before: [$r]";; esac
ok "after it, the new flows serve and a session begun before goes on"

# Two SIGHUPs close together: the second one, during the load, gives a second load.
rm "$T/flows/grand2.yaml" "$T/flows/grand3.yaml"
kill -HUP "$GD"; sleep 0.2; kill -HUP "$GD"
for _ in $(seq 600); do [ "$(done_lines)" -ge 3 ] && break; sleep 0.1; done
[ "$(done_lines)" = 3 ] || fail "a SIGHUP during a load was lost ($(done_lines) reload lines)"
grep -q "reload requested while one is loading" "$T/guichetd.log" || fail "second SIGHUP not during the load"
ok "a SIGHUP during a load is followed by another load"
kill -TERM "$GD"; wait "$GD"; rc=$?; GD=
[ "$rc" = 0 ] || fail "guichetd exited with $rc"
ok "stops cleanly"
echo "reload_busy: all passed"
