#!/usr/bin/env bash
# `guichet report`: a static site that works from disk with nothing fetched. The pages are
# checked as files (no script, no remote URL, everything from the flows escaped), then opened
# in headless Chromium: --dump-dom finds every step of each flow, its drawing and its test
# dialogues as phone screens; a phone-sized screenshot of each page is not blank; the net log
# shows no request from a page to anything but a file.
set -u
cd "$GUICHET_ROOT"
G="$BUILD/guichet"
T=$(mktemp -d /tmp/guichet-report.XXXXXX)
trap 'rm -rf "$T"' EXIT
rc=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; rc=1; }

# The sample flows, plus one whose texts try to inject markup, with a dialogue of its own.
cp -r flows "$T/flows"
cat > "$T/flows/piege.yaml" <<'YAML'
flow: piege
title: "Piège <script>alert(1)</script>"
entry: { sms: PIEGE }
steps:
  debut:
    ask: "Votre nom ? <img src=x onerror=alert(2)> & \"guillemets\""
    save: nom
    next: fin
  fin:
    say: "Merci {{nom}} </td></table><b>fin</b>"
YAML
cat > "$T/flows/tests/piege.yaml" <<'YAML'
dialogue: "Piège <i>dialogue</i>"
steps:
  - send: "PIEGE"
  - send: "<script>alert(3)</script>"
YAML
flows=$(sed -n 's/^flow: *//p' "$T"/flows/*.yaml | sort)
n_tests=$(ls "$T"/flows/tests/*.yaml | wc -l)

if ! timeout 120 "$G" report -o "$T/r" "$T/flows" >"$T/out" 2>"$T/err"; then
  cat "$T/err"; fail "guichet report"; exit 1
fi
ok "guichet report wrote $(ls "$T/r" | wc -l) files"
for f in $flows; do
  [ -s "$T/r/$f.html" ] && [ -s "$T/r/$f.dot" ] || fail "no page or DOT for $f"
done
[ -s "$T/r/index.html" ] || fail "no index.html"

# As files: nothing to fetch, no script, markup from the flows escaped.
if grep -qiE '<script|@import|url\(|(src|href|action|poster|srcset)="?(https?:)?//' "$T"/r/*.html; then
  grep -oiE '<script|@import|url\(|(src|href|action|poster|srcset)="?(https?:)?//[^" ]*' "$T"/r/*.html | head
  fail "a page refers to something remote or runs a script"
else
  ok "no script, no remote reference"
fi
if grep -q '<img src=x' "$T/r/piege.html" || grep -q '</td></table><b>fin' "$T/r/piege.html" \
   || grep -q '<i>dialogue' "$T/r/piege.html"; then
  fail "markup from the flows or dialogues is not escaped"
elif grep -q '&lt;img src=x onerror=alert(2)&gt; &amp; &quot;guillemets&quot;' "$T/r/piege.html" \
     && grep -q '&lt;script&gt;alert(3)&lt;/script&gt;' "$T/r/piege.html" \
     && grep -q 'Piège &lt;script&gt;' "$T/r/index.html"; then
  ok "texts from flows and dialogues escaped"
else
  fail "escaped texts not found"
fi
# Without Graphviz: the pages all the same, saying why there is no drawing.
if GUICHET_DOT=/nonexistent/dot timeout 120 "$G" report -o "$T/nodot" flows >/dev/null 2>"$T/nodot.err" \
   && grep -q 'Pas de dessin' "$T/nodot/droits.html" && grep -q 'warning: no drawing' "$T/nodot.err" \
   && ! grep -q '<svg' "$T/nodot/droits.html"; then
  ok "without Graphviz: pages without drawings, and a warning"
else
  fail "report without Graphviz"
fi
grep -q '@media print' "$T/r/index.html" && grep -q '@media (max-width' "$T/r/index.html" \
  && grep -q 'name="viewport"' "$T/r/index.html" && ok "print and phone styles" || fail "styles"

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
  echo "chromium is not installed (scripts/deps.sh installs it): browser checks skipped"
  [ $rc = 0 ] && exit 77 || exit $rc
fi
# Everything Chromium would fetch by itself is switched off; names resolve to nothing.
chrome() {
  timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$(mktemp -d "$T/profile.XXXXXX")" \
    --host-resolver-rules="MAP * ~NOTFOUND" "$@" 2>>"$T/chrome.log"
}
# Requests made by a page (opened from file://) to anything but a file. Chromium's own
# background requests have no file:// isolation key and are not the page's.
page_requests() {
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = {v: k for k, v in d["constants"]["logEventTypes"].items()}
for e in d.get("events", []):
    p = e.get("params", {})
    if names.get(e["type"]) == "URL_REQUEST_START_JOB" and "file://" in p.get("network_isolation_key", "") \
       and not p.get("url", "").startswith("file:"):
        print(p["url"])
PY
}
# The network check sees a page's request (a page made to fail it).
echo '<html><body><img src="http://example.org/x.png">x</body></html>' > "$T/evil.html"
chrome --log-net-log="$T/evil.json" --dump-dom "file://$T/evil.html" >/dev/null
[ -n "$(page_requests "$T/evil.json")" ] && ok "the network check sees a page's request" \
  || fail "the network check missed a page's request"

screens=0
for page in index $flows; do
  url="file://$T/r/$page.html"
  # one run: the DOM, a phone-sized screenshot and the net log
  chrome --log-net-log="$T/$page.json" --window-size=412,1600 --hide-scrollbars \
    --screenshot="$T/$page.png" --dump-dom "$url" > "$T/$page.dom"
  if [ ! -s "$T/$page.dom" ]; then fail "$page: no DOM"; continue; fi
  req=$(page_requests "$T/$page.json")
  [ -z "$req" ] && ok "$page: no network request" || fail "$page requested: $req"
  python3 tests/tools/png_check.py "$T/$page.png" >/dev/null && ok "$page: screenshot not blank" \
    || fail "$page: blank screenshot"
  screens=$((screens + $(grep -o 'class="dialogue[ "]' "$T/$page.dom" | wc -l)))
  [ "$page" = index ] && continue
  # every step, in the text and in the drawing
  missing=""
  for step in $(grep -o '^  "[A-Za-z0-9_-]*" \[' "$T/r/$page.dot" | tr -d ' "['); do
    grep -q "id=\"etape-$step\"" "$T/$page.dom" && grep -q "<title>$step</title>" "$T/$page.dom" \
      || missing="$missing $step"
  done
  [ -z "$missing" ] && ok "$page: every step shown and drawn" || fail "$page: steps missing:$missing"
done
# Every dialogue is on one page; SMS as bubbles, USSD as screens with the parts received. A
# dialogue file guichet test refuses is left out, and the report says so.
if grep -q "error(s) in the test dialogues" "$T/err"; then
  echo "note: some dialogue files do not load (guichet test shows them)"
  n_tests=$(sed -n 's/.*, \([0-9]*\) dialogues* de test.*/\1/p' "$T/r/index.html" | head -1)
fi
[ "$screens" = "$n_tests" ] && [ "$n_tests" -gt 1 ] && ok "all $n_tests dialogues rendered" \
  || fail "$screens dialogues rendered, $n_tests expected"
grep -q 'class="bubble them"' "$T/droits.dom" && grep -q 'class="screen"' "$T/droits.dom" \
  && grep -q 'Reçu : [0-9]* SMS, [0-9]* partie' "$T/droits.dom" && grep -q 'écrans USSD' "$T/droits.dom" \
  && ok "SMS bubbles, USSD screens, parts received" || fail "dialogue screens not found in droits"
# One flow file: its page, with the dialogues about it (and no others).
if timeout 120 "$G" report -o "$T/one" flows/dossier.yaml >/dev/null 2>&1 \
   && [ -s "$T/one/dossier.html" ] && [ ! -e "$T/one/droits.html" ] \
   && [ "$(grep -c 'class="dialogue' "$T/one/dossier.html")" = "$(grep -c 'class="dialogue' "$T/r/dossier.html")" ] \
   && ! grep -q 'class="dialogue' "$T/one/index.html"; then
  ok "one flow file: its page and its dialogues"
else
  fail "report of one flow file"
fi
# With a configuration: USSD sizes against its screen, calls with their requests. (Its own
# small one: config/guichet.yaml names CA files a fresh machine may not have.)
cat > "$T/cfg.yaml" <<'YAML'
flows: flows
ussd: { screen: 128 }
backends:
  agenda:
    url: https://rdv.example.gouv.fr/api
    operations:
      slots: { method: GET, path: /agenda/slots, query: { service: "{{service}}" }, idempotent: true, result: slots }
      book: { method: POST, path: /agenda/bookings, body: { slot: "{{slot}}" }, require: [reference] }
  dossier:
    url: https://dossiers.example.gouv.fr/api
    operations:
      status: { method: POST, path: /dossiers/status, body: { numero: "{{numero}}" }, require: [status, label] }
YAML
if timeout 120 "$G" report --config "$T/cfg.yaml" -o "$T/conf" flows >/dev/null 2>"$T/conf.err" \
   && grep -q 'USSD [0-9]*/128' "$T/conf/droits.html" \
   && grep -q 'agenda.slots</code><br><span class="muted">GET https://' "$T/conf/rendez-vous.html" \
   && ! grep -qiE '(src|href)="https?:' "$T/conf/rendez-vous.html"; then
  ok "with --config: its USSD screen and the calls' requests (as text)"
else
  cat "$T/conf.err"; fail "report --config"
fi
# Printable: the page prints to a PDF.
chrome --print-to-pdf="$T/droits.pdf" --no-pdf-header-footer "file://$T/r/droits.html" >/dev/null
[ "$(head -c 5 "$T/droits.pdf" 2>/dev/null)" = "%PDF-" ] && ok "prints to PDF" || fail "print to PDF"
exit $rc
