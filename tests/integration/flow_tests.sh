#!/usr/bin/env bash
# The sample flows' test dialogues (flows/tests/*.yaml) through `guichet test`, and the
# runner itself: a changed reply fails with a diff and a non-zero exit, --update writes the
# replies back, an error in a test file is located, a time jump expires a procedure.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness flow_tests guichet
G=$B/guichet
rc=0
ok() { echo "ok $*"; }
bad() { echo "FAIL $*"; rc=1; }

# 1. The sample flows pass their own dialogues.
if out=$("$G" test "$ROOT/flows" 2>&1); then
  ok "sample dialogues: $(echo "$out" | tail -1)"
else
  bad "sample dialogues"; echo "$out"
fi

# 1b. They pass too with the installed configuration beside them (USSD screens of 128).
"$G" test -q --config "$ROOT/config/guichet.yaml" "$ROOT/flows" >/dev/null 2>&1 &&
  ok "sample dialogues with config/guichet.yaml" || bad "sample dialogues with config/guichet.yaml"

# 2. A reply that changed: non-zero exit, a located diff of expected vs got.
mkdir -p "$T/flows/tests"
cp "$ROOT"/flows/*.yaml "$T/flows/"
cp "$ROOT/flows/tests/droits.yaml" "$T/flows/tests/"
sed -i 's/Combien d.enfants à charge/Combien d enfants/' "$T/flows/droits.yaml"
out=$("$G" test "$T/flows" 2>&1); st=$?
[ $st -eq 1 ] && ok "a changed reply fails (exit 1)" || bad "a changed reply: exit $st"
echo "$out" | grep -q "droits.yaml:[0-9]*:[0-9]*: step 3 (send \"1\"): reply differs" &&
  echo "$out" | grep -q "^    - Combien d'enfants à charge" &&
  echo "$out" | grep -q "^    + Combien d enfants" && ok "the diff is shown, located" ||
  { bad "no located diff"; echo "$out"; }
echo "$out" | tail -1 | grep -q "1 dialogue, 9 steps: [0-9]* passed, [1-9][0-9]* failed" &&
  ok "summary line" || bad "summary: $(echo "$out" | tail -1)"

# 3. --update writes what came back; the dialogue then passes, comments kept.
"$G" test --update "$T/flows" >/dev/null 2>&1
grep -q "Combien d enfants" "$T/flows/tests/droits.yaml" &&
  grep -q '"0" as back (at a menu)' "$T/flows/tests/droits.yaml" &&
  "$G" test -q "$T/flows" >/dev/null 2>&1 && ok "--update rewrites the replies" ||
  bad "--update"

# 4. Inputs only, then --update fills in the replies; a time jump expires the procedure.
cat > "$T/flows/tests/droits.yaml" <<'YAML'
channel: sms
steps:
  - send: DROITS
  - wait: 31m       # the flow's timeout is 30m
  - send: "1"
  - send: ""        # an empty text
YAML
"$G" test --update "$T/flows" >/dev/null 2>&1
grep -q 'reply: "Votre démarche a expiré' "$T/flows/tests/droits.yaml" &&
  "$G" test -q "$T/flows" >/dev/null 2>&1 && ok "wait: 31m expires the procedure" ||
  { bad "time jump"; cat "$T/flows/tests/droits.yaml"; }

# 5. Errors in a test file are located; a call without a canned answer fails its step.
cat > "$T/flows/tests/droits.yaml" <<'YAML'
channel: sms
steps:
  - send: DROITS
    replyy: "x"
  - wiat: 3m
YAML
out=$("$G" test "$T/flows" 2>&1); st=$?
[ $st -eq 1 ] && echo "$out" | grep -q "droits.yaml:4:5: error: unknown key .replyy." &&
  echo "$out" | grep -q "droits.yaml:5:5: error: unknown key .wiat. — did you mean .wait." &&
  ok "errors located" || { bad "errors in test files"; echo "$out"; }
cat > "$T/flows/tests/droits.yaml" <<'YAML'
channel: sms
steps:
  - send: DOSSIER
  - send: "12345678"
  - send: "1234"
    reply: "Dossier 12345678 : en cours"
YAML
out=$("$G" test "$T/flows" 2>&1); st=$?
[ $st -eq 1 ] && echo "$out" | grep -q "calls dossier.status but the dialogue has no answer" &&
  ok "a call without canned answer fails" || { bad "missing canned answer"; echo "$out"; }
# 6. guichet simulate: a line holding only "" sends an empty text (a blank line is skipped);
#    without --fixtures nor a config it starts (calls fail).
out=$(printf 'DROITS\n\n""\n' | "$G" simulate "$ROOT/flows" 2>&1); st=$?
[ $st -eq 0 ] && [ "$(echo "$out" | grep -c '^< \[SMS')" -eq 2 ] && echo "$out" | grep -q '^> $' &&
  ok "simulate: \"\" is an empty text, a blank line nothing" || { bad "simulate empty text"; echo "$out"; }
# 7. The dialogue examples of the documentation pass (README.md, flows/README.md,
#    guichet-flows(5)), so the docs follow the flows.
mkdir -p "$T/doc/tests"
cp "$ROOT"/flows/*.yaml "$T/doc/"
python3 - "$ROOT" "$T/doc/tests" <<'PY'
import re, sys
root, out = sys.argv[1:]
s = open(root + "/flows/README.md", encoding="utf-8").read()
blk = s[s.index("## Testing a procedure"):]
open(out + "/flows-readme.yaml", "w").write(re.search(r"```yaml\n(.*?)```", blk, re.S).group(1))
s = open(root + "/README.md", encoding="utf-8").read()
open(out + "/readme.yaml", "w").write(re.search(r"```yaml\n(# flows/tests/.*?)```", s, re.S).group(1))
s = open(root + "/man/guichet-flows.5", encoding="utf-8").read()
blk = s[s.index(".Sh TEST DIALOGUES"):]
m = re.search(r"\.Bd -literal -offset indent\n(.*?)\.Ed", blk, re.S)
open(out + "/man.yaml", "w").write(m.group(1).replace("\\(dq", '"'))
PY
[ $? -eq 0 ] || bad "the documentation's dialogue examples could not be found"
out=$("$G" test "$T/doc" 2>&1) && echo "$out" | tail -1 | grep -q "^3 dialogues" &&
  ok "the documentation's dialogues pass" || { bad "a documentation example fails"; echo "$out"; }
# 8. What a flow schedules is checked: with the reminder two hours before taken out of the
#    rendez-vous flow, the dialogue that expects it fails, located, and --update writes the
#    one left.
mkdir -p "$T/rdv/tests"
cp "$ROOT"/flows/*.yaml "$T/rdv/"
cp "$ROOT/flows/tests/rendez-vous-rappels.yaml" "$T/rdv/tests/"
python3 - "$T/rdv/rendez-vous.yaml" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p, encoding="utf-8").read()
s2 = re.sub(r'\n      - at: "\{\{rdv.start\}\} -2h"\n        text: [^\n]*', "", s)
assert s2 != s
open(p, "w", encoding="utf-8").write(s2)
PY
out=$("$G" test "$T/rdv" 2>&1); st=$?
[ $st -eq 1 ] && echo "$out" | grep -q "rendez-vous-rappels.yaml:[0-9]*:[0-9]*: step 5 (send \"oui\"): expected 3 scheduled messages, got 2" &&
  echo "$out" | grep -q "^    - 2026-12-07 07:30 Rappel : rendez-vous dans 2 heures" &&
  ok "a reminder missing fails the dialogue" || { bad "a missing reminder was not seen"; echo "$out"; }
"$G" test --update "$T/rdv" >/dev/null 2>&1
! grep -q "dans 2 heures" "$T/rdv/tests/rendez-vous-rappels.yaml" &&
  "$G" test -q "$T/rdv" >/dev/null 2>&1 && ok "--update rewrites scheduled:" ||
  { bad "--update of scheduled:"; cat "$T/rdv/tests/rendez-vous-rappels.yaml"; }
exit $rc
