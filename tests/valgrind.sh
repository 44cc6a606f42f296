#!/usr/bin/env bash
# make valgrind: the unit tests and the administrators' tool under valgrind's memcheck (no
# leak, no invalid access), on a build without sanitizers (the two do not mix).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
cd "$root"
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
vg=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,possible
    --error-exitcode=9 --suppressions=tests/valgrind.supp)
rc=0
run() { if "${vg[@]}" "$@" >/dev/null 2>"$BUILD/valgrind.err"; then echo "clean: $*";
        else echo "VALGRIND: $*"; cat "$BUILD/valgrind.err"; rc=1; fi; }
for t in "$BUILD"/tests/test_*; do run "$t"; done
run "$BUILD/guichet" check flows
run "$BUILD/guichet" test -q flows
out=$(mktemp -d /tmp/guichet-vg-draw.XXXXXX)
run "$BUILD/guichet" draw --format dot -o "$out" flows
run "$BUILD/guichet" report -o "$out" flows
rm -rf "$out"
tr=$(mktemp -d /tmp/guichet-vg.XXXXXX)
"$BUILD/guichet" test -q --export "$tr" flows flows/tests/{rendez-vous,droits,dossier}.yaml \
  flows/tests/{droits,rendez-vous}.ussd.yaml >/dev/null
for in in "$tr"/*.in; do
  mode=--sms; case $in in *.ussd.in) mode=--ussd;; esac
  run "$BUILD/guichet" simulate $mode --fixtures config/canned-answers.yaml --script "$in" flows
done
rm -rf "$tr"
exit $rc
