#!/usr/bin/env bash
# The house rules of docs/architecture.md, measured: source files over 800 lines, functions
# over 80 lines, and circles among the headers of include/guichet/. Prints what breaks a rule
# and exits 1 if anything does (`scripts/house.sh`); the exceptions kept on purpose are listed
# in docs/architecture.md with their reason.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bad=0

while read -r n f; do
	[ "$f" = total ] && continue
	[ "$n" -gt 800 ] && { echo "file over 800 lines: $f ($n)"; bad=1; }
done < <(wc -l daemon/*.c)

# A function: a line at column 0 that opens a definition (a name then "(", not ending in ";")
# up to the next "}" at column 0.
long=$(awk '
	FNR == 1 { start = 0 }
	/^[A-Za-z].*\(/ && !/;[[:space:]]*$/ && !/^(typedef|struct [a-z_]+ \{|enum|#)/ {
		start = FNR; name = $0 }
	/^\}/ && start { if (FNR - start > 80) printf "function over 80 lines: %s:%d (%d) %s\n",
		FILENAME, start, FNR - start, substr(name, 1, 70); start = 0 }
' daemon/*.c)
[ -n "$long" ] && { echo "$long"; bad=1; }

# Header circles: a depth-first walk of the "guichet/..." includes.
cycles=$(for h in include/guichet/*.h; do
		for d in $(sed -n 's|^#include "guichet/\([^"]*\)".*|\1|p' "$h"); do
			echo "$(basename "$h") $d"
		done
	done | awk '
	{ edge[$1] = edge[$1] " " $2; node[$1]; node[$2] }
	function walk(n, path,   i, k, m, parts) {
		if (n in onpath) { print "header circle: " path " " n; return }
		if (n in done) return
		onpath[n]; k = split(edge[n], parts, " ")
		for (i = 1; i <= k; i++) walk(parts[i], path " " n)
		delete onpath[n]; done[n]
	}
	END { for (m in node) walk(m, "") }
')
[ -n "$cycles" ] && { echo "$cycles"; bad=1; }

[ $bad -eq 0 ] && echo "house: no file over 800 lines, no function over 80, no header circle"
exit $bad
