#!/usr/bin/env bash
# Installs Guichet's Debian 12 build and test dependencies when any is missing.
set -euo pipefail
PKGS="build-essential pkg-config libgammu-dev libosmocore-dev libosmo-gsup-client-dev
 libcurl4-openssl-dev libyaml-dev libcunit1-dev libjansson-dev libsqlite3-dev libpq-dev postgresql libsystemd-dev
 libmicrohttpd-dev libgnutls28-dev libsmpp34-dev gammu osmo-hlr openssl python3 curl sqlite3 systemd
 clang libclang-rt-14-dev debhelper lintian graphviz chromium fonts-dejavu-core"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Guichet needs these Debian packages:$missing" >&2
  echo "Install them with: sudo apt-get install$missing" >&2
  exit 1
fi
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
