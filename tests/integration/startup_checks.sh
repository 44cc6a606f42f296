#!/usr/bin/env bash
# `guichetd -t` and `guichet check --config` check what the start checks: for each broken
# setup below, -t, check and the start all refuse it with the same message (and the start
# never says "guichetd started"); a modem device that is absent is only a warning.
#  - a back-end's token file missing, then readable by others (0644);
#  - a CA file that holds no certificate; a client key readable by others;
#  - an SMPP password file missing;
#  - the store's directory is a regular file;
#  - a damaged store (bytes overwritten in its middle): refused at start with a message
#    naming the file and what to do, by -t too.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/lib/harness.sh"
harness startup_checks guichetd guichet
need python3
GD_SIGNAL=KILL
fail() { echo "FAIL: $*"; for f in "$T"/out.*; do echo "--- $f"; tail -n 8 "$f"; done; exit 1; }
mkdir -p "$T/flows" "$T/cred" "$T/modem"
cp "$ROOT/flows/droits.yaml" "$ROOT/flows/commun.yaml" "$T/flows/"
umask 077
printf 'tok\n' > "$T/cred/tok"
printf 'pw\n' > "$T/cred/smpp-pw"
printf 'not a certificate\n' > "$T/bad-ca.pem"
sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' \
  "$(ls /etc/ssl/certs/*.pem | head -1)" > "$T/ca.pem"
grep -q "BEGIN CERTIFICATE" "$T/ca.pem" || { echo "skip: no system certificate to copy"; exit 77; }
printf 'a key\n' > "$T/client.key"; cp "$T/ca.pem" "$T/client.pem"

# conf NAME [store PATH] [extra YAML...]
conf() {
  local name=$1 store=$2; shift 2
  { echo "flows: $T/flows"; echo "store: $store"; echo "credentials: $T/cred"
    for l in "$@"; do echo "$l"; done; } > "$T/$name.yaml"
}
BK='backends: { b: { url: "https://127.0.0.1:9", auth: { bearer: tok }, operations: { s: { method: GET, path: /x } } } }'

# refused NAME PATTERN: -t, guichet check --config and the start all fail naming PATTERN.
refused() {
  local name=$1 pat=$2 rc
  "$B/guichetd" -t -c "$T/$name.yaml" >"$T/out.t" 2>&1; rc=$?
  [ $rc -eq 1 ] || fail "$name: guichetd -t exit $rc, expected 1"
  grep -q -- "$pat" "$T/out.t" || fail "$name: guichetd -t does not say [$pat]"
  "$B/guichet" check -q --config "$T/$name.yaml" >"$T/out.check" 2>&1; rc=$?
  [ $rc -eq 1 ] || fail "$name: guichet check --config exit $rc, expected 1"
  grep -q -- "$pat" "$T/out.check" || fail "$name: guichet check does not say [$pat]"
  timeout 20 "$B/guichetd" -f -c "$T/$name.yaml" >"$T/out.start" 2>&1; rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$name: the start did not refuse (exit $rc)"
  grep -q -- "$pat" "$T/out.start" || fail "$name: the start does not say [$pat]"
  grep -q "guichetd started" "$T/out.start" && fail "$name: started anyway"
  echo "ok - $name: refused by -t, by guichet check --config and at start: $pat"
}

conf good "$T/store/guichet.db" "$BK"
"$B/guichetd" -t -c "$T/good.yaml" >"$T/out.t" 2>&1 || fail "a sound setup fails -t"
"$B/guichet" check -q --config "$T/good.yaml" >"$T/out.check" 2>&1 || fail "a sound setup fails guichet check"
[ -e "$T/store" ] && fail "-t created the store's directory"
echo "ok - a sound setup passes -t and guichet check --config, creating nothing"

rm "$T/cred/tok"
conf tok_missing "$T/guichet.db" "$BK"
refused tok_missing "secret \`tok\`: cannot open"
printf 'tok\n' > "$T/cred/tok"; chmod 644 "$T/cred/tok"
conf tok_public "$T/guichet.db" "$BK"
refused tok_public "accessible to group or others (mode 644)"
chmod 600 "$T/cred/tok"

conf bad_ca "$T/guichet.db" \
  "backends: { b: { url: \"https://127.0.0.1:9\", ca: $T/bad-ca.pem, operations: { s: { method: GET, path: /x } } } }"
refused bad_ca "bad-ca.pem holds no PEM certificate"
chmod 644 "$T/client.key"
conf public_key "$T/guichet.db" \
  "backends: { b: { url: \"https://127.0.0.1:9\", auth: { cert: $T/client.pem, key: $T/client.key }, operations: { s: { method: GET, path: /x } } } }"
refused public_key "client.key is accessible to group or others"
chmod 600 "$T/client.key"

conf smpp_pw "$T/guichet.db" \
  "smpp: [ { name: opx, host: 127.0.0.1, port: 9, system_id: g, password: nope, source: \"38123\" } ]"
refused smpp_pw "SMSC opx: secret \`nope\`: cannot open"

: > "$T/plainfile"
conf store_dir "$T/plainfile/guichet.db"
refused store_dir "plainfile is not a directory"

# A modem whose device is absent: a warning, not a refusal.
conf no_device "$T/guichet.db" "modems: [ { name: a1, device: $T/no-such-tty, connection: at } ]"
"$B/guichetd" -t -c "$T/no_device.yaml" >"$T/out.t" 2>&1 || fail "an absent modem device fails -t"
grep -q "warning: modem a1: device $T/no-such-tty" "$T/out.t" || fail "no warning for the absent device"
echo "ok - an absent modem device is a warning of -t, not an error"

# A damaged store: made by guichetd, then bytes overwritten in its middle.
conf damaged "$T/dmg/guichet.db" "modems: [ { name: d1, model: dummy, device: $T/modem, poll_ms: 100, rate: 0 } ]"
"$B/guichetd" -f -c "$T/damaged.yaml" >"$T/out.first" 2>&1 &
GD=$!
for _ in $(seq 100); do grep -q "guichetd started" "$T/out.first" && break; sleep 0.1; done
kill -TERM "$GD"; wait "$GD"; GD=
[ -s "$T/dmg/guichet.db" ] || fail "no store made"
"$B/guichetd" -t -c "$T/damaged.yaml" >"$T/out.t" 2>&1 || fail "a sound store fails -t"
python3 - "$T/dmg/guichet.db" <<'EOF'
import os, sys
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], "r+b") as f:
    f.seek(size // 2 - 2048)        # the middle pages: tables' and indexes' roots
    f.write(b"\xaa" * 4096)
EOF
refused damaged "dmg/guichet.db is damaged (.*): restore it from a backup, or move it aside"
echo "pass"
