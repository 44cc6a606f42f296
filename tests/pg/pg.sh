# A private PostgreSQL for the tests and bench/bench_pg.sh, sourced (`. tests/pg/pg.sh`):
# initdb/pg_ctl from Debian's postgresql package, no TCP, the unix socket in DIR itself.
# As root the server runs as nobody (PostgreSQL refuses to run as root).
#
#   PGB                   the server's bin directory ($PG_BIN, or the newest installed)
#   pg_start DIR [durable]  initdb on first use, then start; fsync off unless durable.
#                           Non-zero when it did not start (DIR/setup.log says why).
#   pg_stop DIR [MODE]      pg_ctl stop -m MODE (default immediate)
PGB=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

pg_as() {
	local dir=$1; shift
	if [ "$(id -u)" = 0 ]; then runuser -u nobody -- sh -c "cd $dir && $*"
	else sh -c "cd $dir && $*"; fi
}

pg_start() {
	local dir=$1 opts="-c listen_addresses=" sync=--no-sync
	if [ "${2:-}" = durable ]; then sync=; else opts="$opts -c fsync=off"; fi
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown nobody "$dir"
	if [ ! -d "$dir/data" ]; then
		pg_as "$dir" "$PGB/initdb -D $dir/data -U guichet -A trust $sync -E UTF8" \
			>>"$dir/setup.log" 2>&1 || return 1
	fi
	pg_as "$dir" "$PGB/pg_ctl -D $dir/data -l $dir/server.log -w -t 60 -o \"-k $dir $opts\" start" \
		>>"$dir/setup.log" 2>&1
}

pg_stop() {
	pg_as "$1" "$PGB/pg_ctl -D $1/data -m ${2:-immediate} -w stop" >>"$1/setup.log" 2>&1
}
