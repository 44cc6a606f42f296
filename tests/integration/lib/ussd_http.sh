# What the USSD aggregator callback scripts share, sourced after harness.sh: the secret, the
# probe (tools/ussd_probe: the HTTP transport with a stub menu) and the aggregator's requests.

# ussd_secret: a fresh secret in T/ussd-secret (a probe config's `secret: ussd-secret`) and
# in SECRET; files created from then on are the user's only (umask 077).
ussd_secret() {
	umask 077
	printf 'ussd-%s\n' "$RANDOM$RANDOM" >"$T/ussd-secret"
	SECRET=$(head -1 "$T/ussd-secret")
}

# probe_config [LINE...]: T/probe.yaml, the callback on 127.0.0.1 (a free port), with the secret
# (see ussd_secret), 127.0.0.1 allowed, and LINEs (YAML keys of ussd_http, indented).
probe_config() {
	printf '%s\n' "ussd_http:" "  listen: 127.0.0.1" "  port: 0" "  secret: ussd-secret" \
		"  allow: [127.0.0.1]" "$@" >"$T/probe.yaml"
}

# probe_start CONFIG [ARG...]: ussd_probe on CONFIG (ARGs added), its output in T/probe.out
# and T/probe.err, its pid in GD (stopped at exit); waits for it with probe_port.
probe_start() {
	local conf=$1; shift
	: >"$T/probe.out"
	"$B/tools/ussd_probe" -c "$conf" "$@" >"$T/probe.out" 2>"$T/probe.err" &
	GD=$!
	probe_port
}

# probe_port [WHAT]: waits until the probe writing T/probe.out is READY; sets PORT to its HTTP
# port, or calls fail "WHAT did not listen" (WHAT: probe).
probe_port() {
	for _ in $(seq 100); do grep -q READY "$T/probe.out" && break; sleep 0.05; done
	PORT=$(awk '/^HTTP port/ {print $3}' "$T/probe.out")
	[ -n "$PORT" ] || fail "${1:-probe} did not listen"
}

# probe_stop: SIGTERM to the probe (GD); calls fail unless it exits 0 with no memory left.
probe_stop() {
	local rc
	kill -TERM "$GD"; wait "$GD"; rc=$?; GD=
	[ "$rc" = 0 ] || fail "probe exited with $rc (sanitizer report?)"
	grep -q "^LEAKS 0$" "$T/probe.out" || fail "memory left after stop"
}

# post SESSION TEXT [CURL-ARG...]: the aggregator's request for *4321# from +33612345678, with
# the secret when SECRET is set; the body on stdout, then a line "HTTP <code>".
post() {
	local sid=$1 text=$2 auth=(); shift 2
	[ -n "${SECRET:-}" ] && auth=(-H "X-Guichet-Secret: $SECRET")
	curl -s -m 5 "${auth[@]}" --data-urlencode "sessionId=$sid" \
		--data-urlencode "serviceCode=*4321#" --data-urlencode "phoneNumber=+33612345678" \
		--data-urlencode "text=$text" -w '\nHTTP %{http_code}' "$@" "http://127.0.0.1:$PORT/ussd"
}

# expect WHAT ACTUAL WANTED: calls fail unless ACTUAL holds WANTED.
expect() {
	case "$2" in *"$3"*) ;; *) fail "$1: got [$2], wanted [$3]";; esac
}
