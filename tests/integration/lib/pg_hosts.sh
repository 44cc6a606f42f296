# What the scripts running guichetd hosts on one PostgreSQL database share, sourced after
# harness.sh: the database, and hosts started and stopped by name.

# start_pg: a private PostgreSQL in T/pg (tests/pg/pg.sh), stopped at exit, its URL in PG_URL;
# skips (77) where no server is installed or it does not start.
start_pg() {
	. "$ROOT/tests/pg/pg.sh"
	[ -x "$PGB/pg_ctl" ] || { echo "skip: no PostgreSQL server (Debian package postgresql)"; exit 77; }
	chmod 755 "$T"	# the server runs as nobody under root
	pg_start "$T/pg" || { echo "skip: PostgreSQL did not start"; exit 77; }
	at_exit 'pg_stop "$T/pg"'
	PG_URL="postgresql:///postgres?host=$T/pg&user=guichet"
}

# start_host NAME [CONFIG]: guichetd on CONFIG (default T/guichet.yaml), its journal appended
# to T/hNAME.log, its pid in HNAME (stopped at exit); returns once it has bound to the SMSC
# once more than before, or calls fail "host NAME did not bind".
start_host() {
	local before
	before=$(grep -c 'bound as transceiver' "$T/h$1.log" 2>/dev/null)
	"$B/guichetd" -f -c "${2:-$T/guichet.yaml}" 2>>"$T/h$1.log" &
	eval "H$1=$!"
	case " ${PG_HOSTS:-} " in
	*" $1 "*) ;;
	*) PG_HOSTS="${PG_HOSTS:-} $1"; at_stop "kill \$H$1 2>/dev/null";;
	esac
	for _ in $(seq 100); do
		[ "$(grep -c 'bound as transceiver' "$T/h$1.log" 2>/dev/null)" -gt "${before:-0}" ] && return 0
		sleep 0.1
	done
	fail "host $1 did not bind"
}

# stop_host NAME [SIGNAL]: stops host NAME (SIGTERM, or SIGNAL) and waits for it.
stop_host() {
	local v="H$1"
	kill -"${2:-TERM}" "${!v}"; wait "${!v}" 2>/dev/null; eval "H$1="
}
