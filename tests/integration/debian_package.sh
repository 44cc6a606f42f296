#!/usr/bin/env bash
# The Debian package, as an operator meets it: `make deb` builds guichet_*.deb, lintian finds
# no error, `apt install ./guichet_*.deb` installs the binaries, unit, udev rule, man pages,
# the example config and flows as conffiles and the system user _guichet (in dialout); the
# installed example passes `guichetd -t` once its secret files are in place; the installed
# unit passes `systemd-analyze verify`; `apt purge` removes what the package created.
# Installs a package on this machine, so it runs only as root and only when no guichet
# package is installed already (it purges what it installed). Exit 0 pass, 77 skip.
set -u
ROOT=${GUICHET_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
fail=0
ok()  { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

[ "$(id -u)" -eq 0 ] || { echo "skip: installing a package needs root"; exit 77; }
dpkg-query -W debhelper >/dev/null 2>&1 || { echo "skip: debhelper not installed"; exit 77; }
if dpkg-query -W -f='${Status}' guichet 2>/dev/null | grep -q 'install ok installed'; then
	echo "skip: a guichet package is installed on this machine; not touching it"; exit 77
fi
T=$(mktemp -d /tmp/guichet-deb.XXXXXX)
installed=0
cleanup() {
	[ $installed -eq 1 ] && DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=300 guichet >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

# Build from a copy, so that this test's `make clean` inside the package build touches
# nothing of the tree the other tests run from.
if ! (cd "$ROOT" && BUILD="$T/b" scripts/build-deb.sh) >"$T/build.out" 2>&1; then
	cat "$T/build.out"; bad "make deb failed"; exit 1
fi
deb=$(ls "$T"/b/deb/guichet_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && ok "built $(basename "$deb")" || { bad "no .deb produced"; exit 1; }

if command -v lintian >/dev/null; then
	lintian "$deb" >"$T/lintian.out" 2>&1
	if grep -q '^E:' "$T/lintian.out"; then bad "lintian errors:"; grep '^E:' "$T/lintian.out"
	else ok "lintian: no error ($(grep -c '^W:' "$T/lintian.out") warnings)"; fi
else
	echo "note: lintian not installed, not run"
fi

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$deb" >"$T/install.out" 2>&1 &&
	installed=1 || { cat "$T/install.out"; bad "apt-get install ./$(basename "$deb") failed"; exit 1; }
ok "installed"
for f in /usr/sbin/guichetd /usr/bin/guichet /lib/systemd/system/guichetd.service \
	 /lib/udev/rules.d/60-guichet-modems.rules /usr/share/man/man8/guichetd.8.gz \
	 /usr/share/man/man5/guichet.yaml.5.gz /usr/lib/sysusers.d/guichet.conf \
	 /etc/guichet/guichet.yaml /etc/guichet/flows/rendez-vous.yaml; do
	[ -e "$f" ] || bad "$f not installed"
done
conf=$(dpkg-query -W -f='${Conffiles}' guichet)
echo "$conf" | grep -q '/etc/guichet/guichet.yaml' && ok "guichet.yaml is a conffile" ||
	bad "guichet.yaml is not a conffile"
getent passwd _guichet >/dev/null && ok "system user _guichet" || bad "no user _guichet"
id -nG _guichet 2>/dev/null | grep -qw dialout && ok "_guichet in dialout" || bad "_guichet not in dialout"

# The operator's first steps: the secret files the example names, then the check.
mkdir -p /etc/guichet/credentials
for s in agenda-token dossier-token; do
	printf 'test-%s\n' "$s" >/etc/guichet/credentials/$s
	chmod 0600 /etc/guichet/credentials/$s
done
if /usr/sbin/guichetd -t -c /etc/guichet/guichet.yaml >"$T/t.out" 2>&1; then
	ok "guichetd -t on the installed example"
else
	cat "$T/t.out"; bad "guichetd -t on the installed example failed"
fi
rm -rf /etc/guichet/credentials /etc/guichet/guichet.db*
if command -v systemd-analyze >/dev/null; then
	if systemd-analyze verify --man=no /lib/systemd/system/guichetd.service >"$T/verify.out" 2>&1
	then ok "systemd-analyze verify on the installed unit"
	else cat "$T/verify.out"; bad "systemd-analyze verify on the installed unit"; fi
fi

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=300 guichet >"$T/purge.out" 2>&1 ||
	{ cat "$T/purge.out"; bad "apt-get purge failed"; }
installed=0
for f in /usr/sbin/guichetd /etc/guichet /var/lib/guichet /usr/lib/sysusers.d/guichet.conf; do
	[ -e "$f" ] && bad "$f left after purge"
done
getent passwd _guichet >/dev/null && bad "user _guichet left after purge"
[ $fail -eq 0 ] && ok "purge removed what the package created"
exit $fail
