#!/usr/bin/env bash
# Runs the libFuzzer targets built in build-fuzz/fuzz/ (make FUZZ=1 fuzz-bins).
#   run.sh --available   exit 0 when clang with libFuzzer is here, else 1 with a note
#   run.sh [TARGET...]   fuzzes each target FUZZ_SECONDS (default 60) from its seed corpus
#   run.sh --replay      runs each target once over its corpus (-runs=0): a regression test
# New inputs go to a scratch directory (FUZZ_WORK, default build-fuzz/fuzz-work/NAME), never
# into the committed corpus; a crash leaves its input in build-fuzz/fuzz-crashes/ and fails.
# To keep a crash as a regression input: fix it, then copy the file into
# tests/fuzz/corpus/NAME/ (name it crash-<what>).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FUZZ_BUILD:-$ROOT/build-fuzz}/fuzz
SECONDS_EACH=${FUZZ_SECONDS:-60}
# Leaks count here (CI turns them off for the forked test peers, not for these).
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

available() {
  command -v clang >/dev/null 2>&1 || { echo "fuzz: clang not installed, skipped"; return 1; }
  local d
  d=$(clang -print-resource-dir 2>/dev/null) || return 1
  ls "$d"/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 ||
    { echo "fuzz: clang has no libFuzzer runtime (libclang-rt-dev), skipped"; return 1; }
}

mode=fuzz
case "${1:-}" in
  --available) available; exit;;
  --replay) mode=replay; shift;;
esac
available || exit 0

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c); targets+=("${n#fuzz_}")
  done
fi
crashes=${FUZZ_BUILD:-$ROOT/build-fuzz}/fuzz-crashes
mkdir -p "$crashes"
fail=0
for t in "${targets[@]}"; do
  exe=$BIN/fuzz_$t
  corpus=$ROOT/tests/fuzz/corpus/$t
  if [ ! -x "$exe" ]; then echo "FAIL fuzz $t: $exe not built"; fail=1; continue; fi
  if [ ! -d "$corpus" ]; then echo "FAIL fuzz $t: no corpus $corpus"; fail=1; continue; fi
  log=$(mktemp)
  if [ $mode = replay ]; then
    "$exe" -runs=0 "$corpus" >"$log" 2>&1; rc=$?
    n=$(ls "$corpus" | wc -l)
    what="replayed $n inputs"
  else
    work=${FUZZ_WORK:-${FUZZ_BUILD:-$ROOT/build-fuzz}/fuzz-work}/$t
    mkdir -p "$work"
    dict=()
    [ -f "$ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
    "$exe" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$crashes/$t-" "${dict[@]}" "$work" "$corpus" \
      >"$log" 2>&1; rc=$?
    what=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2 " runs"}')
    what="$what, $(ls "$work" | wc -l) inputs in $work"
  fi
  if [ $rc -eq 0 ]; then
    echo "ok fuzz $t: $what"
  else
    echo "FAIL fuzz $t (exit $rc):"
    grep -E 'ERROR|SUMMARY|runtime error|invariant|artifact|#[0-9]+ 0x' "$log" | head -30 | sed 's/^/    /'
    fail=1
  fi
  rm -f "$log"
done
exit $fail
