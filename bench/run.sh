#!/usr/bin/env bash
# make bench: every benchmark, figures on stdout. C benchmarks are build/bench/*, scripted
# ones (which start their own peers) are bench/*.sh. Nothing here asserts: targets are
# compared by reading the figures (see README, "Benchmarks").
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export BUILD GUICHET_ROOT=$root
cd "$root"
for b in "$BUILD"/bench/*; do
  [ -x "$b" ] || continue
  case $(basename "$b") in bench_*) ;; *) continue ;; esac	# helpers (euse_minimal)
  echo "== $(basename "$b")"
  case $(basename "$b") in
    bench_engine) "$b" flows ;;
    *) "$b" ;;
  esac
done
# Scripted benchmarks are bench/bench_*.sh; the others (deps.sh, ussd_profile.sh, run.sh)
# are tools.
for s in bench/bench_*.sh; do
  [ -e "$s" ] || continue
  echo "== $(basename "$s" .sh)"
  bash "$s" || echo "($(basename "$s") failed)"
done
