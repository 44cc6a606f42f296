#!/usr/bin/env bash
# Scripted dialogues through `guichet simulate` compared with expected transcripts:
# tests/transcripts/NAME.in (or NAME.ussd.in) -> NAME.ok. To accept a deliberate change:
#   build/guichet simulate [--ussd] --fixtures config/canned-answers.yaml \
#     --script tests/transcripts/NAME.in flows > tests/transcripts/NAME.ok
set -u
cd "$GUICHET_ROOT"
rc=0
for in in tests/transcripts/*.in; do
  ok=${in%.in}.ok
  mode=--sms; case $in in *.ussd.in) mode=--ussd;; esac
  if ! out=$("$BUILD/guichet" simulate $mode --fixtures config/canned-answers.yaml \
        --script "$in" flows 2>&1); then
    echo "FAIL $in: guichet simulate failed"; echo "$out"; rc=1; continue
  fi
  if ! diff -u "$ok" <(printf '%s\n' "$out"); then
    echo "FAIL $in differs from $ok"; rc=1
  fi
done
exit $rc
