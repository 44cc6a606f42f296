# The prologue the integration scripts share, sourced first thing:
#
#   . "$(dirname "$0")/lib/harness.sh"
#   harness NAME [BIN...]
#
# harness sets ROOT (the checkout), B (the build directory: $BUILD, default build, relative
# to ROOT), T (a fresh /tmp/guichet-NAME.XXXXXX) and LOGS (the directory log_scan.sh reads
# after the run: $GUICHET_LOG_DIR/NAME, else $T/logs), skips (exit 77) unless every BIN
# (a path under B, e.g. guichetd or tools/smsc) is built, and arms the exit trap. At exit
# the trap stops guichetd ($GD, SIGTERM; GD_SIGNAL=KILL for scripts that kill -9 it anyway)
# and every pid in PIDS, waits for them, runs what at_exit queued, copies the logs named by
# keep_logs into LOGS, and removes T unless KEEP=1 (then prints where it is). What at_stop
# queued runs first, for processes whose pid changes (a host restarted).
#
# Scripts define their own fail(): what to show on failure is theirs to choose.

harness() {
	HARNESS_NAME=$1; shift
	ROOT=${GUICHET_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
	B=${BUILD:-build}
	case $B in /*) ;; *) B=$ROOT/$B;; esac
	local x
	for x in "$@"; do
		[ -x "$B/$x" ] || { echo "skip: $B/$x not built"; exit 77; }
	done
	T=$(mktemp -d "/tmp/guichet-$HARNESS_NAME.XXXXXX")
	LOGS=${GUICHET_LOG_DIR:-$T/logs}/$HARNESS_NAME
	mkdir -p "$LOGS"
	PIDS=() GD= GD_SIGNAL=TERM HARNESS_AT_STOP=() HARNESS_AT_EXIT=() HARNESS_LOGS=()
	trap harness_cleanup EXIT
}

# need CMD...: skip unless each command is installed.
need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "skip: $c needed"; exit 77; }
	done
}

# need_pty: skip where there are no pseudo-terminals (the fake AT modems need them).
need_pty() {
	[ -e /dev/ptmx ] || { echo "skip: no pseudo-terminals"; exit 77; }
}

# at_stop 'COMMAND': run at exit first, before GD and PIDS are stopped (e.g. 'kill $H1').
at_stop() { HARNESS_AT_STOP+=("$1"); }

# at_exit 'COMMAND': run at exit, after the processes are stopped, before T is removed.
at_exit() { HARNESS_AT_EXIT+=("$1"); }

# keep_logs PATTERN...: files (globs under T, expanded at exit) copied into LOGS at exit.
keep_logs() { HARNESS_LOGS+=("$@"); }

harness_cleanup() {
	local p c
	for c in "${HARNESS_AT_STOP[@]}"; do eval "$c"; done
	[ -n "$GD" ] && kill -s "$GD_SIGNAL" "$GD" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for c in "${HARNESS_AT_EXIT[@]}"; do eval "$c"; done
	for p in "${HARNESS_LOGS[@]}"; do
		# shellcheck disable=SC2086 # the pattern is a glob on purpose
		cp $T/$p "$LOGS/" 2>/dev/null
	done
	if [ "${KEEP:-}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}

# free_port: a TCP port on 127.0.0.1 nobody listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_backend DIR: the demo HTTPS back-end (its CA and token in DIR) on a free port; sets
# BPORT and BPID and queues it for stopping; skips when it does not start.
start_backend() {
	BPORT=$(free_port)
	BPID=$("$ROOT/tests/backend/run-demo-backend.sh" "$1" "$BPORT") ||
		{ echo "skip: demo back-end did not start"; exit 77; }
	PIDS+=("$BPID")
}

# wait_until WHAT SECONDS 'CONDITION': polls the shell condition every 0.2 s, up to SECONDS;
# calls fail "WHAT" when it never holds.
wait_until() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -le $end ]; do
		eval "$3" && return 0
		sleep 0.2
	done
	fail "$1"
}

# demo_config BPORT [CA]: config/demo.yaml on stdout, without its modems, pointed at the
# sample flows, a store and credentials in T, and the demo back-end on BPORT (its CA: CA,
# default T/backend/demo-ca.pem). The script appends its transports and edits the rest.
demo_config() {
	sed -e '/^modems:/,$d' \
	    -e "s|flows: ../flows|flows: $ROOT/flows|" \
	    -e "s|store: ../build/demo/guichet.db|store: $T/guichet.db|" \
	    -e "s|credentials: ../build/demo|credentials: $T|" \
	    -e "s|../build/demo/demo-ca.pem|${2:-$T/backend/demo-ca.pem}|" \
	    -e "s|https://127.0.0.1:8443|https://127.0.0.1:$1|" "$ROOT/config/demo.yaml"
}

# start_smsc [ARG...]: the test SMSC (B/tools/smsc, system_id guichet, password opxpass1 in
# T/opx-password for the config's `password: opx-password`) with its control FIFO T/ctl
# (see ctl), its log T/smsc.log and ARGs; sets SMSC_PORT and queues it for stopping; calls
# fail when it does not start.
start_smsc() {
	printf 'opxpass1\n' > "$T/opx-password"; chmod 600 "$T/opx-password"
	"$B/tools/smsc" --port-file "$T/port" --control "$T/ctl" --log "$T/smsc.log" \
		--system-id guichet --password opxpass1 "$@" 2>"$T/smsc.err" &
	PIDS+=($!)
	for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
	[ -s "$T/port" ] || fail "test SMSC did not start"
	SMSC_PORT=$(cat "$T/port")
}

# ctl COMMAND...: one command to the test SMSC (tests/tools/smsc.c lists them).
ctl() { printf '%s\n' "$*" > "$T/ctl"; }

# smsc_held MIN: waits (15 s at most) until the test SMSC, told "hold 1", holds its answers
# to MIN submit_sm or more; prints how many it holds.
smsc_held() {
	for _ in $(seq 150); do [ "$(grep -c '"held"' "$T/smsc.log")" -ge "$1" ] && break; sleep 0.1; done
	grep -c '"held"' "$T/smsc.log"
}

# wait_check WHAT SECONDS 'EXPRESSION': wait_until for a Python expression over the run: the
# script's T/check.py is run as `python3 T/check.py T EXPRESSION` and exits 0 when it holds.
# SECONDS is multiplied by WAIT_SCALE (default 1: scripts whose exchanges can take several
# times as long under the sanitizers on a loaded machine set 3; a passing run never waits
# for the bound); calls fail "WHAT (after Ns)" when it never holds.
wait_check() {
	local t=$(($2 * ${WAIT_SCALE:-1}))
	wait_until "$1 (after ${t}s)" "$t" "python3 \"\$T/check.py\" \"\$T\" $(printf %q "$3")"
}

# start_guichetd [CONFIG]: guichetd -f on CONFIG (default T/guichet.yaml), its journal appended
# to T/guichetd.log, its pid in GD; returns once the journal says "guichetd started" once more
# than before (a restart), or calls fail when it exits first ("guichetd exited") or is not
# started within 10 s ("guichetd did not start"). Variables set before the call
# (NOTIFY_SOCKET=... start_guichetd) reach guichetd's environment.
start_guichetd() {
	local before
	before=$(grep -c "guichetd started" "$T/guichetd.log" 2>/dev/null)
	"$B/guichetd" -f -c "${1:-$T/guichet.yaml}" 2>>"$T/guichetd.log" &
	GD=$!
	for _ in $(seq 100); do
		[ "$(grep -c "guichetd started" "$T/guichetd.log")" -gt "${before:-0}" ] && return 0
		kill -0 "$GD" 2>/dev/null || fail "guichetd exited"
		sleep 0.1
	done
	fail "guichetd did not start"
}

# notify_socket: a stand-in for systemd's notification socket at T/notify (for
# NOTIFY_SOCKET=$T/notify start_guichetd), each datagram a line of T/notify.log; stopped at
# exit.
notify_socket() {
	python3 - "$T/notify" "$T/notify.log" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode(errors="replace").replace("\n", " | ") + "\n")
EOF
	PIDS+=($!)
	for _ in $(seq 50); do [ -S "$T/notify" ] && break; sleep 0.1; done
}

# smpp_config [KEY: VALUE...]: on stdout, the `smpp:` section of a configuration bound to the
# test SMSC (start_smsc's): one transceiver bind, opx, source 38123, then the KEY: VALUE lines.
smpp_config() {
	printf '%s\n' "smpp:" "  - name: opx" "    host: 127.0.0.1" "    port: $SMSC_PORT" \
		"    system_id: guichet" "    password: opx-password" "    bind: transceiver" \
		'    source: "38123"'
	local l
	for l in "$@"; do printf '    %s\n' "$l"; done
}
