#!/usr/bin/env bash
# Packages only the benchmarks need (not CI, not the build): the peers bench/bench_smpp.sh
# starts. Installed with apt-get when missing and we are root; otherwise says what is missing.
set -u
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v bearerbox >/dev/null || need+=(kannel)
command -v strace >/dev/null || need+=(strace)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "bench/deps.sh: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/tmp/guichet-bench-deps.log 2>&1 || {
    apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/tmp/guichet-bench-deps.log 2>&1
  } || { echo "bench/deps.sh: apt-get install failed (/tmp/guichet-bench-deps.log)"; exit 1; }
  # Debian starts its own nginx and bearerbox at install; the benchmarks use other ports.
else
  echo "bench/deps.sh: missing ${need[*]} (run as root to install)"
  exit 1
fi
