#!/usr/bin/env bash
# The systemd unit is valid and hardened:
#   - `systemd-analyze verify` is clean, on a temporary copy of the unit whose ExecStart=
#     points at the built guichetd (or a stub) since /usr/sbin/guichetd may not be installed,
#     and with MANPATH on our man/ pages so that Documentation=man:... is checked too;
#   - `systemd-analyze security --offline=yes` exposure at or under 2.0. Note that
#     --threshold= counts in tenths: --threshold=20 means 2.0 ("2.0" is refused).
#   - the udev rule's active lines are well formed (udevadm of systemd 252 has no verify).
# Exit 0 pass, 77 skip (no systemd-analyze), anything else fail.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-build}
UNIT=$ROOT/systemd/guichetd.service
MAX_EXPOSURE_TENTHS=20

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not installed: cannot check the unit"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# --- verify ---
bin=$ROOT/$BUILD/guichetd
case $BUILD in /*) bin=$BUILD/guichetd;; esac
if [ ! -x "$bin" ]; then
	bin=$tmp/guichetd
	printf '#!/bin/sh\nexit 0\n' >"$bin"
	chmod +x "$bin"
fi
mkdir -p "$tmp/unit"
sed -e "s#^ExecStart=/usr/sbin/guichetd#ExecStart=$bin#" "$UNIT" >"$tmp/unit/guichetd.service"

man_opt=--man=no
if command -v man >/dev/null 2>&1 && ls "$ROOT"/man/*.[158] >/dev/null 2>&1; then
	for page in "$ROOT"/man/*.[158]; do
		sec=${page##*.}
		mkdir -p "$tmp/man/man$sec"
		cp "$page" "$tmp/man/man$sec/"
	done
	man_opt=--man=yes
fi
out=$(MANPATH=$tmp/man systemd-analyze verify $man_opt "$tmp/unit/guichetd.service" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify (rc=$rc, $man_opt):"
	echo "$out"
	fail=1
else
	echo "ok: systemd-analyze verify clean ($man_opt)"
fi

# --- security ---
out=$(systemd-analyze security --offline=yes --threshold=$MAX_EXPOSURE_TENTHS "$UNIT" 2>&1)
rc=$?
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ $rc -ne 0 ]; then
	echo "FAIL: exposure ${score:-?} above 2.0 (or analysis failed, rc=$rc):"
	printf '%s\n' "$out" | grep -E '✗|Overall|rror' | head -40
	fail=1
else
	echo "ok: systemd-analyze security --offline=yes: exposure $score (limit 2.0)"
fi

# --- udev rule ---
for rules in "$ROOT"/systemd/*.rules; do
	[ -e "$rules" ] || continue
	n=0 rules_ok=1
	while IFS= read -r line; do
		n=$((n + 1))
		case $line in ''|'#'*) continue;; esac
		# Each comma-separated item: KEY[{attr}] op "value".
		bad=$(printf '%s\n' "$line" | tr ',' '\n' | sed 's/^ *//; s/ *$//' |
		      grep -Ev '^[A-Z_]+(\{[^}]+\})?(==|!=|=|\+=|-=|:=)"[^"]*"$' || true)
		if [ -n "$bad" ]; then
			echo "FAIL: $rules:$n: malformed: $bad"
			fail=1 rules_ok=0
		fi
	done <"$rules"
	[ $rules_ok = 1 ] && echo "ok: $(basename "$rules") well formed"
done

exit $fail
