#!/usr/bin/env bash
# Personal data in the store's files: guichetd on the dummy modem runs the case status flow
# by SMS (demo HTTPS back-end) with a secret code, then stops. `strings` over guichet.db,
# -wal and -shm must not find the code: the inbound body is blanked in the transaction that
# processes it, and deleted content is overwritten (secure_delete) and not left in the WAL
# (checkpoint TRUNCATE at stop). After the retention (2 s here) and a purge (at the next
# start), nor the person's number.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/dossier_sms.sh"
harness store_privacy guichetd tools/sms_inject
need strings
fail() { echo "FAIL: $*"; tail -n 20 "$T/guichetd.log"; exit 1; }

dossier_setup "store: $T/store/guichet.db" "retention: 2s"
stop() {
  kill -TERM "$GD"; wait "$GD" || fail "guichetd exit $? at stop"; GD=
}
# found WHAT: strings over every file of the store holds WHAT
found() { cat "$T"/store/guichet.db* | strings -n 4 | grep -q -- "$1"; }

start_guichetd
say DOSSIER
say 12345678
say "$SECRET"
tail -1 "$T/sent.jsonl" | grep -q "introuvable" || fail "the flow did not reach the back-end's answer"
found 12345678 || fail "test setup: the (not secret) file number is not in the store at all"
stop
ls "$T"/store/guichet.db* >/dev/null || fail "no store files"
found "$SECRET" && fail "the secret code is in the store's files"
echo "ok - after the dossier flow and a stop, the secret code is in no store file"

sleep 3		# past the 2 s retention
start_guichetd
sleep 1.5	# the purge runs at the first tick
# While running: the purge's checkpoint wrote the cleaned pages over the old ones.
found "${NUMBER#+}" && fail "the number is still in the store's files after the purge (running)"
stop
found "${NUMBER#+}" && fail "the number is still in the store's files after the retention"
found "98765432" && fail "part of the number is still in the store's files after the retention"
found "$SECRET" && fail "the secret code is in the store's files"
echo "ok - after the retention and a purge, the number is in no store file either"
