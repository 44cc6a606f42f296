#!/usr/bin/env bash
# `guichet check` for an administrator: a guichet.yaml beside the flows is used to check
# calls (and its absence said), an unquoted USSD code is explained, each text's USSD screen
# is measured against the configured size, and test dialogues are costed.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness guichet_check guichet
G=$B/guichet
rc=0
ok() { echo "ok $*"; }
bad() { echo "FAIL $*"; rc=1; }

# A tree like /etc/guichet: guichet.yaml beside flows/, and a call to an undeclared operation.
mkdir -p "$T/etc/flows/tests"
cp "$ROOT"/flows/*.yaml "$T/etc/flows/"
cp "$ROOT"/flows/tests/rendez-vous.yaml "$T/etc/flows/tests/"
sed -i 's/call: dossier.status/call: dossier.statut/' "$T/etc/flows/dossier.yaml"

# 1. Without a config anywhere: no error, but the summary says calls were not checked.
out=$("$G" check "$T/etc/flows" 2>&1); st=$?
[ $st -eq 0 ] && echo "$out" | tail -1 | grep -q "calls not checked against back-end operations" &&
  ok "no config: says calls were not checked" || { bad "no config"; echo "$out" | tail -3; }

# 2. With a guichet.yaml beside the flows (as /etc/guichet/guichet.yaml), it is used.
cat > "$T/etc/guichet.yaml" <<'YAML'
flows: flows
ussd: { screen: 128 }
backends:
  agenda:
    url: https://127.0.0.1:8443
    operations:
      slots: { path: /agenda/slots }
      book: { method: POST, path: /agenda/bookings }
  dossier:
    url: https://127.0.0.1:8443
    operations:
      status: { method: POST, path: /dossiers/status }
YAML
out=$("$G" check "$T/etc/flows" 2>&1); st=$?
[ $st -eq 1 ] && echo "$out" | grep -q "dossier.yaml:[0-9]*:[0-9]*: error: .*dossier.statut" &&
  ok "a guichet.yaml beside the flows checks calls" || { bad "config beside"; echo "$out" | tail -5; }
sed -i 's/call: dossier.statut/call: dossier.status/' "$T/etc/flows/dossier.yaml"
out=$("$G" check "$T/etc/flows" 2>&1); st=$?
[ $st -eq 0 ] && echo "$out" | tail -1 | grep -q "calls checked against .*/etc/guichet.yaml" &&
  ok "the summary names the config used" || { bad "summary with config"; echo "$out" | tail -3; }

# 3. Each text's USSD screen against the configured screen size (128 here).
echo "$out" | grep -q "service (menu) .*; USSD 83/128 car\." &&
  ok "USSD screen sizes printed against ussd.screen" || { bad "USSD sizes"; echo "$out" | head; }

# 4. The cost of each test dialogue.
echo "$out" | grep -q "rendez-vous.yaml *SMS: 6 replies, 6 parts" &&
  ok "test dialogues costed in parts" || { bad "test costs"; echo "$out" | tail -5; }

# 5. An unquoted USSD code: YAML's alias error explained, located at the value.
sed -i 's/ussd: "\*4321\*2#"/ussd: *4321*2#/' "$T/etc/flows/droits.yaml"
out=$("$G" check -q "$T/etc/flows" 2>&1); st=$?
[ $st -eq 1 ] && echo "$out" | grep -q 'droits.yaml:4:38: error: .*quote USSD codes: "\*4321\*2#"' &&
  ok "unquoted USSD code: quote it" || { bad "unquoted code"; echo "$out"; }
exit $rc
