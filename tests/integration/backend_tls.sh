#!/usr/bin/env bash
# The back-end relay against the demo back-end over real TLS (tests/backend/demo_backend.py):
# successful calls, every failure mode, a person's tricky input arriving intact, retries
# within the budget, and 200 concurrent calls. Exit 0 pass, 77 skip, anything else fail.
set -u
BUILD=${BUILD:-build}
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD;; esac
PROBE=$BUILD/tools/backend_probe
for t in python3 openssl curl; do
  command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }
done
[ -x "$PROBE" ] || { echo "skip: $PROBE not built"; exit 77; }

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pid=$("$ROOT/tests/backend/run-demo-backend.sh" "$tmp" "$port") || { echo "FAIL: demo back-end did not start"; exit 1; }
echo "demo back-end pid $pid on port $port"
printf 'not-the-token\n' > "$tmp/wrong-token"; chmod 600 "$tmp/wrong-token"

cat > "$tmp/probe.yaml" <<YAML
backends:
  agenda:
    url: https://127.0.0.1:$port
    ca: demo-ca.pem
    auth: { bearer: agenda-token }
    timeout_ms: 3000
    operations:
      slots: { path: /agenda/slots, query: { service: "{{service}}" }, idempotent: true, result: slots }
      book:
        method: POST
        path: /agenda/bookings
        body: { slot: "{{slot}}", service: "{{service}}", allocataire: "{{allocataire}}" }
        require: [reference]
      status: { method: POST, path: /dossiers/status, body: { numero: "{{numero}}", code: "{{code}}" }, require: [status, label] }
      fail503: { path: /test/status, query: { code: "503", who: "{{who}}" } }
      fail503_idem: { path: /test/status, query: { code: "503" }, idempotent: true }
      slow: { path: /test/slow, query: { ms: "{{ms}}" }, timeout_ms: 500 }
      slow_long: { path: /test/slow, query: { ms: "{{ms}}" }, timeout_ms: 5000 }
      notjson: { path: /test/notjson }
      missing: { path: /test/missing, require: [reference] }
      big: { path: /test/big, query: { kb: "512" } }
      echo:
        method: POST
        path: "/test/echo/{{v}}"
        query: { q: "{{v}}", "k&y": "x" }
        body: { note: "{{v}}", slot: "{{slot}}" }
  wrongca:
    url: https://127.0.0.1:$port
    ca: other-ca.pem
    auth: { bearer: agenda-token }
    operations:
      slots: { path: /agenda/slots, query: { service: caf } }
  badtoken:
    url: https://127.0.0.1:$port
    ca: demo-ca.pem
    auth: { bearer: wrong-token }
    operations:
      slots: { path: /agenda/slots, query: { service: caf } }
  closed:
    url: https://127.0.0.1:1
    ca: demo-ca.pem
    operations:
      ping: { path: /health, idempotent: true }
YAML

fails=0
ok()   { echo "ok   - $1"; }
bad()  { echo "FAIL - $1"; fails=$((fails+1)); }
# probe NAME OP ARGS...: runs the probe, output in $tmp/NAME.out, log in $tmp/NAME.err
probe() { local n=$1; shift; "$PROBE" -c "$tmp/probe.yaml" "$@" >"$tmp/$n.out" 2>"$tmp/$n.err"; }
has()  { grep -qF -- "$2" "$tmp/$1.out"; }
logs() { grep -cF -- "$2" "$tmp/$1.err"; }

# 1. slots then a booking, end to end.
probe slots agenda.slots service=caf
if has slots "ok agenda.slots" && has slots "count = 4" && has slots "0.id = S1" &&
   has slots "0.label = lun. 7 déc. 9h30"; then ok "slots listed"; else bad "slots"; cat "$tmp/slots.out"; fi
probe book agenda.book slot=S1 service=caf allocataire=1234567
if has book "ok agenda.book" && grep -q "reference = RDV-[0-9]\{4\}" "$tmp/book.out"; then
  ok "booking made ($(grep reference "$tmp/book.out" | tr -d ' '))"; else bad "booking"; cat "$tmp/book.out"; fi
probe book2 agenda.book slot=S1 service=caf allocataire=7654321
has book2 "error agenda.book: HTTP 409" && ok "slot taken -> HTTP 409" || { bad "409"; cat "$tmp/book2.out"; }
probe status agenda.status numero=12345678 code=4321
has status "status = en_cours" && ok "dossier status" || { bad "status"; cat "$tmp/status.out"; }
probe status404 agenda.status numero=12345678 code=0000
has status404 "error agenda.status: HTTP 404" && ok "wrong code -> HTTP 404" || bad "status 404"

# A POST then a GET, alternately, through one relay: a curl handle goes from one call to the
# next (backend.c keeps them), and a GET after a POST must still be a GET without a body.
probe mixed agenda.echo,agenda.slots,agenda.status -r 9 -q v=x slot=S1 service=caf numero=12345678 code=4321
has mixed "9 ok, 0 failed" && ok "POST, GET, POST... on reused handles: each its own method" ||
  { bad "mixed methods"; cat "$tmp/mixed.out"; tail -3 "$tmp/mixed.err"; }

# 2. failures, each clean, each one journal line naming back-end and operation, no argument.
probe wrongca wrongca.slots
if has wrongca "error wrongca.slots: TLS" && grep -qi "certificate" "$tmp/wrongca.out"; then
  ok "wrong CA refused: $(head -1 "$tmp/wrongca.out")"; else bad "wrong CA"; cat "$tmp/wrongca.out"; fi
probe badtoken badtoken.slots
has badtoken "error badtoken.slots: HTTP 401" && ok "wrong token -> HTTP 401" || bad "bad token"
probe fail503 agenda.fail503 who=SECRET-ARG-42
if has fail503 "error agenda.fail503: HTTP 503" && [ "$(logs fail503 'ERROR')" = 1 ] &&
   [ "$(logs fail503 'back-end agenda, operation fail503')" = 1 ] &&
   [ "$(logs fail503 '(1 attempt')" = 1 ] && ! grep -q "SECRET-ARG-42" "$tmp/fail503.out" "$tmp/fail503.err"; then
  ok "503: one log line, no retry (not idempotent), argument not logged"
  sed 's/^/       log: /' "$tmp/fail503.err"
else bad "503"; cat "$tmp/fail503.out" "$tmp/fail503.err"; fi
start=$(date +%s%N)
probe retry agenda.fail503_idem -b 1000
el=$(( ($(date +%s%N) - start) / 1000000 ))
if has retry "HTTP 503" && grep -q "([2-9] attempts" "$tmp/retry.err" && [ $el -lt 2000 ]; then
  ok "idempotent 503 retried with backoff within a 1000 ms budget ($el ms): $(grep -o '([0-9]* attempts, [0-9]* ms)' "$tmp/retry.err")"
else bad "retries ($el ms)"; cat "$tmp/retry.out" "$tmp/retry.err"; fi
probe slow agenda.slow ms=2000
has slow "error agenda.slow: timeout" && ok "timeout (timeout_ms 500)" || { bad "timeout"; cat "$tmp/slow.out"; }
start=$(date +%s%N)
probe budget agenda.slow_long ms=3000 -b 700
el=$(( ($(date +%s%N) - start) / 1000000 ))
if has budget "timeout" && [ $el -lt 1500 ]; then ok "budget 700 ms bounds a 5000 ms timeout ($el ms)"; else bad "budget ($el ms)"; cat "$tmp/budget.out"; fi
probe notjson agenda.notjson
has notjson "error agenda.notjson: answer is not JSON" && ! grep -q "html" "$tmp/notjson.out" "$tmp/notjson.err" &&
  ok "non-JSON answer refused, body not quoted" || { bad "notjson"; cat "$tmp/notjson.out"; }
probe missing agenda.missing
has missing "error agenda.missing: missing field reference" && ok "missing field" || { bad "missing"; cat "$tmp/missing.out"; }
probe big agenda.big
has big "answer larger than 262144 bytes" && ok "answer size bounded" || { bad "big"; cat "$tmp/big.out"; }
probe closed closed.ping -b 1500
has closed "error closed.ping: cannot connect" && ok "connection refused -> clean error" || { bad "closed"; cat "$tmp/closed.out"; }

# 3. a person's tricky input arrives intact (JSON body, path segment, query value).
printf '%s' $'a"b\'c{d}e&f=g%h\ni/j?k#l é€ 😀 \\ +; {{x}} </end>' > "$tmp/tricky.txt"
probe echo agenda.echo v=@"$tmp/tricky.txt" slot=S1
if python3 - "$tmp/echo.out" "$tmp/tricky.txt" <<'PY'
import sys
want = open(sys.argv[2], encoding="utf-8").read()
got = {}
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("  ") and " = " in line:
        k, v = line[2:].rstrip("\n").split(" = ", 1)
        got[k] = v.replace("\\n", "\n").replace("\\r", "\r").replace("\\\\", "\\")
from urllib.parse import unquote
ok = got.get("echo.note") == want and got.get("query.q") == want and \
     got.get("query.k&y") == "x" and got.get("echo.slot") == "S1" and \
     unquote(got.get("path", "")) == "/test/echo/" + want
if not ok:
    print("want", repr(want)); print("got", got)
sys.exit(0 if ok else 1)
PY
then ok "tricky input intact in body, query and path"; else bad "tricky input"; cat "$tmp/echo.out"; fi

# 4. 200 concurrent calls to a 1 s back-end.
probe conc agenda.slow_long ms=1000 -n 200 -q
wall=$(sed -n 's/.*wall \([0-9]*\) ms.*/\1/p' "$tmp/conc.out")
if has conc "200 ok, 0 failed" && [ -n "$wall" ] && [ "$wall" -lt 10000 ]; then
  ok "200 concurrent calls to a 1 s back-end: $wall ms in total (bound 10000 ms)"
else bad "concurrency"; cat "$tmp/conc.out"; tail -5 "$tmp/conc.err"; fi

kill -0 "$pid" 2>/dev/null || bad "demo back-end died"
# Under SANITIZE=1 builds: any report from ASan/UBSan/LSan in any run is a failure.
if grep -l "Sanitizer\|runtime error" "$tmp"/*.err 2>/dev/null; then
  bad "sanitizer reports"; grep -h -A5 "Sanitizer\|runtime error" "$tmp"/*.err | head -40
else ok "no sanitizer report"; fi
echo "$fails failure(s)"
[ $fails -eq 0 ]
