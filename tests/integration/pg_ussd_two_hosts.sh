#!/usr/bin/env bash
# USSD aggregator dialogues over two guichetd on one PostgreSQL database: each host has the
# ussd_http transport, and the requests of one dialogue alternate between the hosts, as a
# load balancer may send them. Every dialogue continues on the other host from the shared
# state (store: postgresql://...) and completes; a stale or forged history is refused; the
# answer to a secret question is never in the database; numbers stay out of the journals.
# PostgreSQL is started here (tests/pg/pg.sh). Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/pg_hosts.sh"
harness pg-ussd guichetd
need curl python3
keep_logs 'h?.log'
fail() { echo "FAIL: $*"; for h in 1 2; do echo "--- host $h"; tail -15 "$T/h$h.log"; done; exit 1; }
ok() { echo "ok - $*"; }

start_pg
URL=$PG_URL
sql() { "$PGB/psql" -X -q -A -t -d "$URL" -c "$1"; }

mkdir -p "$T/flows"
cat > "$T/flows/etapes.yaml" <<'Y'
flow: etapes
title: Etapes
entry: { ussd: "*55#" }
steps:
  choix:
    menu: "Etape 1 ?"
    options:
      - { label: "Nom", next: nom }
      - { label: "Code", next: code }
  nom:
    ask: "Votre nom ?"
    save: nom
    next: fin
  code:
    ask: "Code secret (4 chiffres) ?"
    expect: { secret: { digits: 4 }, retry: "Le code a 4 chiffres." }
    save: code
    next: nom
  fin:
    say: "Merci {{nom}}."
    end: true
Y
printf 'ussd-%s\n' "$RANDOM$RANDOM" > "$T/ussd-secret"; chmod 600 "$T/ussd-secret"
SECRET=$(head -1 "$T/ussd-secret")
for h in 1 2; do
  eval P$h=$(free_port)
  cat > "$T/h$h.yaml" <<Y
flows: $T/flows
store: $URL
credentials: $T
ussd: { screen: 128, answer_ms: 4000 }
ussd_http: { listen: 127.0.0.1, port: $(eval echo \$P$h), secret: ussd-secret, allow: [127.0.0.1], session_timeout: 60s }
Y
  "$B/guichetd" -f -c "$T/h$h.yaml" 2>>"$T/h$h.log" &
  PIDS+=($!)
done
for h in 1 2; do
  for _ in $(seq 100); do grep -q "USSD HTTP callback listening" "$T/h$h.log" && break; sleep 0.1; done
  grep -q "USSD HTTP callback listening" "$T/h$h.log" || fail "host $h did not listen"
done

# post HOST SESSION TEXT [PHONE]: the aggregator's request to one host; the reply on stdout.
post() {
  local port; port=$(eval echo \$P$1)
  curl -s -m 8 -H "X-Guichet-Secret: $SECRET" --data-urlencode "sessionId=$2" \
    --data-urlencode "serviceCode=*55#" --data-urlencode "phoneNumber=${4:-+33612345678}" \
    --data-urlencode "text=$3" "http://127.0.0.1:$port/"
}
expect() { [ "$2" = "$3" ] || fail "$1: got [$2], wanted [$3]"; }

# Three screens, the requests alternating between the hosts, for several people at once.
N=20
for i in $(seq $N); do
  s="a$i-$RANDOM"
  expect "dialogue $i: first screen (host 1)" "$(post 1 "$s" "" "+3361000$(printf %04d $i)")" \
    $'CON Etape 1 ?\n1 Nom\n2 Code'
  expect "dialogue $i: second screen (host 2)" "$(post 2 "$s" "1" "+3361000$(printf %04d $i)")" \
    "CON Votre nom ?"
  expect "dialogue $i: last screen (host 1)" "$(post 1 "$s" "1*Nom$i" "+3361000$(printf %04d $i)")" \
    "END Merci Nom$i."
done
ok "$N three-screen dialogues whose requests alternate between two hosts: all complete"

# Four screens with a secret answer on host 2: the state host 1 continues from never holds
# the code, in the database or in a journal.
s="b-$RANDOM"
expect "secret: first screen (host 2)" "$(post 2 "$s" "")" $'CON Etape 1 ?\n1 Nom\n2 Code'
expect "secret: code asked (host 1)" "$(post 1 "$s" "2")" "CON Code secret (4 chiffres) ?"
expect "secret: code answered (host 2)" "$(post 2 "$s" "2*9876")" "CON Votre nom ?"
rows=$(sql "SELECT count(*) FROM ussd_dialogues WHERE id = 'http:$s'")
[ "$rows" = 1 ] || fail "the dialogue's shared state is not in the database ($rows rows)"
sql "COPY ussd_dialogues TO STDOUT" | grep -q 9876 && fail "the secret answer is in the database"
expect "secret: last screen (host 1)" "$(post 1 "$s" "2*9876*Durand")" "END Merci Durand."
ok "a secret answer given on one host: the other continues, the code never stored"

# Ended: the shared state is gone, and a request for it is refused on either host.
rows=$(sql "SELECT count(*) FROM ussd_dialogues WHERE id = 'http:$s'")
[ "$rows" = 0 ] || fail "the ended dialogue's state is still in the database"
expect "after END (host 2)" "$(post 2 "$s" "2*9876*Durand*1")" "END Session invalide."
ok "an ended dialogue's state is dropped; a request for it refused"

# A stale or forged history is refused on the other host as it is on the first.
s="c-$RANDOM"
post 1 "$s" "" >/dev/null
expect "forward (host 2)" "$(post 2 "$s" "1")" "CON Votre nom ?"
expect "replayed on host 1" "$(post 1 "$s" "1")" "END Session invalide."
s="d-$RANDOM"
post 1 "$s" "" >/dev/null
post 2 "$s" "1" >/dev/null
expect "forged on host 1" "$(post 1 "$s" "2*X")" "END Session invalide."
s="e-$RANDOM"
post 1 "$s" "" >/dev/null
expect "another number on host 2" "$(post 2 "$s" "1" "+33699999999")" "END Session invalide."
expect "unknown session on host 2" "$(post 2 "never-$RANDOM" "1*2")" "END Session invalide."
ok "stale, forged, other-number and unknown histories refused across hosts"

grep -E '\+336[0-9]{8}' "$T"/h?.log && fail "a phone number in a journal"
grep -q 9876 "$T"/h?.log && fail "the secret answer in a journal"
for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || fail "a host died"; done
echo "pg_ussd_two_hosts: all passed"
exit 0
