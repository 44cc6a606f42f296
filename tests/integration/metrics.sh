#!/usr/bin/env bash
# The operator's counters: guichetd with `metrics:` serves GET /metrics in Prometheus text
# (the router's counters move when a text comes in through the dummy modem; the store's
# commits, the modem's series and the day's spend per transport are there; the journal's
# counters line shows the store and each SMPP bind), refuses other
# paths and methods, and `guichet status --config` prints the same counters as a table; a
# configuration without `metrics:` gets a clear error from `guichet status`, not a hang.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness metrics guichetd guichet tools/sms_inject
need curl
mkdir -p "$T/modem"
keep_logs guichetd.log
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }
ok() { echo "ok - $*"; }

# The flows without back-end calls: counters are the subject here, not back-ends.
mkdir -p "$T/flows"; cp "$ROOT/flows/commun.yaml" "$ROOT/flows/droits.yaml" "$T/flows/"
printf 'opxpass1\n' > "$T/opx-password"; chmod 600 "$T/opx-password"
MPORT=$(free_port)
cat >"$T/guichet.yaml" <<CFG
flows: $T/flows
store: $T/guichet.db
log: { counters: 1s }
modems:
  - { name: m1, model: dummy, device: $T/modem, poll_ms: 50, rate: 0, sent_log: $T/sent.jsonl }
metrics: { listen: 127.0.0.1, port: $MPORT }
backends:
  agenda:
    url: https://127.0.0.1:1
    operations:
      slots: { path: /agenda/slots }
smpp:
  - { name: opx, host: 127.0.0.1, port: 1, system_id: guichet, password: opx-password, bind: transceiver, source: "38123" }
CFG
start_guichetd

get() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics"; }
value() { get | sed -n "s/^guichet_router_$1_total{[^}]*} //p" | head -1; }
before=$(value messages_in)
[ -n "$before" ] || fail "no guichet_router_messages_in_total in /metrics"
get | grep -q '^# TYPE guichet_router_messages_in_total counter$' || fail "no TYPE line"
ok "/metrics serves the router's counters in Prometheus text"

"$B/tools/sms_inject" "$T/modem" +33611000001 AIDE >/dev/null || fail "inject"
for _ in $(seq 100); do [ "$(value messages_in)" -gt "$before" ] 2>/dev/null && break; sleep 0.05; done
[ "$(value messages_in)" -eq $((before + 1)) ] || fail "messages_in did not count the text"
for _ in $(seq 100); do [ "$(value messages_out)" -ge 1 ] 2>/dev/null && break; sleep 0.05; done
[ "$(value messages_out)" -ge 1 ] || fail "messages_out did not count the reply"
[ "$(value parts_out)" -ge 1 ] || fail "parts_out did not count the reply's parts"
ok "a text in and its reply out move messages_in, messages_out and parts_out"
"$B/tools/sms_inject" "$T/modem" +33611000002 DROITS >/dev/null || fail "inject"
for _ in $(seq 100); do get | grep -q '^guichet_flow_started_total{name="droits"} 1$' && break; sleep 0.05; done
get | grep -q '^guichet_flow_started_total{name="droits"} 1$' || fail "DROITS did not count as a start of droits"
"$B/tools/sms_inject" "$T/modem" +33611000002 1 >/dev/null || fail "inject"
for _ in $(seq 100); do get | grep -q '^guichet_flow_steps_total{name="droits"} 1$' && break; sleep 0.05; done
get | grep -q '^guichet_flow_steps_total{name="droits"} 1$' || fail "an answer in droits did not count as a step"
get | grep -q '^guichet_flow_completed_total{name="droits"} 0$' || fail "no completed series for droits"
ok "the procedure's series (started, steps, completed) are on /metrics, named after the flow"
m=$(get)
echo "$m" | grep -q '^guichet_modem_received_total{name="m1"} 3$' || fail "no modem m1 received series"
echo "$m" | grep -q '^guichet_modem_sent_total{name="m1"} [1-9]' || fail "no modem m1 sent series"
echo "$m" | grep -q '^guichet_modem_signal{name="m1"} ' || fail "no modem m1 signal gauge"
echo "$m" | grep -q '^# TYPE guichet_modem_signal gauge$' || fail "modem signal not a gauge"
ok "the modem's series (received, sent, signal) are on /metrics, named after it"
echo "$m" | grep -q '^guichet_router_store_commits_total{[^}]*} [1-9]' || fail "no store commits series"
echo "$m" | grep -q '^guichet_router_store_failures_total{[^}]*} 0$' || fail "no store failures series"
ok "the store's series (commits, failures) are on /metrics"
echo "$m" | grep -q '^# TYPE guichet_guard_spend_today_parts gauge$' || fail "spend gauge: no TYPE line"
echo "$m" | grep -q '^guichet_guard_spend_today_parts{name="m1"} [1-9]' || fail "no spend gauge for m1"
ok "the day's spend through m1 is a gauge on /metrics"
# The line comes every second: wait for one written after the text was stored.
for _ in $(seq 40); do grep -q "counters: .*store commits [1-9]" "$T/guichetd.log" && break; sleep 0.1; done
grep -q "counters: .*store commits [1-9][0-9]*, store failures 0" "$T/guichetd.log" ||
  fail "the counters line does not show the store"
grep -q "SMPP: opx: .*binds 0" "$T/guichetd.log" || fail "the counters line does not show bind opx"
ok "the journal's counters line shows the store and each SMPP bind"
echo "$m" | grep -q '^guichet_backend_calls_total{name="agenda"} 0$' || fail "no back-end agenda calls series"
echo "$m" | grep -q '^guichet_backend_latency_le_1000ms_total{name="agenda"} 0$' || fail "no back-end latency bucket"
echo "$m" | grep -q '^guichet_backend_operation_calls_total{name="agenda.slots"} 0$' || fail "no back-end operation agenda.slots series"
ok "the back-end's series (calls, latency buckets) are on /metrics, named after it and per operation"
echo "$m" | grep -q '^guichet_smpp_binds_total{name="opx"} 0$' || fail "no SMSC opx binds series"
echo "$m" | grep -q '^guichet_smpp_enquire_link_timeouts_total{name="opx"} 0$' || fail "no SMSC opx enquire_link series"
ok "the SMSC's series (binds, enquire_link timeouts) are on /metrics, named after it"
# Every series guichetd(8) documents is served (USSD ones need a USSD transport: not here).
missing=
for n in $(sed -n '/^\.Sh METRICS/,/^\.Sh NOTIFICATIONS/p' "$ROOT/man/guichetd.8" |
           grep -o 'guichet_[a-z0-9_]*[a-z0-9]' | sort -u); do
  case $n in guichet_ussd_*|guichet_backend_latency_le|guichet_backend_operation_latency_le) continue ;; esac
  echo "$m" | grep -q "^# TYPE $n " || missing="$missing $n"
done
[ -z "$missing" ] || fail "documented in guichetd(8), not on /metrics:$missing"
ok "every series guichetd(8) documents is on /metrics"
get | grep -q '+3361\|33611000001' && fail "a number in /metrics"
ok "no number in /metrics"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$MPORT/nope")
[ "$code" = 404 ] || fail "GET /nope answered $code, expected 404"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -d x=1 "http://127.0.0.1:$MPORT/metrics")
[ "$code" = 405 ] || fail "POST /metrics answered $code, expected 405"
ok "other paths 404, other methods 405"

out=$("$B/guichet" status --config "$T/guichet.yaml") || fail "guichet status failed"
echo "$out" | grep -q "guichet_router_messages_in_total" || fail "guichet status does not show messages_in"
echo "$out" | grep -q "Messages received" || fail "guichet status does not show the descriptions"
echo "$out" | grep -q 'guichet_router_store_commits_total' || fail "guichet status does not show the store"
echo "$out" | grep -q 'guichet_guard_spend_today_parts{name="m1"}' || fail "guichet status does not show the spend"
ok "guichet status --config prints the counters"

printf 'flows: %s\n' "$ROOT/flows" >"$T/plain.yaml"
err=$("$B/guichet" status --config "$T/plain.yaml" 2>&1) && fail "guichet status without metrics: succeeded"
echo "$err" | grep -q "no \`metrics:\` section" || fail "unclear error without metrics: [$err]"
ok "without metrics: guichet status says what to add"

kill "$GD"; wait "$GD"; rc=$?; GD=
[ $rc -eq 0 ] || fail "guichetd exit $rc at SIGTERM"
err=$("$B/guichet" status --config "$T/guichet.yaml" 2>&1) && fail "guichet status succeeded with guichetd stopped"
echo "$err" | grep -q "is guichetd running" || fail "unclear error with guichetd stopped: [$err]"
ok "guichetd stopped: guichet status says so"
