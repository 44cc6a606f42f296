#!/usr/bin/env bash
# Starts a private osmo-hlr for the USSD tests and prints its pid on stdout.
#
#   tests/ussd/start-hlr.sh DIR [IP] [SUBSCRIBERS] [GUARD_S]
#
# DIR holds its config, database and log (hlr.cfg, hlr.db, hlr.log). osmo-hlr 1.5 cannot
# move its GSUP port (4222) nor its CTRL port (4259), so each test gets its own loopback
# address instead (IP, default 127.0.0.1; any 127.x.y.z works on Linux); the VTY listens on
# IP:4258. Logging is at `notice`. Routes: `*4321` to the EUSE `guichet`.
# SUBSCRIBERS (default 3) are created over the VTY: IMSI 00101000000000N (N from 1), MSISDN
# 336123456NN. The caller stops it: kill <pid>.
set -euo pipefail
dir=${1:?usage: start-hlr.sh DIR [IP] [SUBSCRIBERS] [GUARD_S]}
ip=${2:-127.0.0.1}
subs=${3:-3}
guard=${4:-30}
command -v osmo-hlr >/dev/null || { echo "osmo-hlr not installed" >&2; exit 77; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cat >"$dir/hlr.cfg" <<CFG
log stderr
 logging filter all 1
 logging color 0
 logging print category 1
 logging timestamp 1
 logging level set-all notice
line vty
 bind $ip 4258
ctrl
 bind $ip
hlr
 gsup
  bind ip $ip
 euse guichet
 ussd route prefix *4321 external guichet
 ncss-guard-timeout $guard
CFG
rm -f "$dir/hlr.db"
# setsid: the HLR must not die with the caller's process group before the caller kills it.
setsid osmo-hlr -c "$dir/hlr.cfg" -l "$dir/hlr.db" >"$dir/hlr.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/$ip/4258") 2>/dev/null; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "osmo-hlr exited:" >&2; tail -5 "$dir/hlr.log" >&2; exit 1; }
  sleep 0.05
done
python3 - "$ip" "$subs" <<'PY'
import socket, sys, time
ip, n = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((ip, 4258), timeout=5)
def cmd(c):
    s.sendall((c + "\r\n").encode())
buf = b""
def until(marker, t=5):
    global buf
    end = time.time() + t
    while marker not in buf and time.time() < end:
        try:
            buf += s.recv(65536)
        except socket.timeout:
            break
    found = marker in buf
    buf = b""
    return found
until(b"> ")
cmd("enable"); until(b"# ")
for i in range(1, n + 1):
    imsi = "00101%010d" % i
    cmd("subscriber imsi %s create" % imsi); until(b"# ")
    cmd("subscriber imsi %s update msisdn 336123456%02d" % (imsi, i % 100)); until(b"# ")
cmd("exit")
s.close()
PY
echo "$pid"
