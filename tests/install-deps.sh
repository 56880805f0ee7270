#!/bin/bash
# Installs the Debian packages that building and testing need, with apt-get,
# only when one is missing (apt-get update first in that case). Idempotent:
# when everything is there it only asks dpkg and returns.
set -eu

# building pmxcfsd and pvecm
BUILD_DEPS="build-essential pkg-config clang
	libfuse3-dev fuse3 libsqlite3-dev sqlite3 libglib2.0-dev libjson-glib-dev
	libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcfg-dev libknet-dev
	libssh-dev libssl-dev"
# make fuzz (libFuzzer's runtime, which clang only recommends) and make format
BUILD_DEPS="$BUILD_DEPS libclang-rt-14-dev clang-format"
# running the tests: namespaces (iproute2, util-linux), corosync, process
# tools, perl (prove, JSON::PP), sqlite3 for integrity checks, sshd and the
# ssh client for joins, openssl for checking certificates, man for checking
# the man pages, python3 for the stand-in quorum device of t0700 and for
# answering prompts on a terminal, chattr (e2fsprogs) for the immutable mount
# point, systemd for systemd-analyze verify of our units, corosync-qnetd and
# corosync-qdevice for pvecm qdevice (a qnetd host and the nodes' daemon,
# with their certutils), faketime for a daemon whose wall clock runs ahead
TEST_DEPS="corosync iproute2 util-linux procps psmisc perl
	mount openssh-server openssh-client openssl man-db groff-base coreutils python3 e2fsprogs
	systemd corosync-qnetd corosync-qdevice faketime"

# one dpkg-query for all: a package not known to dpkg is not printed
# shellcheck disable=SC2086
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $BUILD_DEPS $TEST_DEPS 2>/dev/null |
	awk '$NF == "installed" && $(NF - 1) == "ok" { sub(/:.*/, "", $1); print $1 }' || true)
missing=
for p in $BUILD_DEPS $TEST_DEPS; do
	case " $(echo $installed) " in
	*" $p "*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
