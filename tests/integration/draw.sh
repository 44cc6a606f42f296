#!/usr/bin/env bash
# `guichet draw`: golden DOT per sample flow, same bytes twice, SVG through Graphviz, the same
# located errors as `guichet check` on malformed flows, and a 20,000-step flow that is drawn
# (DOT) or refused (layout) without hanging.
# The goldens are drawn from a frozen copy of the sample flows (tests/golden/flows), so that
# editing a text in flows/ does not break this test; they change only with the drawing code.
# To accept a deliberate change of the drawings (then look at the diff):
#   build/guichet draw --format dot -o tests/golden tests/golden/flows
# (make docs draws the live flows/ into docs/flows/.)
set -u
cd "$GUICHET_ROOT"
G="$BUILD/guichet"
T=$(mktemp -d /tmp/guichet-draw.XXXXXX)
trap 'rm -rf "$T"' EXIT
rc=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; rc=1; }

# Golden files: one per flow, nothing more, nothing less.
mkdir -p "$T/a" "$T/b"
if timeout 60 "$G" draw --format dot -o "$T/a" tests/golden/flows >/dev/null; then
  for f in tests/golden/*.dot; do
    if diff -u "$f" "$T/a/$(basename "$f")"; then ok "golden $(basename "$f")"
    else fail "golden $(basename "$f") differs (see the header to accept a change)"; fi
  done
  [ "$(ls "$T/a" | sort)" = "$(ls tests/golden | grep '\.dot$' | sort)" ] \
    && ok "one drawing per flow" || fail "drawn flows differ from tests/golden: $(ls "$T/a")"
else
  fail "guichet draw --format dot tests/golden/flows"
fi
# Deterministic: again, from another directory, byte for byte.
cp -r tests/golden/flows "$T/flows-copy"
"$G" draw --format dot -o "$T/b" "$T/flows-copy" >/dev/null
diff -r "$T/a" "$T/b" >/dev/null && ok "same bytes twice" || fail "drawings differ between runs"
# An output directory that does not exist yet is made.
"$G" draw --format dot -o "$T/new" tests/golden/flows/dossier.yaml >/dev/null && [ -s "$T/new/dossier.dot" ] \
  && ok "output directory made" || fail "draw -o into a new directory"
# One flow file alone, and to standard output.
"$G" draw --format dot -o - tests/golden/flows/dossier.yaml > "$T/one.dot" 2>/dev/null \
  && grep -q '^digraph "dossier"' "$T/one.dot" && ok "-o - writes DOT" || fail "-o -"

# SVG and PNG through Graphviz's dot.
if command -v dot >/dev/null; then
  mkdir -p "$T/svg"
  if "$G" draw -o "$T/svg" tests/golden/flows >/dev/null && "$G" draw --format png -o "$T/svg" tests/golden/flows >/dev/null; then
    good=1
    for s in "$T"/svg/*.svg; do
      grep -q '<svg' "$s" || good=0
      # every step of the flow is a node titled with its name
      for step in $(grep -o '^  "[a-z_-]*" \[' "$T/a/$(basename "$s" .svg).dot" | tr -d ' "['); do
        grep -q "<title>$step</title>" "$s" || { good=0; echo "  missing $step in $s"; }
      done
    done
    [ "$(head -c 8 "$T/svg/droits.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || good=0
    [ $good = 1 ] && ok "svg and png drawings" || fail "svg/png drawings"
  else
    fail "guichet draw (svg/png)"
  fi
  # Without Graphviz, the tool says what to install.
  if GUICHET_DOT=/nonexistent/dot "$G" draw -o "$T/svg" tests/golden/flows/dossier.yaml 2>"$T/err" >/dev/null; then
    fail "draw succeeded without dot"
  else
    grep -q "apt-get install graphviz" "$T/err" && ok "missing dot explained" || { cat "$T/err"; fail "missing dot message"; }
  fi
else
  echo "skip svg/png: no dot (apt-get install graphviz)"
fi

# Malformed flows: the very same located errors as `guichet check`, exit 1.
mkdir -p "$T/bad"
cp tests/golden/flows/*.yaml "$T/bad/"
sed -i 's/^    next: numero$/    nxt: numero/' "$T/bad/rendez-vous.yaml"
sed -i 's/on_error: introuvable/on_error: introuvabl/' "$T/bad/dossier.yaml"
nxt_line=$(grep -n '^    nxt: numero$' "$T/bad/rendez-vous.yaml" | cut -d: -f1)
"$G" check "$T/bad" >/dev/null 2>"$T/check.err"; crc=$?
"$G" draw --format dot -o "$T/a" "$T/bad" >/dev/null 2>"$T/draw.err"; drc=$?
if [ $crc = 1 ] && [ $drc = 1 ] && diff -u "$T/check.err" "$T/draw.err" \
   && grep -q "rendez-vous.yaml:$nxt_line:5: error: unknown key \`nxt\`" "$T/draw.err" \
   && grep -q "dossier.yaml:.*no step named \`introuvabl\`.*did you mean \`introuvable\`" "$T/draw.err"; then
  ok "malformed flows: check's located errors"
else
  cat "$T/draw.err"; fail "malformed flows (check $crc, draw $drc)"
fi

# 20,000 steps (under the 1 MiB file limit): drawn as DOT, and a broken reference near the
# end found at its line; 2,002 steps are refused for layout. `timeout` only guards a hang.
python3 - "$T" <<'PY'
import sys
for name, broken, n in (("big", False, 20000), ("bigbad", True, 20000), ("wide", False, 2001)):
    with open(f"{sys.argv[1]}/{name}.yaml", "w") as f:
        f.write(f"flow: {name}\ntitle: Grand\nentry: {{ sms: {name.upper()} }}\nsteps:\n")
        for i in range(n):
            nxt = f"s{i+1}" if i + 1 < n else "f"
            if broken and i == 19000:
                nxt = "nowhere"
            if i % 4:
                f.write(f" s{i}: {{ask: Q, save: v, next: {nxt}}}\n")
            else:
                f.write(f" s{i}: {{menu: M, options: [A, {{label: B, next: f}}], next: {nxt}}}\n")
        f.write(" f: {say: F}\n")
PY
mkdir -p "$T/big"
if timeout 300 "$G" draw --format dot -o "$T/big" "$T/big.yaml" >/dev/null \
   && [ "$(grep -c '^  "s[0-9]*" \[' "$T/big/big.dot")" = 20000 ]; then
  ok "20,000 steps drawn as DOT"
else
  fail "20,000 steps as DOT"
fi
timeout 300 "$G" draw -o "$T/big" "$T/wide.yaml" >/dev/null 2>"$T/big.err"; brc=$?
[ $brc = 1 ] && grep -q "2002 steps: too many to lay out" "$T/big.err" && ok "2,002 steps not laid out" \
  || { cat "$T/big.err"; fail "2,002 steps layout refusal (rc $brc)"; }
timeout 300 "$G" draw --format dot -o "$T/big" "$T/bigbad.yaml" >/dev/null 2>"$T/bigbad.err"; brc=$?
line=$(grep -n '^ s19000:' "$T/bigbad.yaml" | cut -d: -f1)
[ $brc = 1 ] && grep -q "bigbad.yaml:$line:[0-9]*: error: no step named \`nowhere\`" "$T/bigbad.err" \
  && ok "20,000 steps, broken reference located" || { head -5 "$T/bigbad.err"; fail "huge malformed flow (rc $brc)"; }
exit $rc
