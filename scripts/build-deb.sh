#!/usr/bin/env bash
# Builds guichet_*.deb with dpkg-buildpackage -us -uc -b from a copy of the tree (the package
# build runs `make clean`, which must not wipe the developer's build/), and leaves the package
# in $BUILD/deb/. Needs debhelper (scripts/deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in /*) out=$BUILD/deb;; *) out=$PWD/$BUILD/deb;; esac
command -v dpkg-buildpackage >/dev/null && dpkg-query -W debhelper >/dev/null 2>&1 ||
	{ echo "build-deb: needs dpkg-dev and debhelper (apt-get install debhelper)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/src"
# The tracked files when this is a git checkout, else everything but the build trees.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$out/src" -xf -
else
	tar --exclude='./build*' -cf - . | tar -C "$out/src" -xf -
fi
# A package is never a sanitized build: drop what a calling `make check SANITIZE=1` exports.
(cd "$out/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log" >&2; echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2; exit 1; }
ls "$out"/guichet_*.deb
