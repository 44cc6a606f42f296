#!/usr/bin/env bash
# Privacy check over the logs the other integration tests produced: no unmasked phone
# number, IMSI or secret input in any log line.
#
# CONTRACT for the other tests (keep it this simple):
#   1. Write every log you capture (guichetd stderr, guichet simulate output, peer logs
#      that carry guichetd's lines) as a text file anywhere under $GUICHET_LOG_DIR, e.g.
#      "$GUICHET_LOG_DIR/$(basename "$0" .sh)/guichetd.log". Never delete them there.
#      Only text is scanned (binary files such as SQLite stores are skipped), so do not put
#      stores there anyway: they legitimately hold numbers.
#   2. Every secret input a test types (code, PIN, password, token) contains the marker
#      "SECRET-" (e.g. "SECRET-4321"), which must never reach a log, or
#   3. when a secret must be digits only (a PIN typed on a phone), the test appends it,
#      one literal per line, to a file named *.forbidden under $GUICHET_LOG_DIR (e.g.
#      "$GUICHET_LOG_DIR/pin.forbidden" containing "739146"). Choose values that cannot
#      occur by chance (6+ digits, not the short code, not a date). Any literal there that
#      appears in a log as a word of its own fails the scan. *.forbidden files are not
#      scanned themselves.
#   4. Test numbers are whatever you like: any of these shapes, unmasked, fails the scan:
#        +<9 or more digits, optionally spaced with " ", "." or "-">   (+33612345578)
#        0<digit 1-9><8 more digits, optionally spaced>                (06 12 34 55 78)
#        a bare run of exactly 15 digits                               (IMSI)
#      Masked forms ("+33 6** ** *5 78") and pseudonyms ("p-3fa9c21b") pass.
#
# Unset $GUICHET_LOG_DIR: exit 77 (skip). It must run after the tests that write logs:
# tests/run-integration.sh should export GUICHET_LOG_DIR (a fresh temporary directory)
# and run this script last.
# Exit 0 clean, 1 a finding (each printed as file:line: reason), 77 skipped.
set -u
dir=${GUICHET_LOG_DIR:-}
if [ -z "$dir" ]; then
	echo "GUICHET_LOG_DIR not set: no logs to scan"
	exit 77
fi
if [ ! -d "$dir" ]; then
	echo "GUICHET_LOG_DIR=$dir is not a directory"
	exit 77
fi

mapfile -d '' files < <(find "$dir" -type f ! -name '*.forbidden' -print0 | sort -z)
mapfile -d '' lists < <(find "$dir" -type f -name '*.forbidden' -print0 | sort -z)
text=()
for f in "${files[@]}"; do
	# grep -I: skip binary files.
	if grep -Iq . "$f" 2>/dev/null || [ ! -s "$f" ]; then
		text+=("$f")
	fi
done
if [ ${#text[@]} -eq 0 ]; then
	echo "no log files under $dir"
	exit 77
fi

findings=0
report() {	# reason, then grep -Hn output lines on stdin
	local reason=$1 line
	while IFS= read -r line; do
		echo "${line%%:*}:$(printf '%s' "${line#*:}" | cut -d: -f1): $reason: $(printf '%s' "${line#*:*:}" | cut -c1-200)"
		findings=$((findings + 1))
	done
}

intl='\+[0-9]([ .-]?[0-9]){8,}'
national='(^|[^0-9A-Za-z*])0[1-9]([ .-]?[0-9]){8}([^0-9*]|$)'
imsi='(^|[^0-9])[0-9]{15}([^0-9]|$)'

report "unmasked international number" < <(grep -HnE -- "$intl" "${text[@]}")
report "unmasked national number" < <(grep -HnE -- "$national" "${text[@]}")
report "unmasked IMSI-like 15-digit run" < <(grep -HnE -- "$imsi" "${text[@]}")
report "secret input (SECRET- marker)" < <(grep -HnF -- "SECRET-" "${text[@]}")
for l in "${lists[@]}"; do
	while IFS= read -r word; do
		word=${word%$'\r'}
		[ -n "$word" ] || continue
		# -w: a whole word, so a pseudonym that happens to hold the digits
		# ("p-739146a1", 8 random hex digits) is not taken for the secret.
		report "forbidden literal from $(basename "$l")" < <(grep -HnwF -- "$word" "${text[@]}")
	done <"$l"
done

if [ $findings -ne 0 ]; then
	echo "log_scan: $findings finding(s) in ${#text[@]} file(s) under $dir"
	exit 1
fi
echo "log_scan: ${#text[@]} file(s) clean under $dir"
exit 0
