#!/bin/sh
# Install every Debian package m2msec needs to build, test, demo and bench.
# Idempotent and quiet when everything is present: it asks dpkg first and only
# runs apt-get (update, then install) for what is missing.
set -eu

PKGS="gcc make cmake ninja-build pkg-config
libgnutls28-dev gnutls-bin libssl-dev openssl
libsqlite3-dev sqlite3 libjansson-dev libhttp-parser-dev libunistring-dev
libinih-dev libcmocka-dev clang-format python3 procps
softhsm2 curl libwolfssl-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# python3 may come from elsewhere (pyenv); accept any working python3.
case " $missing " in
*" python3 "*)
    if command -v python3 >/dev/null 2>&1; then
        missing=$(echo "$missing" | sed 's/ python3//')
    fi
    ;;
esac
[ -z "$(echo "$missing" | tr -d ' ')" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
